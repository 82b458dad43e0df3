"""Adding, editing and deleting saved servers through the form, with the keyboard."""

from __future__ import annotations

import stat

from textual.widgets import DataTable, Input, Switch

from mailtui.core.profiles import ServerProfile, load_config
from mailtui.ui.app import MailtuiApp
from mailtui.ui.dialogs import ProfileForm
from mailtui.ui.dialogs.profile_form import FormValues, validate_profile
from mailtui.ui.screens.servers import ServersScreen
from tests.ui.conftest import SIZE, saved_config, text_of, wait_for


async def _open_servers_from_local(app: MailtuiApp, pilot) -> None:
    await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
    await pilot.press("s")
    assert isinstance(app.screen, ServersScreen)


async def test_add_profile_with_the_keyboard_saves_it_0600_and_lists_it(config_path):
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await _open_servers_from_local(app, pilot)
        await pilot.press("a")
        assert isinstance(app.screen, ProfileForm)
        await pilot.press(*"mail")          # Name has the focus
        await pilot.press("tab", *"mail.example.org")
        await pilot.press("tab", *"2222")
        await pilot.press("tab", *"admin")
        await pilot.press("tab")            # key file: blank (agent and default keys)
        await pilot.press("tab")            # use agent: leave on
        await pilot.press("tab", *"root@bastion.example.org:2200")
        await pilot.press("tab", "space")   # use sudo: switch it off
        assert app.screen.query_one("#sudo", Switch).value is False
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen), what="form closed")

        saved = load_config().server("mail")
        assert saved == ServerProfile("mail", "mail.example.org", port=2222, user="admin", key=None, agent=True,
                                      jump="root@bastion.example.org:2200", sudo=False)
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        assert app.config.server("mail") == saved
        table = app.screen.query_one("#servers", DataTable)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert names == ["This machine (local)", "mail"]
        assert str(table.get_row_at(1)[1]) == "admin@mail.example.org:2222"
        assert str(table.get_row_at(1)[2]) == "no"


async def test_bad_port_and_bad_host_show_errors_and_save_nothing(config_path):
    config = saved_config(ServerProfile("mail", "mail.example.org"))
    config_before = config_path.read_bytes()
    app = MailtuiApp(config=config, target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, ProfileForm)
        await pilot.press(*"other", "tab", *"bad host!", "tab", *"70000")
        await pilot.press("ctrl+s")
        assert app.screen is form, "the form must stay open"
        assert "is not a host name or IP address" in text_of(form.query_one("#host-error"))
        assert form.query_one("#host-error").display
        assert "from 1 to 65535" in text_of(form.query_one("#port-error"))
        assert form.query_one("#port", Input).has_class("-field-error")
        assert text_of(form.query_one("#name-error")) == ""
        assert not form.query_one("#name-error").display
        # The first wrong field gets the focus, so the user can fix it at once.
        assert app.focused is form.query_one("#host", Input)

        # Fix the host only: the port error remains, still nothing saved.
        form.query_one("#host", Input).value = "mail2.example.org"
        await pilot.press("ctrl+s")
        assert app.screen is form
        assert text_of(form.query_one("#host-error")) == ""
        assert "from 1 to 65535" in text_of(form.query_one("#port-error"))

        await pilot.press("escape")
        assert isinstance(app.screen, ServersScreen)
    assert config_path.read_bytes() == config_before
    assert [s.name for s in load_config().servers] == ["mail"]


async def test_duplicate_name_is_refused(config_path):
    config = saved_config(ServerProfile("mail", "mail.example.org"))
    app = MailtuiApp(config=config, target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", *"mail", "tab", *"other.example.org", "ctrl+s")
        form = app.screen
        assert isinstance(form, ProfileForm)
        assert text_of(form.query_one("#name-error")) == "A server named mail already exists."
    assert load_config().server("mail").host == "mail.example.org"


async def test_edit_renames_in_place_and_delete_asks_first(config_path):
    config = saved_config(ServerProfile("mail", "mail.example.org"), ServerProfile("web", "192.0.2.8"))
    app = MailtuiApp(config=config, target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")            # row 1: mail
        await pilot.press("e")
        form = app.screen
        assert isinstance(form, ProfileForm)
        assert form.query_one("#host", Input).value == "mail.example.org"
        form.query_one("#name", Input).value = "mx"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen))
        assert [s.name for s in load_config().servers] == ["mx", "web"]

        await pilot.press("d")
        assert type(app.screen).__name__ == "ConfirmDialog"
        await pilot.press("enter")           # Cancel has the focus: nothing happens
        assert [s.name for s in load_config().servers] == ["mx", "web"]
        await pilot.press("d")
        await pilot.press("shift+tab", "enter")  # the Delete button
        await wait_for(pilot, lambda: isinstance(app.screen, ServersScreen))
        await pilot.pause()
        assert [s.name for s in load_config().servers] == ["web"]
        table = app.screen.query_one("#servers", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == ["This machine (local)", "web"]

        # This machine cannot be edited or deleted.
        await pilot.press("home", "d")
        assert isinstance(app.screen, ServersScreen)


def test_validate_profile_rules(tmp_path):
    config = saved_config(ServerProfile("mail", "mail.example.org"))
    key = tmp_path / "id_test"
    key.write_text("not really a key")
    ok = validate_profile(FormValues(name="new", host=" [2001:db8::1] ", port="", user="", key=str(key)), config, None)
    assert ok == ServerProfile("new", "2001:db8::1", key=str(key))
    errors = validate_profile(FormValues(name="", host="", port="0", user="bad user", key="/nope/id",
                                         jump="bastion:99999"), config, None)
    assert set(errors) == {"name", "host", "port", "user", "key", "jump"}
    assert errors["key"] == "There is no file /nope/id on this machine."
    # Names follow the config file's rules (checked by the core's own validator).
    errors = validate_profile(FormValues(name="my server", host="mail.example.org"), config, None)
    assert list(errors) == ["name"] and "letters, digits" in errors["name"]
    # Editing may keep its own name.
    assert isinstance(validate_profile(FormValues(name="mail", host="mx.example.org"), config, "mail"), ServerProfile)
