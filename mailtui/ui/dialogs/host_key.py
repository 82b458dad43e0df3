"""First contact with a server: show its host key's fingerprint and let the user decide."""

from __future__ import annotations

from enum import StrEnum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from mailtui.core.transport import HostKeyUnknown


class HostKeyChoice(StrEnum):
    """The answer; the two trust values are the ``store`` names of ``trust_host_key``."""

    MAILTUI = "mailtui"
    USER = "user"
    REFUSE = "refuse"


#: Host key file on a typical server for each key algorithm (for the "compare" hint).
_KEY_FILES = {
    "ssh-ed25519": "ssh_host_ed25519_key.pub",
    "ssh-rsa": "ssh_host_rsa_key.pub",
    "rsa-sha2-256": "ssh_host_rsa_key.pub",
    "rsa-sha2-512": "ssh_host_rsa_key.pub",
    "ecdsa-sha2-nistp256": "ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp384": "ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp521": "ssh_host_ecdsa_key.pub",
}


def compare_command(key_type: str) -> str:
    """The command that prints this key's fingerprint on the server."""
    return f"ssh-keygen -lf /etc/ssh/{_KEY_FILES.get(key_type, 'ssh_host_*_key.pub')}"


class HostKeyDialog(ModalScreen[HostKeyChoice]):
    """Shows host, port, key type and the SHA256 fingerprint; Refuse has the focus."""

    BINDINGS = [
        Binding("escape", "refuse", "Refuse", id="hostkey.refuse", tooltip="Do not trust this key; do not connect"),
    ]

    def __init__(self, unknown: HostKeyUnknown, mailtui_known_hosts: str = "known_hosts file") -> None:
        super().__init__(classes="dialog")
        self.unknown = unknown
        #: Where "Trust (mailtui)" saves the key, for the button's tooltip.
        self.mailtui_known_hosts = mailtui_known_hosts

    def compose(self) -> ComposeResult:
        key = self.unknown
        with Vertical(id="dialog-box", classes="-hostkey"):
            yield Label("Unknown host key", classes="dialog-title")
            yield Static(
                Content.assemble(
                    "mailtui has never seen the host key of ", (f"{key.host} port {key.port}", "bold"),
                    ". Trust it only if it is the server's real key.",
                ),
                classes="dialog-text",
            )
            with Vertical(id="fingerprints"):
                with Horizontal(classes="key-row"):
                    yield Label("Key type", classes="fingerprint-label")
                    yield Static(Content(key.key_type), id="key-type")
                with Horizontal(classes="key-row"):
                    yield Label("Fingerprint", classes="fingerprint-label")
                    yield Static(Content(key.fingerprint), id="fingerprint", classes="fingerprint")
            yield Static(
                Content.assemble(
                    "Compare it on the server, through a console or a connection you already trust:\n  ",
                    (compare_command(key.key_type), "bold $text-accent"),
                    "\nmust print exactly this SHA256 fingerprint.",
                ),
                id="compare-hint",
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Trust (mailtui)", id="trust-mailtui", variant="success",
                             tooltip=f"Trust the key and save it in mailtui's own {self.mailtui_known_hosts}")
                yield Button("Trust (~/.ssh/known_hosts)", id="trust-user", variant="warning",
                             tooltip="Trust the key and save it in ~/.ssh/known_hosts, where ssh(1) sees it too")
                yield Button("Refuse", id="refuse", variant="error", tooltip="Do not connect")

        yield Footer()
    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        choice = {
            "trust-mailtui": HostKeyChoice.MAILTUI,
            "trust-user": HostKeyChoice.USER,
        }.get(event.button.id or "", HostKeyChoice.REFUSE)
        self.dismiss(choice)

    def action_refuse(self) -> None:
        self.dismiss(HostKeyChoice.REFUSE)
