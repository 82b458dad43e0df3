"""What the app shows at start: this machine's facts, or the saved servers."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from mailtui.core.profiles import ServerProfile, load_config
from mailtui.core.transport import LocalTransport
from mailtui.ui.app import MailtuiApp
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.screens.servers import ServersScreen
from tests.ui.conftest import SIZE, local_version, saved_config, text_of, wait_for


async def test_no_config_connects_to_this_machine_and_shows_its_facts(config_path):
    assert not config_path.exists()
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        assert isinstance(app.screen, ServerScreen)
        assert isinstance(app.session.transport, LocalTransport)
        screen = app.screen
        header = text_of(screen.query_one("#facts-header", Static))
        assert header.startswith("this machine")
        assert "facts read" in header
        mta = text_of(screen.query_one("#fact-mta .fact-value", Static))
        assert "Postfix" in mta
        assert local_version(["postconf", "-h", "mail_version"]) in mta
        imap = text_of(screen.query_one("#fact-imap .fact-value", Static))
        assert "Dovecot" in imap
        assert local_version(["dovecot", "--version"]) in imap
        # The listening sockets are a real table, one row per socket the core found.
        table = screen.query_one("#listeners", DataTable)
        assert table.row_count == len(app.session.facts.listeners.items)
    # Nothing was written: starting does not create a config file.
    assert not config_path.exists()


async def test_saved_servers_show_the_servers_screen_and_do_not_connect():
    config = saved_config(ServerProfile("mail", "mail.example.org", user="admin"),
                          ServerProfile("backup", "192.0.2.7", port=2222, sudo=False))
    app = MailtuiApp(config=config, target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ServersScreen)
        assert app.session is None
        table = app.screen.query_one("#servers", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][:3] == ["This machine (local)", "this machine", "yes"]
        assert rows[1][:3] == ["mail", "admin@mail.example.org", "yes"]
        assert rows[2][:3] == ["backup", "192.0.2.7:2222", "no"]


async def test_target_argument_connects_to_it():
    config = saved_config(ServerProfile("mail", "mail.example.org"))
    app = MailtuiApp(config=config, target="local")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None, what="connection to local")
        assert isinstance(app.screen, ServerScreen)
        assert app.screen.label == "this machine"
        # s goes back to the list, which marks the connected row; enter returns without reconnecting.
        transport = app.session.transport
        await pilot.press("s")
        assert isinstance(app.screen, ServersScreen)
        table = app.screen.query_one("#servers", DataTable)
        assert str(table.get_row_at(0)[3]) == "● connected"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServerScreen) and app.screen.query("#facts"))
        assert app.session.transport is transport


async def test_bad_target_argument_is_an_error_dialog():
    app = MailtuiApp(config=load_config(), target="no such host!")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert type(app.screen).__name__ == "ErrorDialog"
        assert "is not a saved server" in text_of(app.screen.query_one("#error-message"))
        await pilot.press("escape")
        assert isinstance(app.screen, ServersScreen)
