"""Differential check for speed work on the log classifier: same lines in, same events out.

Usage::

    python tests/bench/classify_fingerprint.py --root /tmp/orig --save /tmp/fp.pickle  # reference
    python tests/bench/classify_fingerprint.py --compare /tmp/fp.pickle                  # after a change
    python tests/bench/classify_fingerprint.py --root /tmp/orig --show N                 # one line's events

Line sources (deterministic): the benchmark's generated log (``--lines``, default 1,000,000),
every string literal in the log unit tests, every line of fail2ban's sample logs in
``../shared/peer-logs/fail2ban`` and seeded mutations of those (truncated, a character
replaced by a hostile one, other timestamp formats), so fast paths get exercised at their
edges. Each line is classified three ways: stateless (``classify(parse_line(...))``), in a
stream (``LogClassifier.classify_lines`` in batches), and with a ``program_hint`` and a
non-UTC zone. A line's fingerprint is a hash of the ``repr`` of its events, record included.
The events of both sets are also counted (``Aggregator``): the summary with every offender
and user is fingerprinted too (``summary-*``).
The reference file keeps its lines, so ``--compare`` classifies exactly those again.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import hashlib
import pickle
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "peer-logs" / "fail2ban"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
ZONE = dt.timezone(dt.timedelta(hours=-5))
_HOSTILE = [" ", "  ", ":", ": ", "[", "]", "(", ")", "<", ">", "=", ",", ".", "0", "9", "a", "Z", "\t",
            "\x1b", "\x00", "\u202e", "\udc9b", "\r", "\n", "\u0663", "\u00b2", "::", "[preauth]", "/",
            "'", '"', "\\", "-", "@"]
_PREFIXES = ["Dec  5 17:07:00 mx ", "Dec 5 17:07:00 mx ", "Jan 31 23:59:59 ", "2026-11-29T14:34:53.123+01:00 mx ",
             "2026-11-29 14:34:53 ", "<38>1 2026-11-29T14:34:53Z mx ", "@400000004c91b044077a9e94 ", "mx ",
             "Foo 15 17:07:00 mx ", "Nov 29 15:04:54 mx [sshd] ", ""]


def _literals() -> list[str]:
    out: list[str] = []
    files = [*sorted((REPO / "tests" / "unit" / "logs").glob("*.py")), REPO / "tests" / "unit" / "test_aggregate.py",
             REPO / "tests" / "unit" / "test_logs_cli.py"]
    for path in files:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 8:
                out.extend(node.value.splitlines() or [node.value])
                out.append(node.value)
    return out


def _corpus() -> list[str]:
    out: list[str] = []
    if CORPUS.is_dir():
        for path in sorted(CORPUS.iterdir()):
            if path.is_file():
                out.extend(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines())
    return out


def _mutations(seed_lines: list[str], per_line: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for line in seed_lines:
        if not line:
            continue
        for _ in range(per_line):
            op = rng.randrange(6)
            i = rng.randrange(len(line) + 1)
            if op == 0:
                out.append(line[:i])
            elif op == 1:
                out.append(line[:i] + rng.choice(_HOSTILE) + line[i + 1 :])
            elif op == 2:
                out.append(line[:i] + rng.choice(_HOSTILE) + line[i:])
            elif op == 3:
                # another header in front of the message part
                colon = line.find(": ")
                body = line[colon + 2 :] if colon >= 0 and rng.random() < 0.5 else line
                tag = rng.choice(["postfix/smtpd[1]: ", "sshd[22]: ", "dovecot: ", "imap-login: ",
                                  "postfix/submission/smtpd[3]: ", "postfix/postscreen[4]: ", "postfix/qmgr[5]: ",
                                  "sshd-session[6]: ", "auth-worker(7): ", "prog: ", "fail2ban.actions [9]: "])
                out.append(rng.choice(_PREFIXES) + tag + body)
            elif op == 4:
                j = rng.randrange(len(line) + 1)
                out.append(line[:i] + line[min(i, j) : max(i, j)] + line[i:])
            else:
                out.append(line.replace(" ", rng.choice(["  ", " ", "\t"]), 1) + rng.choice(["", "\r", "\r\n", "\n", " "]))
    return out


def _bench_lines(count: int) -> list[str]:
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    from bench_classify import generate  # noqa: PLC0415 - benchmark helper, same generator

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mail.log"
        generate(path, count)
        return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _digest(events) -> bytes:  # noqa: ANN001
    return hashlib.blake2b(repr(events).encode("utf-8", "surrogatepass"), digest_size=10).digest()


def fingerprints(lines_bench: list[str], lines_other: list[str]) -> dict[str, list[bytes]]:
    from mailtui.core.logs import LogClassifier, RecordParser, classify, parse_line  # noqa: PLC0415

    result: dict[str, list[bytes]] = {}
    # stream, benchmark lines, in the benchmark's batch shape
    clf = LogClassifier(parser=RecordParser(now=NOW))
    out: list[bytes] = []
    for start in range(0, len(lines_bench), 9000):
        out.extend(_digest(e) for e in clf.classify_lines(lines_bench[start : start + 9000]))
    result["bench-stream"] = out
    # the other lines: stateless, stream (odd batches), hinted + zoned stream
    result["other-stateless"] = [_digest(classify(parse_line(line, now=NOW))) for line in lines_other]
    clf = LogClassifier(parser=RecordParser(now=NOW))
    out = []
    for start in range(0, len(lines_other), 777):
        out.extend(_digest(e) for e in clf.classify_lines(lines_other[start : start + 777]))
    result["other-stream"] = out
    clf = LogClassifier(parser=RecordParser(now=NOW, tz=ZONE, program_hint="sshd"))
    out = []
    for start in range(0, len(lines_other), 5000):
        out.extend(_digest(e) for e in clf.classify_lines(lines_other[start : start + 5000]))
    result["other-hinted"] = out
    # counting: the summary (every offender and user, the windows, labels, alarms, hours)
    # of the benchmark's events, and of the other lines', fed in batches like the panel does
    from mailtui.core.logs.aggregate import Aggregator  # noqa: PLC0415

    for name, lines, size in (("summary-bench", lines_bench, 9000), ("summary-other", lines_other, 777)):
        clf = LogClassifier(parser=RecordParser(now=NOW))
        agg = Aggregator()
        for start in range(0, len(lines), size):
            agg.add_many(clf.classify_lines(lines[start : start + size]))
        summary = agg.summary(top=1_000_000)
        result[name] = [_digest(summary.offenders[i : i + 100]) for i in range(0, len(summary.offenders), 100)]
        result[name] += [_digest((summary.lines, summary.first, summary.last, summary.by_kind, summary.attacks)),
                         _digest(summary.users), _digest(summary.hours), _digest(summary.alarms)]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="import mailtui from this directory (e.g. a copy of the old code)")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--mutations", type=int, default=40, help="mutated variants per corpus/test line")
    ap.add_argument("--save")
    ap.add_argument("--compare")
    ap.add_argument("--show", type=int, help="print the events of line N of the 'other' set")
    args = ap.parse_args()
    sys.path.insert(0, args.root or str(REPO))
    import mailtui.core.logs  # noqa: F401, PLC0415 - bind the package before bench_classify touches sys.path

    print("mailtui from", Path(mailtui.core.logs.__file__).parents[2])
    seeds = _literals() + _corpus()
    other = seeds + _mutations(seeds, args.mutations)
    if args.show is not None:
        from mailtui.core.logs import LogClassifier, RecordParser, classify, parse_line  # noqa: PLC0415

        line = other[args.show]
        print(repr(line))
        print(classify(parse_line(line, now=NOW)))
        return 0
    ref = None
    if args.compare:
        # Classify the very lines the reference saw (test literals may have changed since).
        ref = pickle.loads(Path(args.compare).read_bytes())
        other, args.lines = ref["other"], ref["bench_lines"]
    bench = _bench_lines(args.lines)
    fps = fingerprints(bench, other)
    total = sum(len(v) for v in fps.values())
    print(f"{len(bench)} benchmark lines, {len(other)} other lines ({len(seeds)} seeds), {total} fingerprints")
    if args.save:
        Path(args.save).write_bytes(pickle.dumps({"other": other, "bench_lines": args.lines, "fps": fps}))
    if ref is not None:
        ref = ref["fps"]
        bad = 0
        for name, digests in fps.items():
            diff = [i for i, (a, b) in enumerate(zip(digests, ref[name])) if a != b]
            if len(digests) != len(ref[name]):
                print(f"{name}: {len(digests)} lines, reference {len(ref[name])}")
                bad += 1
            print(f"{name}: {len(digests)} compared, {len(diff)} different")
            for i in diff[:10]:
                src = bench if name.startswith("bench") else other
                print(f"   line {i}: {src[i]!r}")
            bad += len(diff)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
