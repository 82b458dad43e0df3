"""The fix engine: plan -> (caller confirms) -> backup -> arm revert -> apply -> validate
-> reload -> verify -> [fresh SSH login] -> disarm; any failure restores byte for byte.

Shared by every fix and by undo. The server keeps everything needed to roll back by
itself in ``/var/backups/mailtui/<id>/``: the original files, a manifest and
``restore.sh`` (copies them back and reloads the services). A *timed revert*
(``setsid nohup sh revert.sh``: sleep, then restore.sh) is armed before anything changes;
it is disarmed only after verification - for fixes that could cut SSH, only after a
*fresh* SSH login succeeded. So a dropped connection, a dead client or a lockout still
ends with the old config back on the server.

Progress goes to an ``observer`` callback as :class:`StepEvent` s (the panel shows them
live). Every applied, rolled-back or undone fix is written to the audit log (server and
local, :mod:`mailtui.core.audit`); :func:`history` lists the server's backups, and
:func:`plan_undo` turns one back into a plan applied through the same protocol.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import difflib
import hashlib
import json
import re
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from mailtui.core import audit
from mailtui.core.checks.fixes import FIXES, FileWrite, Fix, FixError, MasterSet, PostconfSet, Service, files_to_read
from mailtui.core.checks.gather import CONFIG_PROBES, CheckFacts, gather
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import Status
from mailtui.core.text import sanitize
from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import ConnectionLost, TransportError

BACKUP_ROOT = "/var/backups/mailtui"
#: Seconds before the server restores by itself if nobody disarms the revert.
REVERT_AFTER = 300
REVERT_AFTER_SSH = 120

_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9._-]+-[0-9a-f]{4}$")
#: A fix id as it may appear in a backup id, a path or a server script.
_FIX_ID = re.compile(r"^[a-z0-9._-]+$")

#: Exit status of the disarm script when the server's timed revert already ran (or is running).
DISARM_REVERT_RAN = 3
#: Exit status of the backup script when another fix's timed revert is still armed.
BACKUP_OTHER_ARMED = 76
#: Exit status of the backup script when another mailtui holds the server's lock.
BACKUP_LOCKED = 75


def check_fix_id(fix_id: str) -> str:
    """``fix_id`` if it is safe in a path and a script (``^[a-z0-9._-]+$``), else FixError."""
    if not isinstance(fix_id, str) or not _FIX_ID.match(fix_id) or fix_id in (".", ".."):
        raise FixError(f"not a valid fix id: {sanitize(repr(fix_id))}")
    return fix_id


def check_backup_id(backup_id: str) -> str:
    if not isinstance(backup_id, str) or not _ID.match(backup_id):
        raise FixError(f"not a mailtui backup id: {sanitize(repr(backup_id))}")
    return backup_id


class Step(StrEnum):
    PLAN = "plan"
    BACKUP = "backup"
    APPLY = "apply"
    VALIDATE = "validate"
    RELOAD = "reload"
    VERIFY = "verify"
    OUTSIDE = "verify from outside"
    LOGIN = "fresh login"
    DISARM = "disarm revert"
    RESTORE = "restore"
    AUDIT = "audit"


class StepState(StrEnum):
    STARTED = "started"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepEvent:
    step: Step
    state: StepState
    message: str = ""


Observer = Callable[[StepEvent], None]


class Outcome(StrEnum):
    APPLIED = "applied"          # changed, validated, reloaded, verified
    DRY_RUN = "dry run"          # nothing touched
    ROLLED_BACK = "rolled back"  # a step failed; the old config is back and reloaded
    REVERT_PENDING = "revert pending"  # could not restore now; the server's timed revert will
    FAILED = "failed"            # failed before anything changed


class FixStatus(StrEnum):
    """The status of one backup (a fix or an undo) in the server's history, written by the engine."""

    APPLYING = "applying"              # running, or interrupted before the engine could say more
    APPLIED = "applied"                # changed and verified; undo puts the files back
    FAILED = "failed"                  # failed before anything changed
    ROLLED_BACK = "rolled back"        # failed and restored (by mailtui, or by the server's timed revert)
    REVERT_PENDING = "revert pending"  # could not restore now; the server's timed revert is armed
    UNDONE = "undone"                  # a later undo put the files back as they were before it


@dataclass(frozen=True)
class FixPlan:
    """Exactly what a fix will do: the diff to show and the commands to run."""

    fix_id: str
    title: str
    rules: tuple[str, ...]
    services: tuple[Service, ...]
    edits: tuple
    #: path -> content before (None: the file does not exist yet) / after (None: deleted).
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]
    diff: str
    commands: tuple[str, ...]
    warnings: tuple[str, ...]
    cuts_ssh: bool
    sshd_config: str | None = None
    sshd_pidfile: str | None = None
    #: For undo: the backup this plan restores.
    undo_of: str | None = None
    target: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(self.before)


@dataclass(frozen=True)
class FixResult:
    outcome: Outcome
    message: str
    plan: FixPlan
    backup_id: str | None = None
    steps: tuple[StepEvent, ...] = ()
    findings_after: tuple = ()
    audit: audit.AuditEntry | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.APPLIED, Outcome.DRY_RUN)


@dataclass(frozen=True)
class HistoryItem:
    """One backup on the server: a fix (or undo) that was applied or attempted."""

    id: str
    fix_id: str
    time: str
    status: str
    files: tuple[str, ...]
    undo_of: str | None = None
    #: The undo that undid this one (set with status ``undone``).
    undone_by: str | None = None

    @property
    def undoable(self) -> bool:
        return self.status == FixStatus.APPLIED


class StepFailed(Exception):
    def __init__(self, step: Step, message: str) -> None:
        super().__init__(message)
        self.step = step
        self.message = sanitize(message)


def _sha(data: bytes | None) -> str:
    return "absent" if data is None else hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------- plan
_POSTCONF_DRY = r"""set -eu
dir=$1; shift
t=$(mktemp -d)
trap 'rm -rf -- "$t"' EXIT
cp -p -- "$dir/main.cf" "$dir/master.cf" "$t/"
for a in "$@"; do
  case $a in
    e:*) postconf -c "$t" -e -- "${a#e:}" ;;
    X:*) postconf -c "$t" -X -- "${a#X:}" ;;
    P:*) postconf -c "$t" -P -- "${a#P:}" ;;
  esac
done
printf '@@main\n'; cat "$t/main.cf"; printf '@@master\n'; cat "$t/master.cf"
"""


def postconf_args(edits) -> list[str]:
    args = []
    for e in edits:
        if isinstance(e, PostconfSet):
            args.append(f"e:{e.name}={e.value}" if e.value is not None else f"X:{e.name}")
    for e in edits:
        if isinstance(e, MasterSet):
            args.append(f"P:{e.service}/{e.name}={e.value}")
    return args


def postconf_commands(edits) -> list[list[str]]:
    """The real commands: one ``postconf -e``, one ``-X``, one ``-P`` (each with all its args)."""
    sets = [f"{e.name}={e.value}" for e in edits if isinstance(e, PostconfSet) and e.value is not None]
    drops = [e.name for e in edits if isinstance(e, PostconfSet) and e.value is None]
    masters = [f"{e.service}/{e.name}={e.value}" for e in edits if isinstance(e, MasterSet)]
    out = []
    if sets:
        out.append(["postconf", "-e", *sets])
    if drops:
        out.append(["postconf", "-X", *drops])
    if masters:
        out.append(["postconf", "-P", *masters])
    return out


def unified_diff(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> str:
    parts = []
    for path in before:
        a = (before[path] or b"").decode("utf-8", "replace").splitlines(keepends=True)
        b = (after.get(path) or b"").decode("utf-8", "replace").splitlines(keepends=True)
        label_a = path if before[path] is not None else "/dev/null"
        label_b = path if after.get(path) is not None else "/dev/null"
        parts.extend(difflib.unified_diff(a, b, label_a, label_b))
    text = "".join(parts)
    return sanitize(text, multiline=True)


async def _read_optional(transport: Transport, path: str) -> bytes | None:
    result = await transport.run(["sh", "-c", 'if [ -e "$1" ]; then echo yes; else echo no; fi', "x", path],
                                 sudo=True, timeout=30)
    if result.stdout.strip() != "yes":
        return None
    return await transport.read_file(path, sudo=True)


#: The first words of the Plesk warning (the CLI and the preview look for it).
PLESK_WARNING = "Plesk manages this server"


def plesk_warning(version: str) -> str:
    return (f"{PLESK_WARNING} ({sanitize(version)}): Plesk regenerates these files; use Plesk's own settings. "
            "This change may be overwritten by Plesk at any time.")


def plan_needs_plesk_consent(plan: FixPlan) -> bool:
    """True when the plan carries the Plesk warning: apply only after an explicit extra yes."""
    return any(w.startswith(PLESK_WARNING) for w in plan.warnings)


async def plan_fix(transport: Transport, fix_id: str, facts: CheckFacts | None = None,
                   fix_def: Fix | None = None) -> FixPlan:
    """The exact edits of fix ``fix_id`` on this server, as a diff and commands. Touches nothing.

    ``fix_def`` lets a caller (a test) supply a fix that is not in the registry.
    """
    fx = fix_def or FIXES.get(fix_id)
    if fx is None:
        raise FixError(f"no automatic fix named {fix_id!r} (known: {', '.join(sorted(FIXES))})")
    check_fix_id(fx.id)
    facts = facts or await gather(transport, CONFIG_PROBES)
    files = {p: await _read_optional(transport, p) for p in files_to_read(fx, facts)}
    spec = fx.build(facts, files, transport.remote_user)
    before: dict[str, bytes | None] = {}
    after: dict[str, bytes | None] = {}
    commands: list[str] = []
    sudo = "" if transport.is_root else "sudo "
    pc_edits = [e for e in spec.edits if isinstance(e, (PostconfSet, MasterSet))]
    for e in spec.edits:
        if isinstance(e, FileWrite):
            if e.path not in before:
                before[e.path] = files[e.path] if e.path in files else await _read_optional(transport, e.path)
            after[e.path] = e.content
            commands.append(f"{sudo}write {e.path}" if e.content is not None else f"{sudo}rm {e.path}")
    if pc_edits:
        pf = facts.postfix
        confdir = pf.get("config_directory", "/etc/postfix") if pf else "/etc/postfix"
        dry = await transport.run(["sh", "-c", _POSTCONF_DRY, "mailtui-plan", confdir, *postconf_args(pc_edits)],
                                  sudo=True, timeout=60)
        if not dry.ok or "@@master\n" not in dry.stdout:
            raise FixError(f"postconf could not plan the change: {dry.describe_failure()}")
        main_text, _, master_text = dry.stdout.partition("@@master\n")
        main_text = main_text.removeprefix("@@main\n")
        for name, text in (("main.cf", main_text), ("master.cf", master_text)):
            path = f"{confdir}/{name}"
            old = await transport.read_file(path, sudo=True)
            if old != text.encode():
                before[path], after[path] = old, text.encode()
        commands = [sudo + shlex.join(c) for c in postconf_commands(pc_edits)] + commands
    inst = facts.own_sshd
    warnings = tuple(spec.warnings)
    plesk = getattr(facts, "plesk", None)
    if not plesk and spec.services:  # CONFIG_PROBES does not read it: one more small probe
        try:
            plesk = (await gather(transport, ("plesk",))).plesk
        except TransportError:
            plesk = None
    if plesk and spec.services:
        warnings = (plesk_warning(plesk),) + warnings
    return FixPlan(
        fix_id=fx.id, title=fx.title, rules=fx.rules, services=spec.services, edits=spec.edits,
        before=before, after=after, diff=unified_diff(before, after), commands=tuple(commands),
        warnings=warnings, cuts_ssh=Service.SSHD in spec.services,
        sshd_config=inst.config if inst and Service.SSHD in spec.services else None,
        sshd_pidfile=(inst.get("pidfile") or "/run/sshd.pid") if inst and Service.SSHD in spec.services else None,
        target=transport.label,
    )


# ---------------------------------------------------------------- server scripts
def reload_argv(service: Service, plan: FixPlan) -> list[str]:
    if service == Service.POSTFIX:
        return ["postfix", "reload"]
    if service == Service.DOVECOT:
        return ["doveadm", "reload"]
    return ["sh", "-c", 'kill -HUP "$(cat "$1")"', "mailtui-reload", plan.sshd_pidfile or "/run/sshd.pid"]


def validate_argv(service: Service, plan: FixPlan) -> list[str]:
    if service == Service.POSTFIX:
        return ["postfix", "check"]
    if service == Service.DOVECOT:
        return ["sh", "-c", "doveconf -n >/dev/null"]
    return ["sshd", "-t", "-f", plan.sshd_config or "/etc/ssh/sshd_config"]


def restart_snippet(service: Service, plan: FixPlan) -> str:
    """Shell for restore.sh: reload ``service``, or start it when it is not running (a service
    that died with the bad config must come back with the old one). Says what it started."""
    if service == Service.POSTFIX:
        return ("if postfix status >/dev/null 2>&1; then postfix reload || status=1; "
                "else echo 'mailtui-restore: postfix was not running: starting it'; postfix start || status=1; fi")
    if service == Service.DOVECOT:
        return ("if doveadm reload >/dev/null 2>&1; then :; "
                "else echo 'mailtui-restore: dovecot was not running: starting it'; dovecot || status=1; fi")
    pidfile = shlex.quote(plan.sshd_pidfile or "/run/sshd.pid")
    config = shlex.quote(plan.sshd_config or "/etc/ssh/sshd_config")
    return (f"pid=$(cat {pidfile} 2>/dev/null | head -n 1); case $pid in ''|*[!0-9]*) pid= ;; esac\n"
            f"if [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null; then kill -HUP \"$pid\" || status=1; "
            f"else echo 'mailtui-restore: sshd was not running: starting it'; "
            f"\"$(command -v sshd || echo /usr/sbin/sshd)\" -f {config} || status=1; fi")


def restore_script(backup_dir: str, plan: FixPlan) -> str:
    """The server-side rollback: files back byte for byte (cp -p + rename), then reloads
    (or starts a service that is not running)."""
    check_fix_id(plan.fix_id)
    reloads = "\n".join(restart_snippet(s, plan) for s in plan.services)
    return f"""#!/bin/sh
# mailtui: restore the files of {plan.fix_id} as they were before, then reload
d={shlex.quote(backup_dir)}
status=0
while read -r n state path; do
  if [ "$state" = present ]; then
    cp -p -- "$d/files/$n" "$path.mailtui-restore" && mv -f -- "$path.mailtui-restore" "$path" || status=1
  else
    rm -f -- "$path" || status=1
  fi
done < "$d/manifest"
export PATH="$PATH:/usr/sbin:/sbin"
{reloads}
date -u +%Y-%m-%dT%H:%M:%SZ > "$d/restored"
exit $status
"""


_BACKUP = r"""set -eu
umask 077
d=$1; after=$2; shift 2
case $after in ''|*[!0-9]*) echo "mailtui: bad revert delay" >&2; exit 2 ;; esac
root=${d%/*}
mkdir -p -- "$root"
# one mailtui at a time: the check for an armed revert and arming our own are atomic
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/.lock"
  flock -w 30 9 || { echo "mailtui: refused: another mailtui is changing this server right now ($root/.lock is held); try again when it is done" >&2; exit 75; }
else
  i=0
  until mkdir -- "$root/.lock.d" 2>/dev/null; do
    i=$((i+1))
    [ "$i" -lt 150 ] || { echo "mailtui: refused: another mailtui is changing this server right now ($root/.lock.d exists); try again when it is done" >&2; exit 75; }
    sleep 0.2
  done
  trap 'rmdir -- "$root/.lock.d" 2>/dev/null' EXIT
fi
# an armed revert of another fix would restore its old files over this change: refuse
for p in "$root"/*/revert.pid; do
  [ -f "$p" ] || continue
  o=${p%/revert.pid}
  [ "$o" != "$d" ] || continue
  [ ! -e "$o/restored" ] || continue
  pid=$(cat -- "$p" 2>/dev/null) || continue
  case $pid in ''|*[!0-9]*) continue ;; esac
  if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$o/revert.sh"; then
    when="when its timed revert fires"
    at=$(cat -- "$o/revert.at" 2>/dev/null) || at=
    case $at in
      ''|*[!0-9]*) ;;
      *) when="in $((at - $(date +%s))) s ($(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "epoch $at"))" ;;
    esac
    echo "mailtui: refused: the fix ${o##*/} is not finished on this server: its timed revert is armed and puts its old files back $when, which would undo this change. Wait for it to finish or revert, then try again." >&2
    exit 76
  fi
done
mkdir -p -- "$d/files"
cat > "$d/restore.sh"
: > "$d/manifest"
n=0
for p in "$@"; do
  n=$((n+1))
  if [ -e "$p" ]; then
    cp -p -- "$p" "$d/files/$n"; echo "$n present $p" >> "$d/manifest"
    printf '%s %s\n' "$(sha256sum < "$p" | cut -d' ' -f1)" "$p"
  else
    echo "$n absent $p" >> "$d/manifest"; printf 'absent %s\n' "$p"
  fi
done
cat > "$d/revert.sh" <<'EOF'
#!/bin/sh
# mailtui timed revert: $1 the backup dir, $2 seconds. Whoever makes "$1/firing" first
# wins: this revert (then it restores) or the engine's disarm (then this exits). A disarm
# that died between its mkdir and its kill leaves no "disarmed": then restore after all.
sleep "$2"
if ! mkdir -- "$1/firing" 2>/dev/null; then
  sleep 10
  if [ -e "$1/disarmed" ] || [ -e "$1/restored" ]; then exit 0; fi
fi
sh "$1/restore.sh"
EOF
echo $(( $(date +%s) + after )) > "$d/revert.at"
setsid nohup sh "$d/revert.sh" "$d" "$after" </dev/null >/dev/null 2>&1 9>&- &
echo $! > "$d/revert.pid"
"""

_DISARM = r"""d=$1
[ -d "$d" ] || exit 0
stop_revert() {
  pid=$(cat -- "$d/revert.pid" 2>/dev/null) || pid=
  case $pid in ''|*[!0-9]*) pid= ;; esac
  if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/revert.sh"; then
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null
  fi
  rm -f -- "$d/revert.pid"
}
if ! mkdir -- "$d/firing" 2>/dev/null; then
  if [ -e "$d/disarmed" ]; then  # an earlier disarm won: nothing more to do
    [ ! -e "$d/restored" ] || exit 3
    exit 0
  fi
  # the timed revert won the race (or a disarm died half way): wait for the restore to end
  i=0
  while [ ! -e "$d/restored" ] && [ "$i" -lt 180 ]; do sleep 0.5; i=$((i+1)); done
  [ ! -e "$d/restored" ] || stop_revert  # restored: the revert has nothing left to do
  exit 3
fi
stop_revert
: > "$d/disarmed"
[ ! -e "$d/restored" ] || exit 3
exit 0
"""

_HASHES = r"""for p in "$@"; do if [ -e "$p" ]; then printf '%s %s\n' "$(sha256sum < "$p" | cut -d' ' -f1)" "$p";
else printf 'absent %s\n' "$p"; fi; done"""


def _parse_hashes(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        digest, _, path = line.partition(" ")
        if path:
            out[path] = digest
    return out


LoginCheck = Callable[[], Awaitable[None]]
#: The outside view of one rule after a fix: ``rule id -> (ok, detail)``. ``ok`` True: the
#: matching scan probes agree the weakness is gone; False: they still see it (a verification
#: failure: roll back); None: not checkable from outside (no probe for the rule, the target
#: cannot be reached for probing): reported as a skipped step, never silently. The checks
#: do not import the scan: the implementation lives in :func:`mailtui.core.join.outside_verifier`.
OutsideCheck = Callable[[str], Awaitable[tuple[bool | None, str]]]


async def default_login_check(transport: Transport) -> None:
    """A brand-new SSH connection with the same profile must log in and run a command."""
    from mailtui.core.transport.ssh import SshTransport

    if not isinstance(transport, SshTransport):
        return
    fresh = SshTransport(transport.profile, transport.options)
    try:
        await fresh.connect()
        await fresh.run(["true"], timeout=15, check=True)
    finally:
        await fresh.close()


# --------------------------------------------------------------------- engine
class FixEngine:
    """Applies plans with the safety protocol. One engine per transport."""

    def __init__(self, transport: Transport, *, observer: Observer | None = None,
                 login_check: LoginCheck | None = None, revert_after: int | None = None,
                 verify_timeout: float = 15.0, outside_check: OutsideCheck | None = None,
                 outside_timeout: float = 10.0) -> None:
        self.transport = transport
        self.outside_check = outside_check
        #: How long the outside view may lag behind a reload (old server processes finishing).
        self.outside_timeout = outside_timeout
        self.observer = observer
        self.login_check = login_check or (lambda: default_login_check(transport))
        self.revert_after = revert_after
        self.verify_timeout = verify_timeout
        self._events: list[StepEvent] = []

    def _emit(self, step: Step, state: StepState, message: str = "") -> None:
        event = StepEvent(step, state, sanitize(message))
        self._events.append(event)
        if self.observer is not None:
            self.observer(event)

    async def _run(self, step: Step, argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
        result = await self.transport.run(argv, sudo=True, input=input, timeout=timeout)
        if not result.ok:
            raise StepFailed(step, result.describe_failure())
        return result.stdout

    async def apply(self, plan: FixPlan, *, dry_run: bool = False, verify_rules: bool = True) -> FixResult:
        """Run the whole protocol for ``plan`` (the caller has shown it and got a yes).

        Whatever interrupts it - a step failure, a bug (any exception), the task being
        cancelled (the app quitting, Ctrl-C) - a change that was not yet confirmed is rolled
        back and audited before the interruption propagates; the rollback itself is shielded
        from cancellation. Once the timed revert is disarmed the fix stands: later
        bookkeeping errors never roll it back.
        """
        self._events = []
        shown = plan.commands
        if dry_run:
            self._emit(Step.PLAN, StepState.OK, "dry run: nothing was changed")
            return FixResult(Outcome.DRY_RUN, f"{plan.title}: dry run, nothing changed.", plan,
                             steps=tuple(self._events))
        check_fix_id(plan.fix_id)
        if plan.undo_of is not None:
            check_backup_id(plan.undo_of)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        backup_id = f"{stamp}-{plan.fix_id}-{secrets.token_hex(2)}"
        check_backup_id(backup_id)
        bdir = f"{BACKUP_ROOT}/{backup_id}"
        after = int(self.revert_after or (REVERT_AFTER_SSH if plan.cuts_ssh else REVERT_AFTER))
        before_listen = None
        changed = False
        armed = False
        disarmed = False
        revert_ran = False
        findings: tuple = ()
        try:
            # ---- backup + timed revert (one round trip), refusing if files moved since the plan
            self._emit(Step.BACKUP, StepState.STARTED, bdir)
            result = await self.transport.run(["sh", "-c", _BACKUP, "mailtui-backup", bdir, str(after), *plan.files],
                                              sudo=True, input=restore_script(bdir, plan), timeout=60)
            if result.exit_status in (BACKUP_OTHER_ARMED, BACKUP_LOCKED):
                message = sanitize(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "refused")
                self._emit(Step.BACKUP, StepState.FAILED, message)
                return await self._finish(plan, Outcome.FAILED, f"{plan.title} was not applied: {message} "
                                          "Nothing was changed.", None)
            armed = True
            if not result.ok:
                raise StepFailed(Step.BACKUP, result.describe_failure())
            out = result.stdout
            await self._write_meta(bdir, plan, backup_id, FixStatus.APPLYING)
            current = _parse_hashes(out)
            moved = [p for p in plan.files if current.get(p) != _sha(plan.before[p])]
            if moved:
                raise StepFailed(Step.BACKUP, f"changed on the server since the plan: {', '.join(moved)}")
            self._emit(Step.BACKUP, StepState.OK, f"{bdir} (timed revert in {after} s)")
            before_listen = await self._listening(plan)
            # ---- apply
            self._emit(Step.APPLY, StepState.STARTED, "; ".join(shown))
            changed = True
            for argv in postconf_commands(plan.edits):
                await self._run(Step.APPLY, argv)
            for path, content in plan.after.items():
                if path in _postconf_files(plan):
                    continue
                if content is None:
                    await self._run(Step.APPLY, ["rm", "-f", "--", path])
                else:
                    await self.transport.write_file(path, content, sudo=True)
            hashes = _parse_hashes(await self._run(Step.APPLY, ["sh", "-c", _HASHES, "x", *plan.files]))
            wrong = [p for p in plan.files if hashes.get(p) != _sha(plan.after[p])]
            if wrong:
                raise StepFailed(Step.APPLY, f"the files differ from the plan after applying: {', '.join(wrong)}")
            self._emit(Step.APPLY, StepState.OK, "files are exactly as planned")
            # ---- validate
            self._emit(Step.VALIDATE, StepState.STARTED)
            for service in plan.services:
                await self._run(Step.VALIDATE, validate_argv(service, plan))
            self._emit(Step.VALIDATE, StepState.OK, ", ".join(" ".join(validate_argv(s, plan)[:2]) for s in plan.services))
            # ---- reload
            self._emit(Step.RELOAD, StepState.STARTED)
            for service in plan.services:
                await self._run(Step.RELOAD, self.reload_command(service, plan))
            self._emit(Step.RELOAD, StepState.OK)
            # ---- verify
            self._emit(Step.VERIFY, StepState.STARTED)
            findings = await self._verify(plan, before_listen, verify_rules)
            self._emit(Step.VERIFY, StepState.OK, "rule passes, services listen" if verify_rules else "services listen")
            # ---- verify from outside (the scan's probes, through the hook)
            if verify_rules and self.outside_check is not None:
                await self._verify_outside(plan)
            # ---- fresh login
            if plan.cuts_ssh:
                self._emit(Step.LOGIN, StepState.STARTED)
                try:
                    await self.login_check()
                except TransportError as exc:
                    raise StepFailed(Step.LOGIN, f"a fresh SSH login failed: {exc.message}") from None
                except OSError as exc:
                    raise StepFailed(Step.LOGIN, f"a fresh SSH login failed: {exc}") from None
                self._emit(Step.LOGIN, StepState.OK)
            # ---- disarm: from here on the fix stands (or the server's revert already undid it)
            self._emit(Step.DISARM, StepState.STARTED)
            disarm = await self.transport.run(["sh", "-c", _DISARM, "x", bdir], sudo=True, timeout=120)
            revert_ran = disarm.exit_status == DISARM_REVERT_RAN
            if not disarm.ok and not revert_ran:
                raise StepFailed(Step.DISARM, disarm.describe_failure())
            disarmed = True
            if not revert_ran:
                self._emit(Step.DISARM, StepState.OK)
        except (StepFailed, TransportError) as exc:
            step = exc.step if isinstance(exc, StepFailed) else self._current_step()
            message = exc.message
            self._emit(step, StepState.FAILED, message)
            if disarmed:
                return await self._finish(plan, Outcome.APPLIED, f"{plan.title}: applied and verified (backup "
                                          f"{backup_id}); history not updated: {message}", backup_id, findings)
            if not changed:
                await self._disarm_quietly(bdir)
                await self._write_meta(bdir, plan, backup_id, FixStatus.FAILED)
                return await self._finish(plan, Outcome.FAILED, f"{plan.title} failed at {step.value}: {message}. "
                                          "Nothing was changed.", backup_id)
            return await _complete(self._rollback(plan, bdir, backup_id, step, message))
        except BaseException as exc:  # a bug, a cancelled task (quit, Ctrl-C): never leave it half done
            step = self._current_step()
            what = "cancelled" if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)) else \
                f"stopped by an unexpected error ({type(exc).__name__}: {exc})"
            message = sanitize(f"{what} during {step.value}")
            self._emit(step, StepState.FAILED, message)
            if revert_ran:
                coro = self._revert_ran(plan, bdir, backup_id)
            elif disarmed:
                coro = self._finish(plan, Outcome.APPLIED, f"{plan.title}: applied and verified (backup "
                                    f"{backup_id}); then {message}; history may not be updated", backup_id, findings)
            elif changed:
                coro = self._rollback(plan, bdir, backup_id, step, message)
            else:
                coro = self._abort_unchanged(plan, bdir, backup_id, step, message, armed)
            result = await _shielded(coro)
            if result is not None and hasattr(exc, "add_note"):
                exc.add_note(f"mailtui: {result.outcome.value}: {result.message}")
            raise
        if revert_ran:
            return await self._revert_ran(plan, bdir, backup_id)
        # ---- bookkeeping: errors here never roll back a confirmed fix
        try:
            await self._write_meta(bdir, plan, backup_id, FixStatus.APPLIED)
            if plan.undo_of:
                await self._mark_undone(plan.undo_of, backup_id)
        except Exception as exc:  # noqa: BLE001 - the fix stands; say the history lags
            detail = exc.message if isinstance(exc, TransportError) else f"{type(exc).__name__}: {exc}"
            return await self._finish(plan, Outcome.APPLIED, f"{plan.title}: applied and verified (backup "
                                      f"{backup_id}); history not updated: {sanitize(detail)}", backup_id, findings)
        return await self._finish(plan, Outcome.APPLIED, f"{plan.title}: applied and verified "
                                  f"(backup {backup_id}).", backup_id, findings)

    async def _abort_unchanged(self, plan: FixPlan, bdir: str, backup_id: str, step: Step, message: str,
                               armed: bool) -> FixResult:
        # even when the backup's answer never came, it may have armed a revert: disarm it
        await self._disarm_quietly(bdir)
        await self._write_meta(bdir, plan, backup_id, FixStatus.FAILED)
        return await self._finish(plan, Outcome.FAILED, f"{plan.title}: {message}. Nothing was changed.",
                                  backup_id if armed else None)

    async def _revert_ran(self, plan: FixPlan, bdir: str, backup_id: str) -> FixResult:
        """The server's timed revert fired before the disarm: the old files are back (checked)."""
        message = "the server's timed revert fired before mailtui could disarm it"
        self._emit(Step.DISARM, StepState.FAILED, message)
        try:
            hashes = _parse_hashes(await self._run(Step.RESTORE, ["sh", "-c", _HASHES, "x", *plan.files]))
        except (StepFailed, TransportError) as exc:
            await self._write_meta(bdir, plan, backup_id, FixStatus.ROLLED_BACK)
            return await self._finish(plan, Outcome.ROLLED_BACK,
                                      f"{plan.title} was verified, but {message}: the server's revert put the "
                                      f"previous files back (mailtui could not re-check them: {exc.message}).",
                                      backup_id)
        wrong = [p for p in plan.files if hashes.get(p) != _sha(plan.before[p])]
        if wrong:  # not as expected: restore again, through the normal rollback
            return await self._rollback(plan, bdir, backup_id, Step.DISARM, message)
        await self._write_meta(bdir, plan, backup_id, FixStatus.ROLLED_BACK)
        self._emit(Step.RESTORE, StepState.OK, "the server's revert restored the files byte for byte")
        return await self._finish(plan, Outcome.ROLLED_BACK,
                                  f"{plan.title} was verified, but {message} (it took longer than the "
                                  f"revert delay): the server's revert ran, so the change is rolled back; the "
                                  f"previous configuration is in place byte for byte. Apply it again if wanted.",
                                  backup_id)

    def reload_command(self, service: Service, plan: FixPlan) -> list[str]:
        """The reload command (a method so tests can make a reload fail for real)."""
        return reload_argv(service, plan)

    def _current_step(self) -> Step:
        started = [e.step for e in self._events if e.state == StepState.STARTED]
        return started[-1] if started else Step.PLAN

    async def _listening(self, plan: FixPlan) -> set[int]:
        facts = await gather(self.transport, ("listeners",))
        return {l.port for l in facts.listeners or () if _serves(l, plan.services)}

    async def _verify(self, plan: FixPlan, before_listen: set[int] | None, verify_rules: bool) -> tuple:
        deadline = time.monotonic() + self.verify_timeout
        problem = ""
        while True:
            facts = await gather(self.transport, CONFIG_PROBES)
            now_listen = {l.port for l in facts.listeners or () if _serves(l, plan.services)}
            missing = sorted((before_listen or set()) - now_listen)
            findings = tuple(evaluate(facts, only=set(plan.rules))) if verify_rules else ()
            failing = [f for f in findings if f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
            if missing:
                problem = f"ports no longer listening: {', '.join(map(str, missing))}"
            elif failing:
                problem = "the rule still fails: " + "; ".join(f"{f.id} {f.target}: {f.evidence}" for f in failing[:3])
            else:
                return findings
            if time.monotonic() > deadline or (failing and not missing):
                raise StepFailed(Step.VERIFY, problem)
            await asyncio.sleep(0.5)

    async def _verify_outside(self, plan: FixPlan) -> None:
        """Every rule of the plan as the scan sees it; a disagreement raises StepFailed(OUTSIDE).

        The outside view may lag a moment behind the reload (an old smtpd finishing its
        session), so a disagreement is re-probed until ``outside_timeout`` has passed.
        """
        self._emit(Step.OUTSIDE, StepState.STARTED, ", ".join(plan.rules))
        deadline = time.monotonic() + self.outside_timeout
        checked: list[str] = []
        skipped: list[str] = []
        for rule_id in plan.rules:
            while True:
                try:
                    ok, detail = await self.outside_check(rule_id)
                except Exception as exc:  # noqa: BLE001 - an unproven fix is not verified
                    ok, detail = False, f"the outside check failed: {type(exc).__name__}: {exc}"
                if ok is not False or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1.0)
            detail = sanitize(detail)
            if ok is False:
                raise StepFailed(Step.OUTSIDE, f"{rule_id}: {detail}")
            (checked if ok else skipped).append(f"{rule_id}: {detail}")
        if checked:
            self._emit(Step.OUTSIDE, StepState.OK, "; ".join(checked + skipped))
        else:
            self._emit(Step.OUTSIDE, StepState.SKIPPED, "; ".join(skipped))

    async def _rollback(self, plan: FixPlan, bdir: str, backup_id: str, step: Step, message: str) -> FixResult:
        self._emit(Step.RESTORE, StepState.STARTED, f"restoring from {bdir}")
        deadline = time.monotonic() + 60
        last = ""
        while True:
            try:
                restored = await self._run(Step.RESTORE, ["sh", f"{bdir}/restore.sh"], timeout=90)
                started = [line.removeprefix("mailtui-restore: ") for line in restored.splitlines()
                           if line.startswith("mailtui-restore: ")]
                hashes = _parse_hashes(await self._run(Step.RESTORE, ["sh", "-c", _HASHES, "x", *plan.files]))
                wrong = [p for p in plan.files if hashes.get(p) != _sha(plan.before[p])]
                if wrong:
                    raise StepFailed(Step.RESTORE, f"not identical after restore: {', '.join(wrong)}")
                disarm = await self.transport.run(["sh", "-c", _DISARM, "x", bdir], sudo=True, timeout=120)
                if not disarm.ok and disarm.exit_status != DISARM_REVERT_RAN:  # 3: restored already, fine
                    raise StepFailed(Step.RESTORE, disarm.describe_failure())
                await self._write_meta(bdir, plan, backup_id, FixStatus.ROLLED_BACK)
                extra = f" ({'; '.join(sanitize(s) for s in started)})" if started else ""
                self._emit(Step.RESTORE, StepState.OK, f"files restored byte for byte, services reloaded{extra}")
                return await self._finish(plan, Outcome.ROLLED_BACK,
                                          f"{plan.title} failed at {step.value} ({message}); the previous "
                                          f"configuration was restored byte for byte and reloaded{extra}.",
                                          backup_id)
            except ConnectionLost as exc:
                last = exc.message
            except (StepFailed, TransportError) as exc:
                last = exc.message
                if not getattr(exc, "retryable", False) and not isinstance(exc, StepFailed):
                    break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        self._emit(Step.RESTORE, StepState.FAILED, last)
        await self._write_meta(bdir, plan, backup_id, FixStatus.REVERT_PENDING)  # best effort: the link may be down
        return await self._finish(plan, Outcome.REVERT_PENDING,
                                  f"{plan.title} failed at {step.value} ({message}) and mailtui could not restore "
                                  f"now ({last}); the server restores {bdir} by itself when its timed revert fires.",
                                  backup_id)

    async def _disarm_quietly(self, bdir: str) -> None:
        try:
            await self.transport.run(["sh", "-c", _DISARM, "x", bdir], sudo=True, timeout=30)
        except TransportError:
            pass

    async def _mark_undone(self, undone_id: str, undo_id: str) -> None:
        """After an undo: the backup it undid is ``undone``; when that was itself an undo, the
        fix it had undone is back in force (``applied``)."""
        meta = await _read_meta(self.transport, undone_id)
        if meta is None:
            return
        meta.update(status=FixStatus.UNDONE.value, undone_by=undo_id)
        await _store_meta(self.transport, undone_id, meta)
        earlier = meta.get("undo_of")
        if isinstance(earlier, str) and _ID.match(earlier):
            again = await _read_meta(self.transport, earlier)
            if again is not None and again.get("status") == FixStatus.UNDONE.value:
                again.update(status=FixStatus.APPLIED.value, undone_by=None)
                await _store_meta(self.transport, earlier, again)

    async def _write_meta(self, bdir: str, plan: FixPlan, backup_id: str, status: str) -> None:
        meta = {"id": backup_id, "fix": plan.fix_id, "rules": list(plan.rules), "status": str(status),
                "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "files": list(plan.files), "undo_of": plan.undo_of, "target": plan.target}
        try:
            await self.transport.run(["sh", "-c", 'cat > "$1/meta.json"', "x", bdir], sudo=True,
                                     input=json.dumps(meta) + "\n", timeout=30)
        except TransportError:
            pass

    async def _finish(self, plan: FixPlan, outcome: Outcome, message: str, backup_id: str | None,
                      findings: tuple = ()) -> FixResult:
        action = "undo" if plan.undo_of else "fix"
        entry = audit.AuditEntry(action, self.transport.label, plan.fix_id, plan.commands, outcome.value,
                                 f"{message} backup={backup_id}" if backup_id else message)
        try:
            written = await audit.record(self.transport, entry)
            self._emit(Step.AUDIT, StepState.OK, written.server_log)
        except (TransportError, OSError) as exc:
            written = entry
            self._emit(Step.AUDIT, StepState.FAILED, str(exc))
        return FixResult(outcome, message, plan, backup_id, tuple(self._events), findings, written)


async def _complete(coro: Awaitable[FixResult]) -> FixResult:
    """Run ``coro`` (a rollback) to completion even if the awaiting task is cancelled meanwhile."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except BaseException:  # noqa: BLE001 - the task's own error, raised below
            break
    return task.result()


async def _shielded(coro: Awaitable[FixResult]) -> FixResult | None:
    """:func:`_complete`, None when the coroutine itself failed (the caller re-raises its own error)."""
    try:
        return await _complete(coro)
    except BaseException:  # noqa: BLE001
        return None


def _postconf_files(plan: FixPlan) -> set[str]:
    if not any(isinstance(e, (PostconfSet, MasterSet)) for e in plan.edits):
        return set()
    return {p for p in plan.after if p.endswith("/main.cf") or p.endswith("/master.cf")}


_SERVICE_PROCESSES = {Service.POSTFIX: ("master", "smtpd"), Service.DOVECOT: ("dovecot",), Service.SSHD: ("sshd",)}


def _serves(listener, services) -> bool:
    return any(p in listener.processes for s in services for p in _SERVICE_PROCESSES[s])


# ---------------------------------------------------------------- history / undo
async def _read_meta(transport: Transport, backup_id: str) -> dict | None:
    if not _ID.match(backup_id):
        return None
    result = await transport.run(["sh", "-c", 'cat "$1/meta.json" 2>/dev/null || true', "x",
                                  f"{BACKUP_ROOT}/{backup_id}"], sudo=True, timeout=30)
    try:
        data = json.loads(result.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _store_meta(transport: Transport, backup_id: str, meta: dict) -> None:
    try:
        await transport.run(["sh", "-c", 'cat > "$1/meta.json"', "x", f"{BACKUP_ROOT}/{backup_id}"], sudo=True,
                            input=json.dumps(meta) + "\n", timeout=30)
    except TransportError:
        pass


_HISTORY = rf"""for m in {BACKUP_ROOT}/*/meta.json; do
  [ -f "$m" ] || continue
  d=${{m%/meta.json}}; flags=-
  [ -e "$d/restored" ] && flags="${{flags}}R"
  [ -e "$d/revert.pid" ] && flags="${{flags}}P"
  printf '%s\t' "$flags"; tr -d '\n' < "$m"; echo
done; true"""


def _final_status(status: str, flags: str) -> str:
    """The status the engine wrote, completed by what only the server knows: a run that
    ended before the engine could write its end was rolled back by the timed revert
    (``restored`` exists) or will be (the revert is still armed)."""
    if status == FixStatus.APPLIED and "R" in flags:
        return FixStatus.ROLLED_BACK.value  # the server's revert ran after all (an older mailtui's race)
    if status in (FixStatus.APPLYING, FixStatus.REVERT_PENDING):
        if "R" in flags:
            return FixStatus.ROLLED_BACK.value
        if "P" in flags:
            return FixStatus.REVERT_PENDING.value
    return status


async def history(transport: Transport) -> list[HistoryItem]:
    """The fixes applied on this server (its backups), newest first, with their final status."""
    result = await transport.run(["sh", "-c", _HISTORY], sudo=True, timeout=30)
    items = []
    for line in result.stdout.splitlines():
        flags, _, text = line.partition("\t")
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if not isinstance(data, dict) or not _ID.match(str(data.get("id", ""))):
            continue
        status = _final_status(sanitize(str(data.get("status", ""))), flags)
        undo_of = data.get("undo_of") if isinstance(data.get("undo_of"), str) else None
        undone_by = data.get("undone_by") if isinstance(data.get("undone_by"), str) else None
        items.append(HistoryItem(data["id"], sanitize(str(data.get("fix", ""))), sanitize(str(data.get("time", ""))),
                                 status, tuple(sanitize(str(f)) for f in data.get("files", ())),
                                 sanitize(undo_of) if undo_of else None, sanitize(undone_by) if undone_by else None))
    return sorted(items, key=lambda i: i.id, reverse=True)


async def plan_undo(transport: Transport, backup_id: str) -> FixPlan:
    """A plan that puts back the files saved by ``backup_id`` (applied like any fix)."""
    check_backup_id(backup_id)
    bdir = f"{BACKUP_ROOT}/{backup_id}"
    items = {i.id: i for i in await history(transport)}
    item = items.get(backup_id)
    if item is None:
        raise FixError(f"no backup {backup_id} on this server")
    manifest = (await transport.read_file(f"{bdir}/manifest", sudo=True)).decode()
    before: dict[str, bytes | None] = {}
    after: dict[str, bytes | None] = {}
    edits = []
    for line in manifest.splitlines():
        n, state, path = line.split(" ", 2)
        if not n.isdigit() or state not in ("present", "absent") or not path.startswith("/"):
            raise FixError(f"backup {backup_id}: unreadable manifest line {sanitize(line)!r}")
        before[path] = await _read_optional(transport, path)
        after[path] = await transport.read_file(f"{bdir}/files/{n}", sudo=True) if state == "present" else None
        edits.append(FileWrite(path, after[path]))
    check_fix_id(item.fix_id)
    fx = FIXES.get(item.fix_id)
    services = tuple(Service(s) for s in _services_of(item.files))
    facts = await gather(transport, ("listeners", "sshd"))
    inst = facts.own_sshd
    cuts = Service.SSHD in services
    sudo = "" if transport.is_root else "sudo "
    return FixPlan(
        fix_id=item.fix_id, title=f"Undo {fx.title if fx else item.fix_id}", rules=fx.rules if fx else (),
        services=services, edits=tuple(edits), before=before, after=after, diff=unified_diff(before, after),
        commands=tuple(f"{sudo}restore {p} from {bdir}" for p in before), warnings=(
            "files changed after this fix (by later fixes or by hand) are put back to how they were before it",),
        cuts_ssh=cuts, sshd_config=inst.config if inst and cuts else None,
        sshd_pidfile=(inst.get("pidfile") or "/run/sshd.pid") if inst and cuts else None,
        undo_of=backup_id, target=transport.label,
    )


def _services_of(files: tuple[str, ...]) -> list[str]:
    out = []
    for f in files:
        s = "postfix" if "/postfix/" in f else "dovecot" if "dovecot" in f else "sshd" if "ssh" in f else None
        if s and s not in out:
            out.append(s)
    return out


async def apply_undo(transport: Transport, backup_id: str, *, plan: FixPlan | None = None, dry_run: bool = False,
                     **engine_options) -> FixResult:
    """Undo ``backup_id`` through the fix protocol. ``plan``: the undo plan that was shown
    (from :func:`plan_undo`), applied exactly; if the files moved since, the backup step
    refuses it. Without it, a fresh plan is made."""
    check_backup_id(backup_id)
    if plan is None:
        plan = await plan_undo(transport, backup_id)
    elif plan.undo_of != backup_id:
        raise FixError(f"the plan shown undoes {plan.undo_of or 'nothing'}, not {backup_id}")
    # An undo restores files saved before a fix: its rule may fail again, so only the services are verified.
    return await FixEngine(transport, **engine_options).apply(plan, dry_run=dry_run, verify_rules=False)


__all__ = ["FixEngine", "FixPlan", "FixResult", "FixStatus", "OutsideCheck", "Outcome", "Step", "StepEvent", "StepState", "HistoryItem",
           "plan_fix", "plan_undo", "apply_undo", "history", "replace", "field"]
