"""The checklist's DKIM key facts: the probe's output parsed, matched to a domain, turned into
the scan's ``dkim_keys``; the probe script itself run on an OpenDKIM KeyTable with real keys."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from mailtui.core.checks.gather import _DKIM_KEYS_FN, DkimSigningKey, assemble, parse_dkim_keys
from mailtui.core.checks.registry import evaluate
from mailtui.core.facts import Section
from mailtui.core.findings import Status

H1 = "a" * 64
H2 = "b" * 64
EMPTY = hashlib.sha256(b"").hexdigest()

OUTPUT = f"""\
### dkimkey opendkim mailtui.test lab {H1} /var/lib/mailtui-lab/dkim/lab.private
### dkimkey opendkim other.test s2024 - /etc/opendkim/keys/other.private
### dkimkey opendkim broken.test x {EMPTY} /etc/opendkim/keys/broken.private
### dkimkey rspamd * dkim {H2} /var/lib/rspamd/dkim/dkim.key
### dkimkey opendkim inline.test sel - inline
noise line
"""


def test_parse_keeps_hashes_only_when_a_key_was_read():
    keys = parse_dkim_keys(OUTPUT)
    assert [(k.signer, k.domain, k.selector, k.pubkey_sha256) for k in keys] == [
        ("opendkim", "mailtui.test", "lab", H1),
        ("opendkim", "other.test", "s2024", None),
        ("opendkim", "broken.test", "x", None),  # openssl printed nothing: sha256 of ""
        ("rspamd", "*", "dkim", H2),
        ("opendkim", "inline.test", "sel", None),
    ]


def test_pairs_and_selector_per_domain():
    facts = assemble("lab", {"dkim-keys": Section(OUTPUT, 0)})
    assert facts.dkim_key_pairs("mailtui.test") == (("lab", H1), ("dkim", H2))  # rspamd's * signs every domain
    assert facts.dkim_key_pairs("other.test") == (("dkim", H2),)
    assert facts.dkim_selector_for("mailtui.test") == "lab"
    assert facts.dkim_selector_for("other.test") == "s2024"
    assert DkimSigningKey("opendkim", "*.example.org", "s", "/k", None).signs_for("mail.example.org")


def _postfix_sections(milters: str) -> dict[str, Section]:
    return {"postconf-n": Section(f"smtpd_milters = {milters}\nnon_smtpd_milters = {milters}\n", 0),
            "dkim": Section("present /etc/opendkim.conf\npresent /etc/opendkim/KeyTable\n", 0),
            "dkim-keys": Section(OUTPUT, 0)}


def test_rule_passes_with_signer_and_milter_and_names_the_keys():
    facts = assemble("lab", _postfix_sections("inet:127.0.0.1:8891"))
    found = [f for f in evaluate(facts) if f.id == "system.dkim_signing"]
    assert found[0].status == Status.PASS
    assert "opendkim signs mailtui.test with selector lab" in found[0].evidence
    assert "other.private not readable here" in found[0].evidence


def test_rule_fails_without_milter():
    sections = _postfix_sections("")
    facts = assemble("lab", sections)
    assert [f.status for f in evaluate(facts) if f.id == "system.dkim_signing"] == [Status.FAIL]


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("sha256sum")), reason="needs openssl and sha256sum")
def test_probe_script_on_a_keytable(tmp_path):
    """The probe's shell functions on real files (the KeyTable path comes from the config)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "sel.private"
    pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    want = hashlib.sha256(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    table = tmp_path / "KeyTable"
    table.write_text(f"# comment\nsel._domainkey.example.org example.org:sel:{pem}\n"
                     f"gone._domainkey.example.org example.org:gone:{tmp_path}/missing.private\n")
    conf = tmp_path / "opendkim.conf"
    conf.write_text(f"Mode s\nKeyTable   refile:{table}\nSocket inet:8891@127.0.0.1\n")
    script = _DKIM_KEYS_FN.replace("c=/etc/opendkim.conf", f"c={conf}")
    assert script != _DKIM_KEYS_FN
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout
    keys = parse_dkim_keys(out)
    assert [(k.domain, k.selector, k.pubkey_sha256) for k in keys] == [
        ("example.org", "sel", want), ("example.org", "gone", None)]
    assert re.search(r"BEGIN|PRIVATE", out) is None  # never the key itself
