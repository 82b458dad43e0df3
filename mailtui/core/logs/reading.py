"""Reading a log's recent past in one go: local files, stdin, or a server's sources.

The headless ``mailtui logs`` and (later) the panel's backfill call these; following
live is :mod:`mailtui.core.logs.follow`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

from mailtui.core.facts import LogSource
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.events import LogEvent
from mailtui.core.logs.follow import JOURNAL_FACILITIES
from mailtui.core.transport.base import MAX_LINE_BYTES, LineSplitter, Transport
from mailtui.core.text import decode_remote
from mailtui.core.transport.errors import TransportError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SinceError(ValueError):
    """``--since`` could not be understood."""


def parse_since(text: str, now: _dt.datetime | None = None) -> _dt.datetime:
    """``30m``, ``2h``, ``1d``, ``1w`` (ago) or an ISO date/time -> aware datetime."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now - _dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise SinceError(f"--since {text!r}: give a duration like 30m, 2h, 1d or a date like 2026-11-29T14:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def iter_lines(handle: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a binary stream, decoded without loss, huge lines cut (bounded memory).

    The same lines as a :class:`LineSplitter` fed with the chunks, but the complete lines
    in the middle of a chunk are decoded and split in one go (a third of the time of a
    1,000,000-line ``--summary`` went to splitting line by line). Decoding then splitting
    at ``\n`` gives the same text: no UTF-8 sequence contains that byte, and
    surrogateescape maps undecodable bytes one by one. The half lines at the chunk's
    edges, and chunks holding an over-long line, go through the splitter.
    """
    splitter = LineSplitter(max_line_bytes)
    while True:
        chunk = handle.read(1 << 20)
        if not chunk:
            break
        first = chunk.find(b"\n")
        if first < 0:
            yield from splitter.feed(chunk)
            continue
        yield from splitter.feed(chunk[: first + 1])  # ends the line the splitter holds
        end = chunk.rfind(b"\n")
        if first < end:
            body = chunk[first + 1 : end]
            if len(body) <= max_line_bytes or max(map(len, body.split(b"\n"))) <= max_line_bytes:
                texts = decode_remote(body).split("\n")
                if b"\r" in body:
                    texts = [t[:-1] if t[-1:] == "\r" else t for t in texts]
                yield from texts
            else:
                yield from splitter.feed(chunk[first + 1 : end + 1])
        splitter.feed(chunk[end + 1 :])  # no newline in it: kept (bounded) for the next chunk
    yield from splitter.flush()


def classify_stream(lines: Iterable[str], *, batch: int = 4096) -> Iterator[LogEvent]:
    """Classify lines in batches (one classifier keeps sshd session context)."""
    classifier = LogClassifier()
    it = iter(lines)
    while pending := list(islice(it, batch)):
        yield from classifier.classify_lines(pending)


def since_filter(events: Iterable[LogEvent], since: _dt.datetime | None) -> Iterator[LogEvent]:
    """Events at or after ``since``; undated lines follow the dated line before them."""
    if since is None:
        yield from events
        return
    keep = False
    for event in events:
        time = event.record.time
        if time is not None:
            keep = time >= since
        if keep:
            yield event


@dataclass(frozen=True)
class SourceText:
    """The recent lines of one server log source."""

    name: str
    lines: tuple[str, ...]


#: Which log sources ``mailtui logs TARGET`` reads: the mail, IMAP and auth ones.
READ_CATEGORIES = ("mail", "imap", "auth")


def pick_sources(sources: Iterable[LogSource]) -> list[LogSource]:
    """Readable files of the mail/IMAP/auth categories; the journal if there is no file."""
    chosen = [s for s in sources if s.kind == "file" and s.category in READ_CATEGORIES and s.access != "none"]
    # mail.info/mail.err repeat mail.log on Debian: read the main file only.
    names = {s.name for s in chosen}
    if "/var/log/mail.log" in names:
        chosen = [s for s in chosen if s.name not in ("/var/log/mail.info", "/var/log/mail.err", "/var/log/mail.warn")]
    if not chosen:
        chosen = [s for s in sources if s.kind == "journald"][:1]
    return chosen


async def read_recent(transport: Transport, source: LogSource, lines: int) -> SourceText:
    """The last ``lines`` lines of a file source, or journal entries (as JSON lines)."""
    count = str(max(1, int(lines)))
    if source.kind == "journald":
        argv = ["journalctl", "--output=json", "--no-pager", "--quiet", f"--lines={count}", *JOURNAL_FACILITIES]
        sudo = True
    else:
        argv = ["tail", "-n", count, "--", source.name]
        sudo = source.access == "sudo"
    result = await transport.run(argv, sudo=sudo, timeout=120)
    if not result.ok:
        raise TransportError(f"Cannot read {source.name}: {result.describe_failure()}")
    text = result.stdout
    return SourceText(source.name, tuple(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")))


def merge_by_time(streams: list[list[LogEvent]]) -> list[LogEvent]:
    """Events of several sources in time order (stable; undated events keep their place)."""
    if len(streams) == 1:
        return streams[0]
    keyed: list[tuple[float, int, int, LogEvent]] = []
    for source_index, events in enumerate(streams):
        last = 0.0
        for position, event in enumerate(events):
            if event.record.time is not None:
                last = event.record.time.timestamp()
            keyed.append((last, source_index, position, event))
    keyed.sort(key=lambda item: (item[0], item[1], item[2]))
    return [item[3] for item in keyed]

