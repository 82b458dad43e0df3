"""The Logs panel: real-format lines in a temporary file, followed through LocalTransport.

The lines are copied from this machine's /var/log/mail.log and /var/log/dovecot.log (the
lab writes them); the SASL failures use the lab's own format with a documentation
address as the attacker.
"""

from __future__ import annotations

import os
import smtplib
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from mailtui.core.facts import LogSource
from mailtui.core.logs.events import KIND_INFO, EventKind
from mailtui.core.logs.reading import pick_sources
from mailtui.core.profiles import ServerProfile, load_config
from mailtui.core.transport import LocalTransport, SudoPasswordRequired
from mailtui.ui.app import MailtuiApp
from mailtui.ui.commands import palette_commands
from mailtui.ui.screens.logs import LogsScreen
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.widgets.log_view import LogView
from mailtui.ui.widgets.offenders import OffendersTable
from tests.ui.conftest import footer_keys, lab_app, saved_config, svg_screen_text, text_of, wait_for, wait_for_lab_facts

SIZE = (140, 45)
ATTACKER = "203.0.113.5"
QUEUE_ID = "1A8DD160034"

MAIL_LINES = [
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from mail.mailtui.test[127.0.0.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: disconnect from mail.mailtui.test[127.0.0.1] quit=1 commands=1",
    "Nov 29 15:05:01 mail postfix/smtpd[8745]: connect from outsider.example.test[127.0.0.2]",
    "Nov 29 15:05:01 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from outsider.example.test[127.0.0.2]: "
    "554 5.7.1 <victim@example.org>: Relay access denied; from=<x@outsider.example.test> "
    "to=<victim@example.org> proto=ESMTP helo=<outsider.example.test>",
    "Nov 29 15:05:01 mail postfix/smtpd[8745]: disconnect from outsider.example.test[127.0.0.2] "
    "ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5",
    "Nov 29 15:05:09 mail postfix/smtps/smtpd[8747]: 1A8DD160034: client=outsider.example.test[127.0.0.2], "
    "sasl_method=PLAIN, sasl_username=alice@mailtui.test",
    "Nov 29 15:05:09 mail postfix/cleanup[9353]: 1A8DD160034: message-id=<>",
    "Nov 29 15:05:09 mail postfix/qmgr[8734]: 1A8DD160034: from=<alice@mailtui.test>, size=477, nrcpt=1 "
    "(queue active)",
    "Nov 29 15:05:09 mail postfix/virtual[9354]: 1A8DD160034: to=<bob@mailtui.test>, relay=virtual, delay=0, "
    "delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
    "Nov 29 15:05:09 mail postfix/qmgr[8734]: 1A8DD160034: removed",
    "Nov 29 15:06:50 mail postfix/submission/smtpd[14557]: connect from unknown[203.0.113.5]",
    "Nov 29 15:06:51 mail postfix/submission/smtpd[14557]: warning: unknown[203.0.113.5]: "
    "SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 29 15:06:53 mail postfix/submission/smtpd[14557]: warning: unknown[203.0.113.5]: "
    "SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 29 15:06:55 mail postfix/submission/smtpd[14557]: warning: unknown[203.0.113.5]: "
    "SASL PLAIN authentication failed: authentication failure",
    "Nov 29 15:06:56 mail postfix/submission/smtpd[14557]: disconnect from unknown[203.0.113.5] ehlo=1 auth=0/3 "
    "quit=1 commands=2/5",
]
DOVECOT_LINES = [
    "Nov 29 15:05:01 imap-login: Info: Login: user=<alice@mailtui.test>, method=PLAIN, rip=127.0.0.2, "
    "lip=127.0.0.1, mpid=9316, TLS, session=<MW4VnmthM4V/AAAC>",
    "Nov 29 15:06:58 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 0 secs): "
    "user=<alice@mailtui.test>, rip=203.0.113.5, lip=127.0.0.1, session=<CzQNpWthMY5/AAAC>",
]
LINES = MAIL_LINES + DOVECOT_LINES
# What the lines are: ATTACKER connects, guesses three SASL passwords, disconnects (a
# session with failed logins) and guesses one IMAP password: 6 lines, 5 attacks, all of
# them warnings. 127.0.0.2 probes for an open relay once.
ATTACKER_LINES = 6
ATTACKER_ATTACKS = 5


def write_lines(path: Path, lines: list[str] | list[bytes], mode: str = "ab") -> None:
    with open(path, mode) as handle:
        for line in lines:
            handle.write((line if isinstance(line, bytes) else line.encode()) + b"\n")


async def open_logs(pilot, path: Path | list[Path], **options) -> LogsScreen:
    """Push a Logs screen that follows ``path`` (no SSH, no facts needed)."""
    transport = LocalTransport()
    await transport.connect()
    paths = path if isinstance(path, list) else [path]
    sources = [LogSource("file", str(p), "mail", "direct") for p in paths]
    screen = LogsScreen(transport, sources, label="test logs", poll_interval=0.05, **options)
    pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


def logs_app() -> MailtuiApp:
    # A saved server: the app starts on the Servers screen and connects nowhere.
    return MailtuiApp(config=saved_config(ServerProfile("mail", "mail.example.org")), target=None)


def view_of(screen: LogsScreen) -> LogView:
    return screen.query_one(LogView)


def shown_lines(view: LogView) -> list[str]:
    return [event.record.raw for event in view.visible_events()]


async def select(pilot, view: LogView, predicate) -> None:
    """Move the cursor with the keys (home, down…) to the first row matching ``predicate``."""
    rows = [row for row in range(view.row_count) if predicate(view.event_at_row(row))]
    assert rows, "no row matches"
    await pilot.press("home", *["down"] * rows[0])
    assert predicate(view.selected_event)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "mail.log"
    write_lines(path, LINES, "wb")
    return path


async def test_lines_appear_classified_and_the_selected_line_is_explained(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="backfill")
        assert [e.record.raw for e in view.matching_events()] == LINES
        await select(pilot, view, lambda e: e.kind == EventKind.SMTP_SASL_FAILED)
        explanation = text_of(screen.query_one("#explanation", Static))
        info = KIND_INFO[EventKind.SMTP_SASL_FAILED]
        for part in (info.title, info.what, info.danger, info.action, ATTACKER, "smtp.sasl_failed", "submission"):
            assert part in explanation, part
        # Really on screen: the line, the explanation's title, the status.
        await pilot.pause()
        svg = svg_screen_text(app.export_screenshot())
        assert "SASL LOGIN authentication failed" in svg
        assert info.title in svg
        assert "paused" in svg  # moving the cursor up holds the view


async def test_follow_shows_new_lines_and_pause_counts_them(log_file):
    # More lines than the view has rows, so that holding it still can be seen.
    filler = [f"Nov 29 15:07:{i // 10:02d} mail postfix/anvil[77]: statistics: max connection rate 1/60s" for i in range(60)]
    write_lines(log_file, filler)
    total = len(LINES) + len(filler)
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == total, what="backfill")
        assert view.following and view.row_count > view.size.height
        new = "Nov 29 15:07:30 mail postfix/smtpd[9001]: connect from unknown[198.51.100.9]"
        write_lines(log_file, [new])
        await wait_for(pilot, lambda: new in shown_lines(view), what="the appended line on screen")
        assert view.selected_event.record.raw == new  # following: the cursor is on the newest line

        await pilot.press("f")
        assert not view.following
        on_screen = shown_lines(view)
        later = [f"Nov 29 15:07:4{i} mail postfix/smtpd[9001]: connect from unknown[198.51.100.{i}]" for i in range(3)]
        write_lines(log_file, later)
        await wait_for(pilot, lambda: view.total_count == total + 4, what="the lines written while paused")
        assert view.new_while_paused == 3
        assert shown_lines(view) == on_screen  # paused: the view did not move
        status = text_of(screen.query_one("#logs-status", Static))
        assert "3 new lines — press f to follow" in status

        await pilot.press("space")  # space toggles too
        assert view.following
        assert shown_lines(view)[-3:] == later
        assert "following" in text_of(screen.query_one("#logs-status", Static))


async def test_filters_narrow_the_view_and_show_the_count(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="backfill")

        async def apply(query: str, typed: bool = False) -> None:
            await pilot.press("slash")
            box = screen.query_one("#logs-filter", Input)
            assert screen.focused is box
            box.value = ""
            if typed:
                await pilot.press(*query)
            else:
                box.value = query
            await pilot.press("enter")
            await pilot.pause()

        await apply(f"ip:{ATTACKER}", typed=True)
        assert view.row_count == ATTACKER_LINES
        assert {e.remote_ip for e in view.matching_events()} == {ATTACKER}
        status = text_of(screen.query_one("#logs-status", Static))
        assert f"{ATTACKER_LINES} of {len(LINES)} lines match" in status and f"ip:{ATTACKER}" in status
        assert screen.focused is view  # enter returns to the lines

        await pilot.press("a")  # attacks only, on top of the query
        assert view.row_count == ATTACKER_ATTACKS
        assert "attacks only" in text_of(screen.query_one("#logs-status", Static))
        await pilot.press("a")

        await apply("kind:reject")
        assert [e.kind for e in view.matching_events()] == [EventKind.REJECT_RELAY]
        await apply("sev:warning")
        assert view.row_count == ATTACKER_ATTACKS
        await apply("user:ALICE@mailtui.test kind:dovecot")
        assert view.row_count == 2
        await apply('"relay access denied"')
        assert view.row_count == 1

        # A mistake is said, and the filter before it stays.
        await apply("sev:loud")
        error = screen.query_one("#filter-error", Static)
        assert error.display and "severity is one of" in text_of(error)
        assert view.row_count == 1

        # escape clears the filter; the next one goes back to the Server screen's place.
        await pilot.press("escape", "escape")  # leave the box, then clear
        assert view.row_count == len(LINES)


async def test_i_shows_the_lines_of_an_ip_and_t_traces_a_message(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="backfill")

        await select(pilot, view, lambda e: e.queue_id == QUEUE_ID)
        await pilot.press("t")
        programs = [e.record.program for e in view.matching_events()]
        assert programs == ["postfix/smtps/smtpd", "postfix/cleanup", "postfix/qmgr", "postfix/virtual", "postfix/qmgr"]
        assert screen.query_one("#logs-filter", Input).value == f"qid:{QUEUE_ID}"
        assert view.selected_event.queue_id == QUEUE_ID
        await pilot.press("escape")
        assert view.row_count == len(LINES)

        await select(pilot, view, lambda e: e.kind == EventKind.DOVECOT_AUTH_FAILED)
        await pilot.press("i")
        assert view.row_count == ATTACKER_LINES
        assert all(e.remote_ip == ATTACKER for e in view.matching_events())
        # The selected line is still the one we jumped from.
        assert view.selected_event.kind == EventKind.DOVECOT_AUTH_FAILED
        await pilot.press("escape")
        assert view.row_count == len(LINES)

        # t on a line without a queue id says so instead of filtering everything away.
        await select(pilot, view, lambda e: e.queue_id is None)
        await pilot.press("t")
        assert view.row_count == len(LINES)


async def test_offenders_list_the_attacker_and_choosing_one_filters(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        table = screen.query_one(OffendersTable)
        await wait_for(pilot, lambda: table.row_count >= 2, what="offenders")
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][:2] == [ATTACKER, str(ATTACKER_ATTACKS)]
        assert rows[1][:2] == ["127.0.0.2", "1"]
        assert "relay probing" in rows[1][4]
        # o sorts by all lines, then by last seen, then by attacks again.
        await pilot.press("o")
        assert "by all lines" in str(screen.query_one("#offenders-box").border_title)
        totals = [int(str(table.get_row_at(i)[2]).replace(" ", "")) for i in range(table.row_count)]
        assert totals == sorted(totals, reverse=True)
        await pilot.press("o")
        assert "by last seen" in str(screen.query_one("#offenders-box").border_title)
        seen = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
        assert seen == sorted(seen, reverse=True)
        await pilot.press("o")
        # Choosing a row shows that address's lines.
        table.focus()
        await pilot.press("home", "enter")
        await pilot.pause()
        assert view.row_count == ATTACKER_LINES
        # The sparklines got the per-minute counts of the log's own time.
        label = text_of(screen.query_one("#rate-attacks-label", Static))
        assert "Attacks per minute" in label and "peak" in label


async def test_hostile_lines_are_shown_harmlessly(tmp_path):
    path = tmp_path / "hostile.log"
    hostile = [
        b"Nov 29 15:10:00 mail postfix/smtpd[1]: connect from evil\x1b[2J\x1b]52;c;aGk=\x07[203.0.113.66]",
        b"Nov 29 15:10:01 mail postfix/smtpd[1]: warning: unknown[203.0.113.66]: SASL LOGIN authentication "
        b"failed: [/b][bold red]markup[/]",
        b"Nov 29 15:10:02 mail postfix/smtpd[1]: bad bytes \xff\xfe\xc3( and a NUL \x00 here",
        b"Nov 29 15:10:03 mail postfix/smtpd[1]: " + b"A" * (1024 * 1024),
        b"Nov 29 15:10:04 mail postfix/smtpd[1]: \xe2\x80\xae bidi override and \x9b31m C1 CSI",
        b"Nov 29 15:10:05 mail postfix/smtpd[1]: the end",
    ]
    write_lines(path, hostile, "wb")
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, path)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(hostile), what="hostile lines")
        # Visit every line (each gets highlighted and explained).
        await pilot.press("home")
        for _ in hostile:
            await pilot.press("down")
        await pilot.press("end", "right", "right")
        rendered = [view.render_line(y).text for y in range(view.size.height)]
        svg = app.export_screenshot()
        text = svg_screen_text(svg)
    for dangerous in ("\x1b", "\x00", "\x07", "\x9b", "\u202e"):
        assert dangerous not in svg
        assert not any(dangerous in line for line in rendered)
    assert "[/b][bold red]markup[/]" in text  # markup shown as text, not interpreted
    assert "\\x1b[2J" in text  # the escape made visible
    assert "the end" in text


async def test_a_rotated_or_truncated_file_is_announced(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file)
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="backfill")
        os.truncate(log_file, 0)
        after = "Nov 29 15:20:00 mail postfix/smtpd[1]: connect from unknown[198.51.100.20]"
        write_lines(log_file, [after])
        await wait_for(pilot, lambda: view.selected_event.record.raw == after, what="the line after truncation")
        assert "truncated" in text_of(screen.query_one("#logs-notice", Static))
        assert any("truncated" in n.message for n in app._notifications)


class _SudoNeedsPassword(LocalTransport):
    """This machine, except that sudo wants a password (as for the lab's limited user)."""

    async def stream_bytes(self, command, *, sudo=False):
        if sudo:
            raise SudoPasswordRequired("mtuser")
        async for event in super().stream_bytes(command, sudo=sudo):
            yield event


async def test_an_unreadable_source_is_a_message_and_the_others_go_on(log_file):
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        transport = _SudoNeedsPassword()
        await transport.connect()
        sources = [LogSource("file", "/var/log/secret.log", "auth", "sudo"),
                   LogSource("file", str(log_file), "mail", "direct")]
        screen = LogsScreen(transport, sources, label="test logs", poll_interval=0.05)
        app.push_screen(screen)
        await pilot.pause()
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="the readable source")
        await wait_for(pilot, lambda: "sudo needs a password" in text_of(screen.query_one("#logs-notice", Static)))
        notice = text_of(screen.query_one("#logs-notice", Static))
        assert "/var/log/secret.log" in notice
        assert screen.query_one("#logs-notice").has_class("-error")
        assert "1 of 2 sources" in text_of(screen.query_one("#logs-status", Static))


async def test_two_sources_are_merged_by_time(tmp_path):
    mail, dovecot = tmp_path / "mail.log", tmp_path / "dovecot.log"
    write_lines(mail, MAIL_LINES, "wb")
    write_lines(dovecot, DOVECOT_LINES, "wb")
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, [mail, dovecot])
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count == len(LINES), what="both sources")
        times = [e.record.time for e in view.matching_events()]
        assert times == sorted(times)


async def test_logs_are_reached_from_the_server_screen_and_left_with_s():
    app = MailtuiApp(config=load_config(), target=None)  # no saved servers: this machine
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        assert footer_keys(app).get("Logs") == "l"
        assert "Logs" in [c.title for c in palette_commands(app)]
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), what="the Logs screen")
        screen = app.screen
        expected = pick_sources(app.session.facts.log_sources.items)
        assert [s.name for s in screen.sources] == [s.name for s in expected]
        assert "/var/log/mail.log" in [s.name for s in expected]
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count > 0, what="this machine's log lines")
        keys = footer_keys(app)
        for name, key in (("Filter", "/"), ("Attacks", "a"), ("Follow", "f"), ("Server", "s")):
            assert keys.get(name) == key, name
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)
        assert not [w for w in app.workers if w.group == "logs" and w.is_running]
        # escape with no filter also goes back.
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)


def _relay_probe() -> None:
    with smtplib.SMTP("127.0.0.1", 25, local_hostname="probe.example.test", source_address=("127.0.0.2", 0),
                      timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("someone@outsider.example.test")
        code, _ = smtp.rcpt("x@elsewhere.example")
        assert code >= 400


@pytest.mark.lab
async def test_lab_relay_probe_appears_live_with_its_offender(lab):
    app = lab_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_lab_facts(pilot, app)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), what="the Logs screen")
        screen = app.screen
        view = view_of(screen)
        await wait_for(pilot, lambda: view.total_count > 0, timeout=60, what="the lab's backfill")

        def probes() -> int:
            return sum(1 for e in view.matching_events() if e.kind == EventKind.REJECT_RELAY
                       and e.remote_ip == "127.0.0.2" and e.detail("to") == "x@elsewhere.example")

        before = probes()
        started = time.time()
        _relay_probe()

        def probe_shown() -> bool:
            return probes() > before

        await wait_for(pilot, probe_shown, timeout=30, what="the relay probe's line")
        assert time.time() - started < 30
        table = screen.query_one(OffendersTable)
        await wait_for(pilot, lambda: "127.0.0.2" in table.rows, timeout=10, what="127.0.0.2 among the offenders")
        # Selected, the probe's line is explained.
        await pilot.press("slash")
        screen.query_one("#logs-filter", Input).value = "kind:reject.relay ip:127.0.0.2"
        await pilot.press("enter", "end")
        await wait_for(pilot, lambda: view.selected_event is not None
                       and view.selected_event.kind == EventKind.REJECT_RELAY, what="the probe selected")
        explanation = text_of(screen.query_one("#explanation", Static))
        assert KIND_INFO[EventKind.REJECT_RELAY].what in explanation
        svg = svg_screen_text(app.export_screenshot())
        assert "NOQUEUE: reject: RCPT from" in svg and "127.0.0.2" in svg


async def test_a_backfill_bigger_than_the_view_is_counted_in_bulk_exactly(tmp_path):
    """The older lines of a big backfill are counted without becoming events (core.logs.bulk):
    the counters equal classifying and counting every line; the view keeps the newest."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_classify import generate

    from mailtui.core.logs.aggregate import Aggregator
    from mailtui.core.logs.classify import LogClassifier

    path = tmp_path / "big.log"
    generate(path, 40_000, seed=5)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = Aggregator()
    expected.add_many(LogClassifier().classify_lines(lines))
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, path, backfill_lines=100_000, capacity=3000)
        view = view_of(screen)
        await wait_for(pilot, lambda: screen.feed.lines == len(lines), timeout=60, what="the bulk backfill")
        summary, _ = await screen.feed.summarize_now()
        assert summary == expected.summary(top=50)
        # About the view's capacity became events (the border is estimated from the bytes
        # still coming; the ring trims in chunks), the newest last.
        await wait_for(pilot, lambda: view.total_count and shown_lines(view)[-1] == lines[-1],
                       what="the newest lines in the view")
        assert 2700 <= view.total_count <= 3150
