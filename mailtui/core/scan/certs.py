"""Certificates: facts parsed with ``cryptography`` and the verdicts on them (pure).

Strictness depends on the listener: on port 25 TLS is opportunistic (a peer MTA encrypts
even with an untrusted certificate, so that is information), while submission, IMAP and
POP3 clients must be able to verify the server (an untrusted certificate there trains
users to click through warnings, or makes clients fail).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.model import Check, Listener

EXPIRY_WARN_DAYS = 30


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    common_name: str | None
    dns_names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str  # RSA / EC / Ed25519 / Ed448 / DSA
    key_bits: int
    signature_hash: str | None  # sha256, sha1, ... (None for Ed25519/Ed448)
    self_signed: bool
    sha256: str

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def describe(self) -> str:
        return (
            f"subject: {self.subject}\nissuer: {self.issuer}\nnames: {', '.join(self.dns_names) or '(none)'}\n"
            f"valid: {self.not_before:%Y-%m-%d} .. {self.not_after:%Y-%m-%d}\nkey: {self.key_type} {self.key_bits}\n"
            f"signature hash: {self.signature_hash}\nself-signed: {self.self_signed}\nSHA-256: {self.sha256}"
        )


def parse_certificate(der: bytes) -> CertFacts:
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kt, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kt, bits = "EC", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        kt, bits = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PublicKey):
        kt, bits = "Ed448", 456
    elif isinstance(key, dsa.DSAPublicKey):
        kt, bits = "DSA", key.key_size
    else:
        kt, bits = type(key).__name__, 0
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else None
    algo = cert.signature_hash_algorithm
    self_signed = cert.issuer == cert.subject and _signed_by_own_key(cert)
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=cn,
        dns_names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=kt,
        key_bits=bits,
        signature_hash=algo.name if algo is not None else None,
        self_signed=self_signed,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def _signed_by_own_key(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not self-signed"
        return False


def spki_der(der: bytes) -> bytes:
    """SubjectPublicKeyInfo of a certificate (for DANE selector 1)."""
    cert = x509.load_der_x509_certificate(der)
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def name_matches(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """RFC 6125: exact match, or ``*.`` wildcard standing for exactly one left-most label."""
    host = name.rstrip(".").lower()
    for pattern in patterns:
        p = pattern.rstrip(".").lower()
        if p == host:
            return True
        if p.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if rest == p[2:] and first:
                return True
    return False


def key_weakness(facts: CertFacts) -> str | None:
    if facts.key_type == "RSA" and facts.key_bits < 2048:
        return f"RSA {facts.key_bits} bits (at least 2048 needed)"
    if facts.key_type == "EC" and facts.key_bits < 256:
        return f"EC {facts.key_bits} bits (at least 256 needed)"
    if facts.key_type == "DSA":
        return "DSA key (deprecated)"
    return None


def signature_weakness(facts: CertFacts) -> str | None:
    if facts.signature_hash in ("md5", "sha1", "md2", "md4") and not facts.self_signed:
        return f"signed with {facts.signature_hash.upper()} (broken; SHA-256 or better needed)"
    return None


# ---------------------------------------------------------------- checks

def _cert_config(listener: Listener) -> tuple[str, ...]:
    if listener.protocol == "smtp":
        return ("smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_key_file")
    return ("ssl_cert", "ssl_key")


TRUST = Check("cert.trust", "certificate", "Certificate chain is trusted",
              "Clients cannot verify the certificate (unknown or missing issuer, self-signed): mail clients "
              "show warnings or refuse, and an attacker in the middle is indistinguishable from you. Serve the "
              "leaf and its intermediate from a public CA (e.g. Let's Encrypt).", Severity.HIGH)
NAME = Check("cert.name", "certificate", "Certificate matches the server name",
             "The certificate does not name the host clients connect to, so verification fails even with a "
             "trusted issuer.", Severity.HIGH)
EXPIRY = Check("cert.expiry", "certificate", "Certificate is valid and not about to expire",
               "An expired certificate breaks every verifying client; renewal should run well before the end.",
               Severity.CRITICAL)
KEY = Check("cert.key", "certificate", "Certificate key is strong enough",
            "Short keys can be broken; use RSA 2048+ or ECDSA P-256+.", Severity.HIGH)
SIGNATURE = Check("cert.signature", "certificate", "Certificate signature algorithm is strong",
                  "SHA-1 and MD5 signatures can be forged.", Severity.HIGH)


def certificate_findings(
    facts: CertFacts,
    listener: Listener,
    target: str,
    *,
    expected_name: str | None,
    trusted: bool | None,
    trust_error: str = "",
    now: dt.datetime | None = None,
) -> list[Finding]:
    """The certificate verdicts for one listener (pure). ``trusted`` None = not verified."""
    now = now or dt.datetime.now(dt.timezone.utc)
    config = _cert_config(listener)
    strict = listener.strict
    detail = facts.describe()
    out: list[Finding] = []

    def add(check: Check, status: Status, evidence: str, severity: Severity | None = None, title: str | None = None) -> None:
        out.append(check.finding(status, evidence, target=target, detail=detail, severity=severity, title=title,
                                 config=config, port=listener.port))

    if trusted is True:
        add(TRUST, Status.PASS, f"issued by {facts.issuer}, verified")
    elif trusted is False:
        why = "self-signed" if facts.self_signed else (trust_error or "chain does not verify")
        if strict:
            add(TRUST, Status.FAIL, why, title="Certificate not trusted")
        else:
            add(TRUST, Status.INFO, f"{why} (port 25: opportunistic TLS, peers still encrypt)",
                title="Certificate not trusted (opportunistic TLS)")
    if expected_name:
        names = facts.dns_names or ((facts.common_name,) if facts.common_name else ())
        if name_matches(expected_name, names):
            add(NAME, Status.PASS, f"{expected_name} in {', '.join(names)}")
        elif strict:
            add(NAME, Status.FAIL, f"{expected_name} not in {', '.join(names) or '(no names)'}", title="Certificate name mismatch")
        else:
            add(NAME, Status.INFO, f"{expected_name} not in {', '.join(names) or '(no names)'} (port 25: opportunistic)",
                title="Certificate name mismatch (opportunistic TLS)")
    left = facts.days_left(now)
    if left < 0:
        add(EXPIRY, Status.FAIL if strict else Status.WARN, f"expired {facts.not_after:%Y-%m-%d} ({-left:.0f} days ago)",
            severity=Severity.CRITICAL if strict else Severity.MEDIUM, title="Certificate expired")
    elif now < facts.not_before:
        add(EXPIRY, Status.FAIL if strict else Status.WARN, f"not valid before {facts.not_before:%Y-%m-%d}",
            title="Certificate not yet valid")
    elif left < EXPIRY_WARN_DAYS:
        add(EXPIRY, Status.WARN, f"expires {facts.not_after:%Y-%m-%d} (in {left:.0f} days)", severity=Severity.MEDIUM,
            title="Certificate expires soon")
    else:
        add(EXPIRY, Status.PASS, f"valid until {facts.not_after:%Y-%m-%d} ({left:.0f} days)")
    weak = key_weakness(facts)
    if weak:
        add(KEY, Status.FAIL if strict else Status.WARN, weak, title="Certificate key too weak")
    else:
        add(KEY, Status.PASS, f"{facts.key_type} {facts.key_bits}")
    weak_sig = signature_weakness(facts)
    if weak_sig:
        add(SIGNATURE, Status.FAIL if strict else Status.WARN, weak_sig, title="Weak certificate signature")
    else:
        add(SIGNATURE, Status.PASS, f"{facts.signature_hash or facts.key_type}")
    return out


__all__ = ["CertFacts", "certificate_findings", "name_matches", "parse_certificate", "spki_der"]
