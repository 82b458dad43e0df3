"""The join: a scan finding tied to the server's config line, its checklist rule, its log lines.

Scan, checks and logs do not import each other (DESIGN.md); this one small module sits
above the three and ties them together for a connected server:

- :func:`config_for` looks up the settings a :class:`~mailtui.core.findings.Finding` names
  (``finding.config``) in what the checklist's gatherer read (``postconf``, ``postconf -M/-P``,
  ``doveconf -n``, ``sshd -T``), per listener: a finding on port 587 is answered by the
  ``submission`` service's ``-o`` override when it has one, else by main.cf;
- :func:`checklist_rule` names the checklist rule that grades (and fixes) the same thing;
- :func:`match_log_lines` ties the server's log lines to the probes that caused them:
  by the scanner's source address, the probe's time window, the listener the line came
  from and, for Postfix sessions, the commands counted on the ``disconnect`` line against
  the commands the probe's transcript sent (probe groups run at the same time, so time and
  port alone are often ambiguous); :func:`read_scan_logs` reads the lines first.

Everything but :func:`read_scan_logs` is pure. No Textual or Rich import.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import ipaddress
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from mailtui.core.checks.gather import CONFIG_PROBES, CheckFacts, MasterService, gather
from mailtui.core.facts import LogSource
from mailtui.core.findings import Finding, Status
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.events import LogEvent
from mailtui.core.logs.reading import read_recent
from mailtui.core.logs.records import RecordParser
from mailtui.core.scan.model import CHECKLIST_RULES as SCAN_CHECKLIST_RULES
from mailtui.core.scan.model import (
    LISTENERS,
    Direction,
    ProbeRecord,
    ScanReport,
    check_group,
    checklist_rule_id,
    target_port,
)
from mailtui.core.scan.options import ALL_GROUPS, DEFAULT_PORTS, ScanOptions, ScanOptionsError
from mailtui.core.scan.runner import ScanSetupError
from mailtui.core.text import sanitize
from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import TransportError

__all__ = [
    "CHECKLIST_RULES",
    "ConfigRef",
    "LogMatch",
    "ProbeLogs",
    "checklist_rule",
    "config_for",
    "finding_port",
    "match_log_lines",
    "mynetworks",
    "outside_check_for",
    "outside_scan_options",
    "outside_verifier",
    "read_scan_logs",
    "scan_checks_for",
    "scan_groups_for",
    "scanner_addresses",
]

# ----------------------------------------------------------------------------- checklist
#: Scan check id -> checklist rule id (port-aware). It lives in the scan core as plain
#: strings (:data:`mailtui.core.scan.model.CHECKLIST_RULES`), so failing scan findings
#: carry it as their ``fix``; re-exported here, where both sides meet.
CHECKLIST_RULES = SCAN_CHECKLIST_RULES


def finding_port(finding: Finding) -> int | None:
    """The listener port a finding is about (``127.0.0.1:587`` -> 587), or None."""
    return target_port(finding.target)


def checklist_rule(finding: Finding) -> str | None:
    """The id of the checklist rule that grades what ``finding`` saw from outside, or None.

    A failing scan finding names it as its ``fix`` (the checklist's fix ids are its rule
    ids); a passing one carries no fix, so the scan's table answers by check id and port.
    """
    return finding.fix or checklist_rule_id(finding.id, finding_port(finding))


# ------------------------------------------------------------------------ outside check
#: Checks the scan grades stricter than the checklist rule that fixes them (NCSC phase-out
#: ciphers, TLS 1.0 on port 25 which the rule allows): a WARN there is advice, and only a
#: FAIL disagrees with a fixed rule. Everywhere else WARN is the weakness itself (banner,
#: HELO, SSH passwords offered) and disagrees too.
# (Ciphers are not among them: scan and checklist grade suites with one policy,
# mailtui.core.tlsclass, so a cipher WARN after a cipher fix is a real disagreement.)
_WARN_IS_ADVICE = frozenset({"tls.versions", "tls.sslv3"})
#: Checks whose verdict depends on the scanner being a stranger to Postfix (not in mynetworks).
_NEEDS_STRANGER = frozenset({"relay.open_relay", "spoof.local_sender", "smtp.submission_auth_required"})

OutsideResult = tuple[bool | None, str]


def scan_checks_for(rule_id: str) -> dict[str, frozenset[int] | None]:
    """The reverse of :data:`CHECKLIST_RULES`: scan check id -> the listener ports where it
    grades ``rule_id`` (None: on whatever port it runs)."""
    out: dict[str, frozenset[int] | None] = {}
    for check_id, rule in CHECKLIST_RULES.items():
        if isinstance(rule, dict):
            keyed = {p for p in rule if p is not None}
            ports = {p for p, r in rule.items() if p is not None and r == rule_id}
            if rule.get(None) == rule_id:
                ports |= set(LISTENERS) - keyed
            if ports:
                out[check_id] = frozenset(ports)
        elif rule == rule_id:
            out[check_id] = None
    return out


def scan_groups_for(rule_id: str) -> tuple[str, ...]:
    """The probe groups that see ``rule_id`` from outside, in scan order (empty: none)."""
    groups = {check_group(c) for c in scan_checks_for(rule_id)}
    return tuple(g for g in ALL_GROUPS if g in groups)


def _trusted(address: str | None, networks: Iterable[str]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net.replace("[", "").replace("]", ""), strict=False):
                return True
        except ValueError:
            continue
    return False


def outside_verifier(options: ScanOptions, *, trusted_networks: Iterable[str] = (),
                     scan_function: Callable[[ScanOptions], Awaitable[ScanReport]] | None = None
                     ) -> Callable[[str], Awaitable[OutsideResult]]:
    """The fix engine's ``outside_check``: re-probe what a fixed rule changed, from outside.

    For a rule id it runs only the probe groups that grade it (:func:`scan_groups_for`,
    with ``options``' target, source, CA file, resolver), on only the listeners that matter,
    and answers ``(True, detail)`` when no matching finding still shows the weakness,
    ``(False, detail)`` when one does (FAIL, or WARN where WARN is the weakness itself), and
    ``(None, why)`` when the outside cannot tell: no probe for the rule, the scan cannot
    start, no probe reached the server, or the probes come from a network Postfix trusts
    (``trusted_networks``, its mynetworks) so relay and spoofing verdicts would be the
    insider's. ``scan_function`` defaults to :func:`mailtui.core.scan.scan`.
    """
    run = scan_function or _scan

    async def check(rule_id: str) -> OutsideResult:
        checks = scan_checks_for(rule_id)
        if not checks:
            return None, f"no outside probe sees {rule_id}"
        scanner = options.source or (options.host if _is_loopback(options.host) else None)
        stranger = not _trusted(scanner, trusted_networks)
        if not stranger:
            checks = {c: p for c, p in checks.items() if c not in _NEEDS_STRANGER}
            if not checks:
                return None, (f"the probes come from {scanner}, which Postfix trusts (mynetworks): "
                              "set a scan source outside it to verify from outside")
        groups = tuple(g for g in ALL_GROUPS if g in {check_group(c) for c in checks})
        ports = options.ports
        if all(p is not None for p in checks.values()):
            wanted = set().union(*checks.values())  # type: ignore[arg-type]
            ports = tuple(p for p in options.ports if p in wanted) or tuple(sorted(wanted))
        elif set(groups) <= {"smtp", "relay", "enum", "spoof", "tls", "imap_pop", "ssh"}:
            ports = tuple(p for p in options.ports if p in LISTENERS) or options.ports
        try:
            report = await run(replace(options, groups=groups, ports=ports))
        except (ScanSetupError, ScanOptionsError) as exc:
            return None, f"the server cannot be probed from here: {exc}"
        relevant = [f for f in report.findings if f.id in checks
                    and (checks[f.id] is None or finding_port(f) in checks[f.id])]  # type: ignore[operator]
        bad = [f for f in relevant
               if f.status == Status.FAIL or (f.status == Status.WARN and f.id not in _WARN_IS_ADVICE)]
        if bad:
            return False, "the scan still sees it: " + "; ".join(
                f"{f.id} {f.target}: {f.status.value} {f.evidence}" for f in bad[:3])
        seen = [f for f in relevant if f.status in (Status.PASS, Status.INFO, Status.WARN)]
        if not seen:
            errors = [f.evidence for f in report.findings if f.status == Status.ERROR]
            why = "; ".join(errors[:2]) or "no matching probe result"
            return None, f"not reachable for probing ({', '.join(groups)}): {why}"
        note = "" if stranger else f" (relay/spoofing not re-probed: {scanner} is in mynetworks)"
        return True, "scan agrees: " + "; ".join(
            f"{f.id} {f.target} {f.status.value}" for f in seen[:4]) + note

    return check


def outside_check_for(target: object, *, facts: CheckFacts | None = None, transport: Transport | None = None,
                      resolver: str | None = None, off: str | None = None
                      ) -> Callable[[str], Awaitable[OutsideResult]]:
    """The fix engine's ``outside_check`` for a connected target (``mailtui fix``, the panel).

    ``target`` is a :class:`~mailtui.core.profiles.ServerProfile` (its host, SSH port and
    ``[servers.NAME.scan]`` source and CA file) or this machine (127.0.0.1). The server's
    Postfix settings (mydomain, mynetworks) come from ``facts``, else are read through
    ``transport`` at the first call. ``resolver`` defaults to MAILTUI_RESOLVER. When the
    check is turned ``off`` (the reason) or cannot be set up, the hook answers
    ``(None, why)`` for every rule: a skipped step that says why, never silence.
    """
    from mailtui.core.profiles import ServerProfile

    def skipped(why: str) -> Callable[[str], Awaitable[OutsideResult]]:
        async def check(rule_id: str) -> OutsideResult:
            return None, why
        return check

    if off:
        return skipped(off)
    profile = target if isinstance(target, ServerProfile) else None
    resolver = resolver or os.environ.get("MAILTUI_RESOLVER")
    ca_file = profile.scan_ca_file if profile else None
    if ca_file and not os.path.isfile(ca_file):
        return skipped(f"the scan's CA file {ca_file} does not exist")
    state: dict[str, Callable[[str], Awaitable[OutsideResult]]] = {}

    async def check(rule_id: str) -> OutsideResult:
        if "verifier" not in state:
            known = facts
            if known is None and transport is not None:
                try:
                    known = await gather(transport, CONFIG_PROBES)
                except TransportError:
                    known = None
            try:
                options = outside_scan_options(
                    profile.host if profile else "127.0.0.1", ssh_port=profile.port if profile else None,
                    source=profile.scan_source if profile else None, ca_file=ca_file,
                    domain=profile.scan_domain if profile else None, resolver=resolver, facts=known)
            except (ScanOptionsError, ValueError) as exc:
                state["verifier"] = skipped(f"the server cannot be probed: {exc}")
            else:
                state["verifier"] = outside_verifier(options, trusted_networks=mynetworks(known))
        return await state["verifier"](rule_id)

    return check


async def _scan(options: ScanOptions) -> ScanReport:
    from mailtui.core.scan import scan

    return await scan(options)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host in ("localhost", "localhost.localdomain")


def mynetworks(facts: CheckFacts | None) -> tuple[str, ...]:
    """The CIDR entries of Postfix's effective mynetworks (table lookups are not followed)."""
    if facts is None or facts.postfix is None:
        return ()
    value = facts.postfix.effective("mynetworks") or ""
    out = []
    for token in re.split(r"[\s,]+", value):
        try:
            ipaddress.ip_network(token.replace("[", "").replace("]", ""), strict=False)
        except ValueError:
            continue
        out.append(token)
    return tuple(out)


def outside_scan_options(host: str, *, ssh_port: int | None = None, source: str | None = None,
                         ca_file: str | None = None, domain: str | None = None, resolver: str | None = None,
                         facts: CheckFacts | None = None) -> ScanOptions:
    """ScanOptions for re-probing a server after a fix (quick: small budget, short timeouts).

    ``host`` is the server's name or address (a profile's host; 127.0.0.1 for this
    machine), ``source``/``ca_file``/``domain`` its ``[servers.NAME.scan]`` fields; the mail
    domain defaults to Postfix's mydomain from ``facts``. Raises ScanOptionsError.
    """
    if domain is None and facts is not None and facts.postfix is not None:
        mydomain = facts.postfix.effective("mydomain")
        if mydomain and mydomain != "localdomain":
            domain = sanitize(mydomain)
    ssh_ports = (ssh_port or 22,)
    ports = DEFAULT_PORTS if ssh_ports[0] in DEFAULT_PORTS else DEFAULT_PORTS + ssh_ports
    return ScanOptions(host=host, domain=domain, resolver=resolver, source=source, ca_file=ca_file, ports=ports,
                       ssh_ports=ssh_ports, budget=30.0, probe_timeout=20.0, io_timeout=4.0, connect_timeout=2.0)


# -------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ConfigRef:
    """One setting a finding names, as the connected server has it.

    ``where`` is ``main.cf``, ``master.cf SERVICE`` (a ``-o`` override), ``dovecot``,
    ``sshd`` or ``""`` when mailtui did not read it; ``explicit`` says whether the admin set
    it (``postconf -n``, a ``-o`` override, ``doveconf -n``) or it is the default.
    """

    name: str  # as the finding named it
    where: str = ""
    parameter: str = ""
    value: str | None = None
    explicit: bool = False
    note: str = ""

    @property
    def found(self) -> bool:
        return self.value is not None

    def render(self) -> str:
        """One line: ``master.cf submission -o smtpd_tls_protocols=>=TLSv1.2``, ``main.cf x = y (default)``."""
        if self.value is None:
            return f"{self.name}: {self.note or 'not read from the server'}"
        if self.where.startswith("master.cf"):
            text = f"{self.where} -o {self.parameter}={self.value}"
        else:
            text = f"{self.where} {self.parameter} = {self.value}".strip()
            if not self.explicit:
                text = f"{self.where} {self.parameter} not set (default: {self.value or 'empty'})".strip()
        return f"{text}  ({self.note})" if self.note else text


_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_MASTER = re.compile(r"^master\.cf (\S+) -o ([A-Za-z0-9_]+)(?:\s*=\s*(.*))?$")
_FAIL2BAN = re.compile(r"^fail2ban jail(?: (\S+))?$")
_DOVECOT_PORTS = {110, 143, 993, 995, 4190}
_SMTP_PORTS = {25, 465, 587}


def _service_for_port(facts: CheckFacts, port: int | None) -> MasterService | None:
    if facts.postfix is None or port is None:
        return None
    return next((s for s in facts.postfix.smtpd_services if s.port == port), None)


def _postfix_ref(name: str, param: str, facts: CheckFacts, service: MasterService | None, note: str = "") -> ConfigRef:
    postfix = facts.postfix
    assert postfix is not None
    if service is not None and param in service.overrides:
        return ConfigRef(name, f"master.cf {service.name}", param, sanitize(service.overrides[param]), True, note)
    if param in postfix.main or param in postfix.explicit:
        value = postfix.explicit.get(param, postfix.main.get(param, ""))
        return ConfigRef(name, "main.cf", param, sanitize(value), param in postfix.explicit, note)
    return ConfigRef(name, "main.cf", param, None, False, note or "not a Postfix parameter this server knows")


def _dovecot_ref(name: str, param: str, facts: CheckFacts) -> ConfigRef | None:
    dovecot = facts.dovecot
    if dovecot is None or (param not in dovecot.settings and param not in dovecot.explicit):
        return None
    value = dovecot.explicit.get(param, dovecot.settings.get(param, ""))
    return ConfigRef(name, "dovecot", param, sanitize(value), param in dovecot.explicit)


def _sshd_ref(name: str, param: str, facts: CheckFacts) -> ConfigRef | None:
    sshd = facts.own_sshd
    if sshd is None or param.lower() not in sshd.settings:
        return None
    values = sshd.settings[param.lower()]
    # sshd -T prints every effective setting; whether the admin wrote it is not known.
    return ConfigRef(name, "sshd", param, sanitize(" ".join(values)), True, f"sshd -T of {sanitize(sshd.config)}")


def _resolve(name: str, facts: CheckFacts, port: int | None) -> list[ConfigRef]:
    master = _MASTER.match(name)
    if master:
        if facts.postfix is None:
            return [ConfigRef(name, note="Postfix's configuration was not read")]
        service_name, param = master.group(1), master.group(2)
        service = facts.postfix.service(service_name)
        if service is None:
            return [ConfigRef(name, "master.cf", param, None, False, f"no {service_name} service in master.cf")]
        if param in service.overrides:
            return [_postfix_ref(name, param, facts, service)]
        return [_postfix_ref(name, param, facts, None, f"no -o override in master.cf {service_name}: main.cf applies")]
    fail2ban = _FAIL2BAN.match(name)
    if fail2ban:
        state = facts.fail2ban
        if state is None:
            return [ConfigRef(name, note="fail2ban's state was not read")]
        jail = fail2ban.group(1)
        if not state.running:
            return [ConfigRef(name, "fail2ban", jail or "", "not running", False)]
        value = ", ".join(state.jails) if jail is None else ("active" if jail in state.jails else "no such jail")
        return [ConfigRef(name, "fail2ban", f"jail {jail}" if jail else "jails", value, True)]
    if "*" in name and _PARAM.match(name.replace("*", "x")) and facts.postfix is not None:
        hits = sorted(p for p in facts.postfix.explicit if fnmatch.fnmatchcase(p, name))
        if not hits:
            return [ConfigRef(name, "main.cf", name, None, False, "none set in main.cf")]
        return [_postfix_ref(name, p, facts, _service_for_port(facts, port)) for p in hits]
    # "smtpd_tls_exclude_ciphers = aNULL": a parameter with the value that fixes it.
    param = name.split("=", 1)[0].strip() if "=" in name else name
    if not _PARAM.match(param):
        return [ConfigRef(name, note="not read by mailtui")]
    order: list[str]
    if port in _DOVECOT_PORTS:
        order = ["dovecot", "postfix", "sshd"]
    elif port in _SMTP_PORTS:
        order = ["postfix", "dovecot", "sshd"]
    elif param[:1].isupper():
        order = ["sshd", "postfix", "dovecot"]
    else:
        order = ["postfix", "dovecot", "sshd"]
    for kind in order:
        ref: ConfigRef | None = None
        if kind == "postfix" and facts.postfix is not None and (
                param in facts.postfix.main or param in facts.postfix.explicit):
            ref = _postfix_ref(name, param, facts, _service_for_port(facts, port))
        elif kind == "dovecot":
            ref = _dovecot_ref(name, param, facts)
        elif kind == "sshd":
            ref = _sshd_ref(name, param, facts)
        if ref is not None:
            return [ref]
    return [ConfigRef(name, note="not set on this server (or not read)")]


def config_for(finding: Finding, facts: CheckFacts | None) -> tuple[ConfigRef, ...]:
    """The server's values of the settings ``finding.config`` names (duplicates dropped)."""
    if not finding.config:
        return ()
    if facts is None:
        return tuple(ConfigRef(name, note="the server's configuration was not read") for name in finding.config)
    port = finding_port(finding)
    out: list[ConfigRef] = []
    seen: set[tuple[str, str]] = set()
    for name in finding.config:
        for ref in _resolve(name, facts, port):
            key = (ref.where, ref.parameter) if ref.value is not None else ("?", ref.name)
            if key not in seen:
                seen.add(key)
                out.append(ref)
    return tuple(out)


# ---------------------------------------------------------------------------------- logs
@dataclass(frozen=True)
class LogMatch:
    """One server log line a probe caused (or may have caused: ``shared_with`` names the others)."""

    line: str  # sanitized, ready to show
    time: _dt.datetime | None
    session: str  # "postfix/smtpd[1234]" for a Postfix session, else the program
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeLogs:
    """The server's log lines of one scan, by probe group."""

    by_group: dict[str, tuple[LogMatch, ...]] = field(default_factory=dict)
    #: The scanner's lines in the scan's time window that fit no probe.
    unmatched: tuple[LogMatch, ...] = ()
    #: The addresses the lines were matched on, the window (UTC), the sources read.
    addresses: tuple[str, ...] = ()
    window: tuple[_dt.datetime, _dt.datetime] | None = None
    sources: tuple[str, ...] = ()
    #: Why some lines could not be read (one entry per source).
    problems: tuple[str, ...] = ()

    def for_group(self, group: str) -> tuple[LogMatch, ...]:
        return self.by_group.get(group, ())

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_group.values())


#: The listener port of a log line, by the service the classifier named.
_SERVICE_PORTS: dict[str, frozenset[int]] = {
    "smtpd": frozenset({25}),
    "smtp": frozenset({25}),
    "postscreen": frozenset({25}),
    "submission": frozenset({587}),
    "smtps": frozenset({465}),
    "submissions": frozenset({465}),
    "imap": frozenset({143, 993}),
    "imap-login": frozenset({143, 993}),
    "pop3": frozenset({110, 995}),
    "pop3-login": frozenset({110, 995}),
    "managesieve": frozenset({4190}),
    "sshd": frozenset({22}),
}
_PORT_IN_TEXT = re.compile(r":(\d{1,5})\b")
_POSTFIX_STATS = re.compile(r"\bdisconnect from \S+(?P<stats>(?: [a-z]+=\d+(?:/\d+)?)+)\s*$")
_STAT = re.compile(r"([a-z]+)=(?:\d+/)?(\d+)")
#: The commands Postfix counts by name on its ``disconnect`` line (EXPN and the rest are "unknown").
_SMTP_VERBS = {"helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "bdat", "rset", "noop", "vrfy", "etrn",
               "quit", "xclient", "xforward"}


def _probe_ports(record: ProbeRecord, ssh_ports: Iterable[int] = ()) -> frozenset[int] | None:
    """The ports a probe group talked to; None when it touched every port (the port scan)."""
    if record.group == "ports":
        return None
    ports = {int(p) for p in _PORT_IN_TEXT.findall(record.target)}
    for label, _lines in record.transcripts:
        ports.update(int(p) for p in _PORT_IN_TEXT.findall(label))
    if record.group == "ssh":
        ports.update(ssh_ports)
    return frozenset(ports)


def transcript_fingerprints(record: ProbeRecord) -> list[Counter]:
    """The SMTP commands each connection of a probe sent, counted the way Postfix logs them."""
    out: list[Counter] = []
    for _label, lines in record.transcripts:
        current: Counter | None = None
        for line in lines:
            if line.direction == Direction.NOTE and line.text.startswith("connect to "):
                if current is not None:
                    out.append(current)
                current = Counter()
            elif line.direction == Direction.SENT:
                if current is None:
                    current = Counter()
                verb = line.text.split(" ", 1)[0].split(":", 1)[0].lower()
                current[verb if verb in _SMTP_VERBS else "unknown"] += 1
        if current is not None:
            out.append(current)
    if record.group == "ports":
        out.append(Counter())  # connect and close: "commands=0"
    return out


def postfix_fingerprint(line: str) -> Counter | None:
    """``disconnect from x[ip] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4`` -> the commands tried."""
    match = _POSTFIX_STATS.search(line)
    if not match:
        return None
    counts: Counter = Counter()
    for name, total in _STAT.findall(match.group("stats")):
        if name != "commands":
            counts[name] += int(total)
    return counts


def _line_ports(event: LogEvent, ssh_ports: frozenset[int]) -> frozenset[int] | None:
    if event.service == "sshd":
        return ssh_ports or _SERVICE_PORTS["sshd"]
    return _SERVICE_PORTS.get(event.service)


@dataclass
class _Session:
    key: str
    events: list[LogEvent]
    fingerprint: Counter | None = None


def match_log_lines(
    report: ScanReport,
    events: Iterable[LogEvent],
    addresses: Iterable[str],
    *,
    ssh_ports: Iterable[int] = (),
    skew: float = 2.0,
    sources: Sequence[str] = (),
    problems: Sequence[str] = (),
) -> ProbeLogs:
    """Tie ``events`` (the server's classified log lines) to the probes of ``report``.

    A line is the scanner's when its remote address is one of ``addresses`` and its time
    lies in the scan's window (``skew`` seconds of slack for clocks and whole-second
    timestamps). Postfix lines are taken together per session (pid, ``connect`` to
    ``disconnect``). A session belongs to the probes whose window it overlaps and whose
    ports include its listener; among those, the ones with a connection that sent exactly
    the commands the ``disconnect`` line counts win. What stays ambiguous is listed under
    every candidate with ``shared_with`` naming the others.
    """
    wanted = {_normal_ip(a) for a in addresses if a}
    ssh = frozenset(ssh_ports)
    start = _dt.datetime.fromtimestamp(report.started_at, _dt.timezone.utc)
    window = (start - _dt.timedelta(seconds=skew), start + _dt.timedelta(seconds=report.duration + skew + 1))
    probes = [(r, _probe_ports(r, ssh), transcript_fingerprints(r),
               (report.started_at + r.started - skew - 1, report.started_at + r.started + r.duration + skew))
              for r in report.probes]
    # sessions: Postfix lines by (program, pid) from connect to disconnect; other lines alone
    sessions: list[_Session] = []
    open_sessions: dict[tuple[str, int], _Session] = {}
    for event in events:
        time = event.record.time
        if time is None or not window[0] <= time <= window[1]:
            continue
        program, pid = event.record.program, event.record.pid
        postfix = program.startswith("postfix") and pid is not None
        key = (program, pid or 0)
        session = open_sessions.get(key) if postfix else None
        if event.remote_ip is None or _normal_ip(event.remote_ip) not in wanted:
            # A line of the scanner's session without an address (rare) still belongs to it.
            if session is not None and session.events:
                session.events.append(event)
            continue
        if postfix:
            if session is None or " connect from " in f" {event.record.message}":
                session = _Session(f"{program}[{pid}]", [])
                open_sessions[key] = session
                sessions.append(session)
            session.events.append(event)
            fingerprint = postfix_fingerprint(event.record.message)
            if fingerprint is not None:
                session.fingerprint = fingerprint
                del open_sessions[key]
        else:
            sessions.append(_Session(program, [event]))
    by_group: dict[str, list[LogMatch]] = {}
    unmatched: list[LogMatch] = []
    for session in sessions:
        times = [e.record.time.timestamp() for e in session.events if e.record.time is not None]
        first, last = min(times), max(times)
        ports = _line_ports(session.events[0], ssh)
        candidates = [
            (record, prints) for record, probe_ports, prints, (lo, hi) in probes
            if lo <= last + 1 and first <= hi
            and (probe_ports is None or ports is None or probe_ports & ports)
        ]
        if session.fingerprint is not None and len(candidates) > 1:
            exact = [c for c in candidates if session.fingerprint in c[1]]
            if exact:
                candidates = exact
        if len(candidates) > 1:
            # The port scan only connects: it explains a session only when nothing else does.
            others = [c for c in candidates if c[0].group != "ports"]
            if others and session.fingerprint != Counter():
                candidates = others
        groups = tuple(dict.fromkeys(record.group for record, _ in candidates))
        for event in session.events:
            match = LogMatch(event.display_line, event.record.time, session.key)
            if not groups:
                unmatched.append(match)
            for group in groups:
                shared = tuple(g for g in groups if g != group)
                by_group.setdefault(group, []).append(
                    LogMatch(match.line, match.time, match.session, shared))
    return ProbeLogs(
        by_group={g: tuple(v) for g, v in by_group.items()},
        unmatched=tuple(unmatched),
        addresses=tuple(sorted(wanted)),
        window=window,
        sources=tuple(sources),
        problems=tuple(problems),
    )


def _normal_ip(text: str) -> str:
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def scanner_addresses(source: str | None, target_addresses: Iterable[str], own: Iterable[str] = ()) -> tuple[str, ...]:
    """The addresses the server sees the scan come from.

    ``--source`` when given; else the addresses the admin is connected from (``own``),
    plus the loopback addresses when the scan targets the machine itself.
    """
    if source:
        return (_normal_ip(source),)
    out = [_normal_ip(a) for a in own]
    for address in target_addresses:
        try:
            if ipaddress.ip_address(address.strip("[]")).is_loopback:
                out += ["127.0.0.1", "::1"]
        except ValueError:
            continue
    return tuple(dict.fromkeys(out))


async def read_scan_logs(
    transport: Transport,
    sources: Sequence[LogSource],
    report: ScanReport,
    addresses: Iterable[str],
    *,
    ssh_ports: Iterable[int] = (),
    lines: int = 5000,
    tz: _dt.tzinfo | None = None,
) -> ProbeLogs:
    """Read the last ``lines`` lines of each log source and match them to the scan's probes.

    ``tz`` is the zone of the server's year-less syslog dates (UTC by default, as the logs
    panel assumes). A source that cannot be read is a ``problems`` entry, not an error.
    """
    events: list[LogEvent] = []
    problems: list[str] = []
    now = _dt.datetime.now(tz or _dt.timezone.utc)
    for source in sources:
        try:
            text = await read_recent(transport, source, lines)
        except TransportError as exc:
            problems.append(exc.message)
            continue
        classifier = LogClassifier(parser=RecordParser(now=now, tz=tz, program_hint=None))
        events.extend(classifier.classify_lines(text.lines))
    events.sort(key=lambda e: e.record.time.timestamp() if e.record.time else 0.0)
    return match_log_lines(report, events, addresses, ssh_ports=ssh_ports,
                           sources=[s.name for s in sources], problems=problems)
