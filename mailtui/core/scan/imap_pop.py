"""IMAP and POP3: greetings, STARTTLS/STLS, and whether passwords may travel in clear.

Dovecot advertises ``LOGINDISABLED`` (IMAP) and refuses ``USER`` (POP3) before TLS when
``disable_plaintext_auth = yes`` (2.4: ``auth_allow_cleartext = no``). The probe never
sends a password: the capability list and the reply to ``USER`` are enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.banner import parse_disclosure
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import Blocked, ConnectFailed, LineChannel, ProbeError, ProtocolViolation, TlsFailed
from mailtui.core.scan.registry import register

# ---------------------------------------------------------------- pure parsing

_CAPA_IN_GREETING = re.compile(r"\[CAPABILITY ([^\]]*)\]", re.I)


def parse_imap_capabilities(lines: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Capabilities from ``* CAPABILITY ...`` lines and ``[CAPABILITY ...]`` response codes."""
    caps: set[str] = set()
    for line in lines:
        m = _CAPA_IN_GREETING.search(line)
        if m:
            caps.update(c.upper() for c in m.group(1).split())
        if line.upper().startswith("* CAPABILITY "):
            caps.update(c.upper() for c in line[len("* CAPABILITY "):].split())
    return frozenset(caps)


@dataclass(frozen=True, slots=True)
class ImapPlaintext:
    starttls: bool
    login_disabled: bool
    plaintext_mechs: tuple[str, ...]

    @property
    def cleartext_login_allowed(self) -> bool:
        return not self.login_disabled


def judge_imap(caps: frozenset[str]) -> ImapPlaintext:
    mechs = tuple(sorted(c[5:] for c in caps if c.startswith("AUTH=") and c[5:] in ("PLAIN", "LOGIN")))
    return ImapPlaintext("STARTTLS" in caps, "LOGINDISABLED" in caps, mechs)


def parse_pop3_capa(lines: list[str] | tuple[str, ...]) -> frozenset[str]:
    """The CAPA list (lines between ``+OK`` and ``.``), upper-cased keywords with arguments."""
    return frozenset(line.strip().upper() for line in lines if line.strip() and line.strip() != ".")


def pop3_user_allowed(reply: str) -> bool:
    """``+OK`` to ``USER`` before TLS: the password would follow in clear."""
    return reply.startswith("+OK")


# ---------------------------------------------------------------- sessions


async def imap_command(channel: LineChannel, tag: str, command: str) -> tuple[list[str], str]:
    """Send ``tag command``; return (untagged lines, tagged status line)."""
    await channel.send(f"{tag} {command}")
    untagged: list[str] = []
    while True:
        if len(untagged) > channel.limits.max_reply_lines:
            raise ProtocolViolation("endless IMAP response")
        line = await channel.readline(f"a reply to {command}")
        if line.startswith(f"{tag} "):
            return untagged, line
        untagged.append(line)


async def imap_greeting(channel: LineChannel) -> str:
    line = await channel.readline("the IMAP greeting")
    if line.startswith("* BYE"):
        raise Blocked(f"the server said goodbye at once: {line[:200]}")
    if not line.startswith("* OK") and not line.startswith("* PREAUTH"):
        raise ProtocolViolation(f"not an IMAP greeting: {line[:80]!r}")
    return line


async def pop3_greeting(channel: LineChannel) -> str:
    line = await channel.readline("the POP3 greeting")
    if line.startswith("-ERR"):
        raise Blocked(f"the server refused us at connect: {line[:200]}")
    if not line.startswith("+OK"):
        raise ProtocolViolation(f"not a POP3 greeting: {line[:80]!r}")
    return line


async def pop3_multiline(channel: LineChannel) -> list[str]:
    lines: list[str] = []
    while True:
        if len(lines) > channel.limits.max_reply_lines:
            raise ProtocolViolation("endless POP3 response")
        line = await channel.readline("a POP3 list")
        if line == ".":
            return lines
        lines.append(line)


# ---------------------------------------------------------------- checks

BANNER = Check("imap_pop.banner_disclosure", "imap/pop", "IMAP/POP3 greeting gives away software details",
               "The greeting names the server software and version; Dovecot: login_greeting.", Severity.LOW, config=("login_greeting",))
STARTTLS = Check("imap_pop.starttls", "imap/pop", "STARTTLS offered",
                 "Without STARTTLS (IMAP) / STLS (POP3) on the plain port, clients there can only log in in clear text.",
                 Severity.HIGH, config=("ssl",))
PLAINTEXT = Check("imap_pop.plaintext_login", "imap/pop", "No password login before TLS",
                  "The server accepts a password on an unencrypted connection (no LOGINDISABLED / USER accepted): "
                  "anyone on the path reads it. Dovecot: disable_plaintext_auth = yes (2.4: auth_allow_cleartext = no), ssl = required.",
                  Severity.HIGH,
                  config=("disable_plaintext_auth", "auth_allow_cleartext", "ssl"))
BLOCKED = Check("imap_pop.blocked", "imap/pop", "Blocked by the server's defences",
                "The server refused or stalled the probe (BYE, tarpit, dropped connection): a defence at work "
                "(Dovecot's auth penalty, fail2ban), not a missing feature.", Severity.INFO,
                config=("fail2ban jail dovecot", "login_trusted_networks"))


def banner_finding(greeting: str, target: str) -> Finding:
    d = parse_disclosure(greeting)
    if d.reveals_version:
        return BANNER.finding(Status.WARN, f"{greeting}  (reveals {d.describe()})", target=target)
    if d.reveals_anything:
        return BANNER.finding(Status.INFO, f"{greeting}  (names {d.describe()}, no version)", target=target,
                              title="IMAP/POP3 greeting names the software")
    return BANNER.finding(Status.PASS, greeting, target=target, title="IMAP/POP3 greeting gives nothing away")


async def _imap(ctx, ip: str, port: int) -> list[Finding]:
    from mailtui.core.scan.smtp import insecure_context

    target = ctx.target(port, ip)
    implicit = port == 993
    out: list[Finding] = []
    async with ctx.semaphore(ip):
        t = ctx.transcript(f"IMAP {target}")
        channel = await ctx.connect(ip, port, t, tls=insecure_context() if implicit else None,
                                    server_hostname=ctx.server_name if implicit else None)
        try:
            greeting = await imap_greeting(channel)
            out.append(banner_finding(greeting, target))
            if not implicit:
                untagged, status = await imap_command(channel, "a1", "CAPABILITY")
                caps = parse_imap_capabilities([greeting, *untagged, status])
                verdict = judge_imap(caps)
                if verdict.starttls:
                    out.append(STARTTLS.finding(Status.PASS, "STARTTLS in CAPABILITY", target=target))
                else:
                    out.append(STARTTLS.finding(Status.FAIL, f"capabilities: {' '.join(sorted(caps))}", target=target,
                                                title="IMAP STARTTLS not offered"))
                if verdict.cleartext_login_allowed:
                    mechs = " ".join(f"AUTH={m}" for m in verdict.plaintext_mechs) or "LOGIN command"
                    out.append(PLAINTEXT.finding(Status.FAIL, f"no LOGINDISABLED before TLS; {mechs} offered", target=target,
                                                 title="IMAP accepts passwords before TLS"))
                else:
                    out.append(PLAINTEXT.finding(Status.PASS, "LOGINDISABLED before TLS", target=target))
            with contextlib.suppress(ProbeError):
                await imap_command(channel, "a9", "LOGOUT")
        finally:
            await channel.close()
    return out


async def _pop3(ctx, ip: str, port: int) -> list[Finding]:
    from mailtui.core.scan.smtp import insecure_context

    target = ctx.target(port, ip)
    implicit = port == 995
    out: list[Finding] = []
    async with ctx.semaphore(ip):
        t = ctx.transcript(f"POP3 {target}")
        channel = await ctx.connect(ip, port, t, tls=insecure_context() if implicit else None,
                                    server_hostname=ctx.server_name if implicit else None)
        try:
            greeting = await pop3_greeting(channel)
            out.append(banner_finding(greeting, target))
            if not implicit:
                await channel.send("CAPA")
                first = await channel.readline("a reply to CAPA")
                caps = parse_pop3_capa(await pop3_multiline(channel)) if first.startswith("+OK") else frozenset()
                if "STLS" in caps:
                    out.append(STARTTLS.finding(Status.PASS, "STLS in CAPA", target=target))
                else:
                    out.append(STARTTLS.finding(Status.FAIL, f"CAPA: {' '.join(sorted(caps)) or first}", target=target,
                                                title="POP3 STLS not offered"))
                await channel.send("USER mailtui-probe")
                reply = await channel.readline("a reply to USER")
                if pop3_user_allowed(reply):
                    out.append(PLAINTEXT.finding(Status.FAIL, f"USER before TLS: {reply}", target=target,
                                                 title="POP3 accepts passwords before TLS"))
                else:
                    out.append(PLAINTEXT.finding(Status.PASS, f"USER before TLS: {reply}", target=target))
            with contextlib.suppress(ProbeError):
                await channel.send("QUIT")
                await channel.readline()
        finally:
            await channel.close()
    return out


async def _guarded(fn, ctx, ip: str, port: int) -> list[Finding]:
    target = ctx.target(port, ip)
    try:
        return await fn(ctx, ip, port)
    except ConnectFailed as exc:
        if exc.refused:
            return []  # not listening: the ports group says so
        return [BLOCKED.finding(Status.ERROR, exc.reason, target=target)]
    except (Blocked, ProtocolViolation, TlsFailed) as exc:
        return [BLOCKED.finding(Status.ERROR, exc.reason, target=target)]


@register("imap_pop", "IMAP and POP3", "greetings, STARTTLS/STLS, password login before TLS")
async def run(ctx) -> list[Finding]:
    jobs = []
    for port, fn in ((143, _imap), (993, _imap), (110, _pop3), (995, _pop3)):
        if port in ctx.options.ports:
            jobs.append(_guarded(fn, ctx, ctx.primary, port))
    results = await asyncio.gather(*jobs)
    return [f for r in results for f in r]
