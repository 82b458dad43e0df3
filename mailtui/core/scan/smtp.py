"""SMTP: the reply parser, a polite client session, and the dialogue probe (group ``smtp``).

The dialogue probe looks at each SMTP listener as a peer MTA and a mail client would:
banner, EHLO capabilities, STARTTLS, AUTH before STARTTLS, HELO required, and whether the
submission ports insist on TLS and authentication. It never sends DATA.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.banner import parse_disclosure
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, LineChannel, ProbeError, ProtocolViolation, TlsFailed
from mailtui.core.scan.registry import register

# ---------------------------------------------------------------- pure parsing


@dataclass(frozen=True, slots=True)
class SmtpReply:
    code: int
    lines: tuple[str, ...]  # text after "NNN-" / "NNN "

    @property
    def text(self) -> str:
        return " / ".join(self.lines)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


_REPLY_LINE = re.compile(r"^([2-5][0-9][0-9])([ -]|$)(.*)$")


def parse_reply_line(line: str) -> tuple[int, bool, str]:
    """``250-PIPELINING`` -> (250, more=True, "PIPELINING"). Raises ProtocolViolation."""
    m = _REPLY_LINE.match(line)
    if not m:
        raise ProtocolViolation(f"not an SMTP reply line: {line[:80]!r}")
    return int(m.group(1)), m.group(2) == "-", m.group(3)


def parse_reply(lines: list[str] | tuple[str, ...]) -> SmtpReply:
    """A complete reply from its lines (all with the same code, the last without '-')."""
    if not lines:
        raise ProtocolViolation("empty SMTP reply")
    code = None
    texts = []
    for i, line in enumerate(lines):
        c, more, text = parse_reply_line(line)
        if code is None:
            code = c
        elif c != code:
            raise ProtocolViolation(f"reply code changed inside a multi-line reply ({code} then {c})")
        if more == (i == len(lines) - 1):
            raise ProtocolViolation("multi-line reply continuation markers are inconsistent")
        texts.append(text)
    return SmtpReply(code, tuple(texts))


@dataclass(frozen=True, slots=True)
class EhloInfo:
    """The EHLO reply: the name the server gives and its extension keywords (upper case)."""

    name: str
    greeting: str
    extensions: dict[str, str] = field(default_factory=dict)

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.extensions

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        value = self.extensions.get("AUTH", "")
        return tuple(value.upper().split())


def parse_ehlo(reply: SmtpReply) -> EhloInfo:
    """Keywords of a 250 EHLO reply (RFC 5321 4.1.1.1); ``AUTH=LOGIN`` (old form) counts as AUTH."""
    first = reply.lines[0] if reply.lines else ""
    name, _, greeting = first.partition(" ")
    ext: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if not keyword:
            continue
        key = keyword.upper()
        if key.startswith("AUTH="):
            ext.setdefault("AUTH", key[5:])
            continue
        ext[key] = params.strip()
    return EhloInfo(name, greeting, ext)


def banner_name(reply: SmtpReply) -> str:
    """The host name in a 220 greeting (first word)."""
    first = reply.lines[0] if reply.lines else ""
    return first.split(" ", 1)[0].strip()


# ---------------------------------------------------------------- client session


class NoStartTls(ProbeError):
    """The server did not offer/accept STARTTLS."""


class SmtpSession:
    """A minimal SMTP client over a :class:`LineChannel`: read replies, send commands."""

    def __init__(self, channel: LineChannel) -> None:
        self.channel = channel

    async def read_reply(self, what: str = "an SMTP reply") -> SmtpReply:
        lines: list[str] = []
        while True:
            if len(lines) >= self.channel.limits.max_reply_lines:
                raise ProtocolViolation(f"a reply of more than {self.channel.limits.max_reply_lines} lines")
            line = await self.channel.readline(what)
            code, more, _ = parse_reply_line(line)
            lines.append(line)
            if not more:
                break
        reply = parse_reply(lines)
        if reply.code == 421:
            raise Blocked(f"the server closed the session: {reply}")
        return reply

    async def greeting(self) -> SmtpReply:
        reply = await self.read_reply("its greeting (220 banner)")
        if reply.code != 220:
            # 554 at connect: postscreen/access tables turned this client away.
            raise Blocked(f"the server turned us away at connect: {reply}")
        return reply

    async def command(self, line: str, *, shown: str | None = None) -> SmtpReply:
        await self.channel.send(line, shown=shown)
        return await self.read_reply(f"a reply to {line.split(' ', 1)[0]}")

    async def ehlo(self, name: str) -> tuple[SmtpReply, EhloInfo | None]:
        reply = await self.command(f"EHLO {name}")
        return reply, (parse_ehlo(reply) if reply.code == 250 else None)

    async def starttls(self, context: ssl.SSLContext, server_hostname: str | None) -> SmtpReply:
        reply = await self.command("STARTTLS")
        if reply.code != 220:
            raise NoStartTls(f"STARTTLS refused: {reply}")
        await self.channel.start_tls(context, server_hostname)
        return reply

    async def quit(self) -> None:
        with contextlib.suppress(ProbeError):
            await self.channel.send("QUIT")
            await self.read_reply()


def insecure_context() -> ssl.SSLContext:
    """Client context that accepts any certificate: the probes judge the certificate themselves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@contextlib.asynccontextmanager
async def smtp_session(ctx, ip: str, port: int, label: str, *, implicit_tls: bool = False) -> AsyncIterator[tuple[SmtpSession, SmtpReply]]:
    """Connect (bounded per host), read the greeting; QUIT and close at the end."""
    transcript = ctx.transcript(label)
    async with ctx.semaphore(ip):
        tls = insecure_context() if implicit_tls else None
        channel = await ctx.connect(ip, port, transcript, tls=tls, server_hostname=ctx.server_name if tls else None)
        session = SmtpSession(channel)
        try:
            banner = await session.greeting()
            yield session, banner
            await session.quit()
        finally:
            await channel.close()


# ---------------------------------------------------------------- checks

BANNER = Check(
    "smtp.banner_disclosure",
    "smtp",
    "SMTP banner gives away software details",
    "The greeting names the mail software and its version (or the OS). Attackers use it to pick "
    "exploits; peers do not need it. Postfix: smtpd_banner = $myhostname ESMTP.",
    Severity.LOW,
    config=("smtpd_banner", "mail_name"),
)
EHLO = Check("smtp.ehlo", "smtp", "EHLO capabilities", "What the server offers to a client before TLS.", Severity.INFO)
STARTTLS = Check(
    "smtp.starttls",
    "smtp",
    "STARTTLS offered",
    "Without STARTTLS, mail and passwords cross the network in clear text; peers that require "
    "TLS (MTA-STS, DANE) will not deliver to you.",
    Severity.HIGH,
    config=("smtpd_tls_security_level", "smtpd_tls_cert_file", "smtpd_tls_key_file"),
)
AUTH_BEFORE_TLS = Check(
    "smtp.auth_before_tls",
    "smtp",
    "AUTH offered before STARTTLS",
    "The server offers to take a password on an unencrypted connection: a client that is "
    "misconfigured (or downgraded by an attacker) sends the password in clear text.",
    Severity.HIGH,
    config=("smtpd_tls_auth_only", "master.cf submission -o smtpd_tls_auth_only"),
)
HELO_REQUIRED = Check(
    "smtp.helo_required",
    "smtp",
    "HELO/EHLO required before mail",
    "Clients that skip HELO are almost always spam bots; requiring it (and checking it) is a "
    "cheap first filter.",
    Severity.LOW,
    config=("smtpd_helo_required",),
)
SUBMISSION_TLS = Check(
    "smtp.submission_tls_required",
    "smtp",
    "Submission requires TLS",
    "On the submission port (587) the server accepts a mail transaction without TLS, so a client "
    "can submit mail (and its password) in clear text.",
    Severity.MEDIUM,
    config=("master.cf submission -o smtpd_tls_security_level=encrypt",),
)
SUBMISSION_AUTH = Check(
    "smtp.submission_auth_required",
    "smtp",
    "Submission requires authentication",
    "The submission port accepted a recipient in a foreign domain without authentication: anyone "
    "can send mail through it (an open relay on the submission port).",
    Severity.CRITICAL,
    config=("master.cf submission -o smtpd_recipient_restrictions", "master.cf submission -o smtpd_sasl_auth_enable"),
)
SUBMISSION_NO_AUTH = Check(
    "smtp.submission_auth_offered",
    "smtp",
    "Submission offers AUTH",
    "Mail clients authenticate on the submission ports; without AUTH the port is useless to them.",
    Severity.LOW,
    config=("master.cf submission -o smtpd_sasl_auth_enable",),
)
UNREACHABLE = Check(
    "smtp.unreachable",
    "smtp",
    "SMTP listener not reachable",
    "No SMTP service answered on this port; a mail server must accept connections on 25.",
    Severity.INFO,
)
BLOCKED = Check(
    "smtp.blocked",
    "smtp",
    "Blocked by the server's defences",
    "The server refused or stalled the probe (421, a tarpit, a dropped connection): a rate limit, "
    "postscreen or fail2ban at work, not a missing feature. The checks of this listener could not run.",
    Severity.INFO,
    config=("postscreen_*", "smtpd_client_connection_rate_limit", "fail2ban jail postfix"),
)


def banner_finding(banner: SmtpReply, target: str) -> Finding:
    d = parse_disclosure(banner.text)
    if d.reveals_version or d.os:
        return BANNER.finding(Status.WARN, f"{banner}  (reveals {d.describe()})", target=target)
    if d.software:
        return BANNER.finding(
            Status.INFO, f"{banner}  (names {d.software}, no version)", target=target, title="SMTP banner names the software"
        )
    return BANNER.finding(Status.PASS, str(banner), target=target, title="SMTP banner gives nothing away")


async def _dialogue(ctx, ip: str, port: int) -> list[Finding]:
    target = ctx.target(port, ip)
    findings: list[Finding] = []
    implicit = port == 465
    opts = ctx.options
    strict = port in (465, 587)
    try:
        async with smtp_session(ctx, ip, port, f"SMTP dialogue {target}", implicit_tls=implicit) as (s, banner):
            findings.append(banner_finding(banner, target))
            if port == 25:
                reply = await s.command("MAIL FROM:<>")
                if reply.positive:
                    findings.append(HELO_REQUIRED.finding(Status.WARN, f"MAIL FROM before HELO: {reply}", target=target,
                                                          title="HELO/EHLO not required"))
                else:
                    findings.append(HELO_REQUIRED.finding(Status.PASS, f"MAIL FROM before HELO: {reply}", target=target))
                await s.command("RSET")
            reply, ehlo = await s.ehlo(opts.ehlo_name)
            if ehlo is None:
                raise ProbeError(f"EHLO refused: {reply}")
            exts = ", ".join(f"{k} {v}".strip() for k, v in ehlo.extensions.items())
            findings.append(EHLO.finding(Status.INFO, f"{ehlo.name}: {exts}", target=target))
            if not implicit:
                if ehlo.has("STARTTLS"):
                    findings.append(STARTTLS.finding(Status.PASS, "STARTTLS in the EHLO reply", target=target))
                else:
                    sev = Severity.HIGH if strict else Severity.MEDIUM
                    findings.append(STARTTLS.finding(Status.FAIL, f"no STARTTLS in: {exts}", target=target, severity=sev,
                                                     title="STARTTLS not offered"))
                if ehlo.has("AUTH"):
                    findings.append(AUTH_BEFORE_TLS.finding(
                        Status.FAIL, f"AUTH {ehlo.extensions['AUTH']} offered before STARTTLS", target=target))
                else:
                    findings.append(AUTH_BEFORE_TLS.finding(Status.PASS, "no AUTH before STARTTLS", target=target,
                                                            title="AUTH only after STARTTLS"))
                if port == 587:
                    reply = await s.command(f"MAIL FROM:<mailtui-probe@{opts.relay_domain}>")
                    if reply.positive:
                        findings.append(SUBMISSION_TLS.finding(Status.FAIL, f"MAIL FROM without TLS: {reply}", target=target,
                                                               title="Submission accepts mail without TLS"))
                    else:
                        findings.append(SUBMISSION_TLS.finding(Status.PASS, f"MAIL FROM without TLS: {reply}", target=target))
                    await s.command("RSET")
                if not ehlo.has("STARTTLS"):
                    return findings
                await s.starttls(insecure_context(), ctx.server_name)
                reply, ehlo = await s.ehlo(opts.ehlo_name)
                if ehlo is None:
                    raise ProbeError(f"EHLO after STARTTLS refused: {reply}")
            if strict:
                if ehlo.has("AUTH"):
                    findings.append(SUBMISSION_NO_AUTH.finding(Status.PASS, f"AUTH {ehlo.extensions['AUTH']}", target=target))
                else:
                    findings.append(SUBMISSION_NO_AUTH.finding(Status.WARN, "no AUTH offered after TLS", target=target,
                                                               title="Submission offers no AUTH"))
                reply = await s.command(f"MAIL FROM:<mailtui-probe@{opts.relay_domain}>")
                if reply.positive:
                    rcpt = await s.command(f"RCPT TO:<relaytest@{opts.relay_domain}>")
                    if rcpt.positive:
                        findings.append(SUBMISSION_AUTH.finding(
                            Status.FAIL, f"RCPT TO:<relaytest@{opts.relay_domain}> without AUTH: {rcpt}", target=target,
                            title="Submission relays without authentication"))
                    else:
                        findings.append(SUBMISSION_AUTH.finding(Status.PASS, f"RCPT without AUTH: {rcpt}", target=target))
                else:
                    findings.append(SUBMISSION_AUTH.finding(Status.PASS, f"MAIL FROM without AUTH: {reply}", target=target))
                await s.command("RSET")
    except ConnectFailed as exc:
        if exc.refused and port != 25:
            return [UNREACHABLE.finding(Status.INFO, exc.reason, target=target, title="No SMTP listener")]
        return [UNREACHABLE.finding(Status.ERROR, exc.reason, target=target)]
    except (Blocked, ProtocolViolation, TlsFailed, NoStartTls) as exc:
        findings.append(BLOCKED.finding(Status.ERROR, exc.reason, target=target))
    return findings


@register("smtp", "SMTP dialogue", "banner, EHLO, STARTTLS, AUTH before TLS, HELO, submission rules")
async def run(ctx) -> list[Finding]:
    import asyncio

    ports = [p for p in (25, 465, 587) if p in ctx.options.ports]
    results = await asyncio.gather(*(_dialogue(ctx, ctx.primary, p) for p in ports))
    return [f for r in results for f in r]


@dataclass(frozen=True, slots=True)
class Greeting:
    """What port 25 says about itself: the banner and the EHLO name (for PTR/relay checks)."""

    banner: str
    banner_name: str
    ehlo_name: str | None


async def smtp_greeting(ctx, ip: str, port: int = 25) -> Greeting | None:
    """Banner and EHLO name of ``ip:port``, fetched once per scan; None if unreachable."""

    async def fetch() -> Greeting | None:
        try:
            async with smtp_session(ctx, ip, port, f"greeting {ctx.target(port, ip)}") as (s, banner):
                _reply, ehlo = await s.ehlo(ctx.options.ehlo_name)
                return Greeting(banner.text, banner_name(banner), ehlo.name if ehlo else None)
        except ProbeError:
            return None

    return await ctx.once(("smtp-greeting", ip, port), fetch)
