"""The Servers screen: this machine and the saved profiles; connect, add, edit, delete, test."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from mailtui.core.connect import make_transport
from mailtui.core.facts import ServerFacts, collect_facts
from mailtui.core.profiles import Config, ServerProfile
from mailtui.core.target import LocalTarget, Target
from mailtui.core.transport import HostKeyChanged, HostKeyUnknown, TransportError
from mailtui.ui.dialogs import ConfirmDialog, HostKeyChangedDialog, HostKeyChoice, HostKeyDialog, ProfileForm
from mailtui.ui.paths import display_path
from mailtui.ui.widgets.facts_view import NARROW_WIDTH, stack_summary

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp

LOCAL_ROW = "local"
_PROFILE_ROW = "server:"


def target_name(target: Target) -> str:
    return "this machine" if isinstance(target, LocalTarget) else target.name


class ServersScreen(Screen[None]):
    """The list to start from. Row keys: ``local`` and ``server:<name>``."""

    BINDINGS = [
        # priority: the table's own (hidden) enter binding would otherwise hide this one in the footer.
        Binding("enter", "connect", "Connect", id="servers.connect", priority=True,
                tooltip="Connect to the selected server and read its facts"),
        Binding("a", "add", "Add", id="servers.add", tooltip="Save a new server profile"),
        Binding("e", "edit", "Edit", id="servers.edit", tooltip="Change the selected server's profile"),
        Binding("d", "delete", "Delete", id="servers.delete", tooltip="Forget the selected server (asks first)"),
        Binding("t", "test", "Test", id="servers.test",
                tooltip="Connect, read the facts, report and disconnect, without leaving this screen"),
    ]

    app: MailtuiApp

    def __init__(self) -> None:
        super().__init__()
        #: The target of the last test started (for retrying after a host-key decision).
        self._testing: Target | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="servers-title", classes="screen-title")
        with Horizontal(id="servers-body"):
            with Vertical(id="servers-list") as box:
                box.border_title = "Servers"
                yield DataTable(id="servers", cursor_type="row", zebra_stripes=True)
                yield Static("", id="servers-hint", classes="hint")
            with VerticalScroll(id="server-details") as box:
                box.border_title = "Details"
                yield Static("", id="details")
        yield Static("", id="test-result")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Servers"
        table = self.query_one("#servers", DataTable)
        table.add_column("Name", key="name")
        table.add_column("Address", key="address")
        table.add_column("Sudo", key="sudo")
        table.add_column("State", key="state")
        self.watch(self.app, "config", self._config_changed)
        self.watch(self.app, "session", self._session_changed, init=False)
        table.focus()

    def on_resize(self, event: events.Resize) -> None:
        # Below 100 columns the details go under the list instead of beside it.
        self.query_one("#servers-body").set_class(event.size.width < NARROW_WIDTH, "-narrow")

    # ----------------------------------------------------------------- the list
    def _config_changed(self, config: Config) -> None:
        self.query_one("#servers-title", Static).update(
            Content.assemble(("Saved servers", "bold"), (f"  ·  {display_path(config.path)}", "$foreground-muted"))
        )
        self.refresh_rows(config)

    def _session_changed(self, _session: object) -> None:
        self.refresh_rows(self.app.config)

    def refresh_rows(self, config: Config, select: str | None = None) -> None:
        table = self.query_one("#servers", DataTable)
        keep = select or self.selected_key()
        table.clear()
        session = self.app.session
        connected = session.target if session is not None else None
        local = LocalTarget()
        table.add_row(Text("This machine (local)", style="bold"), Text("this machine"), Text("yes" if local.sudo else "no"),
                      _state(connected == local), key=LOCAL_ROW)
        for profile in config.servers:
            table.add_row(Text(profile.name, style="bold"), Text(profile.address), Text("yes" if profile.sudo else "no"),
                          _state(connected == profile), key=_PROFILE_ROW + profile.name)
        hint = self.query_one("#servers-hint", Static)
        hint.update("No saved servers yet: press a to add one, or enter to look at this machine."
                    if not config.servers else "")
        hint.display = not config.servers
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep))
            except Exception:  # noqa: BLE001 - the row went away (deleted): stay where we are
                pass

    def selected_key(self) -> str | None:
        table = self.query_one("#servers", DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - no cursor row (empty table)
            return None

    def selected_target(self) -> Target | None:
        key = self.selected_key()
        if key == LOCAL_ROW:
            return LocalTarget()
        if key and key.startswith(_PROFILE_ROW):
            return self.app.config.server(key[len(_PROFILE_ROW):])
        return None

    def selected_profile(self) -> ServerProfile | None:
        target = self.selected_target()
        return target if isinstance(target, ServerProfile) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        target = self.selected_target()
        self.query_one("#details", Static).update(describe_target(target) if target is not None else "")

    # ------------------------------------------------------------------ actions
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_connect()

    def action_connect(self) -> None:
        target = self.selected_target()
        if target is None:
            return
        session = self.app.session
        if session is not None and session.target == target:
            # Already connected: go back to it instead of connecting again.
            self.app.show_session()
        else:
            self.app.connect_to(target)

    def action_add(self) -> None:
        self.app.action_add_server()

    def action_edit(self) -> None:
        profile = self.selected_profile()
        if profile is None:
            self.notify("This machine has no settings to edit.", severity="warning")
            return

        def edited(new: ServerProfile | None) -> None:
            if new is not None:
                self.app.save_profile(new, replacing=profile.name)

        self.app.push_screen(ProfileForm(self.app.config, profile), edited)

    def action_delete(self) -> None:
        profile = self.selected_profile()
        if profile is None:
            self.notify("This machine is always listed; there is nothing to delete.", severity="warning")
            return

        async def confirmed(yes: bool | None) -> None:
            if yes:
                await self.app.delete_profile(profile.name)

        question = Content.assemble(
            "Forget the server ", (profile.name, "bold"), f" ({profile.address})? ",
            "Its trusted host key stays in the known_hosts file.",
        )
        self.app.push_screen(ConfirmDialog("Delete server", question, confirm_label="Delete"), confirmed)

    def action_test(self) -> None:
        target = self.selected_target()
        if target is None:
            return
        self._report(Content.assemble("Testing ", (target_name(target), "bold"), "…"), "-busy")
        self._testing = target
        self._test(target)

    # --------------------------------------------------------------- test run
    @work(group="test", exclusive=True, exit_on_error=False, name="test")
    async def _test(self, target: Target) -> tuple[Target, ServerFacts]:
        transport = make_transport(target, self.app.config)
        try:
            await transport.connect()
            self._report(Content.assemble("Testing ", (target_name(target), "bold"), ": reading facts…"), "-busy")
            return target, await collect_facts(transport)
        finally:
            await transport.close()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "test":
            return
        event.stop()
        if event.state == WorkerState.SUCCESS:
            target, facts = worker.result
            self._report(Content.assemble((f"{target_name(target)}: ", "bold"), "OK: ", stack_summary(facts)), "-ok")
        elif event.state == WorkerState.ERROR:
            self._test_failed(worker.error)

    def _test_failed(self, error: BaseException | None) -> None:
        target = self._testing
        if isinstance(error, HostKeyUnknown):
            self._report(Content("Unknown host key: waiting for your decision…"), "-busy")

            def decided(choice: HostKeyChoice | None) -> None:
                if choice in (HostKeyChoice.MAILTUI, HostKeyChoice.USER):
                    if self.app.trust_host_key(error, choice) and target is not None:
                        self._report(Content.assemble("Testing ", (target_name(target), "bold"), "…"), "-busy")
                        self._test(target)
                else:
                    self._report(Content("Not tested: host key refused"), "-error")

            self.app.push_screen(HostKeyDialog(error, display_path(self.app.config.known_hosts_path)), decided)
        elif isinstance(error, HostKeyChanged):
            self._report(Content(error.message), "-error")
            self.app.push_screen(HostKeyChangedDialog(error))
        elif isinstance(error, TransportError):
            self._report(Content(error.message), "-error")
        else:
            self._report(Content(f"Unexpected error: {type(error).__name__}: {error}"), "-error")

    def _report(self, text: Content, state: str) -> None:
        result = self.query_one("#test-result", Static)
        result.update(text)
        result.set_classes(state)


def describe_target(target: Target) -> Content:
    """What connecting to ``target`` will do, setting by setting."""
    if isinstance(target, LocalTarget):
        rows = [
            ("Where", "this machine, no SSH"),
            ("As", f"{getpass.getuser()} (the user running mailtui)"),
            ("Root reads", "with sudo -n" if target.sudo else "off"),
        ]
        title = "This machine"
    else:
        rows = [
            ("Host", target.host),
            ("Port", str(target.port) if target.port else "default (22)"),
            ("User", target.user or "from ~/.ssh/config, else your user name"),
            ("Key file", target.key or "the agent and default keys"),
            ("SSH agent", "used" if target.agent else "not used"),
            ("Jump host", target.jump or "none"),
            ("Root reads", "with sudo -n" if target.sudo else "sudo switched off"),
        ]
        title = target.name
    parts: list[str | tuple[str, str]] = [(title, "bold"), "\n"]
    for label, value in rows:
        parts += ["\n", (f"{label:<11}", "$text-secondary"), value]
    return Content.assemble(*parts)


def _state(connected: bool) -> Text:
    return Text("● connected", style="bold") if connected else Text("")
