"""``mailtui logs``: classified log events for scripts and terminals (no TUI).

    mailtui logs --file /var/log/mail.log [--json] [--summary] [--since 2h]
    mailtui logs [TARGET] [--lines N] [--follow] [--json] [--summary]

Each output line (or JSON object) is one input line with what it means; ``--summary``
prints the counts per kind, the top offenders with their attack labels, and per-hour
delivery statistics instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import gc
import json
import sys
from collections.abc import Iterable
from itertools import islice

from mailtui.core.facts import collect_facts
from mailtui.core.logs.aggregate import Aggregator, KeyStats, Summary
from mailtui.core.logs.bulk import count_lines
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.events import LogEvent
from mailtui.core.logs.follow import FileFollower, FollowNotice, JournalFollower
from mailtui.core.logs.reading import (
    SinceError,
    classify_stream,
    iter_lines,
    merge_by_time,
    parse_since,
    pick_sources,
    read_recent,
    since_filter,
)
from mailtui.core.profiles import Config
from mailtui.core.target import Target
from mailtui.core.text import sanitize
from mailtui.core.transport import TransportError

EXIT_OK, EXIT_USAGE, EXIT_CONNECT = 0, 2, 3
#: Lines counted in one bulk pass (about 7 MB of a mail log).
BULK_BATCH = 65536


def event_json(event: LogEvent) -> dict:
    """The JSON object of one event (the documented fields first)."""
    record = event.record
    return {
        "time": record.time.isoformat() if record.time else None,
        "program": sanitize(record.program),
        "kind": event.kind.value,
        "severity": event.severity.value,
        "ip": event.remote_ip,
        "user": event.user,
        "queue_id": event.queue_id,
        "attack": event.attack,
        "line": event.display_line,
        "service": event.service,
        "host": event.remote_host,
        "title": event.info.title,
    }


def event_text(event: LogEvent) -> str:
    """One human line: time, severity, kind, address, user, what it is."""
    time = event.record.time.strftime("%b %d %H:%M:%S") if event.record.time else "-" * 15
    mark = "!" if event.attack else " "
    who = event.remote_ip or ""
    user = f" user={event.user}" if event.user else ""
    return f"{time} {mark}{event.severity.value:<8} {event.kind.value:<28} {who:<15} {event.info.title}{user}"


def _stats_json(stats: KeyStats) -> dict:
    return {
        "key": stats.key,
        "first_seen": stats.first_seen.isoformat() if stats.first_seen else None,
        "last_seen": stats.last_seen.isoformat() if stats.last_seen else None,
        "total": stats.total,
        "attacks": stats.attacks,
        "windows": dict(stats.windows),
        "by_kind": {kind.value: count for kind, count in stats.by_kind},
        "labels": [{"label": r.label.value, "why": r.why} for r in stats.labels],
    }


def summary_json(summary: Summary) -> dict:
    return {
        "lines": summary.lines,
        "first": summary.first.isoformat() if summary.first else None,
        "last": summary.last.isoformat() if summary.last else None,
        "attacks": summary.attacks,
        "by_kind": {kind.value: count for kind, count in summary.by_kind},
        "offenders": [_stats_json(s) for s in summary.offenders],
        "users": [_stats_json(s) for s in summary.users],
        "hours": [
            {"hour": h.hour.isoformat(), "received": h.received, "sent": h.sent, "deferred": h.deferred,
             "bounced": h.bounced, "rejected": h.rejected}
            for h in summary.hours
        ],
        "alarms": [{"key": key, "label": r.label.value, "why": r.why} for key, r in summary.alarms],
    }


def summary_text(summary: Summary) -> str:
    span = ""
    if summary.first and summary.last:
        span = f" from {summary.first:%b %d %H:%M:%S} to {summary.last:%b %d %H:%M:%S}"
    out = [f"{summary.lines} lines{span}; {summary.attacks} security events."]
    if summary.alarms:
        out.append("")
        out.append("ALARMS")
        out.extend(f"  {key}: {reason.label.value}: {reason.why}" for key, reason in summary.alarms)
    out.append("")
    out.append("Events by kind")
    out.extend(f"  {count:>8}  {kind.value:<30} {kind.info.title}" for kind, count in summary.by_kind)
    if summary.offenders:
        out.append("")
        out.append("Top offenders (remote addresses)         attacks   total  1 min 15 min   1 h  labels")
        for s in summary.offenders:
            w = dict(s.windows)
            labels = "; ".join(f"{r.label.value} ({r.why})" for r in s.labels)
            out.append(f"  {s.key:<39} {s.attacks:>7} {s.total:>7} {w['1 min']:>6} {w['15 min']:>6} {w['1 h']:>5}  {labels}")
    if summary.users:
        out.append("")
        out.append("Users                                      total  labels")
        for s in summary.users:
            labels = "; ".join(f"{r.label.value} ({r.why})" for r in s.labels)
            out.append(f"  {s.key:<40} {s.total:>6}  {labels}")
    if summary.hours:
        out.append("")
        out.append("Per hour (UTC)        received     sent deferred  bounced rejected")
        for h in summary.hours:
            out.append(f"  {h.hour:%Y-%m-%d %H:00} {h.received:>10} {h.sent:>8} {h.deferred:>8} {h.bounced:>8} {h.rejected:>8}")
    return "\n".join(out)


def _emit(events: Iterable[LogEvent], args: argparse.Namespace) -> None:
    """Print events, or aggregate them and print the summary."""
    # Millions of small immutable objects and no reference cycles: reference counting
    # frees all the garbage, and the cyclic collector would only walk the events and the
    # counters again and again (a fifth of a 1,000,000-line --summary). Paused while
    # these events are printed or counted; with --follow, it runs between batches.
    enabled = gc.isenabled()
    gc.disable()
    try:
        _emit_events(events, args)
    finally:
        if enabled:
            gc.enable()


def _emit_events(events: Iterable[LogEvent], args: argparse.Namespace) -> None:
    if args.summary:
        aggregator = Aggregator()
        aggregator.add_many(events)
        _print_summary(aggregator.summary(), args)
        return
    write = sys.stdout.write
    if args.json:
        for event in events:
            write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
    else:
        for event in events:
            write(event_text(event) + "\n")


def _since(args: argparse.Namespace) -> _dt.datetime | None:
    return parse_since(args.since) if args.since else None


def run_logs_file(args: argparse.Namespace) -> int:
    """``mailtui logs --file PATH``: a local file or standard input, no server."""
    if args.target is not None:
        print("mailtui: give either TARGET or --file, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.follow:
        print("mailtui: --follow works on a server's logs, not with --file", file=sys.stderr)
        return EXIT_USAGE
    try:
        since = _since(args)
    except SinceError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        handle = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        print(f"mailtui: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with handle if args.file != "-" else contextlib.nullcontext(handle):
        if args.summary and since is None:
            aggregator = Aggregator()
            _count_file(iter_lines(handle), aggregator)
            _print_summary(aggregator.summary(), args)
        else:
            _emit(since_filter(classify_stream(iter_lines(handle)), since), args)
    return EXIT_OK


def _count_file(lines: Iterable[str], aggregator: Aggregator) -> None:
    """Count a whole file for ``--summary``: in bulk, without an event per line (see core.logs.bulk).

    With ``--since`` the per-event path is taken instead: which undated lines a date cut
    keeps depends on the order of the lines, which bulk counting does not keep.
    """
    classifier = LogClassifier()
    enabled = gc.isenabled()
    gc.disable()  # see _emit
    try:
        it = iter(lines)
        while batch := list(islice(it, BULK_BATCH)):
            count_lines(batch, classifier, aggregator)
    finally:
        if enabled:
            gc.enable()


def _print_summary(summary: Summary, args: argparse.Namespace) -> None:
    print(json.dumps(summary_json(summary), ensure_ascii=False) if args.json else summary_text(summary))


def run_logs(config: Config, target: Target, args: argparse.Namespace) -> int:
    """``mailtui logs [TARGET]``: the server's mail/IMAP/auth logs, recent and (--follow) live."""
    try:
        since = _since(args)
    except SinceError as exc:
        print(f"mailtui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.follow and args.summary:
        print("mailtui: --summary reads the recent past; it cannot be combined with --follow", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run_logs(config, target, args, since))
    except KeyboardInterrupt:
        return EXIT_OK


async def _run_logs(config: Config, target: Target, args: argparse.Namespace, since: _dt.datetime | None) -> int:
    from mailtui.cli import connect_transport

    try:
        transport = await connect_transport(config, target, args.trust_host_key)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    try:
        facts = await collect_facts(transport)
        sources = pick_sources(facts.log_sources.items)
        if not sources:
            print(f"mailtui: no mail, IMAP or auth log found on {transport.label} "
                  f"({facts.log_sources.reason or 'none readable'})", file=sys.stderr)
            return EXIT_CONNECT
        texts = [await read_recent(transport, source, args.lines) for source in sources]
        if args.summary and since is None:
            aggregator = Aggregator()
            for text in texts:  # each source with its own classifier (sshd context is per source)
                _count_file(text.lines, aggregator)
            _print_summary(aggregator.summary(), args)
        else:
            _emit(merge_by_time([list(since_filter(classify_stream(text.lines), since)) for text in texts]), args)
        sys.stdout.flush()
        if args.follow:
            await _follow(transport, sources, args)
    except TransportError as exc:
        print(f"mailtui: {exc.message}", file=sys.stderr)
        return EXIT_CONNECT
    finally:
        await transport.close()
    return EXIT_OK


async def _follow(transport, sources, args: argparse.Namespace) -> None:
    """Print new events of every source as they arrive, until interrupted."""
    from mailtui.core.logs.classify import LogClassifier

    queue: asyncio.Queue = asyncio.Queue(maxsize=64)
    followers = [
        JournalFollower(transport, backfill_lines=0) if s.kind == "journald"
        else FileFollower(transport, s.name, sudo=s.access == "sudo", backfill_lines=0)
        for s in sources
    ]
    # One classifier per source: sshd session context must not mix between logs.
    classifiers = {_name(f): LogClassifier() for f in followers}

    async def pump(follower) -> None:
        async for item in follower.events():
            await queue.put(item)

    tasks = [asyncio.create_task(pump(f)) for f in followers]
    try:
        while True:
            item = await queue.get()
            if isinstance(item, FollowNotice):
                print(f"mailtui: {item.text}", file=sys.stderr)
                continue
            _emit(classifiers[item.path].classify_lines(list(item.lines)), args)
            sys.stdout.flush()
    finally:
        for task in tasks:
            task.cancel()


def _name(follower: FileFollower | JournalFollower) -> str:
    """The ``path`` its FollowedLines carry."""
    return follower.name if isinstance(follower, JournalFollower) else follower.path
