"""tls.postfix_ciphers / tls.dovecot_ciphers over real lab captures: the probe sections of
tests/unit/checks/data/sections.*.json with the ``cipher-lists`` probe's output (the server's
``openssl ciphers -v`` expansions) captured on the same lab:

- cipher-lists.hardened-before.txt: the hardened lab before the cipher hardening (Postfix
  and Dovecot defaults: what the scan reported as anonymous / phase-out WARNs); the
  hardened sections are taken back to those defaults for it (``before=True``);
- cipher-lists.hardened.txt: the hardened lab now (mandatory exclusions, a strict Dovecot list);
  the same text as the ``cipher-lists`` section of sections.hardened.json;
- cipher-lists.weak.txt: the weak lab (DEFAULT:@SECLEVEL=0, ALL:@SECLEVEL=0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mailtui.core.checks.fixes import FIXES, FixError, MasterSet, PostconfSet
from mailtui.core.checks.gather import DOVECOT_DEFAULTS_23, assemble, parse_cipher_lists
from mailtui.core.checks.registry import evaluate
from mailtui.core.facts import Section
from mailtui.core.findings import Status
from mailtui.core.tlsclass import STRICT_CIPHER_LIST

DATA = Path(__file__).parent / "data"
EXCLUDE = "aNULL, kRSA, 3DES, DHE+CAMELLIA, DHE+ARIA"


def _replace_line(sections: dict[str, Section], name: str, key: str, line: str) -> None:
    """Swap the one ``key = ...`` line of a section (``line`` empty: drop it); fail if it is not there."""
    text, count = re.subn(rf"^{key} =.*\n", line, sections[name].text, flags=re.M)
    assert count == 1, (name, key)
    sections[name] = Section(text, sections[name].status)


def sections(profile: str, cipher_lists: str, *, before: bool = False) -> dict[str, Section]:
    data = json.loads((DATA / f"sections.{profile}.json").read_text())
    out = {k: Section(v["text"], v["status"]) for k, v in data.items()}
    if before:  # without the hardened profile's two cipher lines (tests/lab/lab.py): the defaults, as printed
        _replace_line(out, "postconf-n", "smtpd_tls_mandatory_exclude_ciphers", "")
        _replace_line(out, "postconf-all", "smtpd_tls_mandatory_exclude_ciphers", "smtpd_tls_mandatory_exclude_ciphers =\n")
        _replace_line(out, "doveconf-n", "ssl_cipher_list", "")
        _replace_line(out, "doveconf-a", "ssl_cipher_list", f"ssl_cipher_list = {DOVECOT_DEFAULTS_23['ssl_cipher_list']}\n")
    out["cipher-lists"] = Section((DATA / cipher_lists).read_text(), 0)
    return out


def rule(findings, rule_id: str) -> dict[str, object]:
    return {f.target: f for f in findings if f.id == rule_id}


def facts(profile: str, cipher_lists: str, **kw):
    return assemble("lab", sections(profile, cipher_lists, **kw), 2222)


def test_parse_cipher_lists_real_capture():
    lists = parse_cipher_lists((DATA / "cipher-lists.hardened.txt").read_text())
    assert "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH" in lists and "aNULL" in lists and "DHE+ARIA" in lists
    assert {c.name for c in lists["DHE+ARIA"]} >= {"DHE-RSA-ARIA256-GCM-SHA384"}
    assert len([c for c in lists[STRICT_CIPHER_LIST] if not c.tls13]) == 9
    assert parse_cipher_lists("### no-openssl\n") is None


def test_before_hardening_the_rules_say_what_the_scan_said():
    f = evaluate(facts("hardened", "cipher-lists.hardened-before.txt", before=True),
                 only={"tls.postfix_ciphers", "tls.dovecot_ciphers"})
    pf = rule(f, "tls.postfix_ciphers")
    assert pf["port 25"].status == Status.INFO and "ADH-AES256-GCM-SHA384" in pf["port 25"].evidence
    for port in ("port 465", "port 587"):
        assert pf[port].status == Status.WARN and pf[port].evidence.startswith("Anonymous"), pf[port].evidence
        assert pf[port].fix == "tls.postfix_ciphers"
    assert any("smtpd_tls_mandatory_exclude_ciphers" in c for c in pf["port 587"].config)
    dc = rule(f, "tls.dovecot_ciphers")
    (only,) = dc.values()
    assert only.status == Status.WARN and "DHE-RSA-ARIA256-GCM-SHA384" in only.evidence


def test_hardened_profile_passes_both_rules():
    f = evaluate(facts("hardened", "cipher-lists.hardened.txt"),
                 only={"tls.postfix_ciphers", "tls.dovecot_ciphers"})
    pf = rule(f, "tls.postfix_ciphers")
    assert pf["port 465"].status == pf["port 587"].status == Status.PASS, {k: v.evidence for k, v in pf.items()}
    assert f"excluded: {EXCLUDE}" in pf["port 587"].evidence  # the capture's own main.cf line, not an overlay
    assert pf["port 25"].status == Status.INFO  # opportunistic: anonymous suites are normal there
    assert [x.status for x in rule(f, "tls.dovecot_ciphers").values()] == [Status.PASS]


def test_weak_profile_fails_both_rules():
    f = evaluate(facts("weak", "cipher-lists.weak.txt"), only={"tls.postfix_ciphers", "tls.dovecot_ciphers"})
    pf = [x for x in f if x.id == "tls.postfix_ciphers"]
    assert any(x.status == Status.FAIL and "SECLEVEL=0" in x.evidence for x in pf)
    # weak Postfix: static-RSA (phase-out) suites on the submission ports, as the scan sees them
    assert rule(f, "tls.postfix_ciphers")["port 587"].status == Status.WARN
    assert [x.status for x in f if x.id == "tls.dovecot_ciphers"] == [Status.FAIL]


def test_postfix_fix_excludes_with_the_parameter_postfix_applies():
    fx = facts("weak", "cipher-lists.weak.txt")
    spec = FIXES["tls.postfix_ciphers"].build(fx, {}, "mtadmin")
    edits = set(spec.edits)
    assert PostconfSet("tls_medium_cipherlist", None) in edits and PostconfSet("tls_high_cipherlist", None) in edits
    # 465 is wrapper mode: the mandatory exclusions apply there (main.cf); the weak 587 is at
    # 'may', so only its own -o smtpd_tls_exclude_ciphers reaches it
    assert PostconfSet("smtpd_tls_mandatory_exclude_ciphers", EXCLUDE) in edits
    assert MasterSet("submission/inet", "smtpd_tls_exclude_ciphers", EXCLUDE.replace(", ", ",")) in edits
    # already hardened: nothing to do
    done = facts("hardened", "cipher-lists.hardened.txt")
    with pytest.raises(FixError):
        FIXES["tls.postfix_ciphers"].build(done, {}, "mtadmin")


def test_dovecot_fix_writes_the_strict_list():
    fx = facts("weak", "cipher-lists.weak.txt")
    conf = fx.dovecot.config_path
    spec = FIXES["tls.dovecot_ciphers"].build(fx, {conf: b"protocols = imap\n"}, "mtadmin")
    assert f"ssl_cipher_list = {STRICT_CIPHER_LIST}".encode() in spec.edits[0].content


def test_without_openssl_the_rule_grades_the_settings_text_only():
    secs = sections("hardened", "cipher-lists.hardened.txt")
    secs["cipher-lists"] = Section("### no-openssl\n", 0)
    f = evaluate(assemble("lab", secs, 2222), only={"tls.postfix_ciphers"})
    assert [x.status for x in f] == [Status.PASS] and "not expanded" in f[0].evidence
    weak = sections("weak", "cipher-lists.weak.txt")
    weak["cipher-lists"] = Section("### no-openssl\n", 0)
    f = evaluate(assemble("lab", weak, 2222), only={"tls.postfix_ciphers"})
    assert [x.status for x in f] == [Status.FAIL]
