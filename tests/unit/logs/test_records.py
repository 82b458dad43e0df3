"""Parsing raw lines into LogRecords: every format, year rollover, never an exception."""

from __future__ import annotations

import datetime as dt
import json

from mailtui.core.logs import RecordParser, parse_line

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_classic_syslog_from_the_lab_mail_log() -> None:
    r = parse_line("Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from mail.mailtui.test[127.0.0.1]", now=NOW)
    assert r.time == dt.datetime(2026, 11, 29, 15, 4, 54, tzinfo=UTC)
    assert (r.host, r.program, r.pid) == ("mail", "postfix/smtpd", 8745)
    assert r.message == "connect from mail.mailtui.test[127.0.0.1]"


def test_single_digit_day_with_one_or_two_spaces() -> None:
    two = parse_line("Dec  5 17:07:00 host sshd[1]: x", now=NOW)
    one = parse_line("Dec 5 17:07:00 host sshd[1]: x", now=NOW)
    # Dec 5 is after "now" (Nov 29): it was written last December.
    assert two.time == one.time == dt.datetime(2025, 12, 5, 17, 7, tzinfo=UTC)
    assert one.program == two.program == "sshd"


def test_december_line_read_in_january_is_last_year() -> None:
    january = dt.datetime(2027, 1, 2, 8, 0, tzinfo=UTC)
    assert parse_line("Dec 31 23:59:59 h p: m", now=january).time.year == 2026
    assert parse_line("Jan  2 07:00:00 h p: m", now=january).time.year == 2027


def test_rfc3339_rsyslog() -> None:
    r = parse_line("2026-11-29T14:34:53.123456+00:00 mx postfix/postscreen[77]: CONNECT from [192.0.2.1]:5 to [192.0.2.2]:25")
    assert r.time == dt.datetime(2026, 11, 29, 14, 34, 53, 123456, tzinfo=UTC)
    assert (r.host, r.program, r.pid) == ("mx", "postfix/postscreen", 77)


def test_dovecot_log_path_format_has_no_host() -> None:
    r = parse_line("Nov 29 15:05:01 imap-login: Info: Login: user=<alice@mailtui.test>, method=PLAIN, rip=127.0.0.2", now=NOW)
    assert (r.host, r.program, r.pid) == ("", "imap-login", None)
    assert r.message.startswith("Info: Login:")


def test_dovecot_mail_process_context() -> None:
    r = parse_line("Nov 29 15:05:01 imap(alice@mailtui.test)<9316><MW4VnmthM4V/AAAC>: Info: Disconnected: Logged out in=12", now=NOW)
    assert r.program == "imap"
    assert r.context == "(alice@mailtui.test)<9316><MW4VnmthM4V/AAAC>"


def test_journald_json_with_byte_array_message() -> None:
    entry = {"__REALTIME_TIMESTAMP": "1764427200000000", "_HOSTNAME": "mx", "SYSLOG_IDENTIFIER": "sshd",
             "_PID": "42", "MESSAGE": list(b"Invalid user \xff\x1b[2J from 192.0.2.9")}
    r = parse_line(json.dumps(entry))
    assert (r.host, r.program, r.pid) == ("mx", "sshd", 42)
    assert r.time == dt.datetime.fromtimestamp(1764427200, UTC)
    assert "\udcff" in r.message  # kept byte-exact via surrogateescape


def test_tai64n() -> None:
    r = parse_line("@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): rip=80.187.101.33")
    assert r.program == "imap-login"
    assert r.time is not None and r.time.year == 2010


def test_rfc5424_with_structured_data() -> None:
    r = parse_line('<38>1 2019-07-08T17:40:17.954167-04:00 h.example.com sshd 55555 - [tq a="1"][x@1 t="[b]"] Failed unknown for x from 192.0.2.2 port 5 ssh2')
    assert (r.host, r.program, r.pid) == ("h.example.com", "sshd", 55555)
    assert r.message.startswith("Failed unknown")


def test_journal_line_without_date_and_bare_daemon_log() -> None:
    r = parse_line("srv sshd[13709]: error: PAM: Authentication failure for x from 192.0.2.6")
    assert (r.time, r.host, r.program, r.pid) == (None, "srv", "sshd", 13709)
    bare = RecordParser(program_hint="sshd").parse("Connection closed by 127.0.0.1 port 38562 [preauth]")
    assert bare.program == "sshd" and bare.message.startswith("Connection closed")


def test_fail2ban_own_log() -> None:
    r = parse_line("2026-11-29 15:00:01,123 fail2ban.actions        [811]: NOTICE  [sshd] Ban 192.0.2.7")
    assert (r.program, r.pid) == ("fail2ban.actions", 811)
    assert r.message == "NOTICE  [sshd] Ban 192.0.2.7"


def test_garbage_becomes_an_unparsed_record() -> None:
    for line in ["", "x", "Feb 30 99:99:99 h p: m", "{not json", "@4000zz", "<1>1", "\x00" * 40, "Dec 5"]:
        r = parse_line(line, now=NOW)
        assert r.raw == line or r.raw == line.rstrip("\r\n")
        assert isinstance(r.message, str)
