"""DANE TLSA (RFC 6698/7671): does a TLSA record match the certificate actually presented? (pure)"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


def parse_tlsa(text: str) -> Tlsa:
    """``3 1 1 7c9b...`` (presentation form) -> Tlsa."""
    parts = text.split()
    if len(parts) < 4:
        raise ValueError(f"not a TLSA record: {text!r}")
    return Tlsa(int(parts[0]), int(parts[1]), int(parts[2]), bytes.fromhex("".join(parts[3:])))


def _selected(der: bytes, selector: int) -> bytes:
    if selector == 0:
        return der
    cert = x509.load_der_x509_certificate(der)
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _matched(data: bytes, mtype: int) -> bytes:
    if mtype == 0:
        return data
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    raise ValueError(f"unknown matching type {mtype}")


def tlsa_matches(record: Tlsa, chain: tuple[bytes, ...] | list[bytes]) -> bool:
    """True if the record matches the presented chain (leaf first).

    Usages 1/3 (end entity) match the leaf; 0/2 (trust anchor) match any certificate above it
    (and the leaf only if it is the sole certificate, a self-issued anchor).
    """
    if not chain:
        return False
    if record.usage in (1, 3):
        candidates = [chain[0]]
    else:
        candidates = list(chain[1:]) or [chain[0]]
    for der in candidates:
        try:
            if _matched(_selected(der, record.selector), record.mtype) == record.data:
                return True
        except ValueError:
            return False
    return False


def tlsa_for(der: bytes, usage: int = 3, selector: int = 1, mtype: int = 1) -> Tlsa:
    """The TLSA record that would match ``der`` (for the explanation: 'publish this instead')."""
    return Tlsa(usage, selector, mtype, _matched(_selected(der, selector), mtype))
