"""SMTP reply/EHLO/banner parsing on real Postfix transcripts from the lab."""

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan.banner import parse_disclosure
from mailtui.core.scan.net import ProtocolViolation
from mailtui.core.scan.smtp import banner_finding, banner_name, parse_ehlo, parse_reply

POSTFIX_EHLO_WEAK = [
    "250-mail.mailtui.test",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-VRFY",
    "250-ETRN",
    "250-STARTTLS",
    "250-AUTH PLAIN LOGIN",
    "250-ENHANCEDSTATUSCODES",
    "250-8BITMIME",
    "250-DSN",
    "250-SMTPUTF8",
    "250 CHUNKING",
]


def test_parse_multiline_ehlo():
    reply = parse_reply(POSTFIX_EHLO_WEAK)
    assert reply.code == 250 and len(reply.lines) == 12
    info = parse_ehlo(reply)
    assert info.name == "mail.mailtui.test"
    assert info.has("STARTTLS") and info.has("VRFY") and info.has("auth")
    assert info.auth_mechanisms == ("PLAIN", "LOGIN")
    assert info.extensions["SIZE"] == "10240000"


def test_old_style_auth_equals_counts_as_auth():
    info = parse_ehlo(parse_reply(["250-mx.example.org Hello", "250-AUTH=LOGIN PLAIN", "250 HELP"]))
    assert info.has("AUTH")
    assert info.greeting == "Hello"


def test_hardened_ehlo_has_no_auth_before_tls():
    info = parse_ehlo(parse_reply(["250-mail.mailtui.test", "250-PIPELINING", "250-STARTTLS", "250 CHUNKING"]))
    assert not info.has("AUTH") and info.has("STARTTLS")


@pytest.mark.parametrize(
    "lines",
    [
        ["hello there"],
        ["250-first", "251 second"],  # code changes
        ["250 first", "250 second"],  # continuation markers wrong
        ["\x1b[2J250 ok"],
        [],
    ],
)
def test_garbage_replies_are_protocol_violations(lines):
    with pytest.raises(ProtocolViolation):
        parse_reply(lines)


def test_bare_code_is_a_reply():
    assert parse_reply(["250"]).code == 250


@pytest.mark.parametrize(
    "banner, software, version, os",
    [
        ("mail.mailtui.test ESMTP Postfix 3.7.11 (Debian/GNU)", "Postfix", "3.7.11", "Debian"),
        ("mail.mailtui.test ESMTP Postfix (Ubuntu)", "Postfix", None, "Ubuntu"),
        ("mail.mailtui.test ESMTP", None, None, None),
        ("mx.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 10:00:00 +0000", "Exim", "4.96", None),
        ("mx.example.org ESMTP Sendmail 8.15.2/8.15.2; Mon, 1 Jan 2024", "Sendmail", "8.15.2", None),
        ("EX01.corp.local Microsoft ESMTP MAIL Service, Version: 10.0.17763.1 ready", "Microsoft Exchange", "10.0.17763.1", None),
        ("Dovecot (Debian) ready.", "Dovecot", None, "Debian"),
        ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", "OpenSSH", "9.2p1", "Debian"),
        ("mail.example.org ESMTP ready at 192.168.10.20", None, None, None),
    ],
)
def test_banner_disclosure(banner, software, version, os):
    d = parse_disclosure(banner)
    assert (d.software, d.version, d.os) == (software, version, os)


def test_banner_finding_levels():
    weak = parse_reply(["220 mail.mailtui.test ESMTP Postfix 3.7.11 (Debian/GNU)"])
    hard = parse_reply(["220 mail.mailtui.test ESMTP"])
    named = parse_reply(["220 mail.mailtui.test ESMTP Postfix"])
    assert banner_finding(weak, "t").status == Status.WARN
    assert banner_finding(weak, "t").fix == "smtp.banner"
    assert banner_finding(hard, "t").status == Status.PASS
    assert banner_finding(named, "t").status == Status.INFO
    assert banner_name(weak) == "mail.mailtui.test"


def test_banner_evidence_is_sanitized():
    hostile = parse_reply(["220 evil\x1b]52;c;aGk=\x07 ESMTP Postfix 3.7.11"])
    f = banner_finding(hostile, "t")
    assert "\x1b" not in f.evidence and "\\x1b" in f.evidence
