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

# ---------------------------------------------------------------- pure: cipher classes


class CipherClass(StrEnum):
    """NCSC-NL TLS guidelines (2021) classes, as internet.nl uses them."""

    GOOD = "good"
    SUFFICIENT = "sufficient"
    PHASE_OUT = "phase-out"
    INSUFFICIENT = "insufficient"


_BROKEN_MARKERS = ("NULL", "EXP", "RC4", "RC2", "IDEA", "ADH", "AECDH", "ANON", "MD5", "PSK", "SRP", "SEED")


def classify_cipher(name: str) -> CipherClass:
    """Class of an OpenSSL (or IANA TLS 1.3) cipher suite name (pure)."""
    n = name.upper()
    if n.startswith("TLS_"):  # TLS 1.3 suites (AES-GCM, CHACHA20, AES-CCM): all good
        return CipherClass.GOOD
    if any(marker in n for marker in _BROKEN_MARKERS) or n.startswith(("DES-CBC-", "EDH-RSA-DES-CBC-", "EDH-DSS-DES-CBC-")):
        return CipherClass.INSUFFICIENT
    if "DES-CBC-" in n and "CBC3" not in n:
        return CipherClass.INSUFFICIENT
    if n.startswith("ECDHE-"):
        kx = "ecdhe"
    elif n.startswith(("DHE-", "EDH-")):
        kx = "dhe"
    else:
        kx = "rsa"  # static RSA key exchange: no forward secrecy
    if "DSS" in n:
        return CipherClass.INSUFFICIENT
    triple_des = "CBC3" in n or "3DES" in n
    aead = any(m in n for m in ("GCM", "CHACHA20", "CCM"))
    if triple_des:
        return CipherClass.PHASE_OUT
    if kx == "rsa":
        return CipherClass.PHASE_OUT
    if "CAMELLIA" in n or "ARIA" in n:
        return CipherClass.PHASE_OUT if kx == "dhe" else CipherClass.SUFFICIENT
    if kx == "ecdhe":
        return CipherClass.GOOD if aead and "CCM8" not in n else CipherClass.SUFFICIENT
    return CipherClass.SUFFICIENT


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


def class_cipher_string(cls: CipherClass) -> str | None:
    """An OpenSSL cipher string offering only the local ciphers of ``cls`` (TLS <= 1.2)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    except ssl.SSLError:
        return None
    names = [c["name"] for c in probe.get_ciphers() if not c["name"].startswith("TLS_") and classify_cipher(c["name"]) == cls]
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


async def weak_class_accepted(ctx, ip: str, listener: Listener, cls: CipherClass) -> tuple[bool | None, str]:
    """(accepted?, negotiated cipher). None: no local cipher of that class to offer."""
    ciphers = class_cipher_string(cls)
    if ciphers is None:
        return None, ""
    sslctx = version_context(ssl.TLSVersion.TLSv1_2, ciphers=ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sslctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        h = await handshake(ctx, ip, listener, sslctx, f"{cls.value} ciphers on {ctx.target(listener.port, ip)}")
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
        return ("smtpd_tls_mandatory_ciphers", "smtpd_tls_mandatory_exclude_ciphers")
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
    "'insufficient' (NULL, anonymous, export, RC4) by the NCSC-NL guidelines.",
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
                   target: str) -> Finding:
    config = _cipher_config(listener)
    lines = [f"{v}: {c} ({classify_cipher(c).value})" for v, c in negotiated.items()]
    for cls, (acc, cipher) in weak.items():
        if acc is None:
            lines.append(f"{cls.value} ciphers: not testable here (local OpenSSL has none)")
        else:
            lines.append(f"{cls.value} ciphers offered alone: {'accepted ' + cipher if acc else 'refused'}")
    ev = "; ".join(lines)
    classes = {classify_cipher(c) for c in negotiated.values()}
    insufficient = weak.get(CipherClass.INSUFFICIENT, (None, ""))[0] or CipherClass.INSUFFICIENT in classes
    phase_out = weak.get(CipherClass.PHASE_OUT, (None, ""))[0] or CipherClass.PHASE_OUT in classes
    anonymous_only = insufficient and all(
        classify_cipher(c) != CipherClass.INSUFFICIENT or _anonymous(c) for c in negotiated.values()
    ) and _anonymous(weak.get(CipherClass.INSUFFICIENT, (None, ""))[1] or "ADH")
    if insufficient and anonymous_only:
        return CIPHERS.finding(Status.WARN, ev, target=target, severity=Severity.LOW,
                               config=("smtpd_tls_exclude_ciphers = aNULL", "smtpd_tls_mandatory_exclude_ciphers")
                               if listener.protocol == "smtp" else config, port=listener.port,
                               title="Anonymous (unauthenticated) cipher suites accepted")
    if insufficient:
        if listener.strict:
            return CIPHERS.finding(Status.FAIL, ev, target=target, severity=Severity.HIGH, config=config, port=listener.port,
                                   title="Insufficient cipher suites accepted")
        return CIPHERS.finding(Status.WARN, ev, target=target, severity=Severity.LOW, config=config, port=listener.port,
                               title="Insufficient cipher suites accepted (opportunistic TLS)")
    if phase_out:
        return CIPHERS.finding(Status.WARN, ev, target=target, severity=Severity.LOW, config=config, port=listener.port,
                               title="Phase-out cipher suites accepted")
    return CIPHERS.finding(Status.PASS, ev, target=target)


def _anonymous(cipher: str) -> bool:
    return cipher.upper().startswith(("ADH-", "AECDH-")) or "ANON" in cipher.upper()


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
    out.append(cipher_finding(negotiated, {CipherClass.INSUFFICIENT: insufficient, CipherClass.PHASE_OUT: phase_out},
                              listener, target))
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
