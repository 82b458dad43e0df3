"""The join: scan findings -> the server's config lines and checklist rules; log lines -> probes.

The configuration comes from real lab captures (tests/unit/checks/data, written by
capture_lab.py); the log lines are real lines the lab's Postfix and Dovecot wrote during a
scan from 127.0.0.2.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from mailtui.core.checks.gather import CheckFacts, assemble
from mailtui.core.checks import rules as _rules  # noqa: F401 - registers the rules
from mailtui.core.checks.registry import RULES
from mailtui.core.facts import Section
from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.join import (
    CHECKLIST_RULES,
    checklist_rule,
    config_for,
    match_log_lines,
    postfix_fingerprint,
    scanner_addresses,
    transcript_fingerprints,
)
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.records import RecordParser
from mailtui.core.profiles import Config, ServerProfile, load_config, save_config
from mailtui.core.scan.model import CHECKS, Direction, checklist_rule_id, Outcome, ProbeRecord, ScanReport, TranscriptLine
from mailtui.core.scan.registry import load_all

DATA = Path(__file__).parent / "checks" / "data"


def lab_facts(profile: str) -> CheckFacts:
    raw = json.loads((DATA / f"sections.{profile}.json").read_text())
    sections = {name: Section(value["text"], value["status"]) for name, value in raw.items()}
    return assemble("lab", sections, ssh_port=2222)


@pytest.fixture(scope="module")
def weak() -> CheckFacts:
    return lab_facts("weak")


@pytest.fixture(scope="module")
def hardened() -> CheckFacts:
    return lab_facts("hardened")


def finding(check_id: str, target: str, status: Status = Status.FAIL, config: tuple[str, ...] | None = None) -> Finding:
    load_all()
    check = CHECKS[check_id]
    return check.finding(status, "evidence", target=target, config=config)


def rendered(refs) -> list[str]:
    return [ref.render() for ref in refs]


# ------------------------------------------------------------------------------ config
def test_tls_on_submission_names_main_cf_when_master_cf_has_no_override(weak):
    f = finding("tls.versions", "127.0.0.1:587",
                config=("master.cf submission -o smtpd_tls_protocols", "smtpd_tls_mandatory_protocols",
                        "smtpd_tls_protocols"))
    refs = config_for(f, weak)
    lines = rendered(refs)
    assert lines[0] == "main.cf smtpd_tls_protocols = >=TLSv1  (no -o override in master.cf submission: main.cf applies)"
    assert "main.cf smtpd_tls_mandatory_protocols = >=TLSv1" in lines
    # the same parameter is not listed twice
    assert sum("smtpd_tls_protocols =" in line for line in lines) == 1


def test_submission_override_is_the_master_cf_line(weak, hardened):
    f = finding("smtp.submission_tls_required", "127.0.0.1:587")
    assert rendered(config_for(f, weak)) == ["master.cf submission -o smtpd_tls_security_level=may"]
    assert rendered(config_for(f, hardened)) == ["master.cf submission -o smtpd_tls_security_level=encrypt"]


def test_plain_parameter_on_a_port_prefers_that_services_override(hardened):
    # smtpd_tls_auth_only is set in main.cf and overridden on submission.
    f = finding("smtp.auth_before_tls", "127.0.0.1:587")
    refs = config_for(f, hardened)
    assert refs[0].where == "master.cf submission" and refs[0].value == "yes"
    on_25 = config_for(finding("smtp.auth_before_tls", "127.0.0.1:25"), hardened)
    assert on_25[0].where == "main.cf" and on_25[0].explicit


def test_main_cf_values_explicit_or_default(weak, hardened):
    vrfy = config_for(finding("enum.vrfy", "127.0.0.1:25"), weak)
    assert rendered(vrfy) == ["main.cf disable_vrfy_command = no"]
    banner = config_for(finding("smtp.banner_disclosure", "127.0.0.1:25", Status.WARN), weak)
    assert banner[0].render() == "main.cf smtpd_banner = $myhostname ESMTP $mail_name $mail_version (Debian/GNU)"
    assert banner[1].parameter == "mail_name" and not banner[1].explicit
    assert banner[1].render() == "main.cf mail_name not set (default: Postfix)"


def test_dovecot_and_sshd_settings(weak):
    tls = config_for(finding("tls.versions", "127.0.0.1:993", config=("ssl_min_protocol",)), weak)
    assert rendered(tls) == ["dovecot ssl_min_protocol = TLSv1"]
    ssh = config_for(finding("ssh.password_auth", "127.0.0.1:2222", Status.WARN), weak)
    assert ssh[0].where == "sshd" and ssh[0].parameter == "PasswordAuthentication"
    assert ssh[0].value in ("yes", "no")


def test_globs_fail2ban_and_unknown_names(hardened):
    f = finding("smtp.blocked", "127.0.0.1:25", Status.ERROR)
    refs = config_for(f, hardened)
    by_name = {ref.name: ref for ref in refs}
    assert by_name["postscreen_*"].value is None and "none set" in by_name["postscreen_*"].note
    assert by_name["smtpd_client_connection_rate_limit"].value == "600"
    assert by_name["fail2ban jail postfix"].render() == "fail2ban jail postfix = active"
    odd = config_for(finding("enum.expn", "127.0.0.1:25"), hardened)
    assert all(not ref.found for ref in odd)  # Exim/Sendmail hints: not read, said so


def test_without_facts_every_name_is_listed_as_unread():
    refs = config_for(finding("enum.vrfy", "127.0.0.1:25"), None)
    assert rendered(refs) == ["disable_vrfy_command: the server's configuration was not read"]
    assert config_for(finding("enum.vrfy", "127.0.0.1:25", Status.PASS), None) == ()


def test_checklist_rules_exist_on_both_sides():
    load_all()
    for scan_id, rule in CHECKLIST_RULES.items():
        assert scan_id in CHECKS, scan_id
        for rule_id in (rule.values() if isinstance(rule, dict) else [rule]):
            assert rule_id in RULES, rule_id
    assert checklist_rule(finding("tls.versions", "127.0.0.1:587")) == "tls.submission_protocols"
    assert checklist_rule(finding("tls.versions", "127.0.0.1:993")) == "tls.dovecot_protocols"
    assert checklist_rule(finding("tls.versions", "127.0.0.1:25")) == "tls.smtp_protocols"
    assert checklist_rule(finding("smtp.ehlo", "127.0.0.1:25", Status.INFO)) is None


PORTS = (None, 25, 465, 587, 110, 143, 993, 995, 22, 2222)


def test_every_scan_fix_id_is_a_real_checklist_rule_id():
    """A failing scan finding's ``fix`` is the checklist rule (and fix) id, on every port, or None."""
    load_all()
    seen = set()
    for check in CHECKS.values():
        for port in PORTS:
            for status in (Status.FAIL, Status.WARN):
                target = f"127.0.0.1:{port}" if port else "mail.mailtui.test"
                f = check.finding(status, "e", target=target)
                if f.fix is not None:
                    assert f.fix in RULES, (check.id, port, f.fix)
                    assert checklist_rule(f) == f.fix
                    seen.add(f.fix)
            assert check.finding(Status.PASS, "e", target=f"127.0.0.1:{port}").fix is None
    # every rule id the scan's table names shows up as a fix (no dead entry)
    named = {r for rule in CHECKLIST_RULES.values() for r in (rule.values() if isinstance(rule, dict) else [rule])}
    assert named == seen
    # a rule with an automatic fix is what `mailtui fix` takes: its fix id is the rule id
    for rule_id in seen:
        assert RULES[rule_id].fix in (None, rule_id), rule_id


@pytest.mark.parametrize("check_id, port, rule", [
    ("tls.ciphers", 993, "tls.dovecot_ciphers"),
    ("tls.ciphers", 995, "tls.dovecot_ciphers"),
    ("tls.ciphers", 587, "tls.postfix_ciphers"),
    ("tls.ciphers", 25, "tls.postfix_ciphers"),
    ("tls.versions", 465, "tls.submission_protocols"),
    ("smtp.starttls", 25, "tls.smtp_offered"),
    ("smtp.starttls", 587, "submission.tls_required"),
    ("enum.vrfy", 25, "smtp.vrfy"),
    ("smtp.banner_disclosure", 25, "smtp.banner"),
    ("ssh.password_auth", 2222, "ssh.password_auth"),
    ("dns.spf_all", None, None),
    ("dnsbl.listed", None, None),
    ("enum.expn", 25, None),
])
def test_scan_fix_is_port_aware(check_id, port, rule):
    load_all()
    target = f"127.0.0.1:{port}" if port else "mailtui.test"
    f = CHECKS[check_id].finding(Status.FAIL, "e", target=target)
    assert f.fix == rule
    assert checklist_rule(f) == rule
    if port:  # the same for an IPv6 target; a bare IPv6 address has no port
        assert CHECKS[check_id].finding(Status.FAIL, "e", target=f"[::1]:{port}").fix == rule
    assert CHECKS[check_id].finding(Status.FAIL, "e", target="::1").fix == checklist_rule_id(check_id, None)


# -------------------------------------------------------------------------------- logs
START = _dt.datetime(2026, 11, 29, 17, 31, 17, 200000, tzinfo=_dt.timezone.utc).timestamp()


def transcript(label: str, *commands: str) -> tuple[str, tuple[TranscriptLine, ...]]:
    lines = [TranscriptLine(Direction.NOTE, f"connect to {label.split()[-1]}")]
    for command in commands:
        lines.append(TranscriptLine(Direction.SENT, command))
        lines.append(TranscriptLine(Direction.RECEIVED, "250 ok"))
    return label, tuple(lines)


REPORT = ScanReport(
    host="127.0.0.1", addresses=("127.0.0.1",), domain="mailtui.test",
    groups=("smtp", "enum", "spoof", "imap_pop"), started_at=START, duration=1.2, findings=(),
    probes=(
        ProbeRecord("smtp", "127.0.0.1", 0.0, 0.9, Outcome.FINISHED, transcripts=(
            transcript("SMTP dialogue 127.0.0.1:25", "EHLO mailtui.invalid", "MAIL FROM:<>", "QUIT"),
            transcript("SMTP dialogue 127.0.0.1:587", "EHLO mailtui.invalid", "STARTTLS", "EHLO mailtui.invalid",
                       "MAIL FROM:<>", "RCPT TO:<x@example.org>", "RSET", "QUIT"),
        )),
        ProbeRecord("enum", "127.0.0.1:25", 0.0, 0.8, Outcome.FINISHED, transcripts=(
            transcript("enumeration 127.0.0.1:25", "EHLO mailtui.invalid", "VRFY postmaster", "VRFY nobody-x",
                       "EXPN postmaster", "EXPN nobody-x", "MAIL FROM:<>", "RCPT TO:<postmaster@mailtui.test>",
                       "RCPT TO:<nobody-x@mailtui.test>", "RSET", "QUIT"),
        )),
        ProbeRecord("spoof", "127.0.0.1:25", 0.0, 0.8, Outcome.FINISHED, transcripts=(
            transcript("spoofing 127.0.0.1:25", "EHLO mailtui.invalid", "MAIL FROM:<postmaster@mailtui.test>",
                       "RCPT TO:<postmaster@mailtui.test>", "RSET", "QUIT"),
        )),
        ProbeRecord("imap_pop", "127.0.0.1", 0.0, 0.5, Outcome.FINISHED, transcripts=(
            transcript("IMAP 127.0.0.1:143", "t1 CAPABILITY", "t2 LOGOUT"),
        )),
    ),
)

LOG = """\
Nov 29 17:31:17 mail postfix/smtpd[7411]: connect from outsider.example.test[127.0.0.2]
Nov 29 17:31:17 mail postfix/smtpd[7398]: connect from outsider.example.test[127.0.0.2]
Nov 29 17:31:17 mail postfix/smtpd[7402]: connect from mail.mailtui.test[127.0.0.1]
Nov 29 17:31:18 mail postfix/smtpd[7411]: NOQUEUE: reject: VRFY from outsider.example.test[127.0.0.2]: 550 5.1.1 <nobody-x>: Recipient address rejected: User unknown; to=<nobody-x> proto=ESMTP helo=<mailtui.invalid>
Nov 29 17:31:18 mail postfix/smtpd[7398]: NOQUEUE: reject: RCPT from outsider.example.test[127.0.0.2]: 554 5.7.1 <postmaster@mailtui.test>: Sender address rejected: Mail from mailtui.test must be sent through submission (port 587) with a login; from=<postmaster@mailtui.test> to=<postmaster@mailtui.test> proto=ESMTP helo=<mailtui.invalid>
Nov 29 17:31:18 mail postfix/smtpd[7411]: disconnect from outsider.example.test[127.0.0.2] ehlo=1 mail=1 rcpt=1/2 rset=1 vrfy=1/2 quit=1 unknown=0/2 commands=5/10
Nov 29 17:31:18 mail postfix/smtpd[7398]: disconnect from outsider.example.test[127.0.0.2] ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5
Nov 29 17:31:18 mail postfix/submission/smtpd[7400]: connect from outsider.example.test[127.0.0.2]
Nov 29 17:31:18 mail postfix/submission/smtpd[7400]: disconnect from outsider.example.test[127.0.0.2] ehlo=2 starttls=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=6/7
Nov 29 17:31:18 mail postfix/smtpd[7402]: disconnect from mail.mailtui.test[127.0.0.1] ehlo=1 quit=1 commands=2
Nov 29 17:31:18 imap-login: Info: Aborted login by logging out (no auth attempts in 0 secs): user=<>, rip=127.0.0.2, lip=127.0.0.1, session=<9fUXn2thAMR/AAAC>
Nov 29 17:45:00 mail postfix/smtpd[7411]: connect from outsider.example.test[127.0.0.2]
"""


def events(text: str = LOG):
    now = _dt.datetime(2026, 11, 29, 18, 0, tzinfo=_dt.timezone.utc)
    return LogClassifier(parser=RecordParser(now=now)).classify_lines(text.splitlines())


def test_fingerprints_count_commands_like_postfix():
    enum = transcript_fingerprints(REPORT.probes[1])
    assert enum == [postfix_fingerprint(
        "disconnect from outsider.example.test[127.0.0.2] ehlo=1 mail=1 rcpt=1/2 rset=1 vrfy=1/2 quit=1 "
        "unknown=0/2 commands=5/10")]
    assert postfix_fingerprint("connect from x[127.0.0.2]") is None


def test_log_lines_go_to_the_probe_that_sent_those_commands():
    logs = match_log_lines(REPORT, events(), ["127.0.0.2"])
    enum = [m.line for m in logs.for_group("enum")]
    spoof = [m.line for m in logs.for_group("spoof")]
    smtp = [m.line for m in logs.for_group("smtp")]
    assert len(enum) == 3 and all("[7411]" in line for line in enum)
    assert len(spoof) == 3 and all("[7398]" in line for line in spoof)
    assert any("Sender address rejected" in line for line in spoof)
    assert [m.shared_with for m in logs.for_group("enum")] == [(), (), ()]
    # submission (587) lines belong to the only probe that talked to 587
    assert len(smtp) == 2 and all("submission" in line for line in smtp)
    assert [m.line for m in logs.for_group("imap_pop")] == [LOG.splitlines()[10]]
    # 127.0.0.1's session and the line a quarter of an hour later are nobody's
    everything = [m.line for ms in logs.by_group.values() for m in ms] + [m.line for m in logs.unmatched]
    assert not any("127.0.0.1]" in line or "17:45:00" in line for line in everything)


def test_ambiguous_sessions_are_listed_under_every_candidate():
    # A session on port 25 whose commands fit no transcript: smtp, enum and spoof all may have caused it.
    text = ("Nov 29 17:31:18 mail postfix/smtpd[9]: connect from outsider.example.test[127.0.0.2]\n"
            "Nov 29 17:31:18 mail postfix/smtpd[9]: disconnect from outsider.example.test[127.0.0.2] ehlo=1 "
            "commands=1\n")
    logs = match_log_lines(REPORT, events(text), ["127.0.0.2"])
    assert set(logs.by_group) == {"smtp", "enum", "spoof"}
    assert logs.for_group("enum")[0].shared_with == ("smtp", "spoof")


def test_no_lines_from_another_address():
    logs = match_log_lines(REPORT, events(), ["192.0.2.9"])
    assert logs.total == 0 and logs.unmatched == ()


def test_scanner_addresses():
    assert scanner_addresses("127.0.0.2", ["127.0.0.1"]) == ("127.0.0.2",)
    assert scanner_addresses(None, ["127.0.0.1"]) == ("127.0.0.1", "::1")
    assert scanner_addresses(None, ["192.0.2.1"], ["198.51.100.7"]) == ("198.51.100.7",)


# ------------------------------------------------------------------- profile scan fields
def test_profile_scan_options_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    profile = ServerProfile("lab", "127.0.0.1", port=2222, scan_source="127.0.0.2",
                            scan_ca_file="/var/lib/mailtui-lab/tls/ca.crt", scan_domain="mailtui.test",
                            scan_dkim_selector="lab", scan_blocklists="dnsbl.test, bl.example.org")
    save_config(Config(path=path).with_server(profile))
    assert "[servers.lab.scan]" in path.read_text()
    assert load_config(path).server("lab") == profile


def test_profile_without_scan_table_has_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[servers.old]\nhost = "mail.example.org"\n')
    profile = load_config(path).server("old")
    assert profile is not None and profile.scan_source is None and profile.scan_domain is None
    save_config(load_config(path))
    assert "scan" not in path.read_text()


def test_profile_scan_source_must_be_an_address(tmp_path):
    from mailtui.core.profiles import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[servers.x]\nhost = "mail.example.org"\n[servers.x.scan]\nsource = "not-an-ip"\n')
    with pytest.raises(ConfigError, match=r"servers\.x\.scan\.source"):
        load_config(path)


def test_profile_scan_blocklists_are_zone_names(tmp_path):
    from mailtui.core.profiles import ConfigError, blocklist_zones

    assert blocklist_zones(" zen.spamhaus.org,bl.spamcop.net  dnsbl.test ") == (
        "zen.spamhaus.org", "bl.spamcop.net", "dnsbl.test")
    path = tmp_path / "config.toml"
    path.write_text('[servers.x]\nhost = "mail.example.org"\n[servers.x.scan]\nblocklists = "zen.spamhaus.org; rm -rf"\n')
    with pytest.raises(ConfigError, match=r"servers\.x\.scan\.blocklists"):
        load_config(path)


# ------------------------------------------------------------------------ outside check
def test_scan_checks_for_is_the_reverse_of_the_table():
    from mailtui.core.join import scan_checks_for, scan_groups_for

    assert scan_checks_for("smtp.vrfy") == {"enum.vrfy": None}
    assert scan_checks_for("tls.dovecot_ciphers") == {"tls.ciphers": frozenset({110, 143, 993, 995})}
    assert scan_checks_for("tls.submission_protocols")["tls.versions"] == frozenset({465, 587})
    assert scan_groups_for("tls.cert_hostname") == ("tls",)
    assert scan_groups_for("smtp.mynetworks") == ()


async def test_outside_verifier_judges_only_the_matching_findings():
    from mailtui.core.join import outside_verifier
    from mailtui.core.scan.options import ScanOptions

    load_all()
    calls = []

    def report(*findings):
        async def fake(options):
            calls.append(options)
            return ScanReport("h", ("127.0.0.1",), None, options.groups, 0.0, 0.1, tuple(findings))
        return fake

    options = ScanOptions(host="127.0.0.1", source="127.0.0.2", resolver="127.0.0.1:5353")
    cipher = CHECKS["tls.ciphers"]
    # one cipher policy on both sides: INFO on 25 agrees, the Dovecot listener is not this
    # rule's, but a WARN left on 587 after the Postfix fix disagrees
    ok, detail = await outside_verifier(options, scan_function=report(
        cipher.finding(Status.INFO, "anonymous suites (opportunistic)", target="127.0.0.1:25"),
        cipher.finding(Status.PASS, "good", target="127.0.0.1:587"),
        cipher.finding(Status.FAIL, "null", target="127.0.0.1:993")))("tls.postfix_ciphers")
    assert ok is True and calls[-1].groups == ("tls",) and set(calls[-1].ports) == {25, 465, 587}
    ok, detail = await outside_verifier(options, scan_function=report(
        cipher.finding(Status.WARN, "phase-out", target="127.0.0.1:587")))("tls.postfix_ciphers")
    assert ok is False and "tls.ciphers 127.0.0.1:587" in detail
    ok, detail = await outside_verifier(options, scan_function=report(
        cipher.finding(Status.FAIL, "null", target="127.0.0.1:993")))("tls.dovecot_ciphers")
    assert ok is False and "tls.ciphers 127.0.0.1:993" in detail
    # a banner WARN is the weakness itself
    banner = CHECKS["smtp.banner_disclosure"]
    ok, _ = await outside_verifier(options, scan_function=report(
        banner.finding(Status.WARN, "Postfix 3.7", target="127.0.0.1:25")))("smtp.banner")
    assert ok is False
    # nothing answered: skipped with the reason
    blocked = CHECKS["enum.blocked"]
    ok, detail = await outside_verifier(options, scan_function=report(
        blocked.finding(Status.ERROR, "connection refused", target="127.0.0.1:25")))("smtp.vrfy")
    assert ok is None and "connection refused" in detail
    # from a trusted address the relay verdict would be the insider's: skipped, said so
    trusted = ScanOptions(host="127.0.0.1", resolver="127.0.0.1:5353")
    ok, detail = await outside_verifier(trusted, trusted_networks=("127.0.0.0/8",),
                                        scan_function=report())("smtp.open_relay")
    assert ok is None and "mynetworks" in detail
    ok, detail = await outside_verifier(options, scan_function=report())("smtp.mynetworks")
    assert ok is None and "no outside probe" in detail
