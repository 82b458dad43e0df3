"""The Server screen: progress while connecting, then what the server is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator, Static

from mailtui.core.facts import ServerFacts
from mailtui.ui.widgets.facts_view import FactsView, format_read_time

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp


class ServerScreen(Screen[None]):
    """One server. Created in the "connecting" state; ``show_facts`` fills it."""

    BINDINGS = [
        Binding("r", "app.reread_facts", "Re-read facts", id="server.reread",
                tooltip="Run the fact probes again on this server"),
        Binding("s", "app.show_servers", "Servers", id="server.servers",
                tooltip="Back to the list of servers (the connection stays open until you pick another)"),
        Binding("p", "app.sudo_password", "Give sudo password", id="server.sudo_password",
                tooltip="sudo wants a password: give it (kept in memory only) to read root-only facts"),
        Binding("l", "app.show_logs", "Logs", id="server.logs",
                tooltip="Follow this server's mail and auth logs live, classified and explained"),
        Binding("o", "app.show_scan", "Scan", id="server.scan",
                tooltip="Probe this server from outside (ports, SMTP, relay, TLS, DNS…), tied to its config and logs"),
        Binding("c", "app.show_checklist", "Checklist", id="server.checklist",
                tooltip="Grade this server's configuration against the hardening rules; preview and apply fixes"),
    ]

    app: MailtuiApp

    def __init__(self, label: str) -> None:
        super().__init__()
        #: Where we are connected (``this machine`` or ``ssh://user@host:port``).
        self.label = label
        self.facts: ServerFacts | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content.assemble((self.label, "bold")), id="facts-header", classes="screen-title")
        yield Static("", id="status")
        yield LoadingIndicator(id="loading")
        yield Vertical(id="facts-area")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.label

    # ------------------------------------------------------------------ state
    def show_progress(self, text: Content | str) -> None:
        """A line saying what is going on (``Connecting to …``, ``Reading facts…``)."""
        status = self.query_one("#status", Static)
        status.update(text if isinstance(text, Content) else Content(text))
        status.set_classes("-busy")
        # The spinner only stands in for facts we do not have yet.
        self.query_one("#loading").display = self.facts is None

    def show_problem(self, text: Content | str) -> None:
        status = self.query_one("#status", Static)
        status.update(text if isinstance(text, Content) else Content(text))
        status.set_classes("-error")
        self.query_one("#loading").display = False

    async def show_facts(self, label: str, facts: ServerFacts) -> None:
        self.label = label
        self.sub_title = label
        self.facts = facts
        self.query_one("#facts-header", Static).update(
            Content.assemble(
                (label, "bold"),
                ("  ·  facts read ", "$foreground-muted"),
                format_read_time(facts.collected_at),
                (f" in {facts.seconds:.1f} s", "$foreground-muted"),
            )
        )
        status = self.query_one("#status", Static)
        status.update("")
        status.set_classes("")
        self.query_one("#loading").display = False
        area = self.query_one("#facts-area", Vertical)
        await area.remove_children()
        await area.mount(FactsView(facts, id="facts"))
        self.refresh_bindings()
