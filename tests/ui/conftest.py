"""UI test helpers: an isolated home and config for every test, and waiting on the app."""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from mailtui.core.profiles import Config, ServerProfile, load_config, save_config

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def ui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and MAILTUI_CONFIG inside tmp_path: no UI test reads the real ~."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAILTUI_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


def saved_config(*profiles: ServerProfile) -> Config:
    """Write a config file with ``profiles`` (at $MAILTUI_CONFIG) and load it back."""
    config = load_config()
    for profile in profiles:
        config = config.with_server(profile)
    save_config(config)
    return load_config()


async def wait_for(pilot: Pilot, predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` is true (fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)
    await pilot.pause()


def text_of(widget: Widget) -> str:
    """The plain text a Static shows."""
    assert isinstance(widget, Static)
    return str(widget.content)


def footer_keys(app) -> dict[str, str]:
    """What the footer of the current screen shows: {description: key}."""
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one(Footer)
    return {key.description: key.key_display for key in footer.query(FooterKey)}


def local_version(argv: list[str]) -> str:
    """A version as this machine's own tool prints it (the reference the UI must match)."""
    path = shutil.which(argv[0]) or next(
        (p for p in (f"/usr/sbin/{argv[0]}", f"/sbin/{argv[0]}") if os.path.exists(p)), None
    )
    assert path, f"{argv[0]} is not installed on this machine"
    return subprocess.run([path, *argv[1:]], capture_output=True, text=True, check=True).stdout.split()[0]


class FakeSshServer:
    """A real SSH server on 127.0.0.1 (asyncssh) with a fresh host key; nobody may log in.

    Enough to exercise host-key verification end to end without the lab.
    """

    def __init__(self) -> None:
        self.key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None

    @property
    def fingerprint(self) -> str:
        return self.key.get_fingerprint("sha256")

    @property
    def public_key(self) -> str:
        return self.key.export_public_key("openssh").decode().strip()

    async def __aenter__(self) -> FakeSshServer:
        class Refuse(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return False

        self._server = await asyncssh.create_server(Refuse, "127.0.0.1", 0, server_host_keys=[self.key])
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)


_SVG_TEXT = re.compile(
    r'<text[^>]*?\bx="([0-9.]+)"[^>]*?\by="([0-9.]+)"[^>]*?textLength="([0-9.]+)"[^>]*>(.*?)</text>', re.S
)


def svg_screen_text(svg: str) -> str:
    """The terminal text inside a Textual SVG screenshot, one line per screen row.

    Rich writes each styled span as its own <text> element at its x position (spaces as
    &#160;, blank runs sometimes only as background rectangles); placing the spans by
    column gives back what the user reads.
    """
    rows: dict[float, dict[int, str]] = {}
    for x, y, length, raw in _SVG_TEXT.findall(svg):
        text = html.unescape(raw).replace("\xa0", " ")
        if not text:
            continue
        cell = float(length) / len(text)
        column = round(float(x) / cell)
        row = rows.setdefault(float(y), {})
        for offset, char in enumerate(text):
            row[column + offset] = char
    lines = []
    for _, cells in sorted(rows.items()):
        width = max(cells) + 1
        lines.append("".join(cells.get(i, " ") for i in range(width)).rstrip())
    return "\n".join(lines)


def lab_app(lab, *, limited: bool = False):
    """The app set to connect to the lab's sshd (admin, or the user whose sudo wants a password)."""
    from mailtui.ui.app import MailtuiApp

    user, key = (lab.limited_user, lab.limited_key) if limited else (lab.admin_user, lab.admin_key)
    profile = ServerProfile("lab", lab.ssh_host, port=lab.ssh_port, user=user, key=key, agent=False)
    config = saved_config(profile)
    config.known_hosts_path.write_text(lab.known_hosts_line + "\n")
    return MailtuiApp(config=config, target="lab")


async def wait_for_lab_facts(pilot: Pilot, app) -> None:
    await wait_for(pilot, lambda: app.session is not None and app.screen.query("#facts"), timeout=60,
                   what="lab facts")
