"""From a resolved target to a transport; trusting a host key. Shared by CLI and UI."""

from __future__ import annotations

import os
from pathlib import Path

from mailtui.core.profiles import Config
from mailtui.core.target import LocalTarget, Target
from mailtui.core.transport import LocalTransport, SshOptions, SshTransport, Transport
from mailtui.core.transport.errors import HostKeyUnknown
from mailtui.core.transport.hostkeys import add_known_host

USER_KNOWN_HOSTS = "~/.ssh/known_hosts"


def known_hosts_files(config: Config) -> tuple[str, ...]:
    """mailtui's own known_hosts first, then the user's OpenSSH one."""
    return (str(config.known_hosts_path), os.path.expanduser(USER_KNOWN_HOSTS))


def make_transport(target: Target, config: Config) -> Transport:
    """A transport for ``target`` (not yet connected)."""
    if isinstance(target, LocalTarget):
        return LocalTransport(sudo=target.sudo)
    return SshTransport(target, SshOptions(known_hosts_files=known_hosts_files(config)))


def trust_host_key(config: Config, unknown: HostKeyUnknown, store: str | None = None) -> Path:
    """Record the key the user accepted; ``store`` is "mailtui" (default) or "user"."""
    store = store or config.settings.known_hosts
    path = config.known_hosts_path if store == "mailtui" else Path(os.path.expanduser(USER_KNOWN_HOSTS))
    add_known_host(str(path), unknown.host, unknown.port, unknown.public_key)
    return path
