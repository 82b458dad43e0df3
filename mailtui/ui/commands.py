"""Command palette commands (ctrl+p): connect, servers, re-read facts, logs, add a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from mailtui.core.target import LocalTarget

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    run: Callable[[], object]
    help: str


def palette_commands(app: MailtuiApp) -> list[PaletteCommand]:
    """The app's commands as they apply right now (only what can be done is offered)."""
    commands = [
        PaletteCommand(f"Connect to {profile.name}", lambda p=profile: app.connect_to(p),
                       f"Open {profile.address} over SSH and read its facts")
        for profile in app.config.servers
    ]
    commands.append(PaletteCommand("Connect to this machine", lambda: app.connect_to(LocalTarget()),
                                   "Read the facts of the machine mailtui runs on"))
    commands.append(PaletteCommand("Servers", app.action_show_servers, "List, add, edit, test saved servers"))
    if app.session is not None:
        commands.append(PaletteCommand("Re-read facts", app.action_reread_facts,
                                       f"Read the facts of {app.session.transport.label} again"))
        if app.can_show_logs():
            commands.append(PaletteCommand("Logs", app.action_show_logs,
                                           f"Follow the mail and auth logs of {app.session.transport.label} live"))
        if app.can_give_sudo_password():
            commands.append(PaletteCommand("Give sudo password", app.action_sudo_password,
                                           "Keep the sudo password in memory to read root-only facts"))
    commands.append(PaletteCommand("Add server", app.action_add_server, "Save a new server profile"))
    return commands


class MailtuiCommands(Provider):
    """Provides :func:`palette_commands` to Textual's command palette."""

    def _commands(self) -> list[PaletteCommand]:
        return palette_commands(self.app)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.title)
            if score > 0:
                # Titles hold only our words and profile names, which the config limits
                # to letters, digits and ._- so highlight()'s markup parsing is safe.
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
