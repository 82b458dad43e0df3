"""Ban / unban from the Logs panel: the dialog shows the exact commands and the warnings,
nothing runs without a yes, and with the lab a yes bans for real through fail2ban.

The tests without the lab plan against this machine's real facts (LocalTransport) but
never confirm: they check the dialog, cancel, and check that nothing ran (no audit entry,
no nftables element). Only the lab test confirms, on 127.0.0.41, and always unbans.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from mailtui.core import audit
from mailtui.core.facts import Firewall, ServerFacts, Status, collect_facts
from mailtui.core.logs.aggregate import GUESSING_KINDS
from mailtui.core.logs.events import EventKind
from mailtui.core.transport import LocalTransport
from mailtui.ui.commands import palette_commands
from mailtui.ui.dialogs.ban import BanDialog
from mailtui.ui.dialogs.error import ErrorDialog
from mailtui.ui.screens.logs import LogsScreen
from mailtui.ui.widgets.log_view import LogView
from mailtui.ui.widgets.offenders import OffendersTable
from tests.ui.conftest import footer_keys, lab_app, text_of, wait_for, wait_for_lab_facts
from tests.ui.test_logs_panel import ATTACKER, LINES, SIZE, logs_app, select, write_lines

RELAY_PROBER = "127.0.0.2"  # loopback: the dialog must warn


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The audit log goes to tmp_path; its absence proves that nothing was applied."""
    path = tmp_path / "state"
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(path))
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.delenv("SSH_CLIENT", raising=False)
    return path


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "mail.log"
    write_lines(path, LINES, "wb")
    return path


async def local_facts(*, fail2ban: bool) -> tuple[LocalTransport, ServerFacts]:
    """This machine's real facts; with ``fail2ban=False`` as if fail2ban were not running."""
    transport = LocalTransport()
    await transport.connect()
    facts = await collect_facts(transport)
    if not fail2ban:
        facts = replace(facts, fail2ban=replace(facts.fail2ban, running=False))
    return transport, facts


async def open_logs(pilot, path: Path, transport: LocalTransport, facts: ServerFacts) -> LogsScreen:
    screen = LogsScreen(transport, [_source(path)], label="test logs", poll_interval=0.05, facts=facts)
    pilot.app.push_screen(screen)
    await pilot.pause()
    view = screen.query_one(LogView)
    await wait_for(pilot, lambda: view.total_count == len(LINES), what="the log lines")
    return screen


def _source(path: Path):
    from mailtui.core.facts import LogSource

    return LogSource("file", str(path), "mail", "direct")


async def open_dialog(pilot, key: str) -> BanDialog:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BanDialog), what="the ban dialog")
    return pilot.app.screen


def dialog_commands(dialog: BanDialog) -> str:
    return text_of(dialog.query_one("#ban-commands"))


def dialog_warnings(dialog: BanDialog) -> list[str]:
    return [text_of(w) for w in dialog.query(".ban-warning")]


def nothing_applied(screen: LogsScreen, state_dir: Path) -> bool:
    # apply_ban writes the audit log whatever the outcome: no file, no ban attempted.
    return not (state_dir / "audit.log").exists() and not [w for w in screen.workers if w.group == "ban-apply"]


def nft_has(address: str) -> bool:
    listed = subprocess.run(["nft", "list", "table", "inet", "mailtui"], capture_output=True, text=True)
    return address in listed.stdout


async def test_ban_dialog_shows_the_nft_command_and_escape_runs_nothing(log_file, state_dir):
    transport, facts = await local_facts(fail2ban=False)
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file, transport, facts)
        keys = footer_keys(app)
        assert keys.get("Ban") == "b" and keys.get("Unban") == "u"
        view = screen.query_one(LogView)
        await select(pilot, view, lambda e: e.remote_ip == ATTACKER and e.kind == EventKind.SMTP_SASL_FAILED)

        dialog = await open_dialog(pilot, "b")
        plan = dialog.request.plan
        assert plan.backend == "nftables"
        commands = dialog_commands(dialog)
        # This machine runs mailtui as root: the exact command, without sudo.
        assert commands == "\n".join(plan.shown(sudo=False))
        assert commands.startswith("nft -f - <<'EOF'\n")
        assert f"add element inet mailtui banned4 {{ {ATTACKER} }}" in commands
        assert text_of(dialog.query_one(".dialog-title")) == f"Ban {ATTACKER} (nftables)"
        assert dialog_warnings(dialog) == []  # a documentation address: nothing to warn about
        assert str(dialog.query_one("#confirm", Button).label) == "Ban"
        assert app.focused is dialog.query_one("#cancel", Button)
        assert footer_keys(app) == {"Cancel": "esc"}

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the Logs screen")
        await pilot.pause(0.3)
        assert nothing_applied(screen, state_dir)
        assert not nft_has(ATTACKER)

        # u: the unban command, same safety.
        dialog = await open_dialog(pilot, "u")
        assert dialog_commands(dialog) == f"nft delete element inet mailtui banned4 '{{ {ATTACKER} }}'"
        assert str(dialog.query_one("#confirm", Button).label) == "Unban"
        assert app.focused is dialog.query_one("#cancel", Button)
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the Logs screen")
        await pilot.pause(0.3)
        assert nothing_applied(screen, state_dir)


async def test_loopback_and_own_address_warn_and_enter_on_the_default_cancels(log_file, state_dir, monkeypatch):
    # The admin "is connected from" ATTACKER: connection_addresses reads SSH_CONNECTION on
    # the server, which for LocalTransport is this process's environment.
    monkeypatch.setenv("SSH_CONNECTION", f"{ATTACKER} 50022 192.0.2.1 22")
    transport, facts = await local_facts(fail2ban=False)
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file, transport, facts)
        view = screen.query_one(LogView)

        await select(pilot, view, lambda e: e.remote_ip == RELAY_PROBER and e.kind == EventKind.REJECT_RELAY)
        dialog = await open_dialog(pilot, "b")
        warnings = dialog_warnings(dialog)
        assert len(warnings) == 1 and "loopback address" in warnings[0]
        assert dialog.query_one("#dialog-box").has_class("-danger")
        assert str(dialog.query_one("#confirm", Button).label) == "Ban anyway"
        assert app.focused is dialog.query_one("#cancel", Button)
        await pilot.press("enter")  # a stray enter hits Cancel
        await wait_for(pilot, lambda: app.screen is screen, what="back on the Logs screen")

        await select(pilot, view, lambda e: e.remote_ip == ATTACKER)
        dialog = await open_dialog(pilot, "b")
        warnings = dialog_warnings(dialog)
        assert any("the address you are connected from" in w for w in warnings), warnings
        assert str(dialog.query_one("#confirm", Button).label) == "Ban anyway"
        assert app.focused is dialog.query_one("#cancel", Button)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the Logs screen")
        await pilot.pause(0.3)
        assert nothing_applied(screen, state_dir)
        assert not nft_has(ATTACKER) and not nft_has(RELAY_PROBER)


async def test_offender_line_without_address_and_no_way_to_ban(log_file, state_dir):
    # Real facts: fail2ban runs here (the lab's). Planning only; the dialog is cancelled.
    transport, facts = await local_facts(fail2ban=True)
    if not (facts.fail2ban.running and "postfix-sasl" in facts.fail2ban.jails):
        pytest.skip("fail2ban with a postfix-sasl jail is not running on this machine")
    app = logs_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_logs(pilot, log_file, transport, facts)
        view = screen.query_one(LogView)
        table = screen.query_one(OffendersTable)
        await wait_for(pilot, lambda: ATTACKER in table.rows, what="the attacker among the offenders")

        # The offenders table has focus: b bans the selected offender, in the jail of what it did.
        table.focus()
        table.move_cursor(row=table.get_row_index(ATTACKER))
        await pilot.pause()
        dialog = await open_dialog(pilot, "b")
        assert dialog_commands(dialog) == f"fail2ban-client set postfix-sasl banip {ATTACKER}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # A line without a remote address: a notification, no dialog.
        view.focus()
        await select(pilot, view, lambda e: e.remote_ip is None)
        await pilot.press("b")
        await pilot.pause(0.3)
        assert app.screen is screen
        assert any("this line has no remote address" in n.message for n in app._notifications)
        assert not [c for c in palette_commands(app, screen) if c.title.startswith(("Ban ", "Unban "))]

        # The palette offers ban / unban for a line with an address (a failed login: postfix-sasl).
        await select(pilot, view, lambda e: e.remote_ip == ATTACKER and e.kind in GUESSING_KINDS)
        titles = [c.title for c in palette_commands(app, screen)]
        assert f"Ban {ATTACKER}" in titles and f"Unban {ATTACKER}" in titles
        command = next(c for c in palette_commands(app, screen) if c.title == f"Unban {ATTACKER}")
        command.run()
        await wait_for(pilot, lambda: isinstance(app.screen, BanDialog), what="the unban dialog")
        assert dialog_commands(app.screen) == f"fail2ban-client set postfix-sasl unbanip {ATTACKER}"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # No fail2ban and no firewall: a sentence, in an error dialog.
        screen.facts = replace(facts, fail2ban=replace(facts.fail2ban, running=False),
                               firewall=Firewall(Status.ABSENT, (), "no firewall tool found"))
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="the error dialog")
        assert "no way to ban here" in text_of(app.screen.query_one("#error-message"))
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert nothing_applied(screen, state_dir)


def test_every_logs_binding_has_an_id_and_a_tooltip():
    for cls in (LogsScreen, LogView, BanDialog):
        for binding in cls.BINDINGS:
            assert binding.id and binding.tooltip, f"{cls.__name__}: {binding.key} needs an id and a tooltip"


# ----------------------------------------------------------------------------- the lab

LAB_ADDRESS = "127.0.0.41"  # only this test uses it


def _failed_smtp_login() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", 587, local_hostname="guesser.example.test", source_address=(LAB_ADDRESS, 0),
                      timeout=30) as smtp:
        smtp.ehlo()
        smtp.starttls(context=context)
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("nobody@mailtui.test", "wrong")


def _f2b_banned() -> list[str]:
    status = subprocess.run(["fail2ban-client", "status", "postfix-sasl"], capture_output=True, text=True,
                            check=True).stdout
    line = next(line for line in status.splitlines() if "Banned IP list:" in line)
    return line.split("Banned IP list:", 1)[1].split()


def _unban() -> None:
    subprocess.run(["fail2ban-client", "set", "postfix-sasl", "unbanip", LAB_ADDRESS], capture_output=True)


async def _confirm(pilot, key: str, expected_command: str) -> None:
    app = pilot.app
    dialog = await open_dialog(pilot, key)
    assert dialog_commands(dialog) == expected_command
    assert app.focused is dialog.query_one("#cancel", Button)
    await pilot.click("#confirm")


@pytest.mark.lab
async def test_lab_ban_and_unban_a_password_guesser_through_fail2ban(lab, state_dir):
    _unban()  # a leftover of an interrupted run would make the ban "already banned"
    app = lab_app(lab)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_lab_facts(pilot, app)
            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), what="the Logs screen")
            screen = app.screen
            view = screen.query_one(LogView)
            await wait_for(pilot, lambda: view.total_count > 0, timeout=60, what="the lab's backfill")

            def guesses() -> int:
                return sum(1 for e in view.matching_events()
                           if e.kind == EventKind.SMTP_SASL_FAILED and e.remote_ip == LAB_ADDRESS)

            before = guesses()
            await asyncio.to_thread(_failed_smtp_login)
            await wait_for(pilot, lambda: guesses() > before, timeout=30, what="the failed login's line")

            await pilot.press("slash")
            screen.query_one("#logs-filter", Input).value = f"kind:smtp.sasl_failed ip:{LAB_ADDRESS}"
            await pilot.press("enter", "end")
            await wait_for(pilot, lambda: view.selected_event is not None
                           and view.selected_event.remote_ip == LAB_ADDRESS, what="the guess selected")

            # Ban: over SSH as the admin user, so through sudo; in the submission service's jail.
            await _confirm(pilot, "b", f"sudo fail2ban-client set postfix-sasl banip {LAB_ADDRESS}")
            await wait_for(pilot, lambda: any("done and verified" in n.message for n in app._notifications),
                           timeout=60, what="the ban's result")
            assert app.screen is screen
            assert LAB_ADDRESS in _f2b_banned()
            entries = audit.read_local()
            assert [(e.action, e.outcome, e.subject) for e in entries] == [("ban", "done", LAB_ADDRESS)]
            assert entries[0].commands == (f"sudo fail2ban-client set postfix-sasl banip {LAB_ADDRESS}",)
            assert entries[0].server_log == audit.SERVER_AUDIT_LOG

            # Unban.
            await _confirm(pilot, "u", f"sudo fail2ban-client set postfix-sasl unbanip {LAB_ADDRESS}")
            await wait_for(pilot, lambda: any(n.message.startswith("Unban") and "done and verified" in n.message
                                              for n in app._notifications),
                           timeout=60, what="the unban's result")
            assert LAB_ADDRESS not in _f2b_banned()
            assert [(e.action, e.outcome) for e in audit.read_local()] == [("ban", "done"), ("unban", "done")]
    finally:
        _unban()
