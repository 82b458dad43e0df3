"""Testing a server from the list, sudo passwords, closing connections, hostile remote text."""

from __future__ import annotations

import dataclasses

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from mailtui.core.facts import (
    Listener,
    Listeners,
    LogSource,
    LogSources,
    OsInfo,
    Privileges,
    Status,
    SudoState,
    collect_facts,
)
from mailtui.core.profiles import ServerProfile, load_config
from mailtui.core.transport import LocalTransport
from mailtui.ui.app import MailtuiApp
from mailtui.ui.dialogs import SudoPasswordDialog
from mailtui.ui.screens.servers import ServersScreen
from mailtui.ui.widgets.facts_view import FactsView
from tests.ui.conftest import SIZE, footer_keys, local_version, saved_config, svg_screen_text, text_of, wait_for


async def test_t_tests_a_server_without_leaving_the_list():
    saved_config(ServerProfile("closed", "127.0.0.1", port=9, agent=False))
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")  # row 0: this machine
        result = app.screen.query_one("#test-result")
        await wait_for(pilot, lambda: "OK" in text_of(result), what="test result")
        postfix = local_version(["postconf", "-h", "mail_version"])
        dovecot = local_version(["dovecot", "--version"])
        assert text_of(result) == f"this machine: OK: Postfix {postfix}, Dovecot {dovecot}"
        assert result.has_class("-ok")
        assert isinstance(app.screen, ServersScreen)
        assert app.session is None  # a test does not keep a connection

        await pilot.press("down", "t")
        await wait_for(pilot, lambda: result.has_class("-error"), what="test failure")
        assert "127.0.0.1 port 9 refused the connection" in text_of(result)
        assert isinstance(app.screen, ServersScreen)


async def test_quit_and_switching_servers_close_the_transport(monkeypatch):
    closed: list[LocalTransport] = []
    original = LocalTransport.close

    async def recording_close(self):
        closed.append(self)
        await original(self)

    monkeypatch.setattr(LocalTransport, "close", recording_close)
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        first = app.session.transport
        app.connect_to(app.session.target)  # connecting again (as the palette does) replaces the connection
        await wait_for(pilot, lambda: app.session is not None and app.session.transport is not first
                       and app.screen.query("#facts"), what="second connection")
        assert closed == [first]
        second = app.session.transport
        await pilot.press("q")
        await pilot.pause()
    assert closed == [first, second]
    assert app.return_code == 0


async def test_sudo_password_is_asked_kept_in_memory_and_facts_reread(tmp_path):
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        # Pretend sudo wanted a password on this server (this machine runs the tests as root).
        session = app.session
        facts = dataclasses.replace(session.facts, privileges=Privileges(
            "admin", 1000, SudoState.PASSWORD, "sudo asks for a password: root-only facts are unknown until you give it"))
        app.session = session.with_facts(facts)
        await app.screen.show_facts(session.transport.label, facts)
        await pilot.pause()
        assert app.screen.query_one("#fact-sudo").has_class("-unknown")
        assert footer_keys(app)["Give sudo password"] == "p"

        await pilot.press("p")
        assert isinstance(app.screen, SudoPasswordDialog)
        assert app.screen.query_one("#password", Input).password is True
        await pilot.press(*"s3cret-Pass", "enter")
        await wait_for(pilot, lambda: app.session.facts is not facts, what="facts read again")
        assert app.session.transport.has_sudo_password
    # Never written anywhere: no file under the test's home or config holds it.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cret-Pass" not in path.read_bytes(), path


class _FactsHarness(App[None]):
    CSS_PATH = "../../mailtui/ui/app.tcss"

    def __init__(self, facts) -> None:
        super().__init__()
        self.facts = facts

    def compose(self) -> ComposeResult:
        yield FactsView(self.facts, id="facts")


async def test_remote_text_is_shown_literally_never_as_markup():
    facts = await collect_facts(LocalTransport())
    hostile = dataclasses.replace(
        facts,
        hostname="[b]evil[/b]",
        fqdn="[/]",
        os=OsInfo(Status.FOUND, name="Debian [red]12[/red]", kernel="Linux [link=x]6[/link]"),
        listeners=Listeners(Status.FOUND, (Listener("127.0.0.1", 25, ("[/b]master",), 1),)),
        log_sources=LogSources(Status.FOUND, (LogSource("file", "/var/log/[bold]mail.log", "mail", "direct", 10),)),
        problems=("probe: [/i] broke",),
    )
    app = _FactsHarness(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen_text = svg_screen_text(app.export_screenshot())
        for literal in ("[/]", "[b]evil[/b]", "Debian [red]12[/red]", "[/b]master", "/var/log/[bold]mail.log",
                        "probe: [/i] broke"):
            assert literal in screen_text, literal
        assert text_of(app.query_one("#fact-os .fact-value")) == "Debian [red]12[/red]\nkernel Linux [link=x]6[/link]"
        table = app.query_one("#listeners", DataTable)
        assert str(table.get_row_at(0)[2]) == "[/b]master (1)"


async def test_unknown_facts_say_why_in_the_warning_style():
    facts = await collect_facts(LocalTransport())
    unknown = dataclasses.replace(
        facts,
        os=OsInfo(Status.UNKNOWN, reason="no /etc/os-release on the server"),
        listeners=Listeners(Status.UNKNOWN, reason="ss gave no answer (is iproute2 installed?)"),
    )
    app = _FactsHarness(unknown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        row = app.query_one("#fact-os")
        assert row.has_class("-unknown")
        assert text_of(row.query_one(".fact-value")) == "unknown — no /etc/os-release on the server"
        note = app.query_one("#listeners-box .note")
        assert note.has_class("-unknown")
        assert text_of(note) == "unknown — ss gave no answer (is iproute2 installed?)"
        assert not app.query("#listeners")  # no empty table pretending there is nothing


async def test_t_on_an_unknown_host_key_asks_then_tests_again():
    from tests.ui.conftest import FakeSshServer
    from mailtui.ui.dialogs import HostKeyDialog

    async with FakeSshServer() as server:
        config = saved_config(ServerProfile("fake", "127.0.0.1", port=server.port, agent=False))
        app = MailtuiApp(config=config, target=None)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("down", "t")
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), what="host key dialog")
            await pilot.press("shift+tab", "shift+tab", "enter")  # trust, save for mailtui
            result = app.screen.query_one("#test-result")
            await wait_for(pilot, lambda: result.has_class("-error"), what="second test")
            # Past the host key now: the fake server refuses the login, and says so.
            assert "refused the login" in text_of(result)
            assert isinstance(app.screen, ServersScreen)
        assert server.public_key.split()[1] in config.known_hosts_path.read_text()
