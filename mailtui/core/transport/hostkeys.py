"""known_hosts files: which keys we trust for a host, and recording a newly trusted key."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import asyncssh

DEFAULT_SSH_PORT = 22


def host_pattern(host: str, port: int) -> str:
    """The known_hosts host field OpenSSH writes: ``host`` or ``[host]:port``."""
    return host if port == DEFAULT_SSH_PORT else f"[{host}]:{port}"


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
    return key.get_fingerprint("sha256")


def known_hosts_line(host: str, port: int, public_key: str) -> str:
    """A known_hosts line for ``public_key`` given in OpenSSH format (``type base64``)."""
    key_type, blob = public_key.split()[:2]
    return f"{host_pattern(host, port)} {key_type} {blob}\n"


def load_known_hosts(paths: Sequence[str]) -> tuple[asyncssh.SSHKnownHosts, list[str]]:
    """Load every readable file of ``paths``; return the combined set and the files used."""
    combined = asyncssh.SSHKnownHosts()
    used: list[str] = []
    for path in paths:
        expanded = os.path.expanduser(path)
        try:
            text = Path(expanded).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError:
            # An unreadable file cannot vouch for any key; the others still count.
            continue
        combined.load(text)
        used.append(expanded)
    return combined, used


def add_known_host(path: str, host: str, port: int, public_key: str) -> None:
    """Append a trusted key to a known_hosts file (created 0600 with its directory)."""
    target = Path(os.path.expanduser(path))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = known_hosts_line(host, port, public_key)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        if handle.tell() > 0:
            with open(target, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    handle.write("\n")
        handle.write(line)
