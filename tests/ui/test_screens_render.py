"""SVG screenshots of the two screens at a fixed size, checked for the text they must show."""

from __future__ import annotations

from mailtui.core.profiles import ServerProfile, load_config
from mailtui.ui.app import MailtuiApp
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.screens.servers import ServersScreen
from tests.ui.conftest import SIZE, local_version, saved_config, svg_screen_text, wait_for


def _svg_text(path) -> str:
    return svg_screen_text(path.read_text())


async def test_server_screen_svg(tmp_path):
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), what="local facts")
        assert isinstance(app.screen, ServerScreen)
        path = tmp_path / "server.svg"
        app.save_screenshot(filename=path.name, path=str(tmp_path))
    svg = _svg_text(path)
    for text in ("this machine", "facts read", "System", "Host name", "Logged in as", "MTA", "IMAP/POP3",
                 "Control panel", "Firewall", "fail2ban", "Listening sockets", "Log sources",
                 f"Postfix {local_version(['postconf', '-h', 'mail_version'])}",
                 f"Dovecot {local_version(['dovecot', '--version'])}",
                 "Re-read facts", "Servers", "Logs", "Checklist", "Scan", "Quit"):
        assert text in svg, text


async def test_servers_screen_svg(tmp_path):
    config = saved_config(ServerProfile("mail", "mail.example.org", user="admin"),
                          ServerProfile("backup", "192.0.2.7", port=2222, sudo=False))
    app = MailtuiApp(config=config, target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ServersScreen)
        path = tmp_path / "servers.svg"
        app.save_screenshot(filename=path.name, path=str(tmp_path))
    svg = _svg_text(path)
    for text in ("Servers", "This machine (local)", "admin@mail.example.org", "backup", "192.0.2.7:2222",
                 "Connect", "Add", "Edit", "Delete", "Test", "Quit"):
        assert text in svg, text
