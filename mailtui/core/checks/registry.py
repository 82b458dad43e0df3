"""The rule registry: one place that holds each rule's id, words, severity and fix.

A rule is a pure function ``CheckFacts -> list[Verdict]`` registered with ``@rule``; the
registry turns each verdict into a :class:`~mailtui.core.findings.Finding` carrying the
rule's title, explanation, reference and fix id. The UI, the CLI and the fix engine read
rules only from :data:`RULES` (STYLE.md: one source of truth per fact).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.checks.gather import CheckFacts
from mailtui.core.findings import Finding, Severity, Status


class Area(StrEnum):
    """Where a rule belongs (the panel groups by it, in this order)."""

    SMTP = "SMTP"
    SUBMISSION = "submission"
    TLS = "TLS"
    IMAP = "IMAP/POP"
    SSH = "SSH"
    EXPOSURE = "firewall & exposure"
    SYSTEM = "system"


@dataclass(frozen=True)
class Verdict:
    """What a rule found for one target: status, one-line evidence, the config behind it."""

    status: Status
    evidence: str
    target: str = ""
    config: tuple[str, ...] = ()
    detail: str = ""
    #: Overrides the rule's severity (e.g. an expired certificate is worse than expiring).
    severity: Severity | None = None


Check = Callable[[CheckFacts, _dt.datetime], list[Verdict]]


@dataclass(frozen=True)
class Rule:
    """One hardening rule. ``why`` is for people; ``remedy`` says how to fix it by hand."""

    id: str
    title: str
    area: Area
    severity: Severity
    why: str
    reference: str
    remedy: str
    check: Check
    #: The id of the automatic fix in :mod:`mailtui.core.checks.fixes`, if there is one.
    fix: str | None = None

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()

    def findings(self, facts: CheckFacts, now: _dt.datetime) -> list[Finding]:
        try:
            verdicts = self.check(facts, now)
        except Exception as exc:  # a rule bug must not hide the other rules' results
            verdicts = [Verdict(Status.ERROR, f"the rule could not be evaluated: {type(exc).__name__}: {exc}")]
        out = []
        for v in verdicts:
            failing = v.status in (Status.FAIL, Status.WARN)
            out.append(Finding(
                id=self.id, status=v.status, severity=v.severity or self.severity, title=self.title,
                evidence=v.evidence, explanation=self.why if v.status != Status.PASS else self.why,
                area=self.area.value, target=v.target, fix=self.fix if failing else None,
                reference=self.reference, detail=v.detail or (f"How to fix: {self.remedy}" if failing else ""),
                config=v.config,
            ))
        return out


RULES: dict[str, Rule] = {}


def rule(id: str, title: str, area: Area, severity: Severity, *, why: str, reference: str, remedy: str,
         fix: str | None = None) -> Callable[[Check], Check]:
    """Register a check function as a rule (ids are unique)."""

    def register(check: Check) -> Check:
        if id in RULES:
            raise ValueError(f"duplicate rule id {id}")
        RULES[id] = Rule(id, title, area, severity, " ".join(why.split()), reference, " ".join(remedy.split()),
                         check, fix)
        return check

    return register


def evaluate(facts: CheckFacts, *, now: _dt.datetime | None = None, only: set[str] | None = None) -> list[Finding]:
    """Every rule (or those in ``only``) over ``facts``, sorted worst first."""
    from mailtui.core.checks import rules as _rules  # noqa: F401  (registers the rules)

    now = now or _dt.datetime.now(_dt.timezone.utc)
    findings: list[Finding] = []
    for item in RULES.values():
        if only is None or item.id in only:
            findings.extend(item.findings(facts, now))
    return sorted(findings, key=Finding.sort_key)


def all_rules() -> tuple[Rule, ...]:
    from mailtui.core.checks import rules as _rules  # noqa: F401

    return tuple(RULES.values())
