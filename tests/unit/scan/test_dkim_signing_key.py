"""DKIM: the published key compared with the key the server signs with, on real generated keys.

The inside hash is what the checklist's probe computes on the server
(``openssl pkey -in KEY -pubout -outform DER | sha256sum``); here the same bytes come from
``cryptography``, and one test runs openssl itself when it is installed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from mailtui.core.findings import Status
from mailtui.core.scan import ScanOptions
from mailtui.core.scan.dns_checks import check_dkim, dkim_signer_finding
from mailtui.core.scan.dnsq import DnsAnswer, Rcode
from mailtui.core.scan.mailauth import dkim_spki_sha256
from mailtui.core.scan.options import ScanOptionsError


def _spki(key) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def inside_hash(key) -> str:
    """What the server-side probe prints for a private key."""
    return hashlib.sha256(_spki(key)).hexdigest()


def rsa_record(key) -> str:
    return "v=DKIM1; h=sha256; k=rsa; p=" + base64.b64encode(_spki(key)).decode()


@pytest.fixture(scope="module")
def keys():
    return {
        "signing": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


def test_published_rsa_key_hash_equals_the_inside_hash(keys):
    assert dkim_spki_sha256(rsa_record(keys["signing"])) == inside_hash(keys["signing"])
    assert dkim_spki_sha256(rsa_record(keys["other"])) != inside_hash(keys["signing"])
    # whitespace inside p= (split TXT strings) does not change the key
    record = rsa_record(keys["signing"])
    assert dkim_spki_sha256(record[:60] + " " + record[60:]) == inside_hash(keys["signing"])


def test_pkcs1_and_ed25519_records_are_normalised_to_spki(keys):
    pkcs1 = keys["signing"].public_key().public_bytes(Encoding.DER, PublicFormat.PKCS1)
    assert dkim_spki_sha256("v=DKIM1; k=rsa; p=" + base64.b64encode(pkcs1).decode()) == inside_hash(keys["signing"])
    raw = keys["ed"].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert dkim_spki_sha256("v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()) == inside_hash(keys["ed"])


@pytest.mark.parametrize("record", ["v=DKIM1; p=", "v=DKIM1; k=rsa", "v=DKIM1; p=!!notbase64", "v=DKIM1; p=AAAA"])
def test_no_usable_key_has_no_hash(record):
    assert dkim_spki_sha256(record) is None


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_pipeline_on_the_server_gives_the_same_hash(keys, tmp_path):
    pem = tmp_path / "dkim.private"
    pem.write_bytes(keys["signing"].private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()))
    der = subprocess.run(["openssl", "pkey", "-in", str(pem), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert hashlib.sha256(der).hexdigest() == dkim_spki_sha256(rsa_record(keys["signing"]))


def test_signer_finding_pass_and_fail(keys):
    good = dkim_signer_finding("lab._domainkey.example.org", rsa_record(keys["signing"]), {inside_hash(keys["signing"])})
    assert good.id == "dns.dkim_signing_key" and good.status == Status.PASS
    assert good.evidence.startswith("DNS key equals the signing key")
    bad = dkim_signer_finding("lab._domainkey.example.org", rsa_record(keys["other"]), {inside_hash(keys["signing"])})
    assert bad.status == Status.FAIL
    assert "the published key is not the one the server signs with" in bad.evidence
    assert "receivers will fail DKIM" in bad.evidence
    assert inside_hash(keys["signing"])[:16] in bad.evidence and inside_hash(keys["other"])[:16] in bad.evidence


class FakeCtx:
    """Just what check_dkim uses: options and a memo-less DNS lookup over a dict."""

    def __init__(self, options: ScanOptions, txt: dict[str, str]):
        self.options = options
        self.txt = txt
        self.asked: list[str] = []

    async def dns(self, name: str, rdtype: str) -> DnsAnswer:
        self.asked.append(name)
        if name in self.txt:
            return DnsAnswer(name, rdtype, Rcode.NOERROR, (self.txt[name],))
        return DnsAnswer(name, rdtype, Rcode.NXDOMAIN)


def _run(options, txt):
    ctx = FakeCtx(options, txt)
    return asyncio.run(check_dkim(ctx, "example.org")), ctx


def test_scan_checks_the_signers_selector_and_compares(keys):
    txt = {"s1._domainkey.example.org": rsa_record(keys["signing"])}
    opts = ScanOptions(host="mail.example.org", dkim_keys=(("s1", inside_hash(keys["signing"])),))
    findings, ctx = _run(opts, txt)
    assert ctx.asked == ["s1._domainkey.example.org"]  # the selector came from the signer config
    got = {f.id: f.status for f in findings}
    assert got == {"dns.dkim": Status.PASS, "dns.dkim_signing_key": Status.PASS}


def test_scan_fails_when_dns_holds_another_key(keys):
    txt = {"s1._domainkey.example.org": rsa_record(keys["other"])}
    opts = ScanOptions(host="mail.example.org", dkim_keys=(("s1", inside_hash(keys["signing"])),))
    findings, _ = _run(opts, txt)
    match = [f for f in findings if f.id == "dns.dkim_signing_key"]
    assert [f.status for f in match] == [Status.FAIL]
    assert next(f for f in findings if f.id == "dns.dkim").status == Status.PASS  # strong, just not ours


def test_given_selector_and_signer_selectors_are_all_checked(keys):
    txt = {"old._domainkey.example.org": rsa_record(keys["other"]), "s1._domainkey.example.org": rsa_record(keys["signing"])}
    opts = ScanOptions(host="mail.example.org", dkim_selector="old", dkim_keys=(("s1", inside_hash(keys["signing"])),))
    findings, ctx = _run(opts, txt)
    assert sorted(ctx.asked) == ["old._domainkey.example.org", "s1._domainkey.example.org"]
    # no signing hash for "old": only its strength is graded
    assert [(f.id, f.target) for f in findings if f.id == "dns.dkim_signing_key"] == [
        ("dns.dkim_signing_key", "s1._domainkey.example.org")]


def test_missing_key_for_the_signers_selector_fails(keys):
    opts = ScanOptions(host="mail.example.org", dkim_keys=(("s1", inside_hash(keys["signing"])),))
    findings, _ = _run(opts, {})
    assert [(f.id, f.status) for f in findings] == [("dns.dkim", Status.FAIL)]


def test_no_selector_at_all_is_info():
    findings, ctx = _run(ScanOptions(host="mail.example.org"), {})
    assert [f.status for f in findings] == [Status.INFO] and ctx.asked == []


@pytest.mark.parametrize("bad", [(("s1", "xyz"),), (("", "0" * 64),), (("s1",),)])
def test_dkim_keys_option_is_validated(bad):
    with pytest.raises(ScanOptionsError):
        ScanOptions(host="mail.example.org", dkim_keys=bad)
