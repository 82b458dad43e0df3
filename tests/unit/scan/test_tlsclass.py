"""The shared cipher table and policy (mailtui.core.tlsclass), on real `openssl ciphers -v`
output captured on the lab machine (OpenSSL 3.0, Postfix's default tls_medium_cipherlist)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan import tls as scan_tls
from mailtui.core.tlsclass import (
    STRICT_CIPHER_LIST,
    CipherClass,
    cipher_verdict,
    classify_cipher,
    grade_ciphers,
    negotiable,
    parse_openssl_ciphers,
)

DATA = Path(__file__).parent / "data"


def medium():
    return parse_openssl_ciphers((DATA / "openssl-ciphers-v.postfix-medium.txt").read_text())


def test_scan_uses_the_shared_table():
    assert scan_tls.classify_cipher is classify_cipher and scan_tls.CipherClass is CipherClass


def test_parse_real_output():
    suites = medium()
    assert len(suites) > 100
    first = suites[0]
    assert first.name == "TLS_AES_256_GCM_SHA384" and first.tls13 and first.cls == CipherClass.GOOD
    adh = next(c for c in suites if c.name == "ADH-AES256-GCM-SHA384")
    assert adh.au == "None" and adh.anonymous and adh.kx == "DH"
    assert parse_openssl_ciphers("Error in cipher list\n40F7:error:0A0000B9:SSL routines") == ()


@pytest.mark.parametrize("name,usable", [
    ("ECDHE-RSA-AES256-GCM-SHA384", True), ("ADH-AES256-GCM-SHA384", True), ("AES256-GCM-SHA384", True),
    ("DHE-DSS-AES256-GCM-SHA384", False), ("PSK-AES256-GCM-SHA384", False), ("RSA-PSK-AES256-GCM-SHA384", False),
    ("SRP-RSA-AES-256-CBC-SHA", False), ("TLS_AES_256_GCM_SHA384", True),
])
def test_only_negotiable_suites_count(name, usable):
    suite = next(c for c in medium() if c.name == name)
    assert negotiable(suite) is usable


def test_postfix_medium_default_graded():
    graded = grade_ciphers(medium())
    assert "ADH-AES256-GCM-SHA384" in graded.anonymous and "AECDH-AES256-SHA" in graded.anonymous
    assert {"AES256-GCM-SHA384", "DHE-RSA-ARIA256-GCM-SHA384", "DHE-RSA-CAMELLIA128-SHA"} <= set(graded.phase_out)
    assert graded.insufficient == ()  # DSS/PSK/SRP are listed but not negotiable
    assert graded.verdict(strict=False).status == Status.INFO
    v = graded.verdict(strict=True)
    assert v.status == Status.WARN and v.problem == "anonymous"


def test_strict_list_is_good_or_sufficient():
    names = STRICT_CIPHER_LIST.split(":")
    assert {classify_cipher(n) for n in names} <= {CipherClass.GOOD, CipherClass.SUFFICIENT}


@pytest.mark.parametrize("insufficient,anonymous,phase_out,strict,status", [
    (True, False, False, True, Status.FAIL), (True, False, False, False, Status.WARN),
    (False, True, False, True, Status.WARN), (False, True, True, False, Status.INFO),
    (False, False, True, True, Status.WARN), (False, False, True, False, Status.INFO),
    (False, False, False, True, Status.PASS), (True, True, True, False, Status.WARN),
])
def test_policy_table(insufficient, anonymous, phase_out, strict, status):
    assert cipher_verdict(insufficient=insufficient, anonymous=anonymous, phase_out=phase_out, strict=strict).status == status
