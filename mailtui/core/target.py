"""Turn the TARGET a user typed into something to connect to.

TARGET is, in this order: a saved profile name, ``local`` (this machine), a ``Host``
alias from ~/.ssh/config, or ``[user@]host[:port]`` (IPv6 as ``[::1]:2222``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mailtui.core.profiles import Config, ServerProfile, validate_host, validate_user

LOCAL_NAME = "local"


@dataclass(frozen=True)
class LocalTarget:
    """This machine, through LocalTransport."""

    sudo: bool = True
    name: str = LOCAL_NAME

    @property
    def address(self) -> str:
        return "this machine"


Target = ServerProfile | LocalTarget


class TargetError(ValueError):
    """TARGET could not be understood."""


def ssh_config_aliases(path: Path | None = None) -> list[str]:
    """Host aliases (without wildcards) defined in ~/.ssh/config and its Includes."""
    path = path or Path(os.path.expanduser("~/.ssh/config"))
    aliases: list[str] = []
    _collect_aliases(path, aliases, depth=0)
    return aliases


def _collect_aliases(path: Path, aliases: list[str], depth: int) -> None:
    if depth > 8:
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"[\s=]+", line, maxsplit=1)
        if len(parts) != 2:
            continue
        keyword, value = parts[0].lower(), parts[1]
        if keyword == "host":
            for pattern in value.split():
                if not any(ch in pattern for ch in "*?!") and pattern not in aliases:
                    aliases.append(pattern)
        elif keyword == "include":
            for pattern in value.split():
                expanded = Path(os.path.expanduser(pattern))
                if not expanded.is_absolute():
                    expanded = Path(os.path.expanduser("~/.ssh")) / expanded
                for match in sorted(expanded.parent.glob(expanded.name)):
                    _collect_aliases(match, aliases, depth + 1)


def parse_address(text: str) -> tuple[str | None, str, int | None]:
    """Split ``[user@]host[:port]``; raise TargetError when a part is invalid."""
    user: str | None = None
    rest = text.strip()
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        try:
            validate_user(user)
        except ValueError as exc:
            raise TargetError(str(exc)) from None
    port: int | None = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise TargetError(f"{text!r}: missing ']' after the IPv6 address")
        host, tail = rest[1:close], rest[close + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise TargetError(f"{text!r}: expected ':PORT' after ']'")
            port = _port(tail[1:], text)
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
        port = _port(port_text, text)
    else:
        host = rest
    try:
        host = validate_host(host)
    except ValueError as exc:
        raise TargetError(str(exc)) from None
    return user, host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TargetError(f"{whole!r}: port must be a number from 1 to 65535")
    return int(text)


def resolve_target(text: str | None, config: Config, *, ssh_config: Path | None = None) -> Target:
    """Find what TARGET names. ``None`` means this machine."""
    if text is None:
        return LocalTarget()
    text = text.strip()
    profile = config.server(text)
    if profile is not None:
        return profile
    if text == LOCAL_NAME:
        return LocalTarget()
    if text in ssh_config_aliases(ssh_config):
        # asyncssh applies HostName, Port, User, IdentityFile, ProxyJump from the config.
        return ServerProfile(name=text, host=text)
    try:
        user, host, port = parse_address(text)
    except TargetError as exc:
        raise TargetError(
            f"{text!r} is not a saved server, a Host in ~/.ssh/config, or [user@]host[:port] ({exc})"
        ) from None
    return ServerProfile(name=text, host=host, port=port, user=user)
