"""LogView: a live, filterable view of classified log events that stays fast under floods.

The view keeps the newest ``capacity`` events in a ring (a list whose front is dropped
in chunks; every event has an absolute sequence number, so the cursor and the filter's
index survive the trimming). It renders only the rows on screen (Textual's line API:
``render_line``), and highlights a row with the Pygments mail-log lexer the first time
it is shown; highlighted rows are cached. Rows show at most :data:`SHOWN_CHARS`
characters, so a megabyte-long hostile line costs no more than any other.

Every row is built from sanitised text (:func:`mailtui.core.text.sanitize`) into a Rich
``Text`` with spans: no markup is ever parsed, no escape sequence reaches the terminal.
Colours come from component classes styled in ``app.tcss`` with theme variables.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from pygments.token import Number, Operator, Punctuation, _TokenType
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mailtui.core.logs.events import LogEvent, Severity
from mailtui.core.logs.reading import merge_by_time
from mailtui.core.text import sanitize
from mailtui.highlight import lexer as maillog
from mailtui.ui.log_filter import LogFilter

__all__ = ["LogView", "RING_CAPACITY", "SHOWN_CHARS", "row_text"]

#: Events kept in memory; older ones are dropped (the feed's counters stay exact).
RING_CAPACITY = 100_000
#: Characters of a line shown and highlighted; the rest is summarised.
SHOWN_CHARS = 2000
#: How far back a batch of older events (another source's backfill) is merged in by time.
MERGE_WINDOW = 50_000
_GUTTER = 2

# Lexer token types -> component classes (app.tcss gives each a theme colour).
_TOKEN_CLASSES: dict[_TokenType, str] = {
    maillog.TIMESTAMP: "log-view--timestamp",
    maillog.HOST: "log-view--host",
    maillog.PROGRAM: "log-view--program",
    maillog.LEVEL: "log-view--level",
    maillog.ADDRESS: "log-view--address",
    maillog.MESSAGE_ID: "log-view--queue-id",
    maillog.MAIL_ADDRESS: "log-view--mail-address",
    maillog.KEY: "log-view--key",
    maillog.TROUBLE: "log-view--trouble",
    maillog.GOOD: "log-view--good",
    Number.Integer: "log-view--number",
    Number.Float: "log-view--number",
    Punctuation: "log-view--punctuation",
    Operator: "log-view--punctuation",
}
_SEVERITY_CLASSES = {
    Severity.CRITICAL: "log-view--critical",
    Severity.WARNING: "log-view--warning",
    Severity.NOTICE: "log-view--notice",
}


def row_text(event: LogEvent, limit: int = SHOWN_CHARS) -> str:
    """The text a row shows: the line, sanitised and cut to ``limit`` characters.

    A journal entry (JSON) is shown as the syslog line it stands for.
    """
    record = event.record
    raw = record.raw
    if raw.startswith("{") and record.program:
        stamp = record.time.astimezone().strftime("%b %d %H:%M:%S") if record.time else ""
        pid = f"[{record.pid}]" if record.pid is not None else ""
        raw = f"{stamp} {record.host} {record.program}{pid}: {record.message}"
    return sanitize(raw, max_length=limit)


class LogView(ScrollView, can_focus=True):
    """The rows of the Logs panel. Feed it with :meth:`append`; filter with :meth:`set_filter`."""

    COMPONENT_CLASSES = {
        *_TOKEN_CLASSES.values(),
        *_SEVERITY_CLASSES.values(),
        "log-view--cursor",
        "log-view--empty",
    }

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="logs.view.up", tooltip="Select the line above"),
        Binding("down", "cursor(1)", "Down", show=False, id="logs.view.down", tooltip="Select the line below"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="logs.view.pageup", tooltip="One screen up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="logs.view.pagedown", tooltip="One screen down"),
        Binding("home", "first", "First", show=False, id="logs.view.home", tooltip="The oldest line kept"),
        Binding("end", "last", "Last", show=False, id="logs.view.end",
                tooltip="The newest line, and follow new lines again"),
    ]

    #: Whether new lines scroll into view (the cursor stays on the newest line).
    following: var[bool] = var(True, init=False)
    #: What an empty view says (``Reading …``, ``No line matches``).
    empty_message: var[str] = var("", init=False)

    class CursorMoved(Message):
        """The selected event changed (None: nothing selected)."""

        def __init__(self, view: LogView, event: LogEvent | None) -> None:
            super().__init__()
            self.view = view
            self.event = event

        @property
        def control(self) -> LogView:
            return self.view

    class FollowToggled(Message):
        """Following new lines was switched on or off."""

        def __init__(self, view: LogView, following: bool) -> None:
            super().__init__()
            self.view = view
            self.following = following

        @property
        def control(self) -> LogView:
            return self.view

    def __init__(self, *, capacity: int = RING_CAPACITY, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.capacity = capacity
        self._events: list[LogEvent] = []
        self._base = 0  # sequence number of _events[0]
        self._filter = LogFilter()
        self._matches: list[int] | None = None  # sequence numbers; None: every event matches
        self._cursor: int | None = None  # sequence number of the selected event
        self._reported: LogEvent | None = None
        self._width = 0
        #: Matching events that arrived while not following.
        self.new_while_paused = 0
        self._strips: LRUCache[int, Strip] = LRUCache(2048)
        self._lexer = maillog.MailLogLexer()
        self._token_styles: dict[_TokenType, Style | None] = {}
        self._class_styles: dict[str, Style] = {}

    # ---------------------------------------------------------------- reading
    @property
    def total_count(self) -> int:
        """Events kept (all, filtered or not)."""
        return len(self._events)

    @property
    def row_count(self) -> int:
        """Events that match the filter (the rows)."""
        return len(self._events) if self._matches is None else len(self._matches)

    @property
    def filter(self) -> LogFilter:
        return self._filter

    @property
    def cursor_row(self) -> int | None:
        if self._cursor is None:
            return None
        return self._row_of(self._cursor)

    @property
    def selected_event(self) -> LogEvent | None:
        if self._cursor is None or not self.row_count:
            return None
        return self._events[self._cursor - self._base]

    def event_at_row(self, row: int) -> LogEvent:
        return self._events[self._seq_at(row) - self._base]

    def visible_events(self) -> list[LogEvent]:
        """The events on screen now, top to bottom (for tests and screenshots)."""
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        return [self.event_at_row(row) for row in range(top, min(top + height, self.row_count))]

    def matching_events(self) -> Iterable[LogEvent]:
        """Every kept event that matches the filter, oldest first."""
        if self._matches is None:
            return iter(self._events)
        base, events = self._base, self._events
        return (events[seq - base] for seq in self._matches)

    def _seq_at(self, row: int) -> int:
        return self._base + row if self._matches is None else self._matches[row]

    def _row_of(self, seq: int) -> int:
        if self._matches is None:
            return seq - self._base
        return min(bisect.bisect_left(self._matches, seq), max(len(self._matches) - 1, 0))

    # ---------------------------------------------------------------- writing
    def append(self, batch: list[LogEvent]) -> int:
        """Add events (oldest first); returns how many of them match the filter.

        A batch that starts before the newest kept event (another source's backfill)
        is merged into the recent tail by time, as far back as :data:`MERGE_WINDOW`.
        """
        if not batch:
            return 0
        rows_before = self.row_count
        events = self._events
        start = self._merge_point(batch)
        if start < len(events):
            batch = _merge_tail(events[start:], batch)
            del events[start:]
            first_seq = self._base + start
            if self._matches is not None:
                del self._matches[bisect.bisect_left(self._matches, first_seq):]
            self._forget_strips(first_seq)
            if self._cursor is not None and self._cursor >= first_seq and self._reported is not None:
                # Keep the selection on the same event, wherever the merge put it.
                self._cursor = next((first_seq + i for i, e in enumerate(batch) if e is self._reported), self._cursor)
        else:
            first_seq = self._base + len(events)
        events.extend(batch)
        for event in batch:
            length = len(event.record.raw)
            if length > self._width:
                self._width = min(length, SHOWN_CHARS + 30)
        if self._matches is not None:
            matches = self._filter.matches
            self._matches.extend(first_seq + i for i, event in enumerate(batch) if matches(event))
        # A merged tail was taken out and put back: the difference is the new matches.
        matched = self.row_count - rows_before
        if not self.following:
            self.new_while_paused += matched
        self._trim()
        self._changed()
        return matched

    def _merge_point(self, batch: list[LogEvent]) -> int:
        """Index in the ring from which kept events are newer than the batch's start."""
        events = self._events
        first = next((e.record.time for e in batch if e.record.time is not None), None)
        if first is None or not events:
            return len(events)
        stamp = first.timestamp()
        stop = max(0, len(events) - MERGE_WINDOW)
        index = len(events)
        for i in range(len(events) - 1, stop - 1, -1):
            time = events[i].record.time
            if time is None:
                continue
            if time.timestamp() <= stamp:
                return index
            index = i
        return index

    def _trim(self) -> None:
        """Drop the oldest events beyond the capacity (in chunks: amortised O(1))."""
        excess = len(self._events) - self.capacity
        if excess <= 0 or (excess < self.capacity // 20 and excess < 5000):
            return
        del self._events[:excess]
        self._base += excess
        if self._matches is None:
            removed_rows = excess
        else:
            removed_rows = bisect.bisect_left(self._matches, self._base)
            del self._matches[:removed_rows]
        if self._cursor is not None and self._cursor < self._base:
            self._cursor = self._seq_at(0) if self.row_count else None
        if not self.following and removed_rows:
            # Keep the same lines on screen while the user reads them.
            self.scroll_to(y=max(0, self.scroll_y - removed_rows), animate=False, immediate=True, force=True)

    def set_filter(self, log_filter: LogFilter) -> int:
        """Show only events matching ``log_filter``; returns the number of rows."""
        self._filter = log_filter
        if log_filter.is_empty:
            self._matches = None
        else:
            matches = log_filter.matches
            base = self._base
            self._matches = [base + i for i, event in enumerate(self._events) if matches(event)]
        self._strips.clear()
        if self.following or self._cursor is None:
            self._cursor = self._seq_at(self.row_count - 1) if self.row_count else None
        elif self.row_count:
            self._cursor = self._seq_at(self._row_of(self._cursor))
        else:
            self._cursor = None
        self._changed(center=True)
        return self.row_count

    def clear(self) -> None:
        self._events.clear()
        self._matches = None if self._filter.is_empty else []
        self._base = 0
        self._cursor = None
        self._strips.clear()
        self._changed()

    def _forget_strips(self, first_seq: int) -> None:
        last = self._base + len(self._events)
        if last - first_seq > 4096:
            self._strips.clear()
        else:
            for seq in range(first_seq, last):
                self._strips.discard(seq)

    def _changed(self, center: bool = False) -> None:
        """After rows changed: size, follow, cursor, repaint."""
        self.virtual_size = Size(self._width + _GUTTER, self.row_count)
        if self.following and self.row_count:
            self._cursor = self._seq_at(self.row_count - 1)
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

        elif center:
            self._scroll_to_cursor(center=True)
        self.refresh()
        self._report_cursor()

    def stay_at_end(self) -> None:
        """While following, be at the very end (call now and then: a scrollbar that
        appears at a later layout changes where the end is)."""
        if self.following and self.scroll_y != self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def _report_cursor(self) -> None:
        event = self.selected_event
        if event is not self._reported:
            self._reported = event
            self.post_message(self.CursorMoved(self, event))

    # ----------------------------------------------------------------- moving
    def select_row(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view."""
        if not self.row_count:
            return
        row = max(0, min(row, self.row_count - 1))
        self._cursor = self._seq_at(row)
        self._scroll_to_cursor()
        self.refresh()
        self._report_cursor()

    def _scroll_to_cursor(self, center: bool = False) -> None:
        row = self.cursor_row
        if row is None:
            return
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        if center and not (top <= row < top + height):
            self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True, force=True)
        elif row < top:
            self.scroll_to(y=row, animate=False, immediate=True, force=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True, force=True)

    def _move(self, delta: int) -> None:
        row = self.cursor_row
        target = (self.row_count - 1 if delta > 0 else 0) if row is None else row + delta
        if target < self.row_count - 1 or delta < 0:
            self.following = False
        self.select_row(target)

    def action_cursor(self, delta: int) -> None:
        self._move(delta)

    def action_page(self, direction: int) -> None:
        self._move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.following = False
        self.select_row(0)

    def action_last(self) -> None:
        if self.following:
            self._changed()
        else:
            self.following = True

    def watch_following(self, following: bool) -> None:
        if following:
            self.new_while_paused = 0
            self._changed()
        self.post_message(self.FollowToggled(self, following))

    def watch_empty_message(self) -> None:
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.following:
            self.call_after_refresh(self._changed)

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_y) + event.y
        if 0 <= row < self.row_count:
            self.following = False
            self.select_row(row)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        # Scrolling back in time while following would be undone by the next batch.
        self.following = False

    # -------------------------------------------------------------- rendering
    def notify_style_update(self) -> None:
        super().notify_style_update()
        # Theme changed: the cached rows carry the old colours.
        self._token_styles.clear()
        self._class_styles.clear()
        self._strips.clear()

    def _token_style(self, token: _TokenType) -> Style | None:
        try:
            return self._token_styles[token]
        except KeyError:
            pass
        kind = token
        while kind is not None and kind not in _TOKEN_CLASSES:
            kind = kind.parent
        style = self._foreground_style(_TOKEN_CLASSES[kind]) if kind is not None else None
        self._token_styles[token] = style or None
        return self._token_styles[token]

    def _foreground_style(self, name: str) -> Style:
        """A component's colour and text style, without a background (so that the cursor's
        background shows through). The colour is taken from the full style, where Textual
        has blended a translucent theme colour (``$text-muted``) over the background."""
        style = self._class_styles.get(name)
        if style is None:
            full = self.get_component_rich_style(name)
            style = self._class_styles[name] = self.get_component_rich_style(name, partial=True) + Style(color=full.color)
        return style

    def _line_strip(self, seq: int) -> Strip:
        strip = self._strips.get(seq)
        if strip is None:
            event = self._events[seq - self._base]
            line = row_text(event)
            spans = []
            for index, token, value in self._lexer.get_tokens_unprocessed(line):
                style = self._token_style(token)
                if style is not None and value:
                    spans.append(Span(index, index + len(value), style))
            text = Text(line, spans=spans, no_wrap=True, end="")
            strip = Strip(list(text.render(self.app.console)), text.cell_len)
            self._strips[seq] = strip
        return strip

    def _gutter(self, event: LogEvent) -> Strip:
        name = _SEVERITY_CLASSES.get(event.severity)
        if name is None:
            return Strip.blank(_GUTTER)
        return Strip([Segment("▌", self._foreground_style(name)), Segment(" ")], _GUTTER)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base_style = self.rich_style
        row = scroll_y + y
        if row >= self.row_count:
            if y == 0 and not self.row_count and self.empty_message:
                text = Text(" " + self.empty_message, style=self.get_component_rich_style("log-view--empty"))
                return Strip(list(text.render(self.app.console)), text.cell_len).crop_extend(0, width, base_style)
            return Strip.blank(width, base_style)
        seq = self._seq_at(row)
        event = self._events[seq - self._base]
        line = self._line_strip(seq).crop_extend(scroll_x, scroll_x + width - _GUTTER, None)
        strip = Strip.join([self._gutter(event), line])
        if seq == self._cursor:
            return strip.apply_style(self.get_component_rich_style("log-view--cursor"))
        return strip.apply_style(base_style)


def _merge_tail(tail: list[LogEvent], batch: list[LogEvent]) -> list[LogEvent]:
    """Two runs of events merged by time (stable: undated events keep their place)."""
    return merge_by_time([tail, batch])
