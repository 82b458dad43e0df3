"""Host keys: the unknown-key dialog, trusting a key, and refusing a changed one loudly."""

from __future__ import annotations

import asyncssh
import pytest
from textual.widgets import Button

from mailtui.core.profiles import ServerProfile, load_config
from mailtui.core.transport import HostKeyChanged, HostKeyUnknown
from mailtui.core.transport.hostkeys import known_hosts_line
from mailtui.ui.app import MailtuiApp
from mailtui.ui.dialogs import HostKeyChangedDialog, HostKeyChoice, HostKeyDialog
from mailtui.ui.dialogs.error import ErrorDialog
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.screens.servers import ServersScreen
from tests.ui.conftest import FakeSshServer, SIZE, lab_app, saved_config, svg_screen_text, text_of, wait_for, wait_for_lab_facts


def synthetic_unknown(host: str = "mail.example.org", port: int = 22) -> HostKeyUnknown:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return HostKeyUnknown(host, port, key.get_algorithm(), key.get_fingerprint("sha256"),
                          key.export_public_key("openssh").decode().strip())


def _app_on_servers_screen() -> MailtuiApp:
    # A saved server keeps the app on the Servers screen (no automatic local connection).
    return MailtuiApp(config=saved_config(ServerProfile("mail", "mail.example.org")), target=None)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["escape"], HostKeyChoice.REFUSE),
        (["enter"], HostKeyChoice.REFUSE),                       # Refuse has the focus
        (["shift+tab", "enter"], HostKeyChoice.USER),
        (["shift+tab", "shift+tab", "enter"], HostKeyChoice.MAILTUI),
    ],
)
async def test_host_key_dialog_shows_the_key_and_returns_the_choice(keys, expected):
    unknown = synthetic_unknown()
    results: list[HostKeyChoice] = []
    app = _app_on_servers_screen()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(HostKeyDialog(unknown), results.append)
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, HostKeyDialog)
        assert text_of(dialog.query_one("#fingerprint")) == unknown.fingerprint
        assert unknown.fingerprint.startswith("SHA256:")
        assert text_of(dialog.query_one("#key-type")) == "ssh-ed25519"
        hint = text_of(dialog.query_one("#compare-hint"))
        assert "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" in hint
        intro = text_of(dialog.query(".dialog-text").first())
        assert "mail.example.org port 22" in intro
        labels = {str(b.label) for b in dialog.query(Button)}
        assert labels == {"Trust (mailtui)", "Trust (~/.ssh/known_hosts)", "Refuse"}
        await pilot.press(*keys)
        await pilot.pause()
        assert results == [expected]
        assert isinstance(app.screen, ServersScreen)


async def test_accepting_an_unknown_key_saves_it_and_reconnects(ui_home):
    """Against a real SSH server (asyncssh, in-process): unknown key -> dialog -> trust -> reconnect.

    Nobody may log in to that server, so the second attempt must fail on the login,
    which proves it got past host-key verification with the key we just saved.
    """
    async with FakeSshServer() as server:
        profile = ServerProfile("fake", "127.0.0.1", port=server.port, user="nobody", agent=False)
        config = saved_config(profile)
        app = MailtuiApp(config=config, target="fake")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), what="host key dialog")
            dialog = app.screen
            assert text_of(dialog.query_one("#fingerprint")) == server.fingerprint
            assert isinstance(app.screen_stack[-2], ServerScreen)
            dialog.query_one("#trust-mailtui", Button).press()
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="login refused")
            message = text_of(app.screen.query_one("#error-message"))
            assert "refused the login" in message
            assert app.session is None
        known_hosts = config.known_hosts_path.read_text()
        assert known_hosts == known_hosts_line("127.0.0.1", server.port, server.public_key)
        assert not (ui_home / ".ssh" / "known_hosts").exists()


async def test_accepting_into_the_user_known_hosts(ui_home):
    async with FakeSshServer() as server:
        saved_config(ServerProfile("fake", "127.0.0.1", port=server.port, agent=False))
        app = MailtuiApp(config=load_config(), target="fake")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), what="host key dialog")
            app.screen.query_one("#trust-user", Button).press()
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog), what="login refused")
        assert server.public_key.split()[1] in (ui_home / ".ssh" / "known_hosts").read_text()
        assert not load_config().known_hosts_path.exists()


async def test_refusing_goes_back_to_servers_and_saves_nothing():
    async with FakeSshServer() as server:
        config = saved_config(ServerProfile("fake", "127.0.0.1", port=server.port, agent=False))
        app = MailtuiApp(config=config, target="fake")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), what="host key dialog")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ServersScreen)
            assert app.session is None
            assert any("Not connected: host key refused" in n.message for n in app._notifications)
        assert not config.known_hosts_path.exists()


async def test_changed_host_key_is_refused_loudly_with_both_fingerprints():
    async with FakeSshServer() as server:
        config = saved_config(ServerProfile("fake", "127.0.0.1", port=server.port, agent=False))
        # mailtui "knows" another key for this host: the server's key has changed.
        old = asyncssh.generate_private_key("ssh-ed25519")
        config.known_hosts_path.write_text(
            known_hosts_line("127.0.0.1", server.port, old.export_public_key("openssh").decode())
        )
        app = MailtuiApp(config=config, target="fake")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, HostKeyChangedDialog), what="changed-key dialog")
            dialog = app.screen
            assert text_of(dialog.query_one("#actual-fingerprint")) == server.fingerprint
            assert text_of(dialog.query_one("#expected-fingerprint")) == old.get_fingerprint("sha256")
            assert "NOT CONNECTED" in text_of(dialog.query_one(".dialog-title"))
            assert str(config.known_hosts_path) in text_of(dialog.query_one("#changed-advice"))
            # No way on: a single Close button, in the error style.
            buttons = list(dialog.query(Button))
            assert [str(b.label) for b in buttons] == ["Close"]
            assert dialog.query_one("#dialog-box").has_class("-alarm")
            assert app.screen_stack[-2].__class__ is ServersScreen
            await pilot.press("enter")
            assert isinstance(app.screen, ServersScreen)
            assert app.session is None


async def test_changed_dialog_from_a_synthetic_error():
    a, b = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    error = HostKeyChanged("mail.example.org", 22, [a.get_fingerprint("sha256")], b.get_fingerprint("sha256"),
                           ["/home/x/.config/mailtui/known_hosts"])
    app = _app_on_servers_screen()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(HostKeyChangedDialog(error))
        await pilot.pause()
        dialog = app.screen
        assert text_of(dialog.query_one("#expected-fingerprint")) == a.get_fingerprint("sha256")
        assert text_of(dialog.query_one("#actual-fingerprint")) == b.get_fingerprint("sha256")
        # ... and really on screen, not clipped away.
        svg = svg_screen_text(app.export_screenshot())
        for key in (a, b):
            assert key.get_fingerprint("sha256") in svg
        labels = [str(b.label).lower() for b in app.screen.query(Button)]
        assert labels == ["close"]
        assert not any(word in " ".join(labels) for word in ("trust", "continue", "connect", "accept"))


@pytest.mark.lab
async def test_lab_first_connection_verifies_and_trusts_the_host_key(lab):
    """The whole flow against the lab's sshd: unknown key, trust, facts of the lab server."""
    profile = ServerProfile("lab", lab.ssh_host, port=lab.ssh_port, user=lab.admin_user, key=lab.admin_key,
                            agent=False)
    config = saved_config(profile)
    app = MailtuiApp(config=config, target="lab")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HostKeyDialog), what="host key dialog")
        assert text_of(app.screen.query_one("#fingerprint")) == lab.host_key_fingerprint
        app.screen.query_one("#trust-mailtui", Button).press()
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), timeout=60,
                       what="lab facts")
        assert isinstance(app.screen, ServerScreen)
        assert app.screen.label == f"ssh://{lab.admin_user}@{lab.ssh_host}:{lab.ssh_port}"
        mta = text_of(app.screen.query_one("#fact-mta .fact-value"))
        assert f"Postfix {lab.postfix_version}" in mta
    key_blob = lab.known_hosts_line.split()[2]
    assert key_blob in config.known_hosts_path.read_text()


@pytest.mark.lab
async def test_lab_sudo_password_unlocks_root_facts(lab):
    """mtuser's sudo wants a password: the Server screen offers p, and the re-read uses it."""
    app = lab_app(lab, limited=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_lab_facts(pilot, app)
        assert app.session.facts.privileges.sudo.value == "password"
        assert app.screen.query_one("#fact-sudo").has_class("-unknown")
        listeners_before = app.session.facts.listeners
        assert listeners_before.reason  # process names need root
        await pilot.press("p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SudoPasswordDialog", what="password dialog")
        await pilot.press(*lab.limited_password, "enter")
        await wait_for(pilot, lambda: app.session.facts.listeners is not listeners_before, timeout=60,
                       what="facts read with sudo")
        assert app.session.facts.listeners.reason is None
        assert any(item.process for item in app.session.facts.listeners.items)
        assert "using the one given" in app.session.facts.privileges.detail
    for path in app.config.path.parent.rglob("*"):
        if path.is_file():
            assert lab.limited_password.encode() not in path.read_bytes()
