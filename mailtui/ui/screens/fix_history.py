"""Fix history: the fixes applied on the server (its backups), and undo through the same protocol.

The list comes from :func:`mailtui.core.checks.engine.history` (the server's
``/var/backups/mailtui/*/meta.json``), newest first. ``u`` undoes the highlighted fix:
a :class:`~mailtui.ui.dialogs.fix_preview.FixPreviewDialog` plans it with
:func:`~mailtui.core.checks.engine.plan_undo`, shows the exact diff and applies it only on
a yes. The screen returns True when something was changed, so the checklist grades again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from mailtui.core.checks.engine import FixResult, HistoryItem, Outcome, history
from mailtui.core.checks.fixes import FIXES
from mailtui.core.text import sanitize
from mailtui.core.transport import Transport, TransportError
from mailtui.ui.dialogs.fix_preview import FixPreviewDialog, FixRequest

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp

__all__ = ["FixHistoryScreen", "describe_item"]

_MUTED = "$foreground-muted"
#: DataTable cells are Rich renderables: theme variables are looked up when a row is made.
_STATUS_COLOR = {"applied": "text-success", "rolled back": "text-warning", "applying": "text-error",
                 "revert pending": "text-error", "failed": "text-warning", "undone": "foreground-muted"}


def fix_title(fix_id: str) -> str:
    fix = FIXES.get(fix_id)
    return fix.title if fix is not None else fix_id


def _when(item: HistoryItem) -> str:
    return sanitize(item.time.replace("T", " ").removesuffix("+00:00"))


def describe_item(item: HistoryItem, items: dict[str, HistoryItem], undone_by: str | None,
                  colors: dict[str, str] | None = None) -> tuple[Text, ...]:
    """One row: when, status (``· undone`` once a later undo put the files back), what.

    Plain ``Text`` (a str cell would be read as markup); ``colors`` are the theme's variables.
    """
    colors = colors or {}
    muted = colors.get("foreground-muted", "")
    if item.undo_of:
        original = items.get(item.undo_of)
        what = Text("Undo: ")
        what.append(fix_title(original.fix_id) if original else sanitize(item.fix_id))
        what.append(f"  (the fix of {_when(original)})" if original else f"  ({sanitize(item.undo_of)})", style=muted)
    else:
        title = fix_title(item.fix_id)
        what = Text(sanitize(title), style="bold")
        if title != item.fix_id:
            what.append("  " + sanitize(item.fix_id), style=muted)
    status_word = "interrupted" if item.status == "applying" else sanitize(item.status)
    status = Text(status_word, style=colors.get(_STATUS_COLOR.get(item.status, ""), ""))
    if undone_by:
        status.append(" · undone", style=muted)
    return Text(_when(item)), status, what


_STATUS_MEANING = {
    "applied": "applied and verified; undo puts the files back as they were before it",
    "rolled back": "failed and was rolled back at once: the files are as before, nothing to undo",
    "applying": "did not finish, and the server has no record of a restore: compare the files with the backup",
    "revert pending": "failed and could not be restored at once: the server's timed revert restores the files",
    "failed": "failed before anything changed",
    "undone": "a later undo put the files back as they were before it",
}


class FixHistoryScreen(Screen[bool]):
    """The server's applied fixes; returns True when an undo changed something."""

    BINDINGS = [
        Binding("u", "undo", "Undo", id="history.undo",
                tooltip="Undo the highlighted fix: shows the exact diff first, applies it like a fix"),
        Binding("r", "reload", "Reload", id="history.reload", tooltip="Read the list from the server again"),
        Binding("escape", "back", "Back", id="history.back", tooltip="Back to the checklist"),
    ]

    app: MailtuiApp

    def __init__(self, transport: Transport, *, label: str) -> None:
        super().__init__()
        self.transport = transport
        self.label = label
        self.items: list[HistoryItem] = []
        self.changed = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content.assemble((self.label, "bold"), ("  ·  fix history", _MUTED)),
                     id="history-title", classes="screen-title")
        yield Static(Content("Reading the server's backups…"), id="history-status")
        yield LoadingIndicator(id="history-loading")
        with Vertical(id="history-box") as box:
            box.border_title = "Applied fixes (newest first)"
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Fix history · {self.label}"
        table = self.query_one(DataTable)
        table.add_columns("When (UTC)", "Status", "Fix")
        table.focus()
        self._load()

    @work(group="history", exclusive=True, exit_on_error=False, name="fix history")
    async def _load(self) -> list[HistoryItem]:
        return await history(self.transport)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "history":
            return
        status = self.query_one("#history-status", Static)
        if event.state == WorkerState.SUCCESS:
            self.query_one("#history-loading").display = False
            self.show_items(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.query_one("#history-loading").display = False
            error = event.worker.error
            message = error.message if isinstance(error, TransportError) else f"{type(error).__name__}: {error}"
            status.update(Content.assemble(("Cannot read the fix history: ", "bold"), message))
            status.set_classes("-error")

    def show_items(self, items: list[HistoryItem]) -> None:
        self.items = list(items)
        table = self.query_one(DataTable)
        table.clear()
        colors = self.app.get_css_variables()
        by_id = {i.id: i for i in items}
        for item in items:
            # The engine writes each entry's final status (undone included): nothing to guess here.
            table.add_row(*describe_item(item, by_id, None, colors), key=item.id)
        self._show_detail()
        status = self.query_one("#history-status", Static)
        status.set_classes("")
        if items:
            status.update(Content.assemble(
                f"{len(items)} backups in /var/backups/mailtui on the server. ",
                ("u", "bold $text-accent"), " undoes the highlighted fix (you see the diff first)."))
        else:
            status.update(Content("No fix has been applied on this server by mailtui yet."))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        item = self.selected
        detail = self.query_one("#history-detail", Static)
        detail.display = item is not None
        if item is None:
            return
        detail.update(Content.assemble(
            ("backup ", _MUTED), sanitize(item.id), ("   ", ""),
            (sanitize(item.status), "bold"), (": " + _STATUS_MEANING.get(item.status, ""), _MUTED),
            ("\nfiles ", _MUTED), sanitize(", ".join(item.files)),
        ))

    @property
    def selected(self) -> HistoryItem | None:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row is None or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def action_undo(self) -> None:
        item = self.selected
        if item is None:
            self.notify("No fix to undo.", severity="warning")
            return
        if not item.undoable:
            self.notify(f"That fix is {item.status}: {_STATUS_MEANING.get(item.status, 'nothing to undo')}.",
                        severity="warning", markup=False)
            return
        self.request_undo(item)

    def request_undo(self, item: HistoryItem) -> None:
        title = f"Undo {fix_title(item.fix_id)}" if not item.undo_of else f"Undo the undo {item.id}"

        def done(result: FixResult | None) -> None:
            if result is not None and result.outcome != Outcome.DRY_RUN:
                self.changed = True
                self._load()

        self.app.push_screen(FixPreviewDialog(self.transport, FixRequest(undo_of=item.id, title=title)), done)

    def action_reload(self) -> None:
        self._load()

    def action_back(self) -> None:
        self.dismiss(self.changed)
