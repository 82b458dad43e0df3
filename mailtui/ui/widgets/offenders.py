"""The Logs panel's side views: top offenders, event rates, the selected line explained.

All three only show what the core computed: the Aggregator's summary, the feed's
per-minute counts, and ``event.info`` (the explanation written once in
``mailtui.core.logs.events``). Remote values (user names, host names, details) are
sanitised by the core and placed into ``Content`` as plain text, never as markup.
"""

from __future__ import annotations

import datetime as _dt
from enum import Enum

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Sparkline, Static

from mailtui.core.logs.aggregate import GUESSING_KINDS, KeyStats
from mailtui.core.logs.events import Family, LogEvent, Severity
from mailtui.core.text import sanitize
from mailtui.ui.logs_feed import RateSeries

__all__ = ["EventExplanation", "OffenderSort", "OffendersTable", "RateView", "format_count", "offender_service"]


def format_count(n: int) -> str:
    """1234567 -> '1 234 567' (thin groups read well in a terminal)."""
    return f"{n:,}".replace(",", " ")


def _clock(moment: _dt.datetime | None) -> str:
    # The log's own wall-clock time, as the lines show it (no zone conversion).
    return moment.strftime("%H:%M:%S") if moment is not None else "–"


class OffenderSort(Enum):
    ATTACKS = ("attacks", "attacks")
    TOTAL = ("total", "all lines")
    LAST_SEEN = ("last", "last seen")

    @property
    def label(self) -> str:
        return self.value[1]

    def next(self) -> OffenderSort:
        members = list(OffenderSort)
        return members[(members.index(self) + 1) % len(members)]


_SORT_KEYS = {
    OffenderSort.ATTACKS: lambda s: (s.attacks, s.total),
    OffenderSort.TOTAL: lambda s: (s.total, s.attacks),
    OffenderSort.LAST_SEEN: lambda s: (s.last_seen.timestamp() if s.last_seen else 0.0, s.attacks),
}
_COLUMN_SORT = {"attacks": OffenderSort.ATTACKS, "total": OffenderSort.TOTAL, "last": OffenderSort.LAST_SEEN}


#: The service whose fail2ban jail fits an offender, by the family of what it did most.
_FAMILY_SERVICE = {
    Family.SMTP: "smtpd",
    Family.REJECT: "smtpd",
    Family.TLS: "smtpd",
    Family.POSTSCREEN: "postscreen",
    Family.DOVECOT: "imap",
    Family.SSHD: "sshd",
}


def offender_service(stats: KeyStats) -> str | None:
    """The service an offender attacked most (its attacks first, else all its lines), or None."""
    counts = [(count, kind) for kind, count in stats.by_kind if kind.info.attack] or \
             [(count, kind) for kind, count in stats.by_kind]
    for _count, kind in sorted(counts, key=lambda item: item[0], reverse=True):
        service = _FAMILY_SERVICE.get(kind.info.family)
        if service is not None:
            return service
    return None


def offender_guessing(stats: KeyStats) -> bool:
    """Whether an offender's attacks are mostly failed logins (picks the fail2ban jail)."""
    attacks = [(count, kind) for kind, count in stats.by_kind if kind.info.attack]
    if not attacks:
        return False
    _count, kind = max(attacks, key=lambda item: item[0])
    return kind in GUESSING_KINDS


class OffendersTable(DataTable):
    """The remote addresses with the most attacks. Row keys are the addresses."""

    class OffenderSelected(Message):
        """The user chose an address (enter or click on its row)."""

        def __init__(self, table: OffendersTable, ip: str) -> None:
            super().__init__()
            self.table = table
            self.ip = ip

        @property
        def control(self) -> OffendersTable:
            return self.table

    class SortChanged(Message):
        def __init__(self, table: OffendersTable, sort: OffenderSort) -> None:
            super().__init__()
            self.table = table
            self.sort = sort

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sort = OffenderSort.ATTACKS
        self.offenders: tuple[KeyStats, ...] = ()

    def on_mount(self) -> None:
        self.add_column("IP address", key="ip")
        self.add_column("Attacks", key="attacks")
        self.add_column("Lines", key="total")
        self.add_column("Last seen", key="last")
        self.add_column("Why", key="why", width=24)

    @property
    def selected_offender(self) -> KeyStats | None:
        """The offender on the cursor row, or None when the table is empty."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return next((stats for stats in self.offenders if stats.key == key), None)

    def show(self, offenders: tuple[KeyStats, ...]) -> None:
        """Replace the rows (keeping the selected address selected)."""
        self.offenders = offenders
        self._fill()

    def sort_by(self, sort: OffenderSort) -> None:
        self.sort = sort
        self._fill()
        self.post_message(self.SortChanged(self, sort))

    def _fill(self) -> None:
        selected = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            selected = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        rows = sorted(self.offenders, key=_SORT_KEYS[self.sort], reverse=True)
        self.clear()
        for stats in rows:
            why = ", ".join(str(reason.label) for reason in stats.labels)
            attacks = Text(format_count(stats.attacks), justify="right")
            self.add_row(stats.key, attacks, Text(format_count(stats.total), justify="right"),
                         _clock(stats.last_seen), why, key=stats.key)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.OffenderSelected(self, event.row_key.value))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        sort = _COLUMN_SORT.get(str(event.column_key.value))
        if sort is not None:
            self.sort_by(sort)


class RateView(Vertical):
    """Events and attacks per minute over the last hour of log time, as two sparklines."""

    def compose(self) -> ComposeResult:
        yield Static("", id="rate-events-label", classes="rate-label")
        yield Sparkline([], id="rate-events", summary_function=max)
        yield Static("", id="rate-attacks-label", classes="rate-label")
        yield Sparkline([], id="rate-attacks", summary_function=max)

    def on_mount(self) -> None:
        self.show(RateSeries((), (), None))

    def show(self, rates: RateSeries) -> None:
        for name, series, what in (("events", rates.events, "lines"), ("attacks", rates.attacks, "attacks")):
            label = self.query_one(f"#rate-{name}-label", Static)
            if series:
                label.update(Content.assemble(
                    (f"{what.capitalize()} per minute", "bold"),
                    (f"  now {format_count(series[-1])} · peak {format_count(max(series))}", "$text-muted"),
                ))
            else:
                label.update(Content.assemble((f"{what.capitalize()} per minute", "bold"), ("  –", "$text-muted")))
            self.query_one(f"#rate-{name}", Sparkline).data = list(series) or [0]


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold $text-error",
    Severity.WARNING: "bold $text-warning",
    Severity.NOTICE: "bold $text-accent",
    Severity.INFO: "bold $text-success",
}


def explanation_content(event: LogEvent) -> Content:
    """The selected line explained: ``event.info`` and the event's own facts."""
    info = event.info
    parts: list[Content | str | tuple[str, str]] = [
        (info.title, "bold $text-primary"), "  ", (str(event.severity), _SEVERITY_STYLE[event.severity]),
    ]
    if event.attack:
        parts += ["  ", ("attack", "bold $text-error")]
    parts.append("\n\n")
    parts += [("What happened  ", "bold $text-secondary"), info.what, "\n"]
    parts += [("How dangerous  ", "bold $text-secondary"), info.danger, "\n"]
    if info.action:
        parts += [("What to do     ", "bold $text-secondary"), info.action, "\n"]
    parts.append("\n")
    facts = [
        ("kind", str(event.kind)),
        ("IP", event.remote_ip + (f" ({event.remote_host})" if event.remote_host and event.remote_host != event.remote_ip
                                  else "") if event.remote_ip else "–"),
        ("user", event.user or "–"),
        ("queue id", event.queue_id or "–"),
        ("service", event.service or "–"),
    ]
    facts += [(key, value) for key, value in event.details if key not in ("reply",)]
    for key, value in facts:
        # The core sanitises its fields, but ``service`` is the program name as logged
        # (unchecked for unknown programs): one more pass costs nothing for one line.
        parts += [(f"{key:<9} ", "$text-muted"), sanitize(value), "\n"]
    return Content.assemble(*parts)


class EventExplanation(VerticalScroll):
    """What the selected line means, how dangerous it is, what to do."""

    def compose(self) -> ComposeResult:
        yield Static("", id="explanation")

    def show(self, event: LogEvent | None) -> None:
        text = self.query_one("#explanation", Static)
        if event is None:
            text.update(Content.styled("Select a line (↑ ↓) to see what it means.", "$text-muted"))
        else:
            text.update(explanation_content(event))
