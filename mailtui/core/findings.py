"""One Finding model, shared by the checklist (inside view) and the scan (outside view).

A Finding is a frozen, plain value: the UI, the CLI's JSON and the report all read the
same fields. Text in it that came from the server (a banner, a config value, a log line)
must already be sanitized (``mailtui.core.text.sanitize``) by whoever made the Finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """The verdict of one check or probe."""

    PASS = "pass"  # checked, and it is as it should be
    INFO = "info"  # worth knowing, nothing to fix
    WARN = "warn"  # not dangerous by itself, but below good practice
    FAIL = "fail"  # a weakness: fix it
    ERROR = "error"  # could not be checked (timeout, refused, blocked by the server's defences)


class Severity(StrEnum):
    """How bad it is when the status is WARN or FAIL (for PASS: how bad it would be)."""

    CRITICAL = "critical"  # exploitable now: open relay, expired certificate on submission
    HIGH = "high"  # a real exposure: plaintext passwords, admin port open to the world
    MEDIUM = "medium"  # weakens defences: old TLS versions, no fail2ban jail
    LOW = "low"  # hygiene: version in the banner
    INFO = "info"  # nothing to rate


SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}  # CRITICAL = 0 sorts first
STATUS_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.INFO: 3, Status.PASS: 4}


@dataclass(frozen=True, slots=True)
class Finding:
    """One result: what was checked, the verdict, the proof and what it means.

    ``id`` is stable (``smtp.open_relay``, ``tls.versions``); where one check runs per
    listener the ``target`` says which (``127.0.0.1:587``), so (id, target) is unique in a
    report. ``evidence`` is one short line; ``detail`` holds the long proof (an SMTP
    transcript, a DNS answer, a certificate dump). ``config`` names the settings that cause
    the result (``main.cf smtpd_tls_protocols``) and ``fix`` the checklist fix's id.
    """

    id: str
    status: Status
    severity: Severity
    title: str
    evidence: str
    explanation: str
    area: str = ""
    target: str = ""
    fix: str | None = None
    reference: str = ""
    detail: str = ""
    config: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return self.status == Status.FAIL

    def sort_key(self) -> tuple:
        return (STATUS_ORDER[self.status], SEVERITY_ORDER[self.severity], self.area, self.id, self.target)

    def to_json(self) -> dict:
        """The JSON shape of ``mailtui scan --json`` and ``mailtui check --json``."""
        out: dict = {
            "id": self.id,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "evidence": self.evidence,
            "explanation": self.explanation,
        }
        if self.area:
            out["area"] = self.area
        if self.target:
            out["target"] = self.target
        if self.fix:
            out["fix"] = self.fix
        if self.reference:
            out["reference"] = self.reference
        if self.detail:
            out["detail"] = self.detail
        if self.config:
            out["config"] = list(self.config)
        return out


def exit_code(findings: list[Finding] | tuple[Finding, ...]) -> int:
    """0 when nothing failed, 1 when a finding failed (the scan/check CLIs' contract)."""
    return 1 if any(f.failed for f in findings) else 0
