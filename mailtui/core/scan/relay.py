"""Open relay: nmap ``smtp-open-relay``'s 16 address tricks, RSET between, never DATA.

A 2xx reply to ``RCPT TO`` for an address in a foreign domain means the server would relay
that mail: percent hack, bang paths, source routes, quoted local parts and IP literals are
the classic ways broken address parsers let it through. Forms are spread over a few
connections so the server's error counter (Postfix ``smtpd_soft_error_limit`` = 10, then a
1 s delay per reply) does not slow the probe down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, ProtocolViolation
from mailtui.core.scan.registry import register
from mailtui.core.scan.smtp import SmtpReply, smtp_greeting, smtp_session


@dataclass(frozen=True, slots=True)
class RelayForm:
    number: int
    mail_from: str  # without the angle brackets
    rcpt_to: str


def relay_forms(*, domain: str, ip: str, srvname: str, from_local: str = "antispam", to_local: str = "relaytest") -> tuple[RelayForm, ...]:
    """The 16 MAIL FROM/RCPT TO pairs of nmap's smtp-open-relay.nse, in its order.

    ``domain`` is the foreign domain, ``ip`` the server's address, ``srvname`` the name in its banner.
    """
    f_ip = f"{from_local}@[{ip}]"
    pairs = [
        ("", f"{to_local}@{domain}"),
        (f"{from_local}@{domain}", f"{to_local}@{domain}"),
        (f"{from_local}@{srvname}", f"{to_local}@{domain}"),
        (f_ip, f"{to_local}@{domain}"),
        (f_ip, f"{to_local}%{domain}@[{ip}]"),
        (f_ip, f"{to_local}%{domain}@{srvname}"),
        (f_ip, f'"{to_local}@{domain}"'),
        (f_ip, f'"{to_local}%{domain}"'),
        (f_ip, f"{to_local}@{domain}@[{ip}]"),
        (f_ip, f'"{to_local}@{domain}"@[{ip}]'),
        (f_ip, f"{to_local}@{domain}@{srvname}"),
        (f_ip, f"@[{ip}]:{to_local}@{domain}"),
        (f_ip, f"@{srvname}:{to_local}@{domain}"),
        (f_ip, f"{domain}!{to_local}"),
        (f_ip, f"{domain}!{to_local}@[{ip}]"),
        (f_ip, f"{domain}!{to_local}@{srvname}"),
    ]
    return tuple(RelayForm(i + 1, m, r) for i, (m, r) in enumerate(pairs))


class RelayOutcome(StrEnum):
    RELAYED = "relayed"  # RCPT got 2xx
    REFUSED = "refused"  # MAIL or RCPT got 4xx/5xx
    BLOCKED = "blocked"  # 421 / drop / timeout before a verdict


@dataclass(frozen=True, slots=True)
class RelayTry:
    form: RelayForm
    outcome: RelayOutcome
    reply: str


def judge_relay_try(form: RelayForm, mail_reply: SmtpReply | None, rcpt_reply: SmtpReply | None) -> RelayTry:
    """One form's verdict from its replies (pure). Only a 2xx to RCPT is a relay."""
    if mail_reply is None:
        return RelayTry(form, RelayOutcome.BLOCKED, "no reply")
    if not (200 <= mail_reply.code < 300):
        return RelayTry(form, RelayOutcome.REFUSED, f"MAIL: {mail_reply}")
    if rcpt_reply is None:
        return RelayTry(form, RelayOutcome.BLOCKED, "no reply to RCPT")
    if 200 <= rcpt_reply.code < 300:
        return RelayTry(form, RelayOutcome.RELAYED, f"RCPT: {rcpt_reply}")
    return RelayTry(form, RelayOutcome.REFUSED, f"RCPT: {rcpt_reply}")


@dataclass(frozen=True, slots=True)
class RelayVerdict:
    open_relay: bool
    relayed: tuple[RelayTry, ...]
    refused: tuple[RelayTry, ...]
    blocked: tuple[RelayTry, ...]


def relay_verdict(tries: list[RelayTry] | tuple[RelayTry, ...]) -> RelayVerdict:
    by = {o: tuple(t for t in tries if t.outcome == o) for o in RelayOutcome}
    return RelayVerdict(bool(by[RelayOutcome.RELAYED]), by[RelayOutcome.RELAYED], by[RelayOutcome.REFUSED], by[RelayOutcome.BLOCKED])


OPEN_RELAY = Check(
    "relay.open_relay",
    "relay",
    "Not an open relay",
    "The server accepted a recipient in a foreign domain from an unauthenticated outsider: spammers "
    "can send through it, and it will land on every blocklist within hours.",
    Severity.CRITICAL,
    config=("smtpd_relay_restrictions", "smtpd_recipient_restrictions", "mynetworks", "relay_domains"),
    reference="nmap smtp-open-relay; RFC 5321 3.6; Postfix SMTPD_ACCESS_README",
)
RELAY_BLOCKED = Check(
    "relay.blocked",
    "relay",
    "Relay test blocked by the server's defences",
    "The server stopped the relay test (421, tarpit or dropped connection) before every form was "
    "tried: a defence at work, so the verdict is incomplete.",
    Severity.INFO,
    config=("smtpd_client_connection_rate_limit", "smtpd_hard_error_limit", "postscreen_*"),
)

FORMS_PER_CONNECTION = 4


async def _try_chunk(ctx, ip: str, forms: list[RelayForm], label: str) -> list[RelayTry]:
    tries: list[RelayTry] = []
    try:
        async with smtp_session(ctx, ip, 25, label) as (s, _banner):
            reply = await s.command(f"EHLO {ctx.options.ehlo_name}")
            if reply.code != 250:
                await s.command(f"HELO {ctx.options.ehlo_name}")
            for form in forms:
                await s.command("RSET")
                mail = await s.command(f"MAIL FROM:<{form.mail_from}>")
                rcpt = None
                if 200 <= mail.code < 300:
                    rcpt = await s.command(f"RCPT TO:<{form.rcpt_to}>")
                tries.append(judge_relay_try(form, mail, rcpt))
            await s.command("RSET")
    except (Blocked, ProtocolViolation, ConnectFailed) as exc:
        done = {t.form.number for t in tries}
        tries += [RelayTry(f, RelayOutcome.BLOCKED, exc.reason) for f in forms if f.number not in done]
    return tries


async def probe_relay(ctx, ip: str) -> RelayVerdict:
    """Try all 16 forms on ``ip``:25 (a few connections), return the verdict."""
    greeting = await smtp_greeting(ctx, ip)
    srv = greeting.banner_name if greeting else None
    forms = relay_forms(domain=ctx.options.relay_domain, ip=ip, srvname=srv or ip)
    chunks = [list(forms[i : i + FORMS_PER_CONNECTION]) for i in range(0, len(forms), FORMS_PER_CONNECTION)]
    results = await asyncio.gather(*(_try_chunk(ctx, ip, c, f"relay forms {c[0].number}-{c[-1].number}") for c in chunks))
    return relay_verdict([t for r in results for t in r])


def relay_findings(verdict: RelayVerdict, target: str) -> list[Finding]:
    lines = [f"{t.form.number:2d}. MAIL FROM:<{t.form.mail_from}> RCPT TO:<{t.form.rcpt_to}> -> {t.outcome.value}: {t.reply}"
             for t in sorted(verdict.relayed + verdict.refused + verdict.blocked, key=lambda t: t.form.number)]
    detail = "\n".join(lines)
    total = len(verdict.relayed) + len(verdict.refused) + len(verdict.blocked)
    if verdict.open_relay:
        first = verdict.relayed[0]
        return [OPEN_RELAY.finding(
            Status.FAIL, f"open relay ({len(verdict.relayed)}/{total} forms accepted), e.g. RCPT TO:<{first.form.rcpt_to}>: {first.reply}",
            target=target, detail=detail, title="Open relay")]
    if verdict.blocked and not verdict.refused:
        return [RELAY_BLOCKED.finding(Status.ERROR, verdict.blocked[0].reply, target=target, detail=detail)]
    out = [OPEN_RELAY.finding(Status.PASS, f"all {len(verdict.refused)} forms tried were refused", target=target, detail=detail)]
    if verdict.blocked:
        out.append(RELAY_BLOCKED.finding(Status.ERROR, f"{len(verdict.blocked)} of {total} forms not tried: {verdict.blocked[0].reply}",
                                         target=target, detail=detail))
    return out


@register("relay", "Open relay", "nmap's 16 relay address forms on port 25 (never DATA)", aims_at="smtp")
async def run(ctx) -> list[Finding]:
    if 25 not in ctx.options.ports:
        return []
    verdict = await probe_relay(ctx, ctx.primary)
    return relay_findings(verdict, ctx.target(25))
