"""Local-sender spoofing: can an outsider on port 25 send as your boss to your staff?

Unauthenticated ``MAIL FROM:<someone@your-domain>`` followed by ``RCPT TO:<someone-else@your-domain>``
accepted at RCPT means any machine on the Internet can put mail "from" your own users into
your users' mailboxes (SPF/DMARC checks at the receiver side are the defence, and they are
about your own domain here). The probe stops before DATA.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, ProtocolViolation
from mailtui.core.scan.registry import register
from mailtui.core.scan.smtp import SmtpReply, smtp_session


@dataclass(frozen=True, slots=True)
class SpoofVerdict:
    accepted: bool | None  # None: no verdict (temporary error)
    stage: str  # "MAIL" or "RCPT": where it was decided
    reply: str


def judge_spoof(mail: SmtpReply, rcpt: SmtpReply | None) -> SpoofVerdict:
    """Accepted only if both MAIL FROM and RCPT TO got 2xx (pure)."""
    if not 200 <= mail.code < 300:
        return SpoofVerdict(None if mail.transient else False, "MAIL", str(mail))
    if rcpt is None:
        return SpoofVerdict(None, "RCPT", "no reply")
    if 200 <= rcpt.code < 300:
        return SpoofVerdict(True, "RCPT", str(rcpt))
    return SpoofVerdict(None if rcpt.transient else False, "RCPT", str(rcpt))


SPOOF = Check(
    "spoof.local_sender",
    "spoofing",
    "Outsiders cannot send as your own users",
    "An unauthenticated client on port 25 may use one of your own addresses as sender and deliver "
    "to your users: anyone can mail your staff as your boss. Reject own-domain senders that are not "
    "authenticated (Postfix: check_sender_access for your domain, or reject_sender_login_mismatch / "
    "an SPF policy service with -all).",
    Severity.HIGH,
    config=("smtpd_sender_restrictions", "smtpd_sender_login_maps", "check_sender_access", "policyd-spf"),
)
SPOOF_BLOCKED = Check(
    "spoof.blocked",
    "spoofing",
    "Spoofing test blocked by the server's defences",
    "The server stopped the test (421, tarpit, dropped connection) before a verdict.",
    Severity.INFO,
)


@register("spoof", "Local-sender spoofing", "unauthenticated own-domain sender to an own-domain recipient (never DATA)", aims_at="smtp")
async def run(ctx) -> list[Finding]:
    if 25 not in ctx.options.ports:
        return []
    target = ctx.target(25)
    if not ctx.domain:
        return [SPOOF.finding(Status.INFO, "no mail domain known (give --domain)", target=target, title="Spoofing not tested")]
    sender = ctx.options.spoof_sender or f"postmaster@{ctx.domain}"
    recipient = ctx.options.spoof_recipient or f"postmaster@{ctx.domain}"
    try:
        async with smtp_session(ctx, ctx.primary, 25, f"spoofing {target}") as (s, _banner):
            await s.command(f"EHLO {ctx.options.ehlo_name}")
            mail = await s.command(f"MAIL FROM:<{sender}>")
            rcpt = await s.command(f"RCPT TO:<{recipient}>") if mail.positive else None
            await s.command("RSET")
    except (Blocked, ProtocolViolation, ConnectFailed) as exc:
        return [SPOOF_BLOCKED.finding(Status.ERROR, exc.reason, target=target)]
    verdict = judge_spoof(mail, rcpt)
    ev = f"MAIL FROM:<{sender}> RCPT TO:<{recipient}> -> {verdict.stage}: {verdict.reply}"
    if verdict.accepted:
        return [SPOOF.finding(Status.FAIL, ev, target=target, title="Outsiders can send as your own users")]
    if verdict.accepted is None:
        return [SPOOF.finding(Status.ERROR, ev, target=target, title="Spoofing test: temporary error, no verdict")]
    return [SPOOF.finding(Status.PASS, ev, target=target)]
