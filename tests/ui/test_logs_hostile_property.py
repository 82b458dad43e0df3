"""Hostile log lines never crash the Logs panel and never reach the terminal raw (property test).

Lines are built from escape sequences (CSI, OSC 52, 8-bit CSI), C0/C1 controls, bidi
overrides, Rich markup, invalid UTF-8 (as the feed decodes it: surrogate escapes), NUL,
very long runs and journald JSON, mixed into realistic Postfix/Dovecot/sshd prefixes so
the classifier's and the lexer's interesting paths are taken. Each goes the way a line
from a server goes: bytes -> :func:`decode_remote` -> :class:`LogClassifier` -> the row
text and its highlighting (:func:`row_text` + the mail-log lexer, as ``LogView`` builds a
row) -> Rich segments; and the same events through a mounted ``LogView`` and the
explanation panel.
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Span, Text
from textual.app import App, ComposeResult

from mailtui.core.logs.classify import LogClassifier
from mailtui.core.text import decode_remote
from mailtui.highlight.lexer import MailLogLexer
from mailtui.ui.widgets.log_view import _TOKEN_CLASSES, SHOWN_CHARS, LogView, row_text
from mailtui.ui.widgets.offenders import explanation_content

#: What must never reach the terminal: ESC, C1 controls, NUL (and the rest of C0 but TAB),
#: DEL, bidi embeddings/overrides/isolates, lone surrogates (undecodable bytes).
FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

PREFIXES = [
    b"Nov 29 15:10:00 mail postfix/smtpd[1]: connect from ",
    b"Nov 29 15:10:00 mail postfix/submission/smtpd[2]: warning: unknown[203.0.113.66]: SASL LOGIN authentication "
    b"failed: ",
    b"Nov 29 15:10:00 mail postfix/smtpd[3]: NOQUEUE: reject: RCPT from evil[203.0.113.66]: 554 5.7.1 <",
    b"Nov 29 15:10:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<",
    b"Nov 29 15:10:00 mail sshd[4]: Invalid user ",
    b"Nov 29 15:10:00 mail sshd[4]: Failed password for invalid user ",
    b"2024-11-29T15:10:00.123456+01:00 mail postfix/qmgr[5]: 1A8DD160034: from=<",
    b"<34>1 2024-11-29T15:10:00Z mail fail2ban.actions[6]: NOTICE [postfix] Ban ",
    b"",
]
PIECES = [
    b"\x1b[2J", b"\x1b]52;c;aGk=\x07", b"\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", b"\x1bP+q\x1b\\",
    b"\x9b31m", b"\xc2\x9b31m", b"\xc2\x9d0;title\xc2\x9c", b"\xc2\x85", b"\x00", b"\x07", b"\x08", b"\r", b"\x7f",
    "\u202e".encode(), "\u2066".encode(), "\u2069".encode(), "\u202a".encode(),
    b"[/b]", b"[bold red]", b"[/]", b"[link=http://x]", b"[@click=app.quit]", b"\\[", b"]",
    b"\xff\xfe", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f", b"\xe2\x80",
    b"[203.0.113.5]", b"[2001:db8::1]", b"unknown[", b"user=<", b">", b", ", b" ", b"\t", b"\n",
    "caf\u00e9 \u65e5\u672c \U0001f600".encode(), "\u0301\u200d".encode(),
]

pieces = st.one_of(
    st.sampled_from(PIECES),
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    # Longer than a row shows (SHOWN_CHARS). Kept under 2500: the classifier's host[addr]
    # search is quadratic in a long token today (reported), which would make this slow.
    st.builds(lambda n, b: b * n, st.integers(500, 2500), st.sampled_from([b"A", b"\x1b", b"[b]", b"\xff", b"\x9b"])),
)
#: A megabyte-long hostile line, on a path the classifier handles in linear time.
MEGABYTE_LINE = b"Nov 29 15:10:00 mail sshd[4]: Invalid user " + b"\x1b[2J\x9b\xff[/b]\xe2\x80\xae" * 70_000
raw_lines = st.builds(lambda prefix, parts: prefix + b"".join(parts), st.sampled_from(PREFIXES),
                      st.lists(pieces, max_size=12))


def _journal(fields: dict[str, str]) -> bytes:
    return json.dumps(fields).encode()


journal_lines = st.builds(
    lambda message, ident, host: _journal({"MESSAGE": message, "SYSLOG_IDENTIFIER": ident, "_HOSTNAME": host,
                                           "_PID": "7", "__REALTIME_TIMESTAMP": "1732889400000000",
                                           "__CURSOR": "s=1;i=2"}),
    # Undecodable bytes become lone surrogates, which json.dumps writes as \udcXX escapes.
    raw_lines.map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["postfix/smtpd", "sshd", "dovecot", "evil\x1b[2J", "[bold]x"]),
    st.sampled_from(["mail", "h\u202eost", "\x9b1m"]),
)
batches = st.lists(st.one_of(raw_lines, journal_lines), min_size=1, max_size=6)

_console = Console(width=200, color_system="truecolor", force_terminal=True, legacy_windows=False)
_lexer = MailLogLexer()


def _highlighted(text: str) -> Text:
    """A row's Text as LogView builds it: the sanitised line with the lexer's tokens as spans."""
    spans = []
    consumed = []
    for index, token, value in _lexer.get_tokens_unprocessed(text):
        consumed.append(value)
        kind = token
        while kind is not None and kind not in _TOKEN_CLASSES:
            kind = kind.parent
        if kind is not None and value:  # the token types LogView colours
            spans.append(Span(index, index + len(value), "bold"))
    assert "".join(consumed) == text  # the lexer neither drops nor invents characters
    return Text(text, spans=spans, no_wrap=True, end="")


def _assert_harmless(text: str, where: str) -> None:
    found = FORBIDDEN.search(text)
    assert found is None, f"{where}: {found.group()!r} at {found.start()} in {text[max(0, found.start() - 40):][:80]!r}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batches)
@example([MEGABYTE_LINE])
def test_hostile_lines_render_to_harmless_text(lines: list[bytes]) -> None:
    events = LogClassifier().classify_lines([decode_remote(line) for line in lines])
    assert len(events) == len(lines)
    for event in events:
        row = row_text(event)
        _assert_harmless(row, "row text")
        assert len(row) <= 4 * SHOWN_CHARS + 40  # long lines are cut before they are escaped
        text = _highlighted(row)
        for segment in text.render(_console):
            _assert_harmless(segment.text, "rendered segment")
        _assert_harmless(event.display_line, "display_line")
        _assert_harmless(explanation_content(event).plain.replace("\n", " "), "explanation")
        for value in (event.remote_host, event.user, *[v for _, v in event.details]):
            if value:
                _assert_harmless(value, "event field")


class _ViewApp(App[None]):
    CSS_PATH = "../../mailtui/ui/app.tcss"

    def compose(self) -> ComposeResult:
        yield LogView(capacity=500)


async def test_hostile_lines_through_a_mounted_log_view() -> None:
    """The same lines through the real widget: appended, selected, scrolled right, rendered."""
    app = _ViewApp()
    async with app.run_test(size=(100, 12)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()

        # Hypothesis runs synchronously inside the running app: LogView's append and
        # render_line are plain methods, and every example's lines end up on screen.
        @settings(max_examples=30, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])
        @given(batches, st.integers(0, 3000))
        def check(lines: list[bytes], scroll_x: int) -> None:
            events = LogClassifier().classify_lines([decode_remote(line) for line in lines])
            view.append(events)
            view.select_row(view.row_count - 1)
            view.scroll_to(x=scroll_x, animate=False, immediate=True, force=True)
            for y in range(view.scrollable_content_region.height):
                strip = view.render_line(y)
                for segment in strip:
                    _assert_harmless(segment.text, "LogView row")

        check()
