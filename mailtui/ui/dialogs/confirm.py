"""Ask yes or no before something that cannot be undone from the app."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """A question with a confirm button (``True``) and Cancel (``False``, the default)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel", tooltip="Close without doing anything"),
    ]

    def __init__(self, title: str, question: Content | str, *, confirm_label: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.question = question if isinstance(question, Content) else Content(question)
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="-danger"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, id="confirm", variant="error")
                yield Button("Cancel", id="cancel", variant="default")

        yield Footer()
    def on_mount(self) -> None:
        # The safe answer has the focus: a stray enter does not delete anything.
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)
