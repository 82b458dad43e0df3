"""Exim and sendmail: parsing their log formats and classifying hostile clients.

Lines are written for these tests in the formats Exim and sendmail log (Exim's spec,
chapter "Log files", and the ``sm_syslog`` calls in sendmail's srvrsmtp.c / usersmtp.c),
with documentation addresses. fail2ban's annotated samples are exercised in
``tests/conformance``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mailtui.core.logs import KIND_INFO, EventKind, LogClassifier, RecordParser, classify, parse_line

K = EventKind
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=dt.timezone.utc)


def ev(line: str):
    return classify(parse_line(line, now=NOW))


# -- records ---------------------------------------------------------------------------------


def test_exim_mainlog_line_is_program_exim_with_pid():
    r = parse_line("2026-11-28 09:14:02 [4711] H=(bot) [203.0.113.9] F=<a@b.test> rejected RCPT <x@y.test>: relay not permitted",
                   now=NOW)
    assert (r.program, r.pid, r.host) == ("exim", 4711, "")
    assert r.time == dt.datetime(2026, 11, 28, 9, 14, 2, tzinfo=dt.timezone.utc)
    assert r.message.startswith("H=(bot) [203.0.113.9]")


def test_exim_mainlog_without_pid_and_with_message_id():
    r = parse_line("2026-11-28 09:14:02 2aBcDe-000FgH-1x <= alice@example.org H=mx.example.org [198.51.100.4] P=esmtps S=2048",
                   now=NOW)
    assert (r.program, r.pid) == ("exim", None)
    assert r.message.startswith("2aBcDe-000FgH-1x <= ")


def test_syslog_ng_iso_like_date_with_exim_tag():
    r = parse_line("2026-11-28 09:14:02 mx1 exim[812]: [812] no MAIL in SMTP connection from [192.0.2.50] D=1s", now=NOW)
    assert (r.host, r.program, r.pid) == ("mx1", "exim", 812)


@pytest.mark.parametrize("line, program", [
    # Dovecot's own log_path keeps its "prog:" tag; an indented line after the date is not Exim's.
    ("2026-11-28 09:14:02 imap-login: Info: Disconnected (no auth attempts in 0 secs): user=<>", "imap-login"),
    ("2026-11-28 09:14:02   smtp: someone [192.0.2.8] authentication failure using internet password", ""),
    ("2026-11-28 09:14:02 [sshd] Accepted publickey for alice", "sshd"),
])
def test_other_dated_formats_are_not_exim(line, program):
    assert parse_line(line, now=NOW).program == program


def test_program_hint_wins_over_exim_guess():
    r = parse_line("2026-11-28 09:14:02 something happened here", now=NOW, program_hint="myapp")
    assert r.program == "myapp"


def test_bsd_syslog_facility_priority_before_host():
    r = parse_line("Nov 28 10:00:00 <mail.info> relay sm-mta[512]: 5ASA0012345678: from=<a@b.test>, size=10, class=0, "
                   "nrcpts=1, proto=ESMTP, daemon=MTA, relay=[192.0.2.7]", now=NOW)
    assert (r.host, r.program, r.pid) == ("relay", "sm-mta", 512)


# -- Exim --------------------------------------------------------------------------------------

# (line, kind, ip, remote_host)
EXIM_CASES = [
    ("2026-11-28 09:00:01 login authenticator failed for (win-pc) [203.0.113.10]: 535 Incorrect authentication data",
     K.AUTH_LOGIN_FAILED, "203.0.113.10", "win-pc"),
    ("2026-11-28 09:00:02 [991] dovecot_plain authenticator failed for mx.bad.test (helo.bad.test) [203.0.113.11]:50123 "
     "I=[192.0.2.1]:587 Ci=991: 535 Incorrect authentication data (set_id=info@example.org)",
     K.AUTH_LOGIN_FAILED, "203.0.113.11", "mx.bad.test"),
    ("2026-11-28 09:00:03 plain authenticator failed for ([10.0.0.5]) [2001:db8::25]: 535 Incorrect authentication data",
     K.AUTH_LOGIN_FAILED, "2001:db8::25", "[10.0.0.5]"),
    ("2026-11-28 09:00:04 H=(friend) [203.0.113.12]:4411 I=[192.0.2.1]:25 F=<spam@bad.test> rejected RCPT <x@elsewhere.test>: relay not permitted",
     K.REJECT_RELAY, "203.0.113.12", "friend"),
    ("2026-11-28 09:00:05 H=bad.test [203.0.113.13] F=<a@bad.test> rejected RCPT <nobody@example.org>: Unknown user",
     K.REJECT_UNKNOWN_USER, "203.0.113.13", "bad.test"),
    ("2026-11-28 09:00:06 H=bad.test [203.0.113.14] F=<a@bad.test> rejected RCPT <b@example.org>: Unrouteable address",
     K.REJECT_UNKNOWN_USER, "203.0.113.14", "bad.test"),
    ("2026-11-28 09:00:07 H=bad.test [203.0.113.15] F=<a@nowhere.test> rejected RCPT <b@example.org>: Sender verify failed",
     K.REJECT_SENDER, "203.0.113.15", "bad.test"),
    ("2026-11-28 09:00:08 H=(bot) [203.0.113.16] sender verify fail for <a@nowhere.test>: Unrouteable address",
     K.REJECT_SENDER, "203.0.113.16", "bot"),
    ("2026-11-28 09:00:09 [77] H=(bot) [203.0.113.17]:3000 I=[192.0.2.1]:25 F=<a@bad.test> rejected RCPT <b@example.org>: "
     "Rejected because 203.0.113.17 is in a black list at bl.example.net",
     K.REJECT_RBL, "203.0.113.17", "bot"),
    ("2026-11-28 09:00:10 [78] SMTP protocol synchronization error (input sent without waiting for greeting): "
     "rejected connection from H=[203.0.113.18]:4242 I=[192.0.2.1]:25 input=\"EHLO x\\r\\n\"",
     K.SMTP_PIPELINING, "203.0.113.18", None),
    ("2026-11-28 09:00:11 [79] SMTP protocol synchronization error (next input sent too soon: pipelining was not advertised): "
     "rejected \"MAIL FROM:<a@b.test>\" H=mx.bad.test [203.0.113.19]:4243 I=[192.0.2.1]:25 next input=\"RCPT TO:<c@d.test>\\r\\n\"",
     K.SMTP_PIPELINING, "203.0.113.19", "mx.bad.test"),
    ("2026-11-28 09:00:12 SMTP call from (bot) [203.0.113.20]:5000 I=[192.0.2.1]:25 dropped: too many nonmail commands (last was \"NOOP\")",
     K.SMTP_TOO_MANY_ERRORS, "203.0.113.20", "bot"),
    ("2026-11-28 09:00:13 SMTP call from [203.0.113.21] dropped: too many syntax or protocol errors (last command was \"XYZ\")",
     K.SMTP_TOO_MANY_ERRORS, "203.0.113.21", None),
    ("2026-11-28 09:00:14 SMTP protocol error in \"AUTH PLAIN\" H=(bot) [203.0.113.22]:6000 I=[192.0.2.1]:25 AUTH command used when not advertised",
     K.SMTP_NON_SMTP_COMMAND, "203.0.113.22", "bot"),
    ("2026-11-28 09:00:15 [80] no MAIL in SMTP connection from (scanner) [203.0.113.23]:7000 I=[192.0.2.1]:25 D=3s C=EHLO,QUIT",
     K.SMTP_LOST_CONNECTION, "203.0.113.23", "scanner"),
    ("2026-11-28 09:00:16 [81] 2aBcDe-000FgH-2y SMTP connection from (bot) [203.0.113.24]:7001 I=[192.0.2.1]:25 closed by DROP in ACL",
     K.REJECT_CLIENT, "203.0.113.24", "bot"),
    ("2026-11-28 09:00:17 H=[203.0.113.25]:7002 dropped by 'connect' ACL: listed in local ban list",
     K.REJECT_CLIENT, "203.0.113.25", None),
    ("2026-11-28 09:00:18 no host name found for IP address 203.0.113.26",
     K.SMTP_HOSTNAME_MISMATCH, "203.0.113.26", None),
    ("2026-11-28 09:00:19 no IP address found for host fake.bad.test (during SMTP connection from [203.0.113.27]:7003 I=[192.0.2.1]:25)",
     K.SMTP_HOSTNAME_MISMATCH, "203.0.113.27", "fake.bad.test"),
    ("2026-11-28 09:00:20 2aBcDe-000FgH-3z F=<a@bad.test> H=(bot) [203.0.113.28]:7004 I=[192.0.2.1]:25 P=esmtp rejected by local_scan(): spam score too high",
     K.REJECT_CONTENT, "203.0.113.28", "bot"),
    ("2026-11-28 09:00:21 [82] 2aBcDe-000FgH-4a H=bad.test [203.0.113.29]:7005 I=[192.0.2.1]:25 F=<a@bad.test> rejected after DATA: "
     "This message contains a virus (Eicar-Test-Signature).",
     K.REJECT_CONTENT, "203.0.113.29", "bad.test"),
    ("2026-11-28 09:00:22 2aBcDe-000FgH-5b SA: Action: silently tossed message: score=40.1 required=5.0 trigger=30.0 "
     "(scanned in 2/2 secs | Message-Id: x@bad.test). From <a@bad.test> (host=bad.test [203.0.113.30]) for b@example.org",
     K.REJECT_CONTENT, "203.0.113.30", "bad.test"),
    # journald copy: Exim's own date inside the message of a syslog-tagged line
    ("mx exim[5]: 2026-11-28 09:00:23 plain_server authenticator failed for (x) [203.0.113.31]: 535 Incorrect authentication data",
     K.AUTH_LOGIN_FAILED, "203.0.113.31", "x"),
]


@pytest.mark.parametrize("line, kind, ip, host", EXIM_CASES)
def test_exim_hostile_lines(line, kind, ip, host):
    e = ev(line)
    assert (e.kind, e.remote_ip, e.remote_host) == (kind, ip, host)
    assert e.attack is True
    assert e.service == "exim"


def test_exim_auth_failure_details():
    e = ev("2026-11-28 09:00:02 [991] 2aBcDe-000FgH-1x dovecot_login authenticator failed for (pc) [203.0.113.11]:50123: "
           "535 Incorrect authentication data (set_id=bob@example.org)")
    assert e.user == "bob@example.org"
    assert e.queue_id == "2aBcDe-000FgH-1x"
    assert e.detail("mechanism") == "dovecot_login"


@pytest.mark.parametrize("line, kind", [
    ("2026-11-28 09:00:30 2aBcDe-000FgH-6c <= alice@example.org H=mx.example.org [198.51.100.4] P=esmtps S=2048", K.OTHER),
    ("2026-11-28 09:00:31 2aBcDe-000FgH-6c Completed", K.OTHER),
    ("2026-11-28 09:00:32 SMTP connection from mx.example.org [198.51.100.4]:25000 I=[192.0.2.1]:25 (TCP/IP connection count = 1)", K.SMTP_CONNECT),
    ("2026-11-28 09:00:33 SMTP connection from (pc) [198.51.100.5]:25001 lost D=2s", K.SMTP_LOST_CONNECTION),
    ("2026-11-28 09:00:34 H=mx.example.org [198.51.100.6] F=<a@example.net> temporarily rejected RCPT <b@example.org>: greylisted",
     K.REJECT_POLICY),
])
def test_exim_routine_lines_are_not_attacks(line, kind):
    e = ev(line)
    assert e.kind is kind
    assert e.attack is False


def test_exim_forged_host_in_quoted_command_is_ignored():
    # The client controls the quoted command; Exim's own H= comes after it.
    e = ev("2026-11-28 09:01:00 SMTP protocol error in \"auth login\" H=(x) [198.51.100.99]\" H=(bot) [203.0.113.40] "
           "AUTH command used when not advertised")
    assert (e.remote_ip, e.remote_host, e.attack) == ("203.0.113.40", "bot", True)


def test_exim_helo_with_spaces_does_not_frame_an_address():
    # Exim refuses such a HELO by default; if one is logged, no address is guessed from it.
    e = ev("2026-11-28 09:01:01 login authenticator failed for (a) [198.51.100.99]) [203.0.113.41]: 535 Incorrect authentication data")
    assert e.remote_ip != "198.51.100.99"


def test_exim_invalid_address_is_not_an_ip_and_text_is_sanitized():
    e = ev("2026-11-28 09:01:02 login authenticator failed for (\x1b[31mred) [999.1.2.3]: 535 Incorrect authentication data "
           "(set_id=ev\x1b]0;title\x07il)")
    assert e.remote_ip is None
    assert "\x1b" not in (e.user or "") and "\x07" not in (e.user or "")


# -- sendmail ------------------------------------------------------------------------------------

SENDMAIL_CASES = [
    ("Nov 28 10:00:01 relay sm-mta[101]: 5ASA0001000101: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): "
     "authentication failure: checkpass failed, user=alice, relay=bad.test [203.0.113.50] (may be forged)",
     K.AUTH_LOGIN_FAILED, "203.0.113.50", "bad.test"),
    ("Nov 28 10:00:02 relay sendmail[102]: 5ASA0002000102: AUTH failure (PLAIN): user not found (-20) SASL(-13): "
     "user not found: unable to canonify user and get auxprops, user=nobody, relay=[203.0.113.51]",
     K.AUTH_LOGIN_FAILED, "203.0.113.51", None),
    ("Nov 28 10:00:03 relay sm-mta[103]: 5ASA0003000103: bad.test [203.0.113.52]: possible SMTP attack: command=AUTH, count=5",
     K.AUTH_LOGIN_FAILED, "203.0.113.52", "bad.test"),
    ("Nov 28 10:00:04 relay sm-mta[104]: 5ASA0004000104: ruleset=check_rcpt, arg1=<x@elsewhere.test>, relay=bad.test [203.0.113.53], "
     "reject=550 5.7.1 <x@elsewhere.test>... Relaying denied",
     K.REJECT_RELAY, "203.0.113.53", "bad.test"),
    ("Nov 28 10:00:05 relay sm-mta[105]: 5ASA0005000105: ruleset=check_rcpt, arg1=<nobody@example.org>, relay=[203.0.113.54], "
     "reject=550 5.1.1 <nobody@example.org>... User unknown",
     K.REJECT_UNKNOWN_USER, "203.0.113.54", None),
    ("Nov 28 10:00:06 relay sm-mta[106]: 5ASA0006000106: ruleset=check_mail, arg1=<a@nowhere.test>, relay=[203.0.113.55] (may be forged), "
     "reject=553 5.1.8 <a@nowhere.test>... Domain of sender address a@nowhere.test does not exist",
     K.REJECT_SENDER, "203.0.113.55", None),
    ("Nov 28 10:00:07 relay sm-mta[107]: 5ASA0007000107: ruleset=check_rcpt, arg1=<b@example.org>, relay=[203.0.113.56], "
     "reject=550 5.7.1 <b@example.org>... Rejected: 203.0.113.56 listed at bl.example.net",
     K.REJECT_RBL, "203.0.113.56", None),
    ("Nov 28 10:00:08 relay sm-mta[108]: ruleset=check_relay, arg1=bad.test, arg2=203.0.113.57, relay=bad.test [203.0.113.57], "
     "reject=421 4.3.2 Connection rate limit exceeded.",
     K.SMTP_RATE_LIMIT, "203.0.113.57", "bad.test"),
    ("Nov 28 10:00:09 relay sm-mta[109]: 5ASA0009000109: rejecting commands from bad.test [203.0.113.58] due to pre-greeting traffic after 1 seconds",
     K.SMTP_PIPELINING, "203.0.113.58", "bad.test"),
    ("Nov 28 10:00:10 relay sm-mta[110]: 5ASA0010000110: bad.test [203.0.113.59] (may be forged) did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA",
     K.SMTP_LOST_CONNECTION, "203.0.113.59", "bad.test"),
    ("Nov 28 10:00:11 relay sm-mta[111]: 5ASA0011000111: [IPv6:2001:db8::59] did not issue MAIL/EXPN/VRFY/ETRN during connection to IPv6",
     K.SMTP_LOST_CONNECTION, "2001:db8::59", None),
    ("Nov 28 10:00:12 relay sm-mta[112]: 5ASA0012000112: [203.0.113.60]: VRFY postmaster [rejected]",
     K.REJECT_UNKNOWN_USER, "203.0.113.60", None),
    ("Nov 28 10:00:13 relay sm-mta[113]: 5ASA0013000113: lost input channel from bad.test [203.0.113.61] to MTA after mail",
     K.SMTP_LOST_CONNECTION, "203.0.113.61", "bad.test"),
]


@pytest.mark.parametrize("line, kind, ip, host", SENDMAIL_CASES)
def test_sendmail_hostile_lines(line, kind, ip, host):
    e = ev(line)
    assert (e.kind, e.remote_ip, e.remote_host) == (kind, ip, host)
    assert e.attack is True
    assert e.service == "sendmail"


def test_sendmail_auth_uses_the_last_relay_not_an_injected_one():
    e = ev("Nov 28 10:01:00 relay sendmail[120]: 5ASA0020000120: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): "
           "authentication failure: checkpass failed, user=x, relay=[198.51.100.99], relay=[203.0.113.70] (may be forged)")
    assert e.remote_ip == "203.0.113.70"
    assert e.detail("mechanism") == "LOGIN"


def test_sendmail_lost_input_after_data_is_not_counted():
    e = ev("Nov 28 10:01:01 relay sm-mta[121]: 5ASA0021000121: lost input channel from mx.example.net [198.51.100.8] to MTA after data")
    assert (e.kind, e.attack) == (K.SMTP_LOST_CONNECTION, False)


def test_sendmail_unknown_recipients_are_counted_on_the_from_line_of_the_same_message():
    lines = [
        "Nov 28 10:02:00 relay sm-mta[130]: 5ASA0030000130: <ghost1@example.org>... User unknown",
        "Nov 28 10:02:00 relay sm-mta[130]: 5ASA0030000130: <ghost2@example.org>... No such user here",
        "Nov 28 10:02:01 relay sm-mta[130]: 5ASA0030000130: from=<a@bad.test>, size=0, class=0, nrcpts=0, proto=ESMTP, "
        "daemon=MTA, relay=bad.test [203.0.113.80]",
        # another message of the same client: nothing unknown was logged for it
        "Nov 28 10:02:02 relay sm-mta[130]: 5ASA0031000131: from=<a@bad.test>, size=0, class=0, nrcpts=0, proto=ESMTP, "
        "daemon=MTA, relay=bad.test [203.0.113.80]",
    ]
    events = LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines)
    assert [e.attack for e in events] == [False, False, True, False]
    assert events[2].kind is K.REJECT_UNKNOWN_USER
    assert (events[2].remote_ip, events[2].remote_host) == ("203.0.113.80", "bad.test")
    assert events[2].detail("unknown_recipients") == "2"
    assert events[3].kind is K.QUEUE_RECEIVED


def test_sendmail_context_also_via_classify_record():
    parser = RecordParser(now=NOW)
    clf = LogClassifier(parser=parser)
    clf.classify_record(parser.parse("Nov 28 10:03:00 relay sendmail[140]: 5ASA0040000140: <x@example.org>... User unknown"))
    e = clf.classify_record(parser.parse("Nov 28 10:03:00 relay sendmail[140]: 5ASA0040000140: from=<a@b.test>, size=0, "
                                         "class=0, nrcpts=0, proto=SMTP, daemon=MTA, relay=[203.0.113.81]"))
    assert (e.kind, e.attack, e.remote_ip) == (K.REJECT_UNKNOWN_USER, True, "203.0.113.81")


def test_sendmail_normal_delivery_line_is_not_an_attack():
    e = ev("Nov 28 10:04:00 relay sm-mta[150]: 5ASA0050000150: from=<alice@example.org>, size=812, class=0, nrcpts=1, "
           "msgid=<1@example.org>, proto=ESMTPS, daemon=MTA, relay=mx.example.org [198.51.100.10]")
    assert (e.kind, e.attack, e.remote_ip) == (K.QUEUE_RECEIVED, False, "198.51.100.10")


def test_sendmail_hostile_text_is_sanitized():
    e = ev("Nov 28 10:05:00 relay sm-mta[160]: 5ASA0060000160: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): "
           "authentication failure: checkpass failed, user=\x1b[2Jroot\u202e, relay=[203.0.113.90]")
    assert e.remote_ip == "203.0.113.90"
    assert "\x1b" not in e.user and "\u202e" not in e.user


# -- taxonomy --------------------------------------------------------------------------------------


def test_exim_and_sendmail_reuse_the_shared_kinds_with_mta_neutral_explanations():
    # No exim.*/sendmail.* kinds: their events are the same facts as Postfix's, told once.
    assert not [k for k in EventKind if k.value.startswith(("exim.", "sendmail."))]
    for kind, word in ((K.AUTH_LOGIN_FAILED, "Exim"), (K.SMTP_PIPELINING, "greeting"),
                       (K.SMTP_LOST_CONNECTION, "no MAIL"), (K.SMTP_NON_SMTP_COMMAND, "AUTH"),
                       (K.SMTP_TOO_MANY_ERRORS, "sendmail"), (K.REJECT_CONTENT, "local_scan")):
        assert word in KIND_INFO[kind].what


def test_sendmail_possible_attack_other_than_auth_is_too_many_errors():
    e = ev("Nov 28 10:06:00 relay sm-mta[170]: 5ASA0070000170: [203.0.113.91]: possible SMTP attack: command=RCPT, count=12")
    assert (e.kind, e.attack, e.remote_ip) == (K.SMTP_TOO_MANY_ERRORS, True, "203.0.113.91")


def test_exim_no_mail_records_the_last_command_as_stage():
    e = ev("2026-11-28 09:02:00 [83] no MAIL in SMTP connection from (x) [203.0.113.92]:7100 I=[192.0.2.1]:25 D=5s C=EHLO,AUTH,QUIT")
    assert (e.detail("stage"), e.detail("reason")) == ("QUIT", "no MAIL")


# -- hostile input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    "Nov 28 10:00:00 relay sm-mta[1]: 5ASA0001000101: from=<a>" + ", nrcpts=0, relay=[192.0.2.1]x" * 20000,
    "Nov 28 10:00:00 relay sm-mta[1]: 5ASA0001000101: AUTH failure (L): x" + ", user=a, relay=b" * 20000,
    "Nov 28 10:00:00 relay sm-mta[1]: 5ASA0001000101: ruleset=check_rcpt, arg1=" + ", relay=[192.0.2.1] (may be forged)" * 20000,
    "Nov 28 10:00:00 " + "<mail.info> " * 50000 + "relay sm-mta[1]: x",
    "2026-11-28 09:00:00 1VxHWD-000NuW-83 SA: Action: x" + "(host=" * 20000,
    "2026-11-28 09:00:00 login authenticator failed for (a) [192.0.2.1]: 535 x" + "(set_id=" * 20000,
    "2026-11-28 09:00:00 [1] SMTP protocol synchronization error" + " H=(a)" * 20000 + "x",
])
def test_long_hostile_lines_take_linear_time(line):
    import time

    start = time.perf_counter()
    LogClassifier(parser=RecordParser(now=NOW)).classify_lines([line])
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("line", [
    "2026-11-28 09:00:00,123 something else [9]: hello",  # a "," fraction: Python logging, not Exim
    "2026-11-28 25:99:00 login authenticator failed for (x) [192.0.2.1]: 535 Incorrect authentication data",
    "2026-11-28 09:00:001 login authenticator failed for (x) [192.0.2.1]: 535 Incorrect authentication data",
    "2026-11-28 09:00:00 8-09-19 leftover of a broken line",
])
def test_malformed_dated_lines_are_not_taken_for_exim(line):
    assert parse_line(line, now=NOW).program != "exim"
