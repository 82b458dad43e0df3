"""Relay, enumeration and spoofing verdicts from real replies (lab weak/hardened)."""

from mailtui.core.findings import Status
from mailtui.core.scan.enum import EnumOutcome, control_name, enumeration_finding, judge_enumeration
from mailtui.core.scan.relay import RelayOutcome, judge_relay_try, relay_findings, relay_forms, relay_verdict
from mailtui.core.scan.smtp import parse_reply
from mailtui.core.scan.spoof import judge_spoof


def r(line: str):
    return parse_reply([line])


def test_relay_forms_are_nmaps_sixteen():
    forms = relay_forms(domain="example.org", ip="127.0.0.1", srvname="mail.mailtui.test")
    assert len(forms) == 16
    assert (forms[0].mail_from, forms[0].rcpt_to) == ("", "relaytest@example.org")
    assert forms[4].rcpt_to == "relaytest%example.org@[127.0.0.1]"  # percent hack
    assert forms[6].rcpt_to == '"relaytest@example.org"'  # quoted local part
    assert forms[11].rcpt_to == "@[127.0.0.1]:relaytest@example.org"  # source route
    assert forms[13].rcpt_to == "example.org!relaytest"  # bang path
    assert forms[15].rcpt_to == "example.org!relaytest@mail.mailtui.test"
    assert all(f.mail_from == "antispam@[127.0.0.1]" for f in forms[3:])
    assert len({f.rcpt_to for f in forms}) >= 13


def test_relay_verdicts():
    forms = relay_forms(domain="example.org", ip="127.0.0.1", srvname="mail.mailtui.test")
    ok_mail = r("250 2.1.0 Ok")
    denied = r("554 5.7.1 <relaytest@example.org>: Relay access denied")
    relayed = judge_relay_try(forms[0], ok_mail, r("250 2.1.5 Ok"))
    refused = judge_relay_try(forms[1], ok_mail, denied)
    mail_refused = judge_relay_try(forms[2], r("553 5.1.8 <antispam@mail>: Sender address rejected"), None)
    assert relayed.outcome == RelayOutcome.RELAYED
    assert refused.outcome == RelayOutcome.REFUSED
    assert mail_refused.outcome == RelayOutcome.REFUSED
    v = relay_verdict([relayed, refused, mail_refused])
    assert v.open_relay and len(v.relayed) == 1
    f = relay_findings(v, "127.0.0.1:25")
    assert f[0].status == Status.FAIL and f[0].fix == "smtp.open_relay"
    closed = relay_verdict([refused, mail_refused])
    assert not closed.open_relay
    assert relay_findings(closed, "t")[0].status == Status.PASS


def test_relay_all_blocked_is_error_not_pass():
    forms = relay_forms(domain="example.org", ip="127.0.0.1", srvname="x")
    tries = [judge_relay_try(f, None, None) for f in forms]
    findings = relay_findings(relay_verdict(tries), "t")
    assert [f.status for f in findings] == [Status.ERROR]


def test_enumeration_vrfy_enabled_postfix():
    v = judge_enumeration(
        "VRFY",
        r("252 2.0.0 postmaster@mailtui.test"),
        r("550 5.1.1 <mailtui-nouser-x@mailtui.test>: Recipient address rejected: User unknown in virtual mailbox table"),
    )
    assert v.outcome == EnumOutcome.ENUMERABLE
    assert enumeration_finding(v, "t").status == Status.FAIL


def test_enumeration_vrfy_disabled_and_expn_unknown():
    assert judge_enumeration("VRFY", r("502 5.5.1 VRFY command is disabled"), r("502 5.5.1 VRFY command is disabled")).outcome == EnumOutcome.DISABLED
    assert judge_enumeration("EXPN", r("500 5.5.2 Error: command not recognized"), r("500 5.5.2 Error: command not recognized")).outcome == EnumOutcome.DISABLED


def test_catch_all_is_recognised_not_enumerable():
    v = judge_enumeration("RCPT", r("250 2.1.5 Ok"), r("250 2.1.5 Ok"))
    assert v.outcome == EnumOutcome.CATCH_ALL
    assert enumeration_finding(v, "t").status == Status.INFO
    # Exchange-style "cannot verify" for everyone is not enumeration either.
    assert judge_enumeration("VRFY", r("252 2.1.5 Cannot VRFY user"), r("252 2.1.5 Cannot VRFY user")).outcome == EnumOutcome.CATCH_ALL


def test_rcpt_distinction_is_information_and_greylisting_inconclusive():
    v = judge_enumeration("RCPT", r("250 2.1.5 Ok"), r("550 5.1.1 User unknown"))
    assert v.outcome == EnumOutcome.ENUMERABLE and enumeration_finding(v, "t").status == Status.INFO
    g = judge_enumeration("RCPT", r("450 4.2.0 Greylisted"), r("450 4.2.0 Greylisted"))
    assert g.outcome == EnumOutcome.INCONCLUSIVE


def test_control_name_is_random():
    a, b = control_name("mailtui.test"), control_name("mailtui.test")
    assert a != b and a.endswith("@mailtui.test") and a.startswith("mailtui-nouser-")


def test_spoof_verdicts():
    assert judge_spoof(r("250 2.1.0 Ok"), r("250 2.1.5 Ok")).accepted is True
    hardened = judge_spoof(
        r("250 2.1.0 Ok"),
        r("554 5.7.1 <postmaster@mailtui.test>: Sender address rejected: Mail from mailtui.test must be sent through submission"),
    )
    assert hardened.accepted is False and hardened.stage == "RCPT"
    assert judge_spoof(r("553 5.7.1 Sender rejected"), None).accepted is False
    assert judge_spoof(r("250 Ok"), r("451 4.3.0 try later")).accepted is None
