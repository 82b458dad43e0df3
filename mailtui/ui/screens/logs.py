"""The Logs screen: the server's mail and auth logs, live, classified and explained.

A :class:`~mailtui.ui.logs_feed.LogFeed` follows every source in one worker (group
``logs``); a timer takes what arrived 15 times a second and hands it to the
:class:`~mailtui.ui.widgets.log_view.LogView` in one batch, so a flood of lines costs a
bounded number of repaints. Offenders and rates are recomputed by the feed about once
a second.

``b`` / ``u`` ban or unban the selected line's address (or the selected offender's):
a worker (group ``ban``) plans it with :func:`mailtui.core.ban.plan_ban`, a
:class:`~mailtui.ui.dialogs.ban.BanDialog` shows the exact commands and asks, and only a
yes starts the worker (group ``ban-apply``) that runs, verifies and audits it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from mailtui.core.ban import Action, BanError, BanPlan, BanResult, apply_ban, plan_ban
from mailtui.core.facts import LogSource, ServerFacts
from mailtui.core.logs.aggregate import GUESSING_KINDS, Summary
from mailtui.core.logs.follow import FollowNotice, NoticeKind
from mailtui.core.transport import Transport, TransportError
from mailtui.ui.dialogs.ban import BanDialog, BanRequest
from mailtui.ui.dialogs.error import ErrorDialog
from mailtui.ui.log_filter import FilterError, LogFilter, parse_filter
from mailtui.ui.logs_feed import BACKFILL_LINES, FeedBatch, LogFeed
from mailtui.ui.widgets.log_view import RING_CAPACITY, LogView
from mailtui.ui.widgets.offenders import (
    EventExplanation,
    OffendersTable,
    RateView,
    format_count,
    offender_guessing,
    offender_service,
)

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp

__all__ = ["BanTarget", "LogsScreen", "FLUSH_INTERVAL"]

#: How often arrived lines are applied to the view, in seconds (15 times a second).
FLUSH_INTERVAL = 1 / 15
#: Events waiting that make a bulk read (a big backfill), and how often the view is updated then.
BULK_EVENTS = 5000
BULK_FLUSH_INTERVAL = 0.5
#: Notices that also pop up as notifications (the others only go to the status line).
_NOTIFY = {
    NoticeKind.ROTATED: "information",
    NoticeKind.GONE: "warning",
    NoticeKind.TRUNCATED: "warning",
    NoticeKind.MISSING: "warning",
    NoticeKind.INTERRUPTED: "warning",
    NoticeKind.RESUMED: "information",
    NoticeKind.RESTARTED: "warning",
}


@dataclass(frozen=True)
class BanTarget:
    """The address ``b``/``u`` act on, and the service it was seen on (picks the fail2ban jail)."""

    ip: str
    service: str | None
    #: Its misdeed is failed logins (password guessing), not probing or scanning.
    guessing: bool = False


class LogsScreen(Screen[None]):
    """Follows ``sources`` on ``transport``. ``label`` says where (``this machine``, ``ssh://…``)."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="logs.filter",
                tooltip="Filter lines: ip:ADDR user:NAME kind:KIND sev:LEVEL qid:ID and words"),
        Binding("a", "attacks_only", "Attacks", id="logs.attacks",
                tooltip="Show only security-relevant lines (failed logins, relay probes, scanners…)"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow",
                tooltip="Follow new lines as they arrive, or hold the view still"),
        Binding("space", "toggle_follow", "Follow", show=False, id="logs.pause",
                tooltip="Follow new lines as they arrive, or hold the view still"),
        Binding("i", "jump_ip", "This IP", id="logs.jump_ip",
                tooltip="Show every line of the selected line's remote address"),
        Binding("t", "jump_queue", "Trace", id="logs.trace",
                tooltip="Show the selected message's way through Postfix (all lines with its queue id)"),
        Binding("b", "ban", "Ban", id="logs.ban",
                tooltip="Ban the selected line's remote address (or the selected offender's): shows the exact "
                        "command and asks first"),
        Binding("u", "unban", "Unban", id="logs.unban",
                tooltip="Lift the ban of the selected line's remote address (or the selected offender's); asks first"),
        Binding("o", "sort_offenders", "Sort", id="logs.sort",
                tooltip="Sort the offenders by attacks, all lines, or last seen"),
        Binding("escape", "clear_or_back", "Back", id="logs.escape",
                tooltip="Clear the jump or filter; with none, back to the Server screen"),
        Binding("s", "back", "Server", id="logs.server", tooltip="Back to the Server screen (stops following)"),
    ]

    app: MailtuiApp

    def __init__(
        self,
        transport: Transport,
        sources: Sequence[LogSource],
        *,
        label: str,
        backfill_lines: int = BACKFILL_LINES,
        capacity: int = RING_CAPACITY,
        poll_interval: float = 0.25,
        facts: ServerFacts | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        self.transport = transport
        #: The server's facts when the screen opened (ban planning reads the app's newer ones if any).
        self.facts = facts
        self.sources = tuple(sources)
        # Lines beyond what the view keeps are only counted (in bulk): the view's capacity.
        self.feed = LogFeed(transport, self.sources, backfill_lines=backfill_lines, poll_interval=poll_interval,
                            view_lines=capacity)
        self.capacity = capacity
        #: The query typed in the filter box (compiled), and the attacks-only toggle.
        self.query_filter = LogFilter()
        self.attacks_only = False
        #: What a jump (i, t, an offender) replaced, to restore on escape: (query text, attacks_only).
        self._before_jump: tuple[str, bool] | None = None
        self._last_notice: Content | None = None
        self._problems: list[str] = []
        self._flush_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._worker: Worker[None] | None = None
        self._frozen_at = 0.0
        self._flushed_at = 0.0
        self._gc_threshold: tuple[int, ...] | None = None
        #: The newest summary of everything read (offenders, counts by kind).
        self.summary: Summary | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="logs-title", classes="screen-title")
        with Horizontal(id="logs-filter-bar"):
            yield Static("Filter", id="filter-label")
            yield Input(placeholder="ip:203.0.113.5 user:alice kind:reject sev:warning qid:… words   (/ to type)",
                        id="logs-filter", compact=True)
        yield Static("", id="filter-error")
        with Vertical(id="log-box") as box:
            box.border_title = "Log"
            yield LogView(capacity=self.capacity, id="log-view")
        yield Static("", id="logs-status")
        yield Static("", id="logs-notice")
        with Horizontal(id="logs-side"):
            with Vertical(id="offenders-box") as box:
                box.border_title = "Top offenders"
                yield OffendersTable(id="offenders")
                yield RateView(id="rates")
            with Vertical(id="explanation-box") as box:
                box.border_title = "This line"
                yield EventExplanation(id="explanation-scroll")
        yield Footer()

    def _title(self) -> Content:
        names = ", ".join(s.name for s in self.sources) or "no log sources"
        return Content.assemble((self.label, "bold"), ("  ·  logs: ", "$foreground-muted"), names)

    def on_mount(self) -> None:
        self.sub_title = f"Logs · {self.label}"
        view = self.query_one(LogView)
        if self.sources:
            view.empty_message = f"Reading the last {format_count(self.feed.backfill_lines)} lines of each source…"
            self._worker = self._follow()
        else:
            view.empty_message = "No readable mail or auth log was found on this server (see Log sources on the Server screen)."
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self._flush)
        self.query_one("#explanation-scroll", EventExplanation).show(None)
        view.focus()
        self._update_status()

    # ------------------------------------------------------------------ feed
    @work(group="logs", exclusive=True, exit_on_error=False, name="follow logs")
    async def _follow(self) -> None:
        await self.feed.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the screen's slow work ends: following, planning and applying bans."""
        worker = event.worker
        if worker.group == "ban":
            self._ban_planned(event)
            return
        if worker.group == "ban-apply":
            self._ban_applied(event)
            return
        if worker.group != "logs":
            return
        if event.state == WorkerState.ERROR:
            error = _first_error(worker.error)
            message = error.message if isinstance(error, TransportError) else \
                f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"
            self.log.error("following logs failed", error)
            self._problem(f"Following the logs stopped: {message}")
            self.notify(message, title="Following the logs stopped", severity="error", markup=False)
        elif event.state == WorkerState.SUCCESS:
            self._flush()
            if self.feed.failed and len(self.feed.failed) == len(self.sources):
                self.query_one(LogView).empty_message = "No source could be read: see the message below."
            self._update_status()

    def _flush(self) -> None:
        """Apply what arrived since the last flush (called FLUSH_INTERVAL apart).

        During a bulk read (a big backfill: more than BULK_EVENTS waiting), the view is
        updated only every BULK_FLUSH_INTERVAL: each update repaints the screen (30-40 ms),
        and 15 of them a second took more than half the time of a 1,000,000-line backfill.
        Key presses are answered meanwhile; the counters do not wait.
        """
        now = time.monotonic()
        if self.feed.pending >= BULK_EVENTS and now - self._flushed_at < BULK_FLUSH_INTERVAL:
            return
        self._flushed_at = now
        batch = self.feed.take()
        if batch is None:
            self.query_one(LogView).stay_at_end()
            return
        self.apply_batch(batch)

    def apply_batch(self, batch: FeedBatch) -> None:
        view = self.query_one(LogView)
        if batch.events:
            view.append(batch.events)
            self._settle_garbage()
        if batch.summary is not None:
            self.summary = batch.summary
            self.query_one(OffendersTable).show(batch.summary.offenders)
            self.query_one("#offenders-box").border_subtitle = (
                f"{format_count(len(batch.summary.offenders))} addresses · {format_count(batch.summary.attacks)} attacks"
            )
        if batch.rates is not None:
            self.query_one(RateView).show(batch.rates)
        for notice in batch.notices[-5:]:
            self._notice(notice)
        for problem in batch.problems:
            self._problem(problem.message)
            self.notify(problem.message, title=f"Cannot read {problem.source}", severity="error", markup=False,
                        timeout=10)
        if batch.dropped:
            self._notice_text(Content(f"{format_count(batch.dropped)} lines arrived faster than they could be shown "
                                      "and were skipped in the view (the counters include them)."), "-warning")
        if not view.total_count and self.feed.started | self.feed.failed >= {s.name for s in self.sources}:
            view.empty_message = "The log sources are empty so far; new lines will appear here."
        self._update_status()

    def _settle_garbage(self) -> None:
        """Keep Python's full garbage collections from walking the kept events.

        The ring of events and the counters are long-lived and large: at a flood's rate,
        every full collection walked all of them and stalled the app for 100-300 ms. Once
        a second, young garbage is collected and what survived is frozen (ignored by later
        collections; still freed by reference counting). on_unmount unfreezes it all.
        """
        now = time.monotonic()
        if now - self._frozen_at >= 1.0:
            if not self._frozen_at:
                # Fewer, larger young collections: a flood allocates millions of objects.
                self._gc_threshold = gc.get_threshold()
                gc.set_threshold(20_000, 10, 10)
            self._frozen_at = now
            gc.collect(1)
            gc.freeze()

    def _notice(self, notice: FollowNotice) -> None:
        severity = _NOTIFY.get(notice.kind, "information")
        self._notice_text(Content.assemble((f"{notice.kind.value}: ", "bold"), notice.text),
                          "-warning" if severity == "warning" else "-info")
        self.notify(notice.text, title=f"Log {notice.kind.value}", severity=severity, markup=False)  # type: ignore[arg-type]

    def _notice_text(self, text: Content, classes: str) -> None:
        if self._problems:
            return  # a problem stays visible until it is solved
        line = self.query_one("#logs-notice", Static)
        line.update(text)
        line.set_classes(classes)

    def _problem(self, message: str) -> None:
        self._problems.append(message)
        line = self.query_one("#logs-notice", Static)
        line.update(Content("\n".join(self._problems)))
        line.set_classes("-error")

    # ---------------------------------------------------------------- status
    def _update_status(self) -> None:
        view = self.query_one(LogView)
        parts: list[Content | str | tuple[str, str]] = []
        if view.following:
            parts.append(("● following", "bold $text-success"))
        elif view.new_while_paused:
            parts += [("‖ paused", "bold $text-warning"),
                      f" — {format_count(view.new_while_paused)} new lines — press f to follow"]
        else:
            parts.append(("‖ paused", "bold $text-warning"))
        parts.append(("  ·  ", "$foreground-muted"))
        active = self.active_filter()
        if active.is_empty:
            parts.append(f"{format_count(view.total_count)} lines")
        else:
            parts += [f"{format_count(view.row_count)} of {format_count(view.total_count)} lines match ",
                      (self.describe_filter(), "$text-accent")]
        parts += [("  ·  ", "$foreground-muted"), f"{format_count(self.feed.lines)} read since opening"]
        following = len(self.sources) - len(self.feed.failed)
        parts += [("  ·  ", "$foreground-muted"), f"{following} of {len(self.sources)} sources"]
        self.query_one("#logs-status", Static).update(Content.assemble(*parts))
        box = self.query_one("#log-box")
        title = "Log · following" if view.following else "Log · paused"
        if box.border_title != title:  # setting it repaints the whole box
            box.border_title = title

    def describe_filter(self) -> str:
        terms = []
        if self.query_filter.text:
            terms.append(self.query_filter.text)
        if self.attacks_only and not self.query_filter.attacks_only:
            terms.append("attacks only")
        return "[" + " · ".join(terms) + "]" if terms else ""

    # ---------------------------------------------------------------- filter
    def active_filter(self) -> LogFilter:
        return self.query_filter.with_attacks_only(self.query_filter.attacks_only or self.attacks_only)

    def _apply_filter(self) -> None:
        self.query_one(LogView).set_filter(self.active_filter())
        self._update_status()

    def set_query(self, text: str) -> bool:
        """Compile and apply the query; on a mistake show it and keep the old filter."""
        error_line = self.query_one("#filter-error", Static)
        try:
            compiled = parse_filter(text)
        except FilterError as exc:
            error_line.update(Content(str(exc)))
            error_line.display = True
            return False
        error_line.display = False
        self.query_filter = compiled
        self._apply_filter()
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        # Filtering 100 000 lines takes a moment: wait until typing pauses.
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(0.25, lambda: self._typed(value))

    def _typed(self, value: str) -> None:
        if value != self.query_filter.text:
            self.set_query(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if self.set_query(event.value):
            self.query_one(LogView).focus()

    def _set_input(self, text: str) -> None:
        box = self.query_one("#logs-filter", Input)
        with box.prevent(Input.Changed):
            box.value = text

    # --------------------------------------------------------------- actions
    def action_filter(self) -> None:
        self.query_one("#logs-filter", Input).focus()

    def action_attacks_only(self) -> None:
        self.attacks_only = not self.attacks_only
        self._apply_filter()

    def action_toggle_follow(self) -> None:
        view = self.query_one(LogView)
        view.following = not view.following

    def _jump(self, query: str) -> None:
        if self._before_jump is None:
            self._before_jump = (self.query_filter.text, self.attacks_only)
        self.attacks_only = False
        self._set_input(query)
        self.set_query(query)
        self.query_one(LogView).focus()

    def action_jump_ip(self) -> None:
        event = self.query_one(LogView).selected_event
        if event is None or not event.remote_ip:
            self.notify("The selected line names no remote IP address.", severity="warning")
            return
        self._jump(f"ip:{event.remote_ip}")

    def action_jump_queue(self) -> None:
        event = self.query_one(LogView).selected_event
        if event is None or not event.queue_id:
            self.notify("The selected line has no queue id (only lines of an accepted message have one).",
                        severity="warning")
            return
        self._jump(f"qid:{event.queue_id}")

    def action_sort_offenders(self) -> None:
        table = self.query_one(OffendersTable)
        table.sort_by(table.sort.next())

    def action_clear_or_back(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            # Leave the box; what was typed but not applied is dropped.
            self._set_input(self.query_filter.text)
            self.query_one(LogView).focus()
            return
        if self._before_jump is not None:
            text, self.attacks_only = self._before_jump
            self._before_jump = None
            self._set_input(text)
            self.set_query(text)
        elif not self.active_filter().is_empty:
            self.attacks_only = False
            self._set_input("")
            self.set_query("")
        else:
            self.action_back()

    def action_back(self) -> None:
        if self.applying_ban:
            # Leaving would cancel the worker between the command and its audit entry.
            self.notify("A ban is being applied; wait until it is done.", severity="warning")
            return
        self.dismiss()

    # ------------------------------------------------------------------- bans
    @property
    def applying_ban(self) -> bool:
        return any(w.group == "ban-apply" and w.is_running for w in self.workers)

    def ban_target(self) -> BanTarget | None:
        """The selected offender's address when the offenders table has focus, else the selected line's."""
        if isinstance(self.focused, OffendersTable):
            stats = self.focused.selected_offender
            if stats is None:
                return None
            return BanTarget(stats.key, offender_service(stats), offender_guessing(stats))
        event = self.query_one(LogView).selected_event
        if event is None or not event.remote_ip:
            return None
        return BanTarget(event.remote_ip, event.service or None, event.kind in GUESSING_KINDS)

    def action_ban(self) -> None:
        self._ban_selected(Action.BAN)

    def action_unban(self) -> None:
        self._ban_selected(Action.UNBAN)

    def _ban_selected(self, action: Action) -> None:
        target = self.ban_target()
        if target is None:
            if isinstance(self.focused, OffendersTable):
                self.notify("No offender is selected.", severity="warning")
            else:
                self.notify(f"Nothing to {action.value}: this line has no remote address.", severity="warning")
            return
        self.request_ban(action, target)

    def request_ban(self, action: Action, target: BanTarget) -> None:
        """Plan banning (or unbanning) ``target`` and ask; nothing runs before the admin says yes."""
        if self.applying_ban:
            self.notify("A ban is being applied; wait until it is done.", severity="warning")
            return
        self._plan_ban(action, target)

    @work(group="ban", exclusive=True, exit_on_error=False, name="plan ban")
    async def _plan_ban(self, action: Action, target: BanTarget) -> BanRequest:
        facts = self.app.facts_for(self.transport) or self.facts
        if facts is None:
            raise BanError("The server's facts are not known, so mailtui cannot tell how to ban there. "
                           "Open the logs from the Server screen.")
        notes: tuple[str, ...] = ()
        own: frozenset[str] = frozenset()
        if action == Action.BAN:
            try:
                own = await self.app.own_addresses(self.transport)
            except TransportError as exc:
                notes = (f"mailtui could not learn the address you are connected from ({exc.message}): make sure "
                         f"{target.ip} is not yours.",)
        plan = plan_ban(target.ip, facts, action=action, service=target.service, guessing=target.guessing,
                        own_addresses=own)
        return BanRequest(plan, sudo=not self.transport.is_root, where=self.transport.label, notes=notes)

    def _ban_planned(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            request: BanRequest = event.worker.result
            plan = request.plan

            def answered(confirmed: bool | None) -> None:
                if confirmed:
                    self._apply_ban(plan)

            self.app.push_screen(BanDialog(request), answered)
        elif event.state == WorkerState.ERROR:
            error = _first_error(event.worker.error)
            if isinstance(error, (BanError, TransportError)):
                message = error.message if isinstance(error, TransportError) else str(error)
                self.app.push_screen(ErrorDialog("Cannot ban or unban this address", message))
            else:
                self.log.error("planning a ban failed", error)
                self.app.push_screen(ErrorDialog("Cannot ban or unban this address",
                                                 f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"))

    @work(group="ban-apply", exit_on_error=False, name="apply ban")
    async def _apply_ban(self, plan: BanPlan) -> BanResult:
        self.notify(f"{plan.title}…", title="Applying", markup=False)
        return await apply_ban(self.transport, plan)

    def _ban_applied(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            result: BanResult = event.worker.result
            if result.ok:
                self.notify(result.message, title="Done", markup=False)
            else:
                self.app.push_screen(ErrorDialog("The ban did not work", result.message))
        elif event.state == WorkerState.ERROR:
            error = _first_error(event.worker.error)
            message = error.message if isinstance(error, TransportError) else \
                f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"
            self.log.error("applying a ban failed", error)
            self.app.push_screen(ErrorDialog("The ban did not work", message))

    # -------------------------------------------------------------- messages
    def on_log_view_cursor_moved(self, message: LogView.CursorMoved) -> None:
        # i and t stay enabled whatever the line (they say so when it has no IP or queue id):
        # dimming them per line would rebuild the footer at every new line while following.
        self.query_one("#explanation-scroll", EventExplanation).show(message.event)

    def on_log_view_follow_toggled(self, message: LogView.FollowToggled) -> None:
        self._update_status()

    def on_offenders_table_offender_selected(self, message: OffendersTable.OffenderSelected) -> None:
        self._jump(f"ip:{message.ip}")

    def on_offenders_table_sort_changed(self, message: OffendersTable.SortChanged) -> None:
        self.query_one("#offenders-box").border_title = f"Top offenders · by {message.sort.label}"

    async def on_unmount(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
        gc.unfreeze()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
        # Stop following and wait until the tail processes on the server are gone.
        worker = self._worker
        if worker is not None and worker.is_running:
            worker.cancel()
            try:
                await asyncio.wait_for(worker.wait(), 5)
            except (WorkerCancelled, WorkerFailed, asyncio.TimeoutError):
                pass


def _first_error(error: BaseException | None) -> BaseException | None:
    """A worker's error, unwrapped from the exception group a task group raised."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
