"""Small mail-authentication records (pure): DKIM keys (and their SPKI hash), MTA-STS TXT and policy, TLS-RPT."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key, load_pem_public_key


def parse_tags(text: str) -> dict[str, str]:
    """``k=v; k2=v2`` (DKIM/MTA-STS/TLS-RPT tag lists), whitespace-tolerant, keys lower-cased."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


@dataclass(frozen=True, slots=True)
class DkimKey:
    key_type: str  # rsa / ed25519
    bits: int
    revoked: bool
    error: str = ""


def parse_dkim_key(record: str) -> DkimKey:
    tags = parse_tags(record)
    if tags.get("v", "DKIM1") != "DKIM1":
        return DkimKey("?", 0, False, f"v={tags.get('v')} (must be DKIM1)")
    ktype = tags.get("k", "rsa").lower()
    p = tags.get("p")
    if p is None:
        return DkimKey(ktype, 0, False, "no p= tag")
    if p == "":
        return DkimKey(ktype, 0, True)
    try:
        raw = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(ktype, 0, False, "p= is not valid base64")
    if ktype == "ed25519":
        return DkimKey("ed25519", 256, False, "" if len(raw) == 32 else f"ed25519 key of {len(raw)} bytes")
    try:
        key = load_der_public_key(raw)
    except ValueError as exc:
        return DkimKey(ktype, 0, False, f"key does not parse: {exc}")
    if isinstance(key, rsa.RSAPublicKey):
        return DkimKey("rsa", key.key_size, False)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return DkimKey("ed25519", 256, False)
    return DkimKey(type(key).__name__, 0, False, "unexpected key type")


def dkim_spki_sha256(record: str) -> str | None:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo of a DKIM record's ``p=`` key.

    The form ``openssl pkey -pubout -outform DER | sha256sum`` gives for the private key on
    the server. RSA keys published as SPKI (the norm) or as a bare PKCS#1 RSAPublicKey, and
    ed25519 keys (``p=`` is the raw 32 bytes, RFC 8463), are re-encoded as SPKI first.
    None when there is no usable key (missing, revoked, not base64, does not parse).
    """
    tags = parse_tags(record)
    p = tags.get("p")
    if not p:
        return None
    try:
        raw = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        if tags.get("k", "rsa").lower() == "ed25519" and len(raw) == 32:
            key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        else:
            try:
                key = load_der_public_key(raw)
            except ValueError:
                key = _load_pkcs1_rsa(raw)
    except (ValueError, TypeError):
        return None
    if key is None:
        return None
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _load_pkcs1_rsa(raw: bytes):
    """A bare PKCS#1 RSAPublicKey (seen in the wild in p=), or None."""
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(raw) + b"-----END RSA PUBLIC KEY-----\n"
    try:
        return load_pem_public_key(pem)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class StsPolicy:
    version: str
    mode: str
    mx: tuple[str, ...]
    max_age: int | None
    errors: tuple[str, ...] = ()


def parse_sts_policy(text: str) -> StsPolicy:
    """RFC 8461 3.2 policy file (``key: value`` lines)."""
    version = mode = ""
    mx: list[str] = []
    max_age: int | None = None
    errors: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "version":
            version = value
        elif key == "mode":
            mode = value.lower()
        elif key == "mx":
            mx.append(value.lower())
        elif key == "max_age":
            try:
                max_age = int(value)
            except ValueError:
                errors.append(f"max_age {value!r} is not a number")
    if version != "STSv1":
        errors.append(f"version must be STSv1 (got {version or 'nothing'})")
    if mode not in ("enforce", "testing", "none"):
        errors.append(f"mode must be enforce, testing or none (got {mode or 'nothing'})")
    if mode != "none" and not mx:
        errors.append("no mx: lines")
    if max_age is None:
        errors.append("no max_age")
    return StsPolicy(version, mode, tuple(mx), max_age, tuple(errors))


def sts_mx_matches(host: str, patterns: tuple[str, ...]) -> bool:
    h = host.rstrip(".").lower()
    for p in patterns:
        p = p.rstrip(".").lower()
        if p == h or (p.startswith("*.") and h.count(".") >= 1 and h.split(".", 1)[1] == p[2:]):
            return True
    return False


def sts_uncovered_mx(mx_hosts: list[str] | tuple[str, ...], policy: StsPolicy) -> tuple[str, ...]:
    """MX hosts the policy does not list: senders enforcing MTA-STS will not deliver to them."""
    return tuple(h for h in mx_hosts if not sts_mx_matches(h, policy.mx))


def valid_sts_txt(record: str) -> tuple[bool, str]:
    tags = parse_tags(record)
    if tags.get("v") != "STSv1":
        return False, "v=STSv1 missing"
    if not tags.get("id"):
        return False, "id= missing"
    return True, tags["id"]


def valid_tlsrpt(record: str) -> tuple[bool, str]:
    tags = parse_tags(record)
    if tags.get("v") != "TLSRPTv1":
        return False, "v=TLSRPTv1 missing"
    if not tags.get("rua"):
        return False, "rua= missing"
    return True, tags["rua"]
