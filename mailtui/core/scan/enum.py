"""User enumeration: VRFY, EXPN and RCPT TO, each against a random control name.

A server that answers differently for a real mailbox and a name that certainly does not
exist tells an attacker which addresses to phish or brute-force. Comparing with a random
control name recognises catch-all servers (both accepted: nothing learned) instead of
reporting them as enumerable, which is where nmap's smtp-enum-users over-reports.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, ProtocolViolation
from mailtui.core.scan.registry import register
from mailtui.core.scan.smtp import SmtpReply, smtp_session


class EnumOutcome(StrEnum):
    ENUMERABLE = "enumerable"  # known accepted, control rejected: the answer reveals users
    CATCH_ALL = "catch-all"  # both accepted (or both "cannot verify"): nothing learned
    DISABLED = "disabled"  # the command is not implemented / refused for everyone
    NOT_ENUMERABLE = "same answer"  # both rejected alike
    INCONCLUSIVE = "inconclusive"  # temporary errors (greylisting, tempfail)


@dataclass(frozen=True, slots=True)
class EnumVerdict:
    method: str
    outcome: EnumOutcome
    known: str
    control: str


_DISABLED_CODES = {500, 502, 504}


def judge_enumeration(method: str, known: SmtpReply, control: SmtpReply) -> EnumVerdict:
    """Compare the replies for a real and a random name (pure)."""
    k, c = known.code, control.code
    kt, ct = f"{known}", f"{control}"
    if k in _DISABLED_CODES:
        outcome = EnumOutcome.DISABLED
    elif 400 <= k < 500 or 400 <= c < 500:
        outcome = EnumOutcome.INCONCLUSIVE
    elif 200 <= k < 300 and 200 <= c < 300:
        # 252 for both = "cannot verify, will try" (VRFY off in spirit); 250 for both = catch-all.
        outcome = EnumOutcome.CATCH_ALL
    elif 200 <= k < 300 and c >= 500:
        outcome = EnumOutcome.ENUMERABLE
    else:
        outcome = EnumOutcome.NOT_ENUMERABLE
    return EnumVerdict(method, outcome, kt, ct)


def control_name(domain: str) -> str:
    """A local part that certainly does not exist (random, recognisably ours)."""
    return f"mailtui-nouser-{secrets.token_hex(6)}@{domain}"


VRFY = Check(
    "enum.vrfy",
    "enumeration",
    "VRFY does not reveal users",
    "VRFY answers differently for existing and non-existing mailboxes: anyone can list your users "
    "(targets for phishing and password guessing). Postfix: disable_vrfy_command = yes.",
    Severity.MEDIUM,
    config=("disable_vrfy_command",),
)
EXPN = Check(
    "enum.expn",
    "enumeration",
    "EXPN does not reveal users",
    "EXPN expands aliases and mailing lists, revealing who is behind them. (Postfix never "
    "implements EXPN; Exim/Sendmail can.)",
    Severity.MEDIUM,
    config=("Exim: acl_smtp_expn", "Sendmail: PrivacyOptions noexpn"),
)
RCPT = Check(
    "enum.rcpt",
    "enumeration",
    "RCPT TO reveals which mailboxes exist",
    "The server rejects unknown recipients at RCPT time. That is correct (it avoids backscatter) "
    "but lets a patient attacker test addresses one by one: rate-limit and ban such clients "
    "(postscreen, smtpd_client_recipient_rate_limit, fail2ban's postfix jail).",
    Severity.LOW,
    config=("smtpd_client_recipient_rate_limit", "smtpd_hard_error_limit", "fail2ban jail postfix"),
)
ENUM_BLOCKED = Check(
    "enum.blocked",
    "enumeration",
    "Enumeration test blocked by the server's defences",
    "The server stopped the test (421, tarpit, dropped connection): a defence at work.",
    Severity.INFO,
)

_CHECKS = {"VRFY": VRFY, "EXPN": EXPN, "RCPT": RCPT}


def enumeration_finding(verdict: EnumVerdict, target: str) -> Finding:
    check = _CHECKS[verdict.method]
    ev = f"{verdict.method}: known -> {verdict.known}; control -> {verdict.control}"
    o = verdict.outcome
    if o == EnumOutcome.ENUMERABLE:
        if verdict.method == "RCPT":
            return check.finding(Status.INFO, ev, target=target)
        return check.finding(Status.FAIL, ev, target=target, title=f"{verdict.method} reveals which users exist")
    if o == EnumOutcome.CATCH_ALL:
        return check.finding(Status.INFO, ev, target=target, title=f"{verdict.method}: same answer for every name (catch-all)")
    if o == EnumOutcome.INCONCLUSIVE:
        return check.finding(Status.ERROR, ev, target=target, title=f"{verdict.method}: temporary error, no verdict")
    if verdict.method == "RCPT":
        return check.finding(Status.PASS, ev, target=target, title="RCPT TO gives the same answer for every name")
    return check.finding(Status.PASS, ev, target=target, title=f"{verdict.method} disabled or uninformative")


async def probe_enumeration(ctx, ip: str) -> list[EnumVerdict]:
    domain = ctx.domain or ctx.options.relay_domain
    known = ctx.options.known_user or f"postmaster@{domain}"
    control = control_name(domain)
    verdicts: list[EnumVerdict] = []
    async with smtp_session(ctx, ip, 25, f"enumeration {ctx.target(25, ip)}") as (s, _banner):
        await s.command(f"EHLO {ctx.options.ehlo_name}")
        for method in ("VRFY", "EXPN"):
            k = await s.command(f"{method} {known}")
            c = await s.command(f"{method} {control}")
            verdicts.append(judge_enumeration(method, k, c))
        mail = await s.command("MAIL FROM:<>")
        if mail.positive:
            k = await s.command(f"RCPT TO:<{known}>")
            c = await s.command(f"RCPT TO:<{control}>")
            verdicts.append(judge_enumeration("RCPT", k, c))
        await s.command("RSET")
    return verdicts


@register("enum", "User enumeration", "VRFY, EXPN, RCPT TO against a random control name", aims_at="smtp")
async def run(ctx) -> list[Finding]:
    if 25 not in ctx.options.ports:
        return []
    target = ctx.target(25)
    try:
        verdicts = await probe_enumeration(ctx, ctx.primary)
    except (Blocked, ProtocolViolation, ConnectFailed) as exc:
        return [ENUM_BLOCKED.finding(Status.ERROR, exc.reason, target=target)]
    return [enumeration_finding(v, target) for v in verdicts]
