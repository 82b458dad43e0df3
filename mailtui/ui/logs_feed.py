"""The Logs panel's feed: follow a server's log sources, classify and count, in batches.

One :class:`LogFeed` follows every source at once (a ``FileFollower`` per file, a
``JournalFollower`` for the journal), classifies each source's lines with its own
``LogClassifier`` (sshd session context is per source) and counts them in one
``Aggregator``.

Classification runs on the event loop in slices of :data:`CLASSIFY_SLICE` lines (a few
milliseconds each) with a yield between them, so key presses get in between slices. Of a
batch bigger than the view (a big backfill), only the newest :data:`VIEW_LINES` lines
become events; the older ones are counted in bulk (:func:`~mailtui.core.logs.bulk.count_lines`,
the same counters without an event per line), :data:`BULK_SLICE` lines at a time.
A worker thread was tried and measured worse: with the GIL, a busy classifying thread
makes the event loop wait up to the switch interval (5 ms) every time it wants the GIL
back, which starved the follower's reading (a 1,000,000-line backfill took 34 s instead
of 11 s). Only the summary, one long call into the aggregator, runs in a thread; a lock
keeps classification from changing the aggregator while it is read.

The screen calls :meth:`LogFeed.take` from a timer (10–20 times a second): it gets
everything that arrived since, merged by time across sources, as one
:class:`FeedBatch`. Nothing here touches a widget, so a benchmark can drive a feed
without an app; but it is UI plumbing (which sources, how much backfill), hence it
lives in ``mailtui.ui`` rather than the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import datetime as _dt
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mailtui.core.facts import LogSource
from mailtui.core.logs.aggregate import Aggregator, Summary
from mailtui.core.logs.bulk import count_lines
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.events import LogEvent
from mailtui.core.logs.follow import FileFollower, FollowedLines, FollowNotice, JournalFollower
from mailtui.core.logs.reading import merge_by_time
from mailtui.core.transport import SudoPasswordRequired, Transport, TransportError

__all__ = [
    "BACKFILL_LINES",
    "FeedBatch",
    "LogFeed",
    "RateSeries",
    "SourceProblem",
]

#: Lines of each source's recent past shown when the panel opens.
BACKFILL_LINES = 2000
#: Lines classified between two yields to the event loop (about 5 ms of work).
CLASSIFY_SLICE = 1000
#: Lines of a source's batch that become events for the view (its ring holds as many);
#: the older lines of a bigger batch (a backfill) are only counted, in bulk.
VIEW_LINES = 100_000
#: Lines counted in bulk between two yields to the event loop (about 50 ms of work).
BULK_SLICE = 16_384
#: How often offenders and rates are recomputed, in seconds.
SUMMARY_INTERVAL = 1.0
#: How often the summariser looks whether a summary is due, in seconds.
SUMMARY_TICK = 0.05
#: A summary is due as soon as no line was counted for this long (a backfill is read).
SUMMARY_IDLE = 0.1
#: Offenders kept in a summary.
TOP_OFFENDERS = 50
#: Minutes in the rate series.
RATE_MINUTES = 60


@dataclass(frozen=True)
class SourceProblem:
    """A source that cannot be followed, and why, in words a person can act on."""

    source: str
    message: str


@dataclass(frozen=True)
class RateSeries:
    """Events and attacks per minute (log time), oldest first, ending at ``end``."""

    events: tuple[int, ...]
    attacks: tuple[int, ...]
    end: _dt.datetime | None


@dataclass(frozen=True)
class FeedBatch:
    """What arrived since the last :meth:`LogFeed.take`."""

    #: New events, merged by time across sources.
    events: list[LogEvent]
    notices: tuple[FollowNotice, ...] = ()
    problems: tuple[SourceProblem, ...] = ()
    #: A fresh summary and rate series, when they changed since the last take.
    summary: Summary | None = None
    rates: RateSeries | None = None
    #: Events the screen never saw because it did not take them in time (bounded memory).
    dropped: int = 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one slice of classifying and counting.

    They make no reference cycles (reference counting frees their garbage), but allocate
    so much that the collector ran every few milliseconds, walking the long-lived counters:
    a fifth of a 1,000,000-line backfill. The screen collects and freezes once a second.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class LogFeed:
    """Follow ``sources`` on ``transport``; :meth:`run` until cancelled, :meth:`take` often."""

    def __init__(
        self,
        transport: Transport,
        sources: Sequence[LogSource],
        *,
        backfill_lines: int = BACKFILL_LINES,
        poll_interval: float = 0.25,
        max_pending: int = 200_000,
        view_lines: int = VIEW_LINES,
    ) -> None:
        self.transport = transport
        self.sources = tuple(sources)
        self.backfill_lines = backfill_lines
        self.poll_interval = poll_interval
        self.max_pending = max_pending
        self.view_lines = view_lines
        #: Lines classified and counted since the feed started (exact, never trimmed).
        self.lines = 0
        #: Sources that delivered at least once / that failed.
        self.started: set[str] = set()
        self.failed: set[str] = set()
        self.aggregator = Aggregator()
        self._pending: list[list[LogEvent]] = [[] for _ in self.sources]
        self._pending_count = 0
        self._dropped = 0
        self._notices: list[FollowNotice] = []
        self._problems: list[SourceProblem] = []
        self._summary: tuple[Summary, RateSeries] | None = None
        self._counted_since_summary = False
        self._counted_at = 0.0
        self._summaries = 0
        self._following = 0
        self._executor: ThreadPoolExecutor | None = None
        #: Held while the counters change or are read (the summary runs in a thread).
        self._counting = asyncio.Lock()

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Follow every source until cancelled (or until all of them ended)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailtui-logs-summary")
        try:
            self._following = len(self.sources)
            async with asyncio.TaskGroup() as group:
                for index, source in enumerate(self.sources):
                    group.create_task(self._follow(index, source), name=f"follow {source.name}")
                group.create_task(self._summarize(), name="summarize logs")
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _follower(self, source: LogSource) -> FileFollower | JournalFollower:
        if source.kind == "journald":
            return JournalFollower(self.transport, backfill_lines=self.backfill_lines, sudo=True)
        return FileFollower(self.transport, source.name, sudo=source.access == "sudo",
                            backfill_lines=self.backfill_lines, poll_interval=self.poll_interval)

    async def _follow(self, index: int, source: LogSource) -> None:
        classifier = LogClassifier()
        try:
            follower = self._follower(source)
            async with contextlib.aclosing(follower.events()) as items:
                async for item in items:
                    if isinstance(item, FollowNotice):
                        self._notices.append(item)
                        continue
                    if not isinstance(item, FollowedLines):
                        continue
                    lines = item.lines
                    bulk_end = self._bulk_part(item)
                    for start in range(0, bulk_end, BULK_SLICE):
                        end = min(start + BULK_SLICE, bulk_end)
                        async with self._counting:
                            with _gc_paused():
                                count_lines(lines[start:end], classifier, self.aggregator)
                        self._counted(end - start)
                        await asyncio.sleep(0)
                    for start in range(bulk_end, len(lines), CLASSIFY_SLICE):
                        async with self._counting:
                            events = self._classify(classifier, lines[start : start + CLASSIFY_SLICE])
                        self._add(index, events)
                        await asyncio.sleep(0)  # let key presses and repaints in
                    self.started.add(source.name)
        except SudoPasswordRequired as exc:
            self._fail(source, f"Cannot read {source.name}: {exc.message} (Server screen: p gives the password; "
                               "then open Logs again.)")
        except TransportError as exc:
            self._fail(source, f"Cannot follow {source.name}: {exc.message}")
        except ValueError as exc:  # a path the follower refuses (not absolute)
            self._fail(source, f"Cannot follow {source.name}: {exc}")
        finally:
            self._following -= 1

    def _bulk_part(self, item: FollowedLines) -> int:
        """How many of the batch's first lines are only counted, in bulk, not made events.

        The lines that will not be among the view's newest :attr:`view_lines` once the server
        has sent what it is catching up on (``item.behind`` bytes after this batch; the lines
        still to come are estimated from this batch's line length). The estimate only moves
        the border between counted-only and shown lines a little: the counters are exact.
        """
        lines = item.lines
        if not lines:
            return 0
        if not item.behind:
            return max(0, len(lines) - self.view_lines)
        average = (sum(map(len, lines)) + len(lines)) / len(lines)
        to_come = int(item.behind / average)
        return max(0, min(len(lines), len(lines) + to_come - self.view_lines))

    def _fail(self, source: LogSource, message: str) -> None:
        self.failed.add(source.name)
        self._problems.append(SourceProblem(source.name, message))

    def _classify(self, classifier: LogClassifier, lines: Sequence[str]) -> list[LogEvent]:
        """Classify and count (hold ``_counting``: a summary may be reading the counters)."""
        with _gc_paused():
            events = classifier.classify_lines(lines)
            self.aggregator.add_many(events)
        return events

    def _counted(self, lines: int) -> None:
        self.lines += lines
        self._counted_since_summary = True
        self._counted_at = asyncio.get_running_loop().time()

    def _add(self, index: int, events: list[LogEvent]) -> None:
        self._counted(len(events))
        self._pending[index].extend(events)
        self._pending_count += len(events)
        if self._pending_count > self.max_pending:
            # Nobody takes them (the screen is busy or gone): keep the newest, count the rest.
            for pending in self._pending:
                cut = len(pending) // 2
                del pending[:cut]
                self._dropped += cut
            self._pending_count = sum(len(p) for p in self._pending)

    async def _summarize(self) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.2  # the first summary comes quickly: the backfill's offenders are the news
        last = loop.time()
        while True:
            await asyncio.sleep(SUMMARY_TICK)
            now = loop.time()
            # Summarise when the pause is over, or as soon as the lines stop coming (the
            # backfill is read): the complete counters should not wait for the next turn.
            due = now - last >= pause or now - self._counted_at >= SUMMARY_IDLE
            if self._counted_since_summary and due:
                self._counted_since_summary = False
                started = loop.time()
                async with self._counting:
                    self._summary = await loop.run_in_executor(self._executor, self._snapshot)
                last = loop.time()
                # With a hundred thousand addresses a summary takes a few tenths of a second
                # and classification waits meanwhile: keep it under a tenth of the time.
                pause = max(SUMMARY_INTERVAL, 9 * (last - started))
                self._summaries += 1
            if self._following <= 0 and not self._counted_since_summary:
                return

    def _snapshot(self) -> tuple[Summary, RateSeries]:
        return self.aggregator.summary(top=TOP_OFFENDERS), RateSeries(*self.aggregator.rates(RATE_MINUTES))

    async def summarize_now(self) -> tuple[Summary, RateSeries]:
        """A summary of everything counted so far (waits for the classify jobs queued before it)."""
        loop = asyncio.get_running_loop()
        async with self._counting:
            if self._executor is None:
                return self._snapshot()
            return await loop.run_in_executor(self._executor, self._snapshot)

    # ------------------------------------------------------------------- taking
    @property
    def pending(self) -> int:
        """Events classified but not taken yet."""
        return self._pending_count

    @property
    def following(self) -> bool:
        """Whether any source is still being followed."""
        return self._following > 0

    def take(self) -> FeedBatch | None:
        """Everything new since the last call, or None when nothing happened."""
        if not (self._pending_count or self._notices or self._problems or self._summary or self._dropped):
            return None
        filled = [p for p in self._pending if p]
        events = merge_by_time(filled) if len(filled) > 1 else (filled[0] if filled else [])
        self._pending = [[] for _ in self.sources]
        self._pending_count = 0
        summary, rates = self._summary if self._summary is not None else (None, None)
        batch = FeedBatch(events, tuple(self._notices), tuple(self._problems), summary, rates, self._dropped)
        self._notices.clear()
        self._problems.clear()
        self._summary = None
        self._dropped = 0
        return batch
