"""The audit log: every change mailtui makes on a server, written twice.

Locally to ``$MAILTUI_STATE_DIR/audit.log`` (default ``$XDG_STATE_HOME/mailtui`` or
``~/.local/state/mailtui``; mode 0600) and on the server to
``/var/log/mailtui/audit.log`` (root only, through sudo). One JSON object per line, so
both are easy to read back (the history view, ``jq``) and to append to atomically.

The local entry is written even when the server one cannot be: it then says why.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import TransportError

SERVER_AUDIT_DIR = "/var/log/mailtui"
SERVER_AUDIT_LOG = f"{SERVER_AUDIT_DIR}/audit.log"

# Appends one line; creates the directory root-only on first use.
_APPEND = f"""set -eu
umask 027
mkdir -p {SERVER_AUDIT_DIR}
chmod 750 {SERVER_AUDIT_DIR}
cat >> {SERVER_AUDIT_LOG}
"""


@dataclass(frozen=True)
class AuditEntry:
    """One change: what, where, by whom, the exact commands, and how it ended."""

    action: str                       # "ban", "unban", "fix", "undo"
    target: str                       # the transport label (server)
    subject: str                      # what it was about: an IP, a rule id
    commands: tuple[str, ...]         # the exact commands run, as shown to the user
    outcome: str                      # "done", "failed", "rolled back"
    message: str = ""
    time: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    local_user: str = field(default_factory=lambda: _local_user())
    server_log: str = ""              # where the server copy went, or why it could not

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def state_dir() -> Path:
    override = os.environ.get("MAILTUI_STATE_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "mailtui"


def local_audit_path() -> Path:
    return state_dir() / "audit.log"


def append_local(entry: AuditEntry, path: Path | None = None) -> Path:
    """Append one entry to the local audit log (created 0600)."""
    path = path or local_audit_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(entry.to_json() + "\n")
    return path


async def record(transport: Transport, entry: AuditEntry) -> AuditEntry:
    """Write ``entry`` on the server and locally; return it as written locally."""
    try:
        await transport.run(["sh", "-c", _APPEND], sudo=True, input=entry.to_json() + "\n", check=True, timeout=30)
        written = replace(entry, server_log=SERVER_AUDIT_LOG)
    except TransportError as exc:
        written = replace(entry, server_log=f"not written: {exc.message}")
    append_local(written)
    return written


def read_local(path: Path | None = None) -> list[AuditEntry]:
    """The local audit log, oldest first (unreadable lines are skipped, never fatal)."""
    path = path or local_audit_path()
    entries: list[AuditEntry] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return entries
    for line in lines:
        try:
            data = json.loads(line)
            data["commands"] = tuple(data.get("commands", ()))
            entries.append(AuditEntry(**data))
        except (ValueError, TypeError):
            continue
    return entries
