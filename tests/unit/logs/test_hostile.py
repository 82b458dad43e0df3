"""Hostile input: escape sequences, markup, invalid UTF-8, NUL, huge lines. Never raise, never leak ESC."""

from __future__ import annotations

import pytest

from mailtui.core.logs import RecordParser, classify_lines
from mailtui.core.text import decode_remote

ESC = "\x1b"
HOSTILE = [
    "Nov 29 15:06:00 mail postfix/smtpd[1]: warning: evil[192.0.2.1]: SASL LOGIN authentication failed: x, sasl_username=\x1b[2Jroot",
    "Nov 29 15:06:00 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554 5.7.1 <a>: Relay access denied; from=<\x1b[31m> to=<b> proto=ESMTP helo=<[/b]\x1b[0m\u202e>",
    "Nov 29 15:05:01 imap-login: Info: Disconnected (auth failed, 1 attempts): user=<\x1b[2J[bold]x[/bold]>, rip=192.0.2.1",
    "Feb 25 14:34:10 belka sshd[31602]: Invalid user \x1b[6n\x9b31m from 192.0.2.2 port 1",
    "Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user a\x00b from 192.0.2.2 port 1 ssh2",
    decode_remote(b"Nov 29 15:06:00 mail postfix/smtpd[1]: connect from \xff\xfe\x1b[1m[192.0.2.1]"),
    decode_remote(b"\xff\xfe\xfd garbage \x1b[2J"),
    "Nov 29 15:06:00 mail postfix/smtpd[1]: connect from " + "A" * 1_000_000 + "[192.0.2.1]",
    "Nov 29 15:06:00 mail postfix/smtpd[1]: warning: " + "x[" * 200_000,
    "x" * 1_000_000,
    "\x00" * 1000,
    '{"MESSAGE": [27, 91, 50, 74, 255], "SYSLOG_IDENTIFIER": "sshd", "_PID": "x"}',
    '{"MESSAGE": 5, "SYSLOG_IDENTIFIER": ["a"]}',
    "@4000000063ffffffffffffff x: y",
    "<999>1 - - - - - -",
    "Nov 29 15:06:00 [/b] [bold red]x[/]: [link=file:///etc/passwd]y",
]


def _display_fields(event) -> list[str]:
    fields = [event.display_line, event.user or "", event.remote_host or "", event.remote_ip or ""]
    fields += [v for _, v in event.details]
    return fields


@pytest.mark.parametrize("line", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_lines_never_raise_and_never_show_esc(line: str) -> None:
    (event,) = classify_lines([line], parser=RecordParser(program_hint=None))
    for text in _display_fields(event):
        assert ESC not in text and "\x9b" not in text and "\x00" not in text and "\u202e" not in text
    assert len(event.display_line) < 5000


def test_hostile_user_keeps_evidence_visible() -> None:
    (event,) = classify_lines([HOSTILE[0]])
    assert event.user is not None and "\\x1b" in event.user
    assert event.remote_ip == "192.0.2.1"


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    _prefixes = st.sampled_from([
        "", "Nov 29 15:06:00 mail postfix/smtpd[1]: ", "Nov 29 15:06:00 imap-login: Info: ",
        "Feb 25 14:34:10 belka sshd[31602]: ", "2026-11-29T14:34:53+00:00 mx postfix/postscreen[7]: ",
        "srv sshd[1]: ", "@400000004c91b044077a9e94 ", "<38>1 ", "{",
    ])
    _words = st.sampled_from([
        "connect from ", "disconnect from ", "warning: ", "NOQUEUE: reject: RCPT from ", "x[192.0.2.1]",
        "[2001:db8::1]:25", " auth=0/1", "Failed password for ", "invalid user ", " from ", " port 22",
        "rip=", "user=<", ">", "(auth failed, 3 attempts", "pam_unix(sshd:auth): authentication failure;",
        " rhost=", "\x1b[2J", "\x9b", "\udcff", "[/b]", "\x00", "\n", ": ", "Ban ", "blocked using ",
    ])
    _tails = st.lists(st.one_of(_words, st.text(max_size=20)), max_size=12).map("".join)

    @settings(max_examples=300, deadline=None)
    @given(_prefixes, _tails)
    def test_property_never_raises_never_leaks_escapes(prefix: str, tail: str) -> None:
        events = classify_lines([prefix + tail])
        assert len(events) == 1
        for text in _display_fields(events[0]):
            assert ESC not in text and "\x9b" not in text
