"""Errors as dialogs: a sentence a person can act on, never a traceback."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from mailtui.core.transport import HostKeyChanged
from mailtui.ui.paths import display_path


class _CloseOnlyDialog(ModalScreen[None]):
    """A message whose only way out is Close (button with id ``close``, or escape)."""

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class ErrorDialog(_CloseOnlyDialog):
    """A title and the error's sentence; Close is the only choice."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="error.close", tooltip="Close this message"),
    ]

    def __init__(self, title: str, message: str | Content) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        # The message may quote remote text: it is shown as plain Content, never markup.
        self.message = message if isinstance(message, Content) else Content(message)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="-error"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, id="error-message", classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

        yield Footer()


class HostKeyChangedDialog(_CloseOnlyDialog):
    """The server's key is not the one we know: refuse, loudly, with no way to go on."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="hostkey_changed.close", tooltip="Close; mailtui stays disconnected"),
    ]

    def __init__(self, error: HostKeyChanged) -> None:
        super().__init__(classes="dialog")
        self.error = error

    def compose(self) -> ComposeResult:
        error = self.error
        expected = ", ".join(error.expected) or "none"
        with Vertical(id="dialog-box", classes="-alarm"):
            yield Label("HOST KEY CHANGED — NOT CONNECTED", classes="dialog-title")
            yield Static(
                Content.assemble("The server ", (f"{error.host} port {error.port}", "bold"),
                                 " presented a different host key than the one mailtui trusts."),
                classes="dialog-text",
            )
            with Vertical(id="fingerprints"):
                with Horizontal(classes="key-row"):
                    yield Label("Presented now", classes="fingerprint-label")
                    yield Static(Content(error.actual or "unknown (the server went away)"), id="actual-fingerprint",
                                 classes="fingerprint")
                with Horizontal(classes="key-row"):
                    yield Label("Expected", classes="fingerprint-label")
                    yield Static(Content(expected), id="expected-fingerprint", classes="fingerprint")
            yield Static(
                Content(
                    "Someone may be intercepting the connection, or the server was reinstalled. "
                    "mailtui will not connect. If you know why the key changed, remove the old entry from "
                    + (", ".join(display_path(p) for p in error.known_in) or "your known_hosts file")
                    + " and connect again to verify the new key."
                ),
                id="changed-advice",
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="error")

        yield Footer()
