"""Ask for the sudo password of the login user (kept in memory for the session only)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static


class SudoPasswordDialog(ModalScreen[str | None]):
    """Returns the password typed, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="sudo_password.cancel", tooltip="Close without giving a password"),
    ]

    def __init__(self, user: str | None, server: str) -> None:
        super().__init__(classes="dialog")
        self.user = user
        self.server = server

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box"):
            yield Label("Sudo password", classes="dialog-title")
            yield Static(
                Content.assemble(
                    "sudo on ", (self.server, "bold"), " asks for the password of ",
                    (self.user or "the login user", "bold"),
                    ". mailtui keeps it in memory for this session only and never writes it anywhere.",
                ),
                classes="dialog-text",
            )
            yield Input(password=True, placeholder="password", id="password")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use it", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

        yield Footer()
    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self._finish()
        else:
            self.dismiss(None)

    def _finish(self) -> None:
        password = self.query_one("#password", Input).value
        self.dismiss(password or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
