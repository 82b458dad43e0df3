"""The speed paths give the same answers as the general ones.

``RecordParser.parse_many`` splits the common syslog shape with one regex; every line it
takes must come out as the general parser would split it, and every other line must be
left to the general parser. ``LogClassifier.classify_lines`` (handlers cached per program,
events built without ``_replace``) must agree with stateless ``classify`` and keep the
per-connection sshd context apart for repeated messages.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mailtui.core.logs import LogClassifier, RecordParser, classify, parse_line

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=UTC)

EDGE_LINES = [
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from x[192.0.2.1]",
    "Nov 29 15:04:54 mail dovecot: imap-login: Login: user=<a>, rip=192.0.2.1",
    "Dec  5 17:07:00 host sshd[1]: x",
    "Dec 5 17:07:00 host sshd[1]: x",  # one space: general path
    "Dec 99 99:99:99 host sshd[1]: impossible date",
    "Foo 15 17:07:00 host sshd[1]: not a month",
    "Nov 29 15:04:54 ho:st sshd[1]: colon in the host",
    "Nov 29 15:04:54 [host] sshd[1]: bracketed host",
    "Nov 29 15:04:54 imap-login: Info: no host",
    "Nov 29 15:04:54 mail imap(alice)<9><s>: Info: Disconnected",
    "Nov 29 15:04:54 mail sshd[\u0661\u0662]: Arabic-Indic digits in the pid",
    "Nov 29 15:04:54 mail sshd[\u00b2]: a superscript pid",
    "Nov 29 15:04:54 mail sshd[" + "9" * 30 + "]: a pid too long for the fast path",
    "Nov 29 15:04:54 mail sshd[1] : space before the colon",
    "Nov 29 15:04:54 mail a b[1]: space in the tag",
    "Nov 29 15:04:54 mail prog:x[1]: colon in the program",
    "Nov 29 15:04:54 mail prog[1]:no space after the colon",
    "Nov 29 15:04:54 mail [sshd] User root from 192.0.2.1 not allowed",
    "2026-11-29T14:34:53.123456+00:00 mx postfix/postscreen[77]: CONNECT from [192.0.2.1]:5",
    "2026-11-29T14:34:53Z mx sshd[2]: short stamp",
    "2026-11-29T1 mx sshd[2]: stamp too short for the general parser's layout",
    "2026-11-29 15:00:01,123 fail2ban.actions        [811]: NOTICE  [sshd] Ban 192.0.2.7",
    "Nov 29 15:04:54 mail sshd[3]: line with\nan embedded newline",
    "Nov 29 15:04:54 mail sshd[3]: CRLF\r\n",
    "Nov 29 15:04:54 mail sshd[3]: \x1b]52;c;evil\x07",
    "",
    "short",
]


@pytest.mark.parametrize("hint", [None, "sshd"])
def test_parse_many_matches_the_general_parser(hint: str | None) -> None:
    parser = RecordParser(now=NOW, program_hint=hint)
    reference = RecordParser(now=NOW, program_hint=hint)
    expected = []
    for line in EDGE_LINES:
        try:
            expected.append(reference._parse(line.rstrip("\r\n")))  # the general parser, alone
        except Exception:  # noqa: BLE001 - the general parser's own guard
            expected.append(reference.parse(line))
    assert parser.parse_many(EDGE_LINES) == expected
    assert [parser.parse(line) for line in EDGE_LINES] == expected


def test_fast_path_takes_the_common_shapes() -> None:
    r = parse_line("Nov 29 15:04:54 mail postfix/submission/smtpd[8745]: x", now=NOW)
    assert (r.host, r.program, r.pid, r.message, r.context) == ("mail", "postfix/submission/smtpd", 8745, "x", "")
    r = parse_line("Nov 29 15:04:54 mail dovecot: imap-login: x", now=NOW)
    assert (r.program, r.pid, r.message) == ("dovecot", None, "imap-login: x")


def test_repeated_messages_get_their_own_sshd_context() -> None:
    # The same message in three connections: each gets its own connection's address and count.
    lines = [
        "Feb 12 04:09:18 h sshd[1]: Connection from 192.0.2.1 port 1",
        "Feb 12 04:09:18 h sshd[2]: Connection from 192.0.2.2 port 2",
        "Feb 12 04:09:21 h sshd[1]: Disconnecting: Too many authentication failures for root [preauth]",
        "Feb 12 04:09:21 h sshd[2]: Disconnecting: Too many authentication failures for root [preauth]",
        "Feb 12 04:09:21 h sshd[3]: Disconnecting: Too many authentication failures for root [preauth]",
    ]
    events = LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines)
    assert [e.remote_ip for e in events[2:]] == ["192.0.2.1", "192.0.2.2", None]
    assert [e.attack for e in events[2:]] == [True, True, False]
    assert [e.record.pid for e in events[2:]] == [1, 2, 3]


def test_stream_gives_what_stateless_classification_gives() -> None:
    line = "Nov 29 15:04:54 mx postfix/smtpd[{pid}]: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
    lines = [line.format(pid=pid) for pid in (10, 11, 10)]
    events = LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines)
    assert events == [classify(parse_line(text, now=NOW)) for text in lines]
    assert [e.record.raw for e in events] == lines
