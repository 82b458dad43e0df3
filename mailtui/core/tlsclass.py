"""TLS cipher classes and the cipher policy, shared by the scan and the checklist (pure).

The scan negotiates cipher suites from outside; the checklist expands the server's
effective cipher strings with the server's own ``openssl ciphers -v`` and grades the
result. Both classify with :func:`classify_cipher` and judge with :func:`cipher_verdict`,
so the outside and the inside say the same thing about the same listener. Neither imports
the other (DESIGN.md): this module sits below both and imports nothing of theirs.

The policy (one table, :func:`cipher_verdict`):

============================  =========================  ===========================
accepted                      port 25 (opportunistic)    465/587, IMAP, POP3 (strict)
============================  =========================  ===========================
insufficient (NULL, EXPORT,   WARN                       FAIL
RC4, DES, MD5 ...)
anonymous (aNULL: ADH/AECDH)  INFO: normal, see below    WARN
phase-out (static RSA, 3DES,  INFO                       WARN
DHE with ARIA/CAMELLIA)
good / sufficient only        PASS                       PASS
============================  =========================  ===========================

Port 25 is opportunistic TLS (RFC 7435): a peer MTA that cannot negotiate anything
better falls back to plain text, so any encryption beats none, and Postfix enables
anonymous suites there on purpose (TLS_README, "Server-side cipher controls": clients
that do not verify certificates gain nothing from a certificate anyway). On the listeners
that carry passwords, anonymous suites are a WARN, not a FAIL: a man in the middle needs
a *client* willing to accept an unauthenticated suite (no mainstream mail program offers
one), and the server refusing them does not stop an attacker who impersonates it; it is
still hygiene every scanner (NCSC-NL, internet.nl, testssl.sh) flags, and removing them
costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core.findings import Severity, Status


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


def is_anonymous(name: str) -> bool:
    """An unauthenticated (aNULL) suite: ADH-*, AECDH-*, *-anon-*."""
    n = name.upper()
    return n.startswith(("ADH-", "AECDH-")) or "ANON" in n


#: OpenSSL cipher-string elements that remove every phase-out and anonymous suite of the
#: table above (static RSA key exchange, 3DES, DHE with ARIA/CAMELLIA, aNULL). In Postfix
#: they are ``smtpd_tls_(mandatory_)exclude_ciphers`` items (Postfix appends ``:!ITEM``).
STRICT_EXCLUDE = ("aNULL", "kRSA", "3DES", "DHE+CAMELLIA", "DHE+ARIA")

#: A complete list of good and sufficient TLS <= 1.2 suites (Mozilla "intermediate"),
#: for servers that take one cipher string (Dovecot ``ssl_cipher_list``).
STRICT_CIPHER_LIST = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                      "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")


# ------------------------------------------------------------ the policy (both sides)
@dataclass(frozen=True, slots=True)
class CipherVerdict:
    status: Status
    severity: Severity
    title: str
    #: "insufficient", "anonymous", "phase-out" or "" (nothing to complain about)
    problem: str


def cipher_verdict(*, insufficient: bool, anonymous: bool, phase_out: bool, strict: bool) -> CipherVerdict:
    """The verdict on a listener's accepted suites (see the module docstring's table).

    ``insufficient`` means insufficient suites other than anonymous ones; ``strict`` is
    True for listeners that carry passwords (465/587, IMAP, POP3), False for port 25.
    """
    if insufficient:
        if strict:
            return CipherVerdict(Status.FAIL, Severity.HIGH, "Insufficient cipher suites accepted", "insufficient")
        return CipherVerdict(Status.WARN, Severity.LOW, "Insufficient cipher suites accepted (opportunistic TLS)",
                             "insufficient")
    if anonymous:
        if strict:
            return CipherVerdict(Status.WARN, Severity.MEDIUM, "Anonymous (unauthenticated) cipher suites accepted",
                                 "anonymous")
        return CipherVerdict(Status.INFO, Severity.INFO,
                             "Anonymous cipher suites accepted (normal for opportunistic TLS on port 25)", "anonymous")
    if phase_out:
        if strict:
            return CipherVerdict(Status.WARN, Severity.LOW, "Phase-out cipher suites accepted", "phase-out")
        return CipherVerdict(Status.INFO, Severity.INFO, "Phase-out cipher suites accepted (opportunistic TLS)",
                             "phase-out")
    return CipherVerdict(Status.PASS, Severity.MEDIUM, "Cipher suites are good or sufficient", "")


# ------------------------------------------------------- `openssl ciphers -v` output
@dataclass(frozen=True, slots=True)
class OpenSslCipher:
    """One line of ``openssl ciphers -v``."""

    name: str
    version: str
    kx: str
    au: str
    enc: str
    mac: str

    @property
    def tls13(self) -> bool:
        return self.name.startswith("TLS_")

    @property
    def cls(self) -> CipherClass:
        return classify_cipher(self.name)

    @property
    def anonymous(self) -> bool:
        return self.au == "None" or is_anonymous(self.name)


_LINE = re.compile(r"^\s*(\S+)\s+(\S+)\s+Kx=(\S+)\s+Au=(\S+)\s+Enc=(\S+)\s+Mac=(\S+)")


def parse_openssl_ciphers(text: str) -> tuple[OpenSslCipher, ...]:
    """The suites of ``openssl ciphers -v`` output (lines that do not parse are skipped)."""
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            out.append(OpenSslCipher(*match.groups()))
    return tuple(out)


def negotiable(cipher: OpenSslCipher, cert_auth: tuple[str, ...] = ("RSA", "ECDSA")) -> bool:
    """Whether a server with certificates of ``cert_auth`` key types can negotiate it.

    ``openssl ciphers -v`` lists everything a string names, also suites no mail server can
    use: DSS (needs a DSA certificate), PSK and SRP (need keys/verifiers Postfix and
    Dovecot never configure). Those are dropped, so only what a client could really get is
    graded. An ECDSA-only server is graded as if RSA suites were usable (a slight
    over-report: mailtui does not read the key type here).
    """
    if cipher.tls13:
        return True
    if "PSK" in cipher.kx.upper() or "SRP" in cipher.kx.upper():
        return False
    return cipher.au in ("None", "any") or cipher.au in cert_auth


@dataclass(frozen=True, slots=True)
class CipherSet:
    """What a server accepts, graded: the negotiable suites by problem."""

    suites: tuple[str, ...]
    insufficient: tuple[str, ...]
    anonymous: tuple[str, ...]
    phase_out: tuple[str, ...]

    def verdict(self, strict: bool) -> CipherVerdict:
        return cipher_verdict(insufficient=bool(self.insufficient), anonymous=bool(self.anonymous),
                              phase_out=bool(self.phase_out), strict=strict)

    def describe(self, limit: int = 4) -> str:
        parts = [f"{len(self.suites)} TLS<=1.2 suites"]
        for label, names in (("insufficient", self.insufficient), ("anonymous", self.anonymous),
                             ("phase-out", self.phase_out)):
            if names:
                more = f" +{len(names) - limit}" if len(names) > limit else ""
                parts.append(f"{label}: {' '.join(names[:limit])}{more}")
        return "; ".join(parts)


def grade_ciphers(ciphers: tuple[OpenSslCipher, ...] | list[OpenSslCipher]) -> CipherSet:
    """Grade an expanded cipher list (TLS 1.3 suites are all good and left out)."""
    usable = [c for c in ciphers if negotiable(c) and not c.tls13]
    names = tuple(dict.fromkeys(c.name for c in usable))
    anonymous = tuple(dict.fromkeys(c.name for c in usable if c.anonymous))
    insufficient = tuple(dict.fromkeys(c.name for c in usable
                                       if not c.anonymous and c.cls == CipherClass.INSUFFICIENT))
    phase_out = tuple(dict.fromkeys(c.name for c in usable if not c.anonymous and c.cls == CipherClass.PHASE_OUT))
    return CipherSet(names, insufficient, anonymous, phase_out)


__all__ = [
    "STRICT_CIPHER_LIST",
    "STRICT_EXCLUDE",
    "CipherClass",
    "CipherSet",
    "CipherVerdict",
    "OpenSslCipher",
    "cipher_verdict",
    "classify_cipher",
    "grade_ciphers",
    "is_anonymous",
    "negotiable",
    "parse_openssl_ciphers",
]
