"""Command palette commands (ctrl+p): connect, servers, re-read facts, logs, ban/unban, add a server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from mailtui.core.ban import Action, BanError, parse_ip
from mailtui.core.target import LocalTarget
from mailtui.ui.screens.checklist import ChecklistScreen, fixable
from mailtui.ui.screens.logs import BanTarget, LogsScreen

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    run: Callable[[], object]
    help: str


def palette_commands(app: MailtuiApp, screen: Screen | None = None) -> list[PaletteCommand]:
    """The app's commands as they apply right now (only what can be done is offered).

    ``screen`` is the screen the palette was opened on (default: the current screen).
    """
    screen = screen if screen is not None else app.screen
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
        commands.append(PaletteCommand("Checklist", app.action_show_checklist,
                                       f"Grade the configuration of {app.session.transport.label} and fix it"))
        commands.append(PaletteCommand("Fix history", app.action_show_fix_history,
                                       "The checklist fixes applied on this server; undo one"))
        commands.append(PaletteCommand("Scan", app.action_show_scan,
                                       f"Probe {app.session.transport.label} from outside, tied to its config and logs"))
        if app.can_give_sudo_password():
            commands.append(PaletteCommand("Give sudo password", app.action_sudo_password,
                                           "Keep the sudo password in memory to read root-only facts"))
    if isinstance(screen, LogsScreen):
        commands += _ban_commands(screen)
    if isinstance(screen, ChecklistScreen):
        commands += _fix_commands(screen)
    commands.append(PaletteCommand("Add server", app.action_add_server, "Save a new server profile"))
    return commands


def _ban_commands(screen: LogsScreen) -> list[PaletteCommand]:
    """Ban / Unban the selected line's (or offender's) address, when it has one."""
    target = screen.ban_target()
    if target is None:
        return []
    try:
        # Validated again: the title goes through the palette's markup highlighter.
        ip = str(parse_ip(target.ip))
    except BanError:
        return []
    chosen = BanTarget(ip, target.service, target.guessing)
    return [
        PaletteCommand(f"Ban {ip}", lambda: screen.request_ban(Action.BAN, chosen),
                       "Block this address (shows the exact command and asks first)"),
        PaletteCommand(f"Unban {ip}", lambda: screen.request_ban(Action.UNBAN, chosen),
                       "Lift this address's ban (shows the exact command and asks first)"),
    ]


def _fix_commands(screen: ChecklistScreen) -> list[PaletteCommand]:
    """``Fix: <rule title>`` for every failing rule with an automatic fix (previewed before it runs)."""
    return [
        # Rule titles are mailtui's own words (the registry), safe for the palette's highlighter.
        PaletteCommand(f"Fix: {finding.title}", lambda fix_id=finding.fix: screen.request_fix(fix_id),
                       f"Preview the fix {finding.fix}: the exact change first, then apply or cancel")
        for finding in fixable(screen.findings)
    ]


class MailtuiCommands(Provider):
    """Provides :func:`palette_commands` to Textual's command palette."""

    def _commands(self) -> list[PaletteCommand]:
        return palette_commands(self.app, self.screen)  # type: ignore[arg-type]

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
