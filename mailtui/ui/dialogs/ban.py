"""Ask before banning or unbanning an address: the exact commands, the warnings, then yes or no."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from mailtui.core.ban import Action, Backend, BanPlan
from mailtui.core.text import sanitize

__all__ = ["BanDialog", "BanRequest"]


@dataclass(frozen=True)
class BanRequest:
    """What the dialog shows: the plan, how it will run, and what the admin must know first."""

    plan: BanPlan
    #: Whether the commands run through sudo (not connected as root).
    sudo: bool
    #: Where they run (the transport's label: ``this machine``, ``ssh://…``).
    where: str
    #: Warnings of the UI's own, shown with the plan's (e.g. the own address is unknown).
    notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.plan.warnings + self.notes

    @property
    def commands(self) -> list[str]:
        """The exact commands as shown (remote-derived parts such as jail names made harmless)."""
        return [sanitize(command, multiline=True) for command in self.plan.shown(self.sudo)]

    @property
    def confirm_label(self) -> str:
        if self.plan.action == Action.UNBAN:
            return "Unban"
        return "Ban anyway" if self.warnings else "Ban"


_EFFECT = {
    Backend.FAIL2BAN: "fail2ban blocks the address with the jail's own action (usually only the ports that jail "
                      "protects) and lifts the ban after the jail's ban time, as for its own bans.",
    Backend.NFTABLES: "Packets from the address are dropped by mailtui's own nftables table (inet mailtui); "
                      "your other rules are not touched. The ban stays until you unban it or the ruleset is "
                      "reloaded.",
    Backend.IPTABLES: "Packets from the address are dropped by a rule at the top of the INPUT chain (commented "
                      "'mailtui ban'). It stays until you unban it or the rules are reloaded.",
    Backend.UFW: "ufw denies the address with a rule of its own at the top of its list; it stays until you "
                 "unban it.",
}


class BanDialog(ModalScreen[bool]):
    """Shows a :class:`BanRequest`; ``True`` when the admin confirmed, ``False`` (the default) otherwise."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ban.cancel", tooltip="Close without changing anything"),
    ]

    def __init__(self, request: BanRequest) -> None:
        super().__init__(classes="dialog")
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        plan = request.plan
        warnings = request.warnings
        with Vertical(id="dialog-box", classes="-ban -danger" if warnings else "-ban"):
            # The title holds a jail name read from the server: Content, never markup.
            yield Label(Content(plan.title), classes="dialog-title")
            verb = "ban" if plan.action == Action.BAN else "lift the ban of"
            yield Static(
                Content.assemble("To ", verb, " ", (plan.ip, "bold"), ", mailtui will run ",
                                 "these commands" if len(request.commands) > 1 else "this command",
                                 " on ", (request.where, "bold"), ":"),
                classes="dialog-text",
            )
            yield Static(Content("\n".join(request.commands)), id="ban-commands")
            if plan.action == Action.BAN:
                yield Static(Content(_EFFECT[plan.backend]), classes="dialog-text ban-effect")
            for warning in warnings:
                yield Static(Content.assemble(("Warning: ", "bold"), warning), classes="ban-warning")
            yield Static(Content("The change is verified and written to the audit log, here and on the server."),
                         classes="dialog-text ban-audit")
            with Horizontal(classes="dialog-buttons"):
                yield Button(request.confirm_label, id="confirm",
                             variant="error" if warnings else ("warning" if plan.action == Action.BAN else "primary"))
                yield Button("Cancel", id="cancel", variant="default")
        yield Footer()

    def on_mount(self) -> None:
        # The safe answer has the focus: a stray enter changes nothing.
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)
