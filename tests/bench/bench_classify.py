"""Throughput of mailtui's log classification against fail2ban-regex and pflogsumm.

Usage: ``python tests/bench/bench_classify.py [--lines N] [--skip-peers] [--no-gc] [--profile]``

Generates a realistic mixed mail log (Postfix smtpd/postscreen/qmgr/smtp/cleanup, Dovecot,
sshd, with attack bursts; fixed seed) into a temporary file, then times on one core:
mailtui (parse + classify, all families in one pass; with aggregation; the whole
``mailtui logs --file --summary`` command), ``fail2ban-regex`` with the postfix
(aggressive), dovecot and sshd filters, and ``pflogsumm``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mailtui.core.logs import LogClassifier, RecordParser  # noqa: E402
from mailtui.core.logs.aggregate import Aggregator  # noqa: E402

_MONTH = "Nov"


def _ip(rng: random.Random) -> str:
    return f"{rng.choice([45, 89, 103, 185, 193, 194, 212])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _qid(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(10))


def generate(path: Path, count: int, seed: int = 1) -> None:
    """Write ``count`` lines of a plausible day on a small mail server."""
    rng = random.Random(seed)
    users = ["alice@example.org", "bob@example.org", "info@example.org", "admin@example.org"]
    lines: list[str] = []
    second = 0
    pid = 1000
    while len(lines) < count:
        if rng.random() < 0.2:
            second += 1
        t = f"{_MONTH} {1 + second // 86400 % 28:2d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d} mx"
        pid += 1
        r = rng.random()
        ip = _ip(rng)
        if r < 0.25:  # legitimate inbound mail
            q = _qid(rng)
            lines += [
                f"{t} postfix/postscreen[{pid}]: CONNECT from [{ip}]:{rng.randrange(1024, 65535)} to [192.0.2.1]:25",
                f"{t} postfix/postscreen[{pid}]: PASS OLD [{ip}]:{rng.randrange(1024, 65535)}",
                f"{t} postfix/smtpd[{pid}]: connect from mail.example.net[{ip}]",
                f"{t} postfix/smtpd[{pid}]: Anonymous TLS connection established from mail.example.net[{ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                f"{t} postfix/smtpd[{pid}]: {q}: client=mail.example.net[{ip}]",
                f"{t} postfix/cleanup[{pid + 1}]: {q}: message-id=<{q}@example.net>",
                f"{t} postfix/qmgr[900]: {q}: from=<news@example.net>, size={rng.randrange(900, 90000)}, nrcpt=1 (queue active)",
                f"{t} postfix/lmtp[{pid + 2}]: {q}: to=<{rng.choice(users)}>, relay=mx[private/dovecot-lmtp], delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
                f"{t} postfix/qmgr[900]: {q}: removed",
                f"{t} postfix/smtpd[{pid}]: disconnect from mail.example.net[{ip}] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
            ]
        elif r < 0.35:  # outbound
            q = _qid(rng)
            status = rng.choice(["sent (250 2.0.0 OK)", "sent (250 2.0.0 OK)", "deferred (connect to mx.example.com[192.0.2.9]:25: Connection timed out)", "bounced (host said: 550 5.1.1 user unknown)"])
            lines += [
                f"{t} postfix/submission/smtpd[{pid}]: {q}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={rng.choice(users)}",
                f"{t} postfix/qmgr[900]: {q}: from=<{rng.choice(users)}>, size=2345, nrcpt=1 (queue active)",
                f"{t} postfix/smtp[{pid + 1}]: {q}: to=<x@example.com>, relay=mx.example.com[192.0.2.9]:25, delay=1.1, delays=0.1/0/0.5/0.5, dsn=2.0.0, status={status}",
            ]
        elif r < 0.55:  # SASL brute force burst
            for _ in range(rng.randrange(3, 12)):
                lines += [
                    f"{t} postfix/smtpd[{pid}]: connect from unknown[{ip}]",
                    f"{t} postfix/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                    f"{t} postfix/smtpd[{pid}]: lost connection after AUTH from unknown[{ip}]",
                    f"{t} postfix/smtpd[{pid}]: disconnect from unknown[{ip}] ehlo=1 auth=0/1 commands=1/2",
                ]
        elif r < 0.62:  # relay probes, RBL, scanners
            lines += [
                f"{t} postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <spam@example.com>: Relay access denied; from=<a@b.c> to=<spam@example.com> proto=ESMTP helo=<WIN-ABC>",
                f"{t} postfix/postscreen[{pid}]: PREGREET 11 after 0.1 from [{ip}]:4711: EHLO ylmf-pc\\r\\n",
                f"{t} postfix/postscreen[{pid}]: DNSBL rank 3 for [{ip}]:4711",
                f"{t} postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; from=<a@b.c> to=<x@example.org> proto=ESMTP helo=<x>",
                f"{t} postfix/smtpd[{pid}]: lost connection after CONNECT from unknown[{ip}]",
            ]
        elif r < 0.80:  # dovecot
            user = rng.choice(users)
            if rng.random() < 0.5:
                lines += [
                    f"{t} dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.1, mpid={pid}, TLS, session=<abc{pid}>",
                    f"{t} dovecot: imap({user})<{pid}><abc{pid}>: Disconnected: Logged out in=120 out=4711",
                ]
            else:
                lines += [
                    f"{t} dovecot: auth-worker({pid}): sql({user},{ip},<abc>): Password mismatch",
                    f"{t} dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 12 secs): user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.1, TLS, session=<abc{pid}>",
                ]
        else:  # sshd
            user = rng.choice(["root", "admin", "test", "oracle", "ubuntu"])
            lines += [
                f"{t} sshd[{pid}]: Connection from {ip} port 4711 on 192.0.2.1 port 22 rdomain \"\"",
                f"{t} sshd[{pid}]: Invalid user {user} from {ip} port 4711",
                f"{t} sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
                f"{t} sshd[{pid}]: Failed password for invalid user {user} from {ip} port 4711 ssh2",
                f"{t} sshd[{pid}]: Received disconnect from {ip} port 4711:11: Bye Bye [preauth]",
                f"{t} sshd[{pid}]: Disconnected from invalid user {user} {ip} port 4711 [preauth]",
            ]
    path.write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")


def time_mailtui(path: Path, *, aggregate: bool = False, gc_off: bool = False) -> tuple[float, int, int]:
    """Seconds to read, parse and classify the file (and aggregate); number of events and of attacks.

    ``gc_off`` pauses Python's cyclic garbage collector during the run (as ``timeit`` does),
    to show its share: every event holds enum members, so every event stays tracked and
    the collector's full passes grow with the number of events alive.
    """
    if gc_off:
        gc.disable()
    try:
        start = time.perf_counter()
        classifier = LogClassifier(parser=RecordParser())
        aggregator = Aggregator() if aggregate else None
        attacks = events = 0
        with path.open(encoding="utf-8", errors="surrogateescape") as handle:
            while True:
                batch = handle.readlines(1 << 20)
                if not batch:
                    break
                result = classifier.classify_lines(batch)
                if aggregator is not None:
                    aggregator.add_many(result)
                events += len(result)
                attacks += sum(1 for e in result if e.attack)
        if aggregator is not None:
            aggregator.summary()
        return time.perf_counter() - start, events, attacks
    finally:
        if gc_off:
            gc.enable()


def time_bulk(path: Path) -> float:
    """Seconds to read, classify and count the file the way ``mailtui logs --file --summary`` does:
    in bulk (core.logs.bulk: regex passes straight into counters; the residue line by line),
    GC paused as the command pauses it."""
    from mailtui.core.logs.bulk import count_lines  # noqa: PLC0415

    gc.disable()
    try:
        start = time.perf_counter()
        classifier = LogClassifier(parser=RecordParser())
        aggregator = Aggregator()
        with path.open(encoding="utf-8", errors="surrogateescape") as handle:
            while True:
                batch = handle.readlines(7 << 20)
                if not batch:
                    break
                count_lines([line.rstrip("\n") for line in batch], classifier, aggregator)
        aggregator.summary()
        return time.perf_counter() - start
    finally:
        gc.enable()


def time_command(argv: list[str]) -> float | None:
    if shutil.which(argv[0]) is None:
        return None
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top 15 for mailtui")
    ap.add_argument("--no-gc", action="store_true", help="also time mailtui with the cyclic GC paused")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mail.log"
        generate(path, args.lines)
        n = args.lines
        rows = []
        secs, events, attacks = time_mailtui(path)
        rows.append(("mailtui (all families, one pass)", secs))
        print(f"mailtui: {events} events, {attacks} attacks")
        agg_secs, _, _ = time_mailtui(path, aggregate=True)
        rows.append(("mailtui classify + aggregate", agg_secs))
        if args.no_gc:
            rows.append(("mailtui, GC paused", time_mailtui(path, gc_off=True)[0]))
            rows.append(("mailtui classify + aggregate, GC paused", time_mailtui(path, aggregate=True, gc_off=True)[0]))
        bulk_secs = time_bulk(path)
        rows.append(("mailtui bulk classify + aggregate", bulk_secs))
        # The product's path end to end: read, classify, count, print the summary (as pflogsumm does).
        rows.append(("mailtui logs --file --summary (CLI)",
                     time_command([sys.executable, "-m", "mailtui", "logs", "--file", str(path), "--summary"])))
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            time_mailtui(path)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())
        if not args.skip_peers:
            for label, argv in [
                ("fail2ban-regex postfix[mode=aggressive]", ["fail2ban-regex", str(path), "postfix[mode=aggressive]"]),
                ("fail2ban-regex dovecot", ["fail2ban-regex", str(path), "dovecot"]),
                ("fail2ban-regex sshd", ["fail2ban-regex", str(path), "sshd"]),
                ("pflogsumm", ["pflogsumm", str(path)]),
            ]:
                rows.append((label, time_command(argv)))
        print(f"\n{n} lines, one core")
        print(f"{'tool':<42} {'seconds':>9} {'lines/s':>12} {'vs line-by-line':>16} {'vs bulk + aggregate':>20}")
        for label, seconds in rows:
            if seconds is None:
                print(f"{label:<42} {'(not installed)':>9}")
                continue
            print(f"{label:<42} {seconds:>9.2f} {n / seconds:>12,.0f} {seconds / secs:>15.1f}x {seconds / bulk_secs:>19.1f}x")
        f2b = [s for label, s in rows if label.startswith("fail2ban") and s]
        if f2b:
            print(f"{'fail2ban-regex, three filters together':<42} {sum(f2b):>9.2f} {n * 3 / sum(f2b):>12,.0f} "
                  f"{sum(f2b) / secs:>15.1f}x {sum(f2b) / bulk_secs:>19.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
