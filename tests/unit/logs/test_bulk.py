"""The bulk classifier gives, for every line it handles, exactly the slow path's row.

:func:`classify_text` handles the common context-free shapes with regex passes and returns
the rest as residue. Whatever the input, its rows plus the slow path's rows for the residue
must be the slow path's rows for all lines, each handled line's row must be that line's row,
and the residue must keep the lines' order. Checked on the benchmark's generated log, on every
log line quoted in these tests, on fail2ban's sample logs, and on hostile mutations of them.
"""

from __future__ import annotations

import ast
import collections
import datetime as dt
import importlib.util
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtui.core.logs import LogClassifier, RecordParser
from mailtui.core.logs import bulk
from mailtui.core.logs.aggregate import Aggregator, Columns, columns_from_events
from mailtui.core.logs.bulk import classify_text
from mailtui.core.logs.events import EventKind

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
FAIL2BAN = Path("/work/shared/peer-logs/fail2ban")
Row = tuple


def _rows(cols: Columns) -> list[Row]:
    return list(zip(cols.kinds, cols.attacks, cols.ips, cols.users, cols.names, cols.times, strict=True))


def _slow_rows(lines: list[str]) -> list[Row]:
    return _rows(columns_from_events(LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines)))


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(line == other for other in it) for line in part)


def _check(lines: list[str], *, per_line: bool = True, trailing_newline: bool = True) -> tuple[int, int]:
    """Assert the bulk path agrees with the slow path on ``lines``; (handled, residue) counts."""
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    segments, residue = classify_text(text, RecordParser(now=NOW))
    for cols in segments:
        assert len({len(cols.kinds), len(cols.attacks), len(cols.ips), len(cols.users), len(cols.names),
                    len(cols.times)}) == 1
    fast = [row for cols in segments for row in _rows(cols)]
    assert len(fast) + len(residue) == len(lines)
    assert _is_subsequence(residue, lines), "the residue must keep the lines' order"
    slow = _slow_rows(lines)
    assert collections.Counter(fast + _slow_rows(residue)) == collections.Counter(slow)
    if per_line:
        # Each line alone: handled means one row, equal to the line's row in the whole text.
        for line, expected in zip(lines, slow, strict=True):
            if "\n" in line:
                continue
            one, rest = classify_text(line + "\n", RecordParser(now=NOW))
            if rest:
                assert rest == [line] and not one
            else:
                assert [row for cols in one for row in _rows(cols)] == [expected], line
    return len(fast), len(residue)


def _bench_generate():
    spec = importlib.util.spec_from_file_location("bench_classify", HERE.parents[1] / "bench" / "bench_classify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


@pytest.fixture(scope="module")
def bench_lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("bulk") / "mail.log"
    _bench_generate()(path, 50_000, seed=7)
    return path.read_text(encoding="utf-8").splitlines()


def _quoted_lines() -> list[str]:
    """Every string literal of tests/unit/logs/*.py that looks like a log line."""
    found: dict[str, None] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == "test_bulk.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 16:
                for line in node.value.split("\n"):
                    if len(line) >= 16 and len(line) < 5000:
                        found[line] = None
    return list(found)


QUOTED = _quoted_lines()

# Shapes the bulk path handles, with every variable part in a different form than the benchmark's.
SHAPES = [
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from unknown[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/submission/smtpd[8745]: connect from mail-ed1-f54.google.com[209.85.208.54]:587",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: disconnect from unknown[192.0.2.1] ehlo=1 auth=0/1 quit=1 commands=2/3",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: disconnect from unknown[192.0.2.1] ehlo=1 auth=1 quit=1 commands=3",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: disconnect from unknown[192.0.2.1] ehlo=1 auth=2/3 commands=3/4",
    "Nov 29 15:04:54 mail postfix/smtps/smtpd[8745]: lost connection after AUTH from unknown[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: lost connection after CONNECT from unknown[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: lost connection after DATA (0 bytes) from x.example[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: timeout after END-OF-MESSAGE from x.example[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: too many errors after RCPT from unknown[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: improper command pipelining after EHLO from unknown[192.0.2.1]: QUIT\\r\\n",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: warning: unknown[192.0.2.1]: SASL PLAIN authentication failed: authentication failure, sasl_username=admin@example.org",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: warning: unknown[192.0.2.1]:25: SASL LOGIN authentication failed: Connection lost to authentication server",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: warning: non-SMTP command from unknown[192.0.2.1]: GET / HTTP/1.1",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <spam@example.com>: Relay access denied; from=<a@b.c> to=<spam@example.com> proto=ESMTP helo=<x>",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@b.c> to=<nobody@example.org> proto=ESMTP helo=<x>",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; from=<a@b.c> to=<x@example.org> proto=ESMTP helo=<x>",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject_warning: RCPT from unknown[192.0.2.1]: 450 4.7.1 Client host rejected: cannot find your hostname",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: NOQUEUE: reject: CONNECT from unknown[192.0.2.1]: 554 5.7.1 something else",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: 4XYZ1234BCD: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=bob@example.org",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: 4XyZ1234abcD: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: ABCDEF12: client=x.example[192.0.2.1]:4711",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: Trusted TLS connection established from x.example[192.0.2.1]: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: CONNECT from [192.0.2.1]:5 to [192.0.2.9]:25",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: PASS NEW [192.0.2.1]:4711",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: PREGREET 11 after 0.1 from [192.0.2.1]:4711: EHLO ylmf-pc\\r\\n",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: DNSBL rank 3 for [192.0.2.1]:4711",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: HANGUP after 2 from [192.0.2.1]:4711 in tests after SMTP handshake",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: HANGUP after 0.5 from [192.0.2.1]:4711 in tests after SMTP handshake",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: DISCONNECT [192.0.2.1]:4711",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: NON-SMTP COMMAND from [192.0.2.1]:4711 after CONNECT: GET / HTTP/1.1",
    "Nov 29 15:04:54 mail postfix/postscreen[77]: BLACKLISTED [192.0.2.1]:4711",
    "Nov 29 15:04:54 mail postfix/cleanup[9]: 4XYZ1234BCD: message-id=<x@y>",
    "Nov 29 15:04:54 mail postfix/qmgr[9]: 0123456789: removed",
    "Nov 29 15:04:54 mail postfix/qmgr[9]: 0123456789: from=<>, size=2345, nrcpt=1 (queue active)",
    "Nov 29 15:04:54 mail postfix/qmgr[9]: 0123456789: from=<a@b>, status=expired, returned to sender",
    "Nov 29 15:04:54 mail postfix/smtp[9]: 0123456789: to=<x@example.com>, orig_to=<y@example.org>, relay=mx.example.com[192.0.2.9]:25, delay=1.1, delays=0.1/0/0.5/0.5, dsn=4.4.1, status=deferred (connect to mx.example.com[192.0.2.9]:25: Connection timed out)",
    "Nov 29 15:04:54 mail postfix/smtp[9]: 0123456789: to=<x@example.com>, relay=none, delay=1, dsn=5.1.1, status=bounced (host said: 550 status=sent)",
    "Nov 29 15:04:54 mail postfix/local[9]: 0123456789: to=<root@mail>, relay=local, delay=0, dsn=2.0.0, status=sent (delivered to mailbox)",
    "Nov 29 15:04:54 mail postfix/lmtp[9]: 0123456789: to=<a@b>, relay=x, delay=0.2, dsn=2.0.0, status=weird (250 ok)",
    "Nov 29 15:04:54 mail dovecot: imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, mpid=4711, TLS, session=<abcDEF+/12>",
    "Nov 29 15:04:54 mail dovecot: pop3-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=192.0.2.1, lip=192.0.2.2, session=<abc>",
    "Nov 29 15:04:54 mail dovecot: pop3-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=192.0.2.1, lip=192.0.2.2, session=<afailedb>",
    "Nov 29 15:04:54 mail dovecot: imap-login: Disconnected: Connection closed (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2, TLS, session=<x>",
    "Nov 29 15:04:54 mail dovecot: imap-login: Aborted login (tried to use disallowed plaintext auth): user=<>, rip=192.0.2.1, lip=192.0.2.2, session=<x>",
    "Nov 29 15:04:54 mail dovecot: imap-login: Disconnected (disconnected before auth was ready, waited 0 secs): user=<>, rip=192.0.2.1, lip=192.0.2.2, session=<x>",
    "Nov 29 15:04:54 mail dovecot[12]: auth-worker(304): sql(bob@example.org,192.0.2.1,<abc>): Password mismatch",
    "Nov 29 15:04:54 mail dovecot: auth-worker(304): pam(bob,192.0.2.1): pam_authenticate() failed: Authentication failure (password mismatch?)",
    "Nov 29 15:04:54 mail dovecot: auth: passwd-file(nobody,192.0.2.1): unknown user",
    "Nov 29 15:04:54 mail dovecot: auth: passwd-file(nobody,192.0.2.1): some other news",
    "Nov 29 15:04:54 mail dovecot: imap(alice@example.org)<4711><abc>: Disconnected: Logged out in=120 out=4711",
    "Nov 29 15:04:54 mail dovecot: pop3(bob): Disconnected: Logged out top=0/0, retr=0/0, del=0/1, size=100",
    "2026-11-29T14:34:53.123456+01:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]",
    "2026-11-29T14:34:53Z mx dovecot: imap-login: Login: user=<a>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.2",
    "Dec 31 23:59:59 mail postfix/smtpd[8745]: connect from unknown[192.0.2.1]",
    "Feb 30 12:00:00 mail postfix/smtpd[8745]: connect from unknown[192.0.2.1]",
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from unknown[192.0.2.1]\r",
]


def test_handles_the_common_shapes() -> None:
    handled, residue = _check(SHAPES)
    # residue by design: an unknown queue id, "HANGUP after 0.5" (the slow path finds no
    # address), status=expired, "status=" in a reason, a session id spelling "failed", an
    # auth result without a verdict
    assert residue == 6


def test_benchmark_log(bench_lines: list[str]) -> None:
    handled, residue = _check(bench_lines, per_line=False)
    assert handled / len(bench_lines) > 0.85  # everything but sshd
    _check(bench_lines[:3000])


def test_aggregate_summaries_agree(bench_lines: list[str]) -> None:
    if not hasattr(Aggregator, "add_columns"):
        pytest.skip("Aggregator.add_columns is not there yet")
    lines = bench_lines[:20_000]
    slow = Aggregator()
    slow.add_many(LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines))
    fast = Aggregator()
    segments, residue = classify_text("\n".join(lines), RecordParser(now=NOW))
    for cols in segments:
        fast.add_columns(cols)
    fast.add_many(LogClassifier(parser=RecordParser(now=NOW)).classify_lines(residue))
    assert fast.summary() == slow.summary()


def test_quoted_lines() -> None:
    assert len(QUOTED) > 100
    _check(QUOTED)


def test_text_framing() -> None:
    lines = SHAPES[:3] + ["", "Nov 29 15:04:54 mail sshd[1]: x", ""] + SHAPES[3:5]
    _check(lines, trailing_newline=False)
    _check(lines, trailing_newline=True)
    assert classify_text("", RecordParser(now=NOW)) == ([], [])
    assert classify_text("\n", RecordParser(now=NOW)) == ([], [""])
    _check([line + "\r" for line in SHAPES])


_HOSTILE_BITS = ["\x1b", "\x00", "\u202e", "[", "]", " ", "  ", "\t", "\r", "=", "<", ">", ",", ":", "(", ")",
                 "é", "\udcff", "\x85", "\u2028", "2001:db8::1", "::ffff:192.0.2.1", "010", "256", "0", "failed",
                 "status=", "user=<", "rip=", "sasl_username=", "TLS connection established", "reject: "]


def _mutations(lines: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        line = rng.choice(lines)
        for _ in range(rng.randrange(1, 3)):
            what = rng.random()
            at = rng.randrange(len(line) + 1)
            if what < 0.15:
                line = line[:at]  # truncated
            elif what < 0.3:
                line = line.replace("192.0.2.1", rng.choice(["2001:db8::1", "192.0.2.01", "192.0.2.256", "[192.0.2.1]",
                                                             "192.0.2", "::ffff:192.0.2.1", "0.0.0.0"]))
            elif what < 0.4:
                line = line[:at] + line[at + 1 :]
            else:
                line = line[:at] + rng.choice(_HOSTILE_BITS) + line[at:]
        out.append(line)
    return out


def test_hostile_mutations(bench_lines: list[str]) -> None:
    corpus = SHAPES + bench_lines[:500]
    _check(_mutations(corpus, 4000, seed=11))


@pytest.mark.skipif(not FAIL2BAN.is_dir(), reason=f"fail2ban's sample logs are not at {FAIL2BAN}")
@pytest.mark.parametrize("name", sorted(p.name for p in FAIL2BAN.iterdir() if p.name != "README.md")
                         if FAIL2BAN.is_dir() else [])
def test_fail2ban_samples(name: str) -> None:
    lines = [line for line in (FAIL2BAN / name).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
             if not line.startswith("#")]
    if not lines:
        pytest.skip(f"{name} holds comments only")
    _check(lines)
    _check(_mutations(lines, 300, seed=len(name)), per_line=False)


_line_parts = st.lists(
    st.one_of(st.sampled_from(_HOSTILE_BITS), st.text(max_size=6), st.sampled_from(["192.0.2.1", "unknown", "x@y"])),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SHAPES), st.integers(0, 400), _line_parts), min_size=1, max_size=6))
def test_property_hostile_lines(spec: list[tuple[str, int, list[str]]]) -> None:
    lines = []
    for shape, at, bits in spec:
        at = min(at, len(shape))
        lines.append(shape[:at] + "".join(bits) + shape[at:])
    _check([line for line in lines if "\n" not in line])


def test_a_pass_whose_key_loses_the_address_is_dropped() -> None:
    # A synthetic line that does not give back the canary address: the pass is not used and
    # its lines stay residue (slower, never wrong).
    spec = bulk._Pass("test-broken", bulk._SMTPD, lambda key: ("Nov 29 15:04:54 mail postfix/smtpd[1]: connect from x", "192.0.2.1"))
    table = bulk._Rows(spec)
    bulk._tables[spec.name] = table
    try:
        text = "\n" + SHAPES[0] + "\n"
        assert bulk._run_pass(spec, text, bulk._StampTimes(RecordParser(now=NOW))) is None
        assert not table.failed
    finally:
        del bulk._tables[spec.name]


def test_only_context_free_programs() -> None:
    lines = [
        "Nov 29 15:04:54 mail sshd[1]: Connection from 192.0.2.1 port 4711 on 192.0.2.9 port 22",
        "Nov 29 15:04:54 mail sendmail[1]: x1: <a@b>... User unknown",
    ]
    segments, residue = classify_text("\n".join(lines), RecordParser(now=NOW))
    assert segments == [] and residue == lines
    assert EventKind.SMTP_CONNECT in _slow_rows(SHAPES[:1])[0]
