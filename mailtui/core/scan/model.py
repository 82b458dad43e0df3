"""The values a scan produces: check specifications, probe records, transcripts, the report.

Everything here is a frozen value so the panel, the CLI and the JSON output read the same
thing and nobody can change a report after the fact. Text that came from the server is
sanitized when it enters a :class:`Transcript` (once, at the core boundary).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.findings import Finding, Severity, Status, exit_code
from mailtui.core.text import sanitize

#: Every check the scan can report, by id (filled as the probe modules are imported).
CHECKS: dict[str, Check] = {}

#: Scan check id -> the id of the checklist rule that grades the same thing from the inside.
#: That id is also the finding's ``fix``: the checklist's fix ids equal its rule ids, so it
#: is what ``mailtui fix`` takes (when the rule has an automatic fix) and what the Checklist
#: panel shows. Plain strings: the scan does not import the checklist (DESIGN.md);
#: tests/unit/test_join.py proves every id here is a real checklist rule. A dict picks by
#: the finding's listener port (key None: every other port). Checks without an entry (DNS
#: records, blocklist listings, EXPN, RCPT enumeration) have no checklist rule: their advice
#: is in their explanation.
CHECKLIST_RULES: dict[str, str | dict[int | None, str]] = {
    "relay.open_relay": "smtp.open_relay",
    "enum.vrfy": "smtp.vrfy",
    "smtp.banner_disclosure": "smtp.banner",
    "smtp.helo_required": "smtp.helo_required",
    "smtp.starttls": {25: "tls.smtp_offered", None: "submission.tls_required"},
    "smtp.auth_before_tls": "smtp.auth_after_tls",
    "smtp.submission_tls_required": "submission.tls_required",
    "smtp.submission_auth_required": "submission.auth_required",
    "smtp.submission_auth_offered": "submission.auth_required",
    "spoof.local_sender": "smtp.own_domain_spoofing",
    "tls.versions": {25: "tls.smtp_protocols", 465: "tls.submission_protocols", 587: "tls.submission_protocols",
                     None: "tls.dovecot_protocols"},
    "tls.sslv3": {25: "tls.smtp_protocols", 465: "tls.submission_protocols", 587: "tls.submission_protocols",
                  None: "tls.dovecot_protocols"},
    "tls.ciphers": {25: "tls.postfix_ciphers", 465: "tls.postfix_ciphers", 587: "tls.postfix_ciphers",
                    None: "tls.dovecot_ciphers"},
    "cert.trust": "tls.cert_chain",
    "cert.name": "tls.cert_hostname",
    "cert.expiry": "tls.cert_expiry",
    "imap_pop.banner_disclosure": "imap.login_greeting",
    "imap_pop.starttls": "imap.ssl_required",
    "imap_pop.plaintext_login": "imap.plaintext_auth",
    "ssh.password_auth": "ssh.password_auth",
    "ssh.host_keys": "ssh.weak_algorithms",
    "ports.admin_exposed": "exposure.admin_ports",
    "ports.database_exposed": "exposure.admin_ports",
}

#: Probe group of a check id whose prefix is not the group's name.
_GROUP_OF_PREFIX = {"cert": "tls"}


def target_port(target: str) -> int | None:
    """The listener port of a finding's target (``127.0.0.1:587``, ``[::1]:993`` -> the port), or None."""
    match = re.search(r"(?:^[^:\[\]]*|\])\:(\d{1,5})$", target)  # a bare IPv6 address has no port
    return int(match.group(1)) if match else None


def checklist_rule_id(check_id: str, port: int | None = None) -> str | None:
    """The checklist rule (and fix) id for scan check ``check_id`` on listener ``port``, or None."""
    rule = CHECKLIST_RULES.get(check_id)
    if isinstance(rule, dict):
        return rule.get(port, rule.get(None)) if port is not None else rule.get(None)
    return rule


def check_group(check_id: str) -> str:
    """The probe group that produces findings of ``check_id`` (``cert.name`` -> ``tls``)."""
    prefix = check_id.split(".", 1)[0]
    return _GROUP_OF_PREFIX.get(prefix, prefix)


@dataclass(frozen=True, slots=True)
class Check:
    """One kind of scan finding: its id, wording, severity and where the cause lives.

    The probe modules declare their checks once, at import time; a probe only supplies the
    verdict and the proof. So the title, the explanation, the config parameters and the
    checklist fix id of a finding live in one place (STYLE.md: one source of truth).
    ``severity`` is how bad it is when it fails; ``config`` names the Postfix/Dovecot/sshd
    settings that typically cause it. The checklist rule (and fix) id of a failing finding
    comes from :data:`CHECKLIST_RULES`, by the finding's port.
    """

    id: str
    area: str
    title: str
    explanation: str
    severity: Severity
    config: tuple[str, ...] = ()
    reference: str = ""

    def __post_init__(self) -> None:
        if self.id in CHECKS and CHECKS[self.id] != self:
            raise ValueError(f"check id {self.id!r} declared twice")
        CHECKS[self.id] = self

    def finding(
        self,
        status: Status,
        evidence: str,
        *,
        target: str = "",
        detail: str = "",
        severity: Severity | None = None,
        explanation: str | None = None,
        title: str | None = None,
        config: tuple[str, ...] | None = None,
        port: int | None = None,
    ) -> Finding:
        """A Finding of this check. ``evidence`` may hold remote text: it is sanitized here.

        A failing finding's ``fix`` is its checklist rule id, by ``port`` (default: the
        target's port).
        """
        sev = severity if severity is not None else self.severity
        if status in (Status.PASS, Status.INFO) and severity is None:
            sev = Severity.INFO if status == Status.INFO else self.severity
        return Finding(
            id=self.id,
            status=status,
            severity=sev,
            title=title or self.title,
            evidence=sanitize(evidence, max_length=400),
            explanation=explanation or self.explanation,
            area=self.area,
            target=target,
            fix=checklist_rule_id(self.id, port if port is not None else target_port(target)) if status in (Status.FAIL, Status.WARN) else None,
            reference=self.reference,
            detail=sanitize(detail, multiline=True, max_length=20000),
            config=(config if config is not None else self.config) if status in (Status.FAIL, Status.WARN, Status.ERROR) else (),
        )


class Direction(StrEnum):
    SENT = "C"  # what mailtui sent (client)
    RECEIVED = "S"  # what the server answered
    NOTE = "#"  # mailtui's own note (TLS handshake result, timeout, DNS answer)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    direction: Direction
    text: str  # sanitized, single line

    def render(self) -> str:
        return f"{self.direction.value}: {self.text}"


class Transcript:
    """A bounded, sanitized record of one probe's conversation (the evidence the panel shows).

    Mutable while the probe runs; :meth:`freeze` hands out the immutable tuple. Bounded so a
    hostile server that talks forever cannot make us hold its whole output.
    """

    MAX_LINES = 400
    MAX_LINE = 300

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._lines: list[TranscriptLine] = []
        self._dropped = 0

    def add(self, direction: Direction, text: str) -> None:
        if len(self._lines) >= self.MAX_LINES:
            self._dropped += 1
            return
        self._lines.append(TranscriptLine(direction, sanitize(text.rstrip("\r\n"), max_length=self.MAX_LINE)))

    def sent(self, text: str) -> None:
        self.add(Direction.SENT, text)

    def received(self, text: str) -> None:
        self.add(Direction.RECEIVED, text)

    def note(self, text: str) -> None:
        self.add(Direction.NOTE, text)

    def freeze(self) -> tuple[TranscriptLine, ...]:
        lines = list(self._lines)
        if self._dropped:
            lines.append(TranscriptLine(Direction.NOTE, f"[{self._dropped} more lines not kept]"))
        return tuple(lines)

    def render(self) -> str:
        head = [f"# {self.label}"] if self.label else []
        return "\n".join(head + [line.render() for line in self.freeze()])


class Outcome(StrEnum):
    """How one probe (group run against one target) ended."""

    FINISHED = "finished"
    TIMEOUT = "timeout"  # its own timeout
    BUDGET = "budget"  # the whole-scan budget ran out first
    ERROR = "error"  # it raised (reported as an ERROR finding)
    SKIPPED = "skipped"  # nothing to do (e.g. no domain for the DNS checks)


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """What one probe did: when, how long, how it ended, what was said on the wire."""

    group: str
    target: str
    started: float  # seconds since the scan started
    duration: float
    outcome: Outcome
    findings: int = 0
    error: str = ""
    transcripts: tuple[tuple[str, tuple[TranscriptLine, ...]], ...] = ()

    def transcript_text(self) -> str:
        parts = []
        for label, lines in self.transcripts:
            parts.append("\n".join([f"# {label}"] + [line.render() for line in lines]))
        return "\n\n".join(parts)

    def to_json(self) -> dict:
        return {
            "group": self.group,
            "target": self.target,
            "started": round(self.started, 4),
            "duration": round(self.duration, 4),
            "outcome": self.outcome.value,
            "findings": self.findings,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The result of :func:`mailtui.core.scan.run_scan`: findings, probe timings, evidence."""

    host: str
    addresses: tuple[str, ...]
    domain: str | None
    groups: tuple[str, ...]
    started_at: float  # time.time() at the start
    duration: float
    findings: tuple[Finding, ...]
    probes: tuple[ProbeRecord, ...] = ()
    budget_exhausted: bool = False

    @property
    def exit_code(self) -> int:
        return exit_code(self.findings)

    def by_area(self) -> dict[str, tuple[Finding, ...]]:
        """Findings grouped by area, worst first inside each area (areas in scan order)."""
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.area, []).append(f)
        return {area: tuple(sorted(items, key=Finding.sort_key)) for area, items in out.items()}

    def find(self, check_id: str, target: str | None = None) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.id == check_id and (target is None or f.target == target))

    def to_json(self) -> dict:
        return {
            "host": self.host,
            "addresses": list(self.addresses),
            "domain": self.domain,
            "groups": list(self.groups),
            "duration": round(self.duration, 3),
            "budget_exhausted": self.budget_exhausted,
            "findings": [f.to_json() for f in self.findings],
            "probes": [p.to_json() for p in self.probes],
        }


@dataclass(frozen=True, slots=True)
class Listener:
    """A mail service port and how TLS is reached on it."""

    port: int
    protocol: str  # smtp / imap / pop3
    tls: str  # "starttls" or "implicit"
    strict: bool  # True: clients must authenticate securely here (submission, IMAP, POP3)

    @property
    def name(self) -> str:
        return LISTENER_NAMES.get(self.port, f"{self.protocol}/{self.port}")


LISTENER_NAMES = {25: "smtp", 465: "submissions", 587: "submission", 143: "imap", 993: "imaps", 110: "pop3", 995: "pop3s"}

#: The well-known mail listeners. Port 25 is MTA-to-MTA: opportunistic TLS, so a weak
#: certificate there is information; the others carry passwords and must be strict.
LISTENERS: dict[int, Listener] = {
    25: Listener(25, "smtp", "starttls", strict=False),
    465: Listener(465, "smtp", "implicit", strict=True),
    587: Listener(587, "smtp", "starttls", strict=True),
    143: Listener(143, "imap", "starttls", strict=True),
    993: Listener(993, "imap", "implicit", strict=True),
    110: Listener(110, "pop3", "starttls", strict=True),
    995: Listener(995, "pop3", "implicit", strict=True),
}

__all__ = [
    "CHECKLIST_RULES",
    "CHECKS",
    "Check",
    "Direction",
    "Finding",
    "LISTENERS",
    "Listener",
    "Outcome",
    "ProbeRecord",
    "ScanReport",
    "Severity",
    "Status",
    "Transcript",
    "TranscriptLine",
    "check_group",
    "checklist_rule_id",
    "target_port",
]
