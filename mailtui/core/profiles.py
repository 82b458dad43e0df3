"""Saved servers and settings: one TOML file, typed, validated, written 0600.

The file lives at ``$MAILTUI_CONFIG`` or ``$XDG_CONFIG_HOME/mailtui/config.toml``
(``~/.config/mailtui/config.toml``). It never holds a secret: keys are referred to by
path, passwords are never stored. mailtui's own known_hosts file sits beside it.

Example::

    [settings]
    known_hosts = "mailtui"     # where newly trusted host keys go: "mailtui" or "user"
    theme = "mailtui-dark"      # the UI theme last chosen

    [servers.mail]
    host = "mail.example.org"
    port = 22
    user = "admin"
    key = "~/.ssh/id_ed25519"   # optional: without it the agent and default keys are tried
    agent = true
    jump = "admin@bastion.example.org"
    sudo = true

    [servers.mail.scan]         # optional: how the Scan panel probes this server
    source = "192.0.2.7"        # local address the probes come from
    ca_file = "~/lab-ca.crt"    # extra CA to verify the server's certificate with
    domain = "example.org"      # mail domain whose DNS records are checked
    dkim_selector = "s2024"
    blocklists = "zen.spamhaus.org, bl.spamcop.net"   # DNS blocklists to look up (default: a built-in list)
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomli_w

__all__ = [
    "ConfigError",
    "Config",
    "ServerProfile",
    "Settings",
    "config_path",
    "load_config",
    "save_config",
    "validate_host",
    "validate_user",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
KNOWN_HOSTS_CHOICES = ("mailtui", "user")


class ConfigError(ValueError):
    """A config value is wrong. The message names the file and the key."""

    def __init__(self, path: Path | str | None, key: str, problem: str) -> None:
        self.path = str(path) if path else None
        self.key = key
        self.problem = problem
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{key}: {problem}")


def validate_host(host: str) -> str:
    """Accept a DNS name or an IPv4/IPv6 address; return it without brackets."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(host):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return host


def validate_user(user: str) -> str:
    if not _USER_RE.match(user):
        raise ValueError(f"{user!r} is not a valid user name")
    return user


@dataclass(frozen=True)
class ServerProfile:
    """How to reach one server. ``host`` may also be a Host alias from ~/.ssh/config."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    #: Private key file; None means: the agent and the default keys (~/.ssh/id_*).
    key: str | None = None
    agent: bool = True
    #: Jump host as ``[user@]host[:port]`` (ProxyJump).
    jump: str | None = None
    #: Use ``sudo -n`` for commands that need root.
    sudo: bool = True
    #: Scan panel options remembered for this server (``[servers.NAME.scan]``); None = default.
    scan_source: str | None = None
    scan_ca_file: str | None = None
    scan_domain: str | None = None
    scan_dkim_selector: str | None = None
    #: DNS blocklist zones, comma or space separated (None: the scan's built-in list).
    scan_blocklists: str | None = None

    @property
    def address(self) -> str:
        """``user@host:port`` as far as known, for display."""
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"


@dataclass(frozen=True)
class Settings:
    known_hosts: str = "mailtui"
    #: Name of the UI theme last chosen; None means the default.
    theme: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings = field(default_factory=Settings)
    servers: tuple[ServerProfile, ...] = ()

    @property
    def known_hosts_path(self) -> Path:
        """mailtui's own known_hosts file, beside the config file."""
        return self.path.parent / "known_hosts"

    def server(self, name: str) -> ServerProfile | None:
        return next((s for s in self.servers if s.name == name), None)

    def with_server(self, profile: ServerProfile) -> Config:
        """A copy with ``profile`` added, or replacing the one of the same name."""
        others = tuple(s for s in self.servers if s.name != profile.name)
        return replace(self, servers=(*others, profile))

    def without_server(self, name: str) -> Config:
        return replace(self, servers=tuple(s for s in self.servers if s.name != name))


def config_path() -> Path:
    """Where the config file is: MAILTUI_CONFIG, else the XDG config directory."""
    override = os.environ.get("MAILTUI_CONFIG")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "mailtui" / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config; a missing file is an empty config."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path=path)
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, "(file)", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", f"is not valid TOML: {exc}") from None
    return parse_config(data, path)


def parse_config(data: dict, path: Path) -> Config:
    """Validate a TOML document already parsed into ``data``."""
    _only_keys(data, {"settings", "servers"}, "", path)
    settings_data = _table(data.get("settings", {}), "settings", path)
    _only_keys(settings_data, {"known_hosts", "theme"}, "settings.", path)
    known_hosts = settings_data.get("known_hosts", "mailtui")
    if known_hosts not in KNOWN_HOSTS_CHOICES:
        raise ConfigError(path, "settings.known_hosts", f"must be one of {', '.join(KNOWN_HOSTS_CHOICES)}")
    theme = _string(settings_data, "theme", "settings", path) if "theme" in settings_data else None
    servers_data = _table(data.get("servers", {}), "servers", path)
    servers = tuple(_parse_server(name, value, path) for name, value in servers_data.items())
    return Config(path=path, settings=Settings(known_hosts=known_hosts, theme=theme), servers=servers)


def _parse_server(name: str, value: object, path: Path) -> ServerProfile:
    prefix = f"servers.{name}"
    if not _NAME_RE.match(name):
        raise ConfigError(path, prefix, "a server name may use letters, digits, '.', '_' and '-' only")
    table = _table(value, prefix, path)
    _only_keys(table, {"host", "port", "user", "key", "agent", "jump", "sudo", "scan"}, prefix + ".", path)
    if "host" not in table:
        raise ConfigError(path, f"{prefix}.host", "is missing")
    host = _string(table, "host", prefix, path)
    try:
        host = validate_host(host)
    except ValueError as exc:
        raise ConfigError(path, f"{prefix}.host", str(exc)) from None
    port = table.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535):
        raise ConfigError(path, f"{prefix}.port", "must be a whole number from 1 to 65535")
    user = table.get("user")
    if user is not None:
        user = _string(table, "user", prefix, path)
        try:
            validate_user(user)
        except ValueError as exc:
            raise ConfigError(path, f"{prefix}.user", str(exc)) from None
    key = _string(table, "key", prefix, path) if "key" in table else None
    jump = _string(table, "jump", prefix, path) if "jump" in table else None
    agent = _bool(table, "agent", prefix, path, True)
    sudo = _bool(table, "sudo", prefix, path, True)
    scan = _parse_scan(table.get("scan", {}), f"{prefix}.scan", path)
    return ServerProfile(name=name, host=host, port=port, user=user, key=key, agent=agent, jump=jump, sudo=sudo, **scan)


_SCAN_KEYS = ("source", "ca_file", "domain", "dkim_selector", "blocklists")


def _parse_scan(value: object, prefix: str, path: Path) -> dict[str, str | None]:
    """``[servers.NAME.scan]``: every key optional (a missing table or key is the default)."""
    table = _table(value, prefix, path)
    _only_keys(table, set(_SCAN_KEYS), prefix + ".", path)
    out: dict[str, str | None] = {}
    for key in _SCAN_KEYS:
        text = _string(table, key, prefix, path) if key in table else None
        if key == "source" and text is not None:
            try:
                text = str(ipaddress.ip_address(text))
            except ValueError:
                raise ConfigError(path, f"{prefix}.source", f"{text!r} is not an IP address") from None
        if key == "domain" and text is not None:
            try:
                text = validate_host(text)
            except ValueError as exc:
                raise ConfigError(path, f"{prefix}.domain", str(exc)) from None
        if key == "blocklists" and text is not None:
            try:
                text = ", ".join(blocklist_zones(text))
            except ValueError as exc:
                raise ConfigError(path, f"{prefix}.blocklists", str(exc)) from None
        out[f"scan_{key}"] = text
    return out


def blocklist_zones(text: str) -> tuple[str, ...]:
    """``"zen.spamhaus.org, bl.spamcop.net"`` -> the zone names, each a valid host name."""
    zones = tuple(validate_host(z) for z in re.split(r"[\s,]+", text.strip()) if z)
    if not zones:
        raise ValueError("name at least one blocklist zone, or leave it out for the default list")
    return zones


def config_to_toml(config: Config) -> dict:
    servers: dict[str, dict] = {}
    for s in config.servers:
        entry: dict[str, object] = {"host": s.host}
        if s.port is not None:
            entry["port"] = s.port
        if s.user:
            entry["user"] = s.user
        if s.key:
            entry["key"] = s.key
        entry["agent"] = s.agent
        if s.jump:
            entry["jump"] = s.jump
        entry["sudo"] = s.sudo
        scan = {key: getattr(s, f"scan_{key}") for key in _SCAN_KEYS if getattr(s, f"scan_{key}")}
        if scan:
            entry["scan"] = scan
        servers[s.name] = entry
    settings: dict[str, object] = {"known_hosts": config.settings.known_hosts}
    if config.settings.theme:
        settings["theme"] = config.settings.theme
    return {"settings": settings, "servers": servers}


def save_config(config: Config) -> None:
    """Write the config atomically with mode 0600 (its directory 0700)."""
    # Round-trip through the validator so we never write a file we would refuse to read.
    document = config_to_toml(config)
    parse_config(document, config.path)
    config.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = config.path.with_name(f".{config.path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"# mailtui configuration. No secrets are stored here.\n")
            tomli_w.dump(document, handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, config.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _table(value: object, key: str, path: Path) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(path, key, "must be a table")
    return value


def _only_keys(table: dict, allowed: set[str], prefix: str, path: Path) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(path, f"{prefix}{key}", f"unknown setting (expected one of: {', '.join(sorted(allowed))})")


def _string(table: dict, key: str, prefix: str, path: Path) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"{prefix}.{key}", "must be a non-empty string")
    return value.strip()


def _bool(table: dict, key: str, prefix: str, path: Path, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(path, f"{prefix}.{key}", "must be true or false")
    return value
