"""TLS on every mail listener: versions, cipher classes, certificate (group ``tls``).

Old versions are probed the way a real old client would: ``minimum_version ==
maximum_version`` and ``ALL:@SECLEVEL=0``, because OpenSSL 3 refuses TLS 1.0/1.1 at its
default security level and a naive probe would wrongly conclude "the server refuses TLS 1.0".
SSLv3 is reported "not testable here" when the local OpenSSL was built without it.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.certs import certificate_findings, parse_certificate
from mailtui.core.scan.imap_pop import imap_command, imap_greeting, pop3_greeting
from mailtui.core.scan.model import LISTENERS, Check, Listener
from mailtui.core.scan.net import Blocked, ConnectFailed, LineChannel, ProbeError, ProtocolViolation, TlsFailed
from mailtui.core.scan.registry import register
from mailtui.core.scan.smtp import NoStartTls, SmtpSession
from mailtui.core.tlsclass import CipherClass, cipher_verdict, classify_cipher, is_anonymous

# Cipher classes and the policy are shared with the checklist (mailtui.core.tlsclass).

VERSIONS: tuple[tuple[str, ssl.TLSVersion], ...] = (
    ("TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.3", ssl.TLSVersion.TLSv1_3),
)
OLD_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1")


@dataclass(frozen=True, slots=True)
class VersionVerdict:
    accepted: tuple[str, ...]
    refused: tuple[str, ...]

    @property
    def old_accepted(self) -> tuple[str, ...]:
        return tuple(v for v in self.accepted if v in OLD_VERSIONS)

    @property
    def modern(self) -> bool:
        return any(v in ("TLSv1.2", "TLSv1.3") for v in self.accepted)

    def describe(self) -> str:
        return f"accepted: {' '.join(self.accepted) or 'none'}; refused: {' '.join(self.refused) or 'none'}"


# ---------------------------------------------------------------- contexts


def version_context(version: ssl.TLSVersion | None, *, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if version is not None:
            ctx.minimum_version = version
            ctx.maximum_version = version
            if version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
                ctx.set_ciphers("ALL:@SECLEVEL=0")
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def verify_context(ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the name is checked separately (one finding each)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.load_default_certs()
    return ctx


def class_cipher_string(cls: CipherClass, *, anonymous: bool | None = None) -> str | None:
    """An OpenSSL cipher string offering only the local ciphers of ``cls`` (TLS <= 1.2);
    ``anonymous`` False/True keeps only the authenticated/anonymous ones."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    except ssl.SSLError:
        return None
    names = [c["name"] for c in probe.get_ciphers() if not c["name"].startswith("TLS_") and classify_cipher(c["name"]) == cls
             and (anonymous is None or is_anonymous(c["name"]) == anonymous)]
    if not names:
        return None
    return ":".join(names) + ":@SECLEVEL=0"


# ---------------------------------------------------------------- handshakes


@dataclass(frozen=True, slots=True)
class Handshake:
    version: str
    cipher: str
    cert_der: bytes | None
    chain_der: tuple[bytes, ...]


async def _starttls(channel: LineChannel, listener: Listener, sslctx: ssl.SSLContext, sni: str | None, ehlo: str) -> None:
    if listener.protocol == "smtp":
        s = SmtpSession(channel)
        await s.greeting()
        reply, info = await s.ehlo(ehlo)
        if info is None or not info.has("STARTTLS"):
            raise NoStartTls("STARTTLS not offered")
        await s.starttls(sslctx, sni)
    elif listener.protocol == "imap":
        await imap_greeting(channel)
        _, status = await imap_command(channel, "t1", "STARTTLS")
        if not status.upper().startswith("T1 OK"):
            raise NoStartTls(f"STARTTLS refused: {status[:120]}")
        await channel.start_tls(sslctx, sni)
    else:
        await pop3_greeting(channel)
        await channel.send("STLS")
        reply = await channel.readline("a reply to STLS")
        if not reply.startswith("+OK"):
            raise NoStartTls(f"STLS refused: {reply[:120]}")
        await channel.start_tls(sslctx, sni)


def _chain(obj: ssl.SSLObject) -> tuple[bytes, ...]:
    # Python 3.11 has the chain only on the private object (public in 3.13).
    inner = getattr(obj, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is None:
        return ()
    try:
        return tuple(c.public_bytes(ssl._ssl.ENCODING_DER) for c in (getter() or ()))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - private API: without it DANE-TA cannot be matched, nothing else breaks
        return ()


async def handshake(ctx, ip: str, listener: Listener, sslctx: ssl.SSLContext, label: str) -> Handshake:
    """Connect, reach TLS (implicit or STARTTLS), report what was negotiated, close."""
    transcript = ctx.transcript(label)
    sni = ctx.server_name
    async with ctx.semaphore(ip):
        if listener.tls == "implicit":
            channel = await ctx.connect(ip, listener.port, transcript, tls=sslctx, server_hostname=sni)
        else:
            channel = await ctx.connect(ip, listener.port, transcript)
        try:
            if listener.tls != "implicit":
                await _starttls(channel, listener, sslctx, sni, ctx.options.ehlo_name)
            obj = channel.tls_object
            if obj is None:
                raise TlsFailed("no TLS session")
            cipher = obj.cipher()
            return Handshake(obj.version() or "?", cipher[0] if cipher else "?", obj.getpeercert(binary_form=True), _chain(obj))
        finally:
            await channel.close()


async def tls_certificate(ctx, ip: str, port: int) -> Handshake:
    """The default handshake of ``ip:port`` (certificate, chain), once per scan (TLS and DANE share it)."""
    listener = LISTENERS[port]
    return await ctx.once(("tls-default", ip, port), lambda: handshake(ctx, ip, listener, version_context(None), f"TLS default handshake {ctx.target(port, ip)}"))


async def accepted_versions(ctx, ip: str, listener: Listener) -> tuple[VersionVerdict, dict[str, Handshake]]:
    """Probe each of TLS 1.0-1.3 alone. A refused handshake after a working STARTTLS = refused."""

    async def one(name: str, version: ssl.TLSVersion) -> tuple[str, Handshake | None]:
        try:
            return name, await handshake(ctx, ip, listener, version_context(version), f"{name} on {ctx.target(listener.port, ip)}")
        except TlsFailed:
            return name, None

    results = await asyncio.gather(*(one(n, v) for n, v in VERSIONS))
    accepted = tuple(n for n, h in results if h is not None)
    refused = tuple(n for n, h in results if h is None)
    return VersionVerdict(accepted, refused), {n: h for n, h in results if h is not None}


async def verify(ctx, ip: str, listener: Listener) -> tuple[bool, str]:
    try:
        await handshake(ctx, ip, listener, verify_context(ctx.options.ca_file), f"verify chain {ctx.target(listener.port, ip)}")
        return True, ""
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or str(exc)
    except TlsFailed as exc:
        return False, exc.reason


async def weak_class_accepted(ctx, ip: str, listener: Listener, cls: CipherClass,
                              anonymous: bool | None = None) -> tuple[bool | None, str]:
    """(accepted?, negotiated cipher). None: no local cipher of that class to offer."""
    ciphers = class_cipher_string(cls, anonymous=anonymous)
    if ciphers is None:
        return None, ""
    sslctx = version_context(ssl.TLSVersion.TLSv1_2, ciphers=ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sslctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        what = {None: "", True: "anonymous ", False: "authenticated "}[anonymous]
        h = await handshake(ctx, ip, listener, sslctx, f"{what}{cls.value} ciphers on {ctx.target(listener.port, ip)}")
        return True, h.cipher
    except TlsFailed:
        return False, ""


# ---------------------------------------------------------------- checks


def _version_config(listener: Listener) -> tuple[str, ...]:
    return {
        25: ("smtpd_tls_protocols",),
        587: ("master.cf submission -o smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_protocols"),
        465: ("master.cf submissions -o smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_protocols"),
    }.get(listener.port, ("ssl_min_protocol",))


def _cipher_config(listener: Listener) -> tuple[str, ...]:
    if listener.protocol == "smtp":
        if listener.port == 25:
            return ("smtpd_tls_ciphers", "smtpd_tls_exclude_ciphers", "tls_medium_cipherlist")
        # Postfix applies the mandatory_* pair where TLS is enforced (encrypt, wrapper mode);
        # config_for resolves each name through the listener's master.cf service
        return ("smtpd_tls_mandatory_exclude_ciphers", "smtpd_tls_mandatory_ciphers", "smtpd_tls_exclude_ciphers")
    return ("ssl_cipher_list", "ssl_prefer_server_ciphers")


VERSIONS_CHECK = Check(
    "tls.versions", "tls", "Only TLS 1.2 and 1.3 accepted",
    "TLS 1.0 and 1.1 are deprecated (RFC 8996): known weaknesses, no modern ciphers. On port 25 "
    "(opportunistic TLS) old peers still exist, so it is a warning there; on submission, IMAP and "
    "POP3 your own clients are modern and old versions only help an attacker.",
    Severity.MEDIUM, reference="RFC 8996; NCSC-NL TLS guidelines")
SSLV3 = Check("tls.sslv3", "tls", "SSLv3", "SSLv3 is broken (POODLE).", Severity.HIGH)
CIPHERS = Check(
    "tls.ciphers", "tls", "Cipher suites are good or sufficient",
    "The server accepts cipher suites classed 'phase-out' (no forward secrecy, 3DES) or "
    "'insufficient' (NULL, anonymous, export, RC4) by the NCSC-NL guidelines. Where passwords travel "
    "(465/587, IMAP, POP3) only good and sufficient suites belong; on port 25 (opportunistic TLS) "
    "anonymous and phase-out suites are normal and only information.",
    Severity.MEDIUM, reference="NCSC-NL TLS guidelines 2.1 (internet.nl)")
HANDSHAKE = Check("tls.handshake", "tls", "TLS handshake",
                  "No TLS handshake succeeded on this listener: clients cannot encrypt (or the server dropped us).",
                  Severity.HIGH)


def version_finding(verdict: VersionVerdict, listener: Listener, target: str) -> Finding:
    config = _version_config(listener)
    ev = verdict.describe()
    if not verdict.accepted:
        return HANDSHAKE.finding(Status.ERROR, f"no TLS version could be negotiated ({ev})", target=target)
    if not verdict.modern:
        return VERSIONS_CHECK.finding(Status.FAIL, ev, target=target, severity=Severity.HIGH, config=config, port=listener.port,
                                      title="Neither TLS 1.2 nor 1.3 accepted")
    if verdict.old_accepted:
        old = ", ".join(verdict.old_accepted)
        if listener.strict:
            return VERSIONS_CHECK.finding(Status.FAIL, ev, target=target, config=config, port=listener.port, title=f"{old} accepted")
        return VERSIONS_CHECK.finding(Status.WARN, ev, target=target, severity=Severity.LOW, config=config, port=listener.port,
                                      title=f"{old} accepted (opportunistic TLS)")
    return VERSIONS_CHECK.finding(Status.PASS, ev, target=target)


def cipher_finding(negotiated: dict[str, str], weak: dict[CipherClass, tuple[bool | None, str]], listener: Listener,
                   target: str, authenticated_insufficient: tuple[bool | None, str] | None = None) -> Finding:
    """The ``tls.ciphers`` finding of one listener, by the shared policy (:func:`cipher_verdict`).

    ``weak`` holds what offering all local insufficient / phase-out suites alone got;
    ``authenticated_insufficient`` what offering the insufficient ones minus the anonymous
    ones got (probed when the first answer was an anonymous suite; None: not probed, so an
    anonymous answer counts as anonymous only).
    """
    config = _cipher_config(listener)
    lines = [f"{v}: {c} ({classify_cipher(c).value})" for v, c in negotiated.items()]
    for cls, (acc, cipher) in weak.items():
        if acc is None:
            lines.append(f"{cls.value} ciphers: not testable here (local OpenSSL has none)")
        else:
            lines.append(f"{cls.value} ciphers offered alone: {'accepted ' + cipher if acc else 'refused'}")
    insufficient_acc, insufficient_cipher = weak.get(CipherClass.INSUFFICIENT, (None, ""))
    if insufficient_acc and is_anonymous(insufficient_cipher) and authenticated_insufficient is not None:
        acc, cipher = authenticated_insufficient
        if acc is not None:
            lines.append(f"insufficient ciphers without anonymous ones: {'accepted ' + cipher if acc else 'refused'}")
    ev = "; ".join(lines)
    offered = [c for c in negotiated.values() if classify_cipher(c) == CipherClass.INSUFFICIENT]
    anonymous = any(is_anonymous(c) for c in offered) or bool(insufficient_acc and is_anonymous(insufficient_cipher))
    insufficient = any(not is_anonymous(c) for c in offered) or bool(insufficient_acc and not is_anonymous(insufficient_cipher))
    if insufficient_acc and is_anonymous(insufficient_cipher) and authenticated_insufficient is not None:
        insufficient = insufficient or bool(authenticated_insufficient[0])
    phase_out = bool(weak.get(CipherClass.PHASE_OUT, (None, ""))[0]) or any(
        classify_cipher(c) == CipherClass.PHASE_OUT for c in negotiated.values())
    verdict = cipher_verdict(insufficient=insufficient, anonymous=anonymous, phase_out=phase_out, strict=listener.strict)
    if verdict.status == Status.PASS:
        return CIPHERS.finding(Status.PASS, ev, target=target)
    if verdict.status == Status.INFO:
        return CIPHERS.finding(Status.INFO, ev, target=target, title=verdict.title,
                               explanation=_OPPORTUNISTIC_EXPLANATION)
    return CIPHERS.finding(verdict.status, ev, target=target, severity=verdict.severity, config=config,
                           port=listener.port, title=verdict.title,
                           explanation=_ANONYMOUS_EXPLANATION if verdict.problem == "anonymous" else None)


_OPPORTUNISTIC_EXPLANATION = (
    "Port 25 is opportunistic TLS between mail servers: a peer that cannot negotiate a better suite "
    "would send in plain text instead, so any encryption beats none. Postfix enables anonymous suites "
    "there on purpose (TLS_README, server-side cipher controls). Nothing to fix; the strict listeners "
    "(465/587, IMAP, POP3) are graded on their own.")
_ANONYMOUS_EXPLANATION = (
    "This listener carries passwords, yet accepts cipher suites without a server certificate (aNULL: "
    "ADH/AECDH). A client that accepts one cannot tell the server from a man in the middle, who then "
    "reads the password. Mainstream mail programs never offer them, so removing them costs nothing. "
    "Postfix: exclude aNULL for the submission services (smtpd_tls_mandatory_exclude_ciphers applies "
    "where TLS is enforced: security level encrypt or wrapper mode); Dovecot: a cipher list without aNULL.")


async def probe_listener(ctx, ip: str, listener: Listener) -> list[Finding]:
    target = ctx.target(listener.port, ip)
    try:
        default = await tls_certificate(ctx, ip, listener.port)
    except ConnectFailed as exc:
        if exc.refused:
            return []
        return [HANDSHAKE.finding(Status.ERROR, exc.reason, target=target)]
    except NoStartTls:
        return []  # reported by the smtp / imap_pop groups
    except TlsFailed:
        default = None
    except (Blocked, ProtocolViolation) as exc:
        return [HANDSHAKE.finding(Status.ERROR, f"blocked by the server's defences? {exc.reason}", target=target)]
    try:
        (verdict, shakes), trust, insufficient, phase_out = await asyncio.gather(
            accepted_versions(ctx, ip, listener),
            verify(ctx, ip, listener),
            weak_class_accepted(ctx, ip, listener, CipherClass.INSUFFICIENT),
            weak_class_accepted(ctx, ip, listener, CipherClass.PHASE_OUT),
        )
    except (Blocked, ProtocolViolation, ConnectFailed, NoStartTls) as exc:
        return [HANDSHAKE.finding(Status.ERROR, f"blocked by the server's defences: {exc.reason}", target=target,
                                  title="TLS probe blocked by the server's defences")]
    out = [version_finding(verdict, listener, target)]
    if not verdict.accepted:
        return out
    negotiated = {v: h.cipher for v, h in shakes.items()}
    authenticated = None
    if insufficient[0] and is_anonymous(insufficient[1]):
        # the server picked an anonymous suite: does it take authenticated insufficient ones too?
        try:
            authenticated = await weak_class_accepted(ctx, ip, listener, CipherClass.INSUFFICIENT, anonymous=False)
        except (Blocked, ProtocolViolation, ConnectFailed, NoStartTls):
            authenticated = None
    out.append(cipher_finding(negotiated, {CipherClass.INSUFFICIENT: insufficient, CipherClass.PHASE_OUT: phase_out},
                              listener, target, authenticated))
    cert_der = (default.cert_der if default else None) or next((h.cert_der for h in shakes.values() if h.cert_der), None)
    if cert_der:
        facts = parse_certificate(cert_der)
        out += certificate_findings(facts, listener, target, expected_name=ctx.server_name, trusted=trust[0],
                                    trust_error=trust[1])
    return out


@register("tls", "TLS", "versions, cipher classes and certificate of every TLS listener")
async def run(ctx) -> list[Finding]:
    listeners = [LISTENERS[p] for p in LISTENERS if p in ctx.options.ports]
    results = await asyncio.gather(*(probe_listener(ctx, ctx.primary, listener) for listener in listeners))
    out = [f for r in results for f in r]
    if listeners:
        if getattr(ssl, "HAS_SSLv3", False):
            out.append(SSLV3.finding(Status.INFO, "SSLv3 probing is not implemented (local OpenSSL could)", target=ctx.primary,
                                     title="SSLv3 not tested"))
        else:
            out.append(SSLV3.finding(Status.INFO, f"not testable here: the local {ssl.OPENSSL_VERSION} has no SSLv3",
                                     target=ctx.primary, title="SSLv3 not testable here"))
    return out


__all__ = ["CipherClass", "VersionVerdict", "accepted_versions", "classify_cipher", "tls_certificate", "ProbeError"]
