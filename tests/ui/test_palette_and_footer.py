"""The command palette's commands and the keys in the footer."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from mailtui.core.profiles import ServerProfile, load_config
from mailtui.ui.app import MailtuiApp
from mailtui.ui.dialogs.error import ErrorDialog
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.screens.servers import ServersScreen
from tests.ui.conftest import SIZE, footer_keys, saved_config, text_of, wait_for


async def _palette_prompts(app: MailtuiApp, pilot) -> list[str]:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen.query_one(CommandList).option_count,
                   what="palette commands")
    await pilot.pause(0.3)
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]


async def test_palette_lists_servers_and_connect_commands():
    # Port 9 on loopback: nothing listens, so "Connect to" fails fast and visibly.
    saved_config(ServerProfile("mail", "127.0.0.1", port=9, agent=False))
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        prompts = await _palette_prompts(app, pilot)
        for expected in ("Connect to mail", "Connect to this machine", "Servers", "Add server"):
            assert expected in prompts
        assert "Re-read facts" not in prompts  # not connected: nothing to re-read

        # Choosing a command runs it: connecting to mail fails (nothing on port 9) with a sentence.
        await pilot.press(*"Connect to mail")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="connect error")
        assert text_of(app.screen.query_one(".dialog-title")) == "Could not connect to mail"
        assert "refused the connection" in text_of(app.screen.query_one("#error-message"))


async def test_palette_when_connected_offers_reread():
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None, what="local facts")
        first = app.session.facts
        first_view = app.screen.query_one("#facts")
        prompts = await _palette_prompts(app, pilot)
        assert "Re-read facts" in prompts
        assert "Logs" in prompts  # this machine has mail logs
        assert "Give sudo password" not in prompts  # root here: no sudo password needed
        await pilot.press(*"Re-read facts")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.facts is not first, what="facts read again")
        assert isinstance(app.screen, ServerScreen)
        await wait_for(pilot, lambda: app.screen.query_one("#facts") is not first_view, what="facts shown again")
        assert app.screen.query_one("#facts").facts is app.session.facts


async def test_footer_keys_on_every_screen():
    saved_config(ServerProfile("mail", "mail.example.org"))
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ServersScreen)
        keys = footer_keys(app)
        assert keys == {"Connect": "⏎", "Add": "a", "Edit": "e", "Delete": "d", "Test": "t", "Quit": "q",
                        "palette": "^p"}

        await pilot.press("enter")  # "This machine"
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        keys = footer_keys(app)
        assert keys == {"Re-read facts": "r", "Servers": "s", "Logs": "l", "Checklist": "c", "Scan": "o",
                        "Quit": "q", "palette": "^p"}

        await pilot.press("a")  # not a key here: nothing happens
        assert isinstance(app.screen, ServerScreen)
        await pilot.press("ctrl+p")
        await pilot.press("escape")
        await pilot.press("s", "a")
        # Dialogs have their own footer with their own keys (the app's are not active there).
        assert footer_keys(app) == {"Cancel": "esc", "Save": "^s"}


async def test_every_binding_has_an_id_and_a_tooltip():
    from mailtui.ui import dialogs
    from mailtui.ui.screens import server, servers

    classes = [MailtuiApp, servers.ServersScreen, server.ServerScreen, dialogs.ProfileForm, dialogs.HostKeyDialog,
               dialogs.HostKeyChangedDialog, dialogs.ErrorDialog, dialogs.ConfirmDialog, dialogs.SudoPasswordDialog]
    for cls in classes:
        for binding in cls.BINDINGS:
            assert binding.id and binding.tooltip, f"{cls.__name__}: {binding.key} needs an id and a tooltip"
