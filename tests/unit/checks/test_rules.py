"""Rules over real probe outputs captured from the lab (tests/unit/checks/capture_lab.py)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest

from mailtui.core.checks.fixes import FIXES
from mailtui.core.checks.gather import assemble, parse_dovecot, parse_postfix, parse_sshd_instances
from mailtui.core.checks.registry import Area, RULES, all_rules, evaluate
from mailtui.core.facts import Section
from mailtui.core.findings import Status

DATA = Path(__file__).parent / "data"
NOW = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)
LAB_CANNOT_PASS = {"system.security_updates", "system.unattended_upgrades", "smtp.rbl", "exposure.firewall",
                   "tls.renewal_reload", "smtp.auth_on_port_25"}
#: INFO by policy on the hardened lab: anonymous suites are normal for opportunistic TLS on port 25.
LAB_INFO = {("tls.postfix_ciphers", "port 25")}


def facts(profile: str):
    data = json.loads((DATA / f"sections.{profile}.json").read_text())
    return assemble("lab", {k: Section(v["text"], v["status"]) for k, v in data.items()}, 2222)


def by_id(findings):
    out = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


def test_registry_has_40_rules_each_fully_described():
    rules = all_rules()
    assert len(rules) >= 40
    assert {r.area for r in rules} == set(Area)
    for r in rules:
        assert r.title and r.why and r.reference.startswith("http") and r.remedy and r.doc, r.id
        assert r.fix is None or r.fix in FIXES, r.id
    for fix in FIXES.values():
        assert all(rule in RULES for rule in fix.rules), fix.id


def test_no_rule_suggests_non_mx_hardening():
    text = " ".join(r.why + r.remedy + r.doc for r in all_rules())
    assert "loopback-only" not in text


def test_hardened_capture_passes_everything_the_lab_can_pass():
    findings = evaluate(facts("hardened"), now=NOW)
    info = {(f.id, f.target) for f in findings if f.status == Status.INFO}
    assert LAB_INFO <= info
    bad = [f"{f.id} {f.target}: {f.evidence}" for f in findings
           if f.status != Status.PASS and f.id not in LAB_CANNOT_PASS and (f.id, f.target) not in LAB_INFO]
    assert not bad, bad


def test_hardened_capture_signs_with_the_lab_dkim_key():
    (found,) = by_id(evaluate(facts("hardened"), now=NOW))["system.dkim_signing"]
    assert found.status == Status.PASS, found.evidence
    assert "opendkim signs mailtui.test with selector lab" in found.evidence
    assert "inet:127.0.0.1:8891" in found.evidence


@pytest.mark.parametrize("rule_id, target, word", [
    ("smtp.open_relay", "port 25", "127.0.0.2 OK"),
    ("smtp.vrfy", "", "disable_vrfy_command = no"),
    ("smtp.banner", "port 587", "Postfix 3.7.11 (Debian/GNU)"),
    ("smtp.auth_after_tls", "port 587", "smtpd_tls_auth_only = no"),
    ("submission.tls_required", "port 587", "= may"),
    ("tls.submission_protocols", "port 465", ">=TLSv1"),
    ("imap.ssl_required", "", "ssl = yes"),
    ("imap.plaintext_auth", "", "disable_plaintext_auth = no"),
    ("ssh.password_auth", "sshd /var/lib/mailtui-lab/sshd_config (port 2222)", "passwordauthentication yes"),
    ("ssh.root_login", "sshd /var/lib/mailtui-lab/sshd_config (port 2222)", "permitrootlogin yes"),
])
def test_weak_capture_fails_with_evidence(rule_id, target, word):
    found = [f for f in by_id(evaluate(facts("weak"), now=NOW))[rule_id] if f.target == target]
    assert found and found[0].status == Status.FAIL and word in found[0].evidence, found
    assert found[0].fix == rule_id and found[0].to_json()["fix"] == rule_id


def test_port_25_is_lenient_about_tls_1_0_but_submission_is_not():
    got = by_id(evaluate(facts("weak"), now=NOW))
    assert [f.status for f in got["tls.smtp_protocols"]] == [Status.INFO]
    assert {f.status for f in got["tls.submission_protocols"]} == {Status.FAIL}


def test_expired_and_expiring_certificates():
    f = facts("hardened")
    leaf = f.certs[0].certs[0]
    late = leaf.not_after + dt.timedelta(days=1)
    expired = by_id(evaluate(f, now=late))["tls.cert_expiry"]
    assert all(x.status == Status.FAIL and "expired" in x.evidence and x.severity.value == "critical" for x in expired)
    soon = by_id(evaluate(f, now=leaf.not_after - dt.timedelta(days=20)))["tls.cert_expiry"]
    assert {x.status for x in soon} == {Status.WARN}


def test_key_mismatch_and_missing_intermediate():
    f = facts("hardened")
    broken = tuple(replace(c, key_hash="0" * 64, certs=c.certs[:1]) for c in f.certs)
    got = by_id(evaluate(replace(f, certs=broken), now=NOW))
    assert {x.status for x in got["tls.cert_key_match"]} == {Status.FAIL}
    assert {x.status for x in got["tls.cert_chain"]} == {Status.WARN}


def test_postconf_n_alone_uses_postfix_defaults():
    n = (DATA / "postconf-n.weak.txt").read_text()
    pf = parse_postfix(None, n, (DATA / "postconf-M.weak.txt").read_text(), (DATA / "postconf-P.weak.txt").read_text())
    assert pf.get("disable_vrfy_command") == "no" and pf.get("message_size_limit") == "10240000"
    sub = pf.service("submission")
    assert sub.port == 587 and pf.effective("smtpd_tls_security_level", sub) == "may"
    assert pf.effective("smtpd_tls_security_level", pf.service("smtp")) == "may"


def test_doveconf_n_2_3_and_2_4_names():
    dc = parse_dovecot(None, (DATA / "doveconf-n.weak.txt").read_text())
    assert dc.version.startswith("2.3") and dc.config_path == "/etc/dovecot/dovecot.conf"
    assert dc.settings["disable_plaintext_auth"] == "no" and dc.settings["ssl_min_protocol"] == "TLSv1"
    v24 = parse_dovecot(None, "# 2.4.1-4 (7d8c0e5759): /etc/dovecot/dovecot.conf\nauth_allow_cleartext = yes\n"
                        "ssl_server_min_protocol = TLSv1.1\nssl = yes\n")
    f = replace(facts("hardened"), dovecot=v24)
    got = by_id(evaluate(f, now=NOW))
    assert "auth_allow_cleartext = yes" in got["imap.plaintext_auth"][0].evidence
    assert got["tls.dovecot_protocols"][0].status == Status.FAIL
    assert "ssl_server_min_protocol" in got["tls.dovecot_protocols"][0].evidence


def test_sshd_T_blocks_and_own_instance():
    text = "### sshd 10 /etc/ssh/sshd_config\nport 22\npasswordauthentication yes\n" + \
           "### sshd 20 /srv/lab/sshd_config\nport 2222\npasswordauthentication no\n"
    inst = parse_sshd_instances(text, None)
    assert [(i.config, i.ports) for i in inst] == [("/etc/ssh/sshd_config", (22,)), ("/srv/lab/sshd_config", (2222,))]
    f = replace(facts("hardened"), sshd=inst, ssh_port=2222)
    assert f.own_sshd.config == "/srv/lab/sshd_config"
    got = by_id(evaluate(f, now=NOW))["ssh.password_auth"]
    assert [(x.status, x.target.split()[1]) for x in got] == [(Status.FAIL, "/etc/ssh/sshd_config"),
                                                               (Status.PASS, "/srv/lab/sshd_config")]


def test_unreadable_facts_are_not_crashes():
    empty = assemble("x", {}, None, {"root": "sudo needs a password"})
    findings = evaluate(empty, now=NOW)
    assert {f.id for f in findings} == set(RULES)
    assert not [f for f in findings if "could not be evaluated" in f.evidence]
