"""Throughput of the bulk classifier (mailtui.core.logs.bulk) against the line-by-line one.

Usage: ``python tests/bench/bench_bulk.py [--lines N] [--chunk MB] [--passes]``

Generates the mixed mail log of bench_classify.py (fixed seed), reads it in chunks of about
``--chunk`` MB cut at line boundaries (as a reader would), and times on one core:
``classify_text`` on each chunk (the fast part), ``LogClassifier.classify_lines`` on the
residue it leaves (the slow part), and for comparison ``classify_lines`` on every line.
``--passes`` also times each regex pass alone. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_classify import generate  # noqa: E402

from mailtui.core.logs import LogClassifier, RecordParser  # noqa: E402
from mailtui.core.logs import bulk  # noqa: E402
from mailtui.core.logs.aggregate import Aggregator  # noqa: E402


def chunks(text: str, size: int) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters, each ending at a line end."""
    out = []
    start = 0
    while start < len(text):
        end = text.find("\n", min(start + size, len(text) - 1))
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=float, default=8.0, help="chunk size in MB")
    ap.add_argument("--passes", action="store_true", help="time each regex pass alone")
    ap.add_argument("--skip-slow", action="store_true", help="do not time the line-by-line path on all lines")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mail.log"
        generate(path, args.lines)
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    pieces = chunks(text, int(args.chunk * 1_000_000))
    n = args.lines

    bulk.classify_text(pieces[0], LogClassifier(parser=RecordParser()))  # warm the per-key rows, as a long-running reader would be
    # Chunk by chunk, as count_lines does: the residue must go through the same classifier
    # right after its chunk (the sshd lines handled in bulk have updated its connection state).
    classifier = LogClassifier(parser=RecordParser())
    segments, residue_events = [], []
    fast_secs = residue_secs = 0.0
    residue_lines = ssh_handled = 0
    for piece in pieces:
        start = time.perf_counter()
        cols, rest = bulk.classify_text(piece, classifier)
        middle = time.perf_counter()
        residue_events += classifier.classify_lines(rest)
        fast_secs += middle - start
        residue_secs += time.perf_counter() - middle
        segments += cols
        residue_lines += len(rest)
        ssh_handled += piece.count(" sshd[") - sum(" sshd[" in line for line in rest)
    handled = sum(len(c) for c in segments)

    start = time.perf_counter()
    aggregator = Aggregator()
    for cols in segments:
        aggregator.add_columns(cols)
    aggregator.add_many(residue_events)
    count_secs = time.perf_counter() - start

    # What the product runs (mailtui logs --summary, the panel's backfill): count_lines on
    # batches of lines, the garbage collector paused as the command pauses it.
    lines = [piece.split("\n")[:-1] if piece.endswith("\n") else piece.split("\n") for piece in pieces]
    gc.disable()
    try:
        start = time.perf_counter()
        classifier, aggregator = LogClassifier(parser=RecordParser()), Aggregator()
        for batch in lines:
            bulk.count_lines(batch, classifier, aggregator)
        count_lines_secs = time.perf_counter() - start
    finally:
        gc.enable()

    print(f"{n:,} lines, {len(text) / 1e6:.0f} MB in {len(pieces)} chunks of ~{args.chunk:g} MB, one core")
    print(f"{'step':<44} {'seconds':>8} {'lines/s':>12}  note")
    print(f"{'bulk classify_text (fast part)':<44} {fast_secs:>8.2f} {n / fast_secs:>12,.0f}  "
          f"{handled:,} handled ({handled / n:.1%}; sshd pass {ssh_handled:,}), {residue_lines:,} residue")
    print(f"{'classify_lines on the residue (slow part)':<44} {residue_secs:>8.2f} "
          f"{residue_lines / residue_secs if residue_secs else 0:>12,.0f}")
    print(f"{'bulk + residue, classified':<44} {fast_secs + residue_secs:>8.2f} {n / (fast_secs + residue_secs):>12,.0f}"
          f"  {(fast_secs + residue_secs) / n * 1e6:.2f} us/line")
    print(f"{'Aggregator: add_columns + add_many(residue)':<44} {count_secs:>8.2f} {n / count_secs:>12,.0f}")
    print(f"{'count_lines per chunk, GC paused (product)':<44} {count_lines_secs:>8.2f} {n / count_lines_secs:>12,.0f}"
          f"  {count_lines_secs / n * 1e6:.2f} us/line")
    if not args.skip_slow:
        start = time.perf_counter()
        classifier = LogClassifier(parser=RecordParser())
        for piece in pieces:
            classifier.classify_lines(piece.splitlines())
        slow_secs = time.perf_counter() - start
        print(f"{'classify_lines on all lines (for comparison)':<44} {slow_secs:>8.2f} {n / slow_secs:>12,.0f}"
              f"  {slow_secs / n * 1e6:.2f} us/line, bulk+residue is {slow_secs / (fast_secs + residue_secs):.1f}x faster")
    if args.passes:
        rest = "\n" + text
        for spec in bulk._PASSES:
            start = time.perf_counter()
            spec.pattern.split(rest)
            split_secs = time.perf_counter() - start
            start = time.perf_counter()
            result = bulk._run_pass(spec, rest, bulk._StampTimes(RecordParser()))
            pass_secs = time.perf_counter() - start
            rows = len(result[0]) if result else 0
            print(f"  pass {spec.name:<10} on {rest.count(chr(10)):>9,} lines: re.split {split_secs:.2f} s, "
                  f"whole pass {pass_secs:.2f} s, {rows:,} rows")
            if result:
                rest = result[1]
        start = time.perf_counter()
        ssh_lines, _left = bulk._split_ssh(rest)
        split_secs = time.perf_counter() - start
        start = time.perf_counter()
        bulk._walk_ssh(ssh_lines, LogClassifier(parser=RecordParser()), bulk._StampTimes(RecordParser()))
        walk_secs = time.perf_counter() - start
        print(f"  pass {'sshd':<10} on {rest.count(chr(10)):>9,} lines: re.split + rows {split_secs:.2f} s, "
              f"walk through the connection state {walk_secs:.2f} s, {len(ssh_lines.rows):,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
