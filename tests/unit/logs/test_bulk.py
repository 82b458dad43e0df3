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
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtui.core.logs import LogClassifier, RecordParser
from mailtui.core.logs import bulk
from mailtui.core.logs.aggregate import Aggregator, Columns, columns_from_events
from mailtui.core.logs.bulk import classify_text, count_lines
from mailtui.core.logs.events import EventKind

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
HERE = Path(__file__).resolve().parent
FAIL2BAN = Path("/work/shared/peer-logs/fail2ban")
Row = tuple


def _rows(cols: Columns) -> list[Row]:
    return list(zip(cols.kinds, cols.attacks, cols.ips, cols.users, cols.names, cols.times, strict=True))


def _slow_rows(lines: list[str], max_sessions: int = 20000) -> list[Row]:
    return _rows(columns_from_events(_classifier(max_sessions).classify_lines(lines)))


def _is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(line == other for other in it) for line in part)


def _classifier(max_sessions: int = 20000) -> LogClassifier:
    return LogClassifier(parser=RecordParser(now=NOW), max_sessions=max_sessions)


def _session_line(line: str) -> bool:
    """A line LogClassifier keeps sshd connection state for."""
    record = RecordParser(now=NOW).parse(line)
    return record.program in ("sshd", "sshd-session", "sshd-auth") and record.pid is not None


def _check_text(text: str, lines: list[str], clf: LogClassifier) -> tuple[list[Row], list[str], list[Row]]:
    """classify_text on ``text`` (the ``lines``) with ``clf``, then the residue through ``clf``:
    (the rows of the passes, the residue, the residue's rows), after the checks that hold for
    any input: equal column lengths, the residue a subsequence of the lines, and the sshd
    lines either all handled (the last segment, in their order) or all residue."""
    segments, residue = classify_text(text, clf)
    for cols in segments:
        assert len({len(cols.kinds), len(cols.attacks), len(cols.ips), len(cols.users), len(cols.names),
                    len(cols.times)}) == 1
    fast = [row for cols in segments for row in _rows(cols)]
    assert len(fast) + len(residue) == len(lines)
    assert _is_subsequence(residue, lines), "the residue must keep the lines' order"
    sessions = [line for line in lines if _session_line(line)]
    left = [line for line in residue if _session_line(line)]
    assert left == sessions or not left, "sshd lines are handled all together or not at all"
    if sessions and not left:
        assert len(segments[-1]) == len(sessions)
    return fast, residue, _rows(columns_from_events(clf.classify_lines(residue))) if residue else []


def _check(lines: list[str], *, per_line: bool = True, trailing_newline: bool = True) -> tuple[int, int]:
    """Assert the bulk path agrees with the slow path on ``lines``; (handled, residue) counts."""
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    fast, residue, residue_rows = _check_text(text, lines, _classifier())
    slow = _slow_rows(lines)
    assert collections.Counter(fast + residue_rows) == collections.Counter(slow)
    # The sshd lines' rows, in order, are theirs in the whole stream.
    sessions = [i for i, line in enumerate(lines) if _session_line(line)]
    if sessions and not any(_session_line(line) for line in residue):
        assert fast[len(fast) - len(sessions):] == [slow[i] for i in sessions]
    if per_line:
        # Each line alone: handled means one row, equal to the line's row alone.
        for line in lines:
            if "\n" in line:
                continue
            one, rest = classify_text(line + "\n", _classifier())
            if rest:
                assert rest == [line] and not one
            else:
                assert [row for cols in one for row in _rows(cols)] == _slow_rows([line]), line
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
    # residue by design: an unknown queue id, status=expired, "status=" in a reason, a
    # session id spelling "failed", an auth result without a verdict
    assert residue == 5


def test_benchmark_log(bench_lines: list[str]) -> None:
    handled, residue = _check(bench_lines, per_line=False)
    assert residue == 0  # sshd included
    _check(bench_lines[:3000])
    _check_chunks(bench_lines, list(range(0, len(bench_lines), 7919)), max_sessions=500)


def test_aggregate_summaries_agree(bench_lines: list[str]) -> None:
    if not hasattr(Aggregator, "add_columns"):
        pytest.skip("Aggregator.add_columns is not there yet")
    lines = bench_lines[:20_000]
    slow = Aggregator()
    slow.add_many(LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines))
    fast = Aggregator()
    clf = _classifier()
    segments, residue = classify_text("\n".join(lines), clf)
    for cols in segments:
        fast.add_columns(cols)
    fast.add_many(clf.classify_lines(residue))
    assert fast.summary() == slow.summary()


def test_quoted_lines() -> None:
    assert len(QUOTED) > 100
    _check(QUOTED)


def test_text_framing() -> None:
    lines = SHAPES[:3] + ["", "Nov 29 15:04:54 mail sshd[1]: x", ""] + SHAPES[3:5]
    _check(lines, trailing_newline=False)
    _check(lines, trailing_newline=True)
    assert classify_text("", _classifier()) == ([], [])
    assert classify_text("\n", _classifier()) == ([], [""])
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


def _sample_lines(name: str) -> list[str]:
    return [line for line in (FAIL2BAN / name).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            if not line.startswith("#")]


@pytest.mark.skipif(not FAIL2BAN.is_dir(), reason=f"fail2ban's sample logs are not at {FAIL2BAN}")
# (a sample file of comments only, such as zzz-sshd-obsolete-multiline, has nothing to check)
@pytest.mark.parametrize("name", sorted(p.name for p in FAIL2BAN.iterdir() if p.name != "README.md" and _sample_lines(p.name))
                         if FAIL2BAN.is_dir() else [])
def test_fail2ban_samples(name: str) -> None:
    lines = _sample_lines(name)
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


def test_sendmail_is_residue() -> None:
    # sendmail keeps state per message (unknown recipients until the from= line): residue.
    lines = ["Nov 29 15:04:54 mail sendmail[1]: x1: <a@b>... User unknown"]
    segments, residue = classify_text("\n".join(lines), _classifier())
    assert segments == [] and residue == lines
    assert EventKind.SMTP_CONNECT in _slow_rows(SHAPES[:1])[0]


# -- sshd: stateless rows walked through the connection state, in order --------------------

SSH_HEAD = "Nov 29 15:04:{second:02d} mail {prog}[{pid}]: "
# (pid, message): the connections of a busy auth.log, interleaved.
SSH_SESSIONS = [
    (10, "Connection from 203.0.113.5 port 50022 on 192.0.2.9 port 22 rdomain \"\""),
    (11, "Connection from 198.51.100.7 port 4711 on 192.0.2.9 port 22"),
    (10, "Invalid user admin from 203.0.113.5 port 50022"),
    # no address on the line: the connection's; hostile before the address is known: deferred
    (12, "input_userauth_request: invalid user oracle [preauth]"),
    (10, "pam_unix(sshd:auth): check pass; user unknown"),
    (10, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5"),
    (11, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root"),
    (10, "Failed password for invalid user admin from 203.0.113.5 port 50022 ssh2"),
    (12, "Connection closed by invalid user oracle 192.0.2.77 port 60000 [preauth]"),
    # PAM failures for one user, then a login for another: a guessed password (critical)
    (11, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=alice"),
    (11, "Accepted password for bob from 198.51.100.7 port 4711 ssh2"),
    (11, "pam_unix(sshd:session): session opened for user bob(uid=1000) by (uid=0)"),
    # a PAM failure then a login for the same user (pam_unix + pam_ldap): not counted
    (13, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.50  user=carol"),
    (13, "Accepted password for carol from 192.0.2.50 port 2222 ssh2"),
    # the exhaustion counted once, twice over
    (14, "error: maximum authentication attempts exceeded for root from 203.0.113.99 port 1 ssh2 [preauth]"),
    (14, "Disconnecting authenticating user root 203.0.113.99 port 1: Too many authentication failures [preauth]"),
    (15, "Disconnecting: Too many authentication failures [preauth]"),
    (15, "Disconnecting: Too many authentication failures for root [preauth]"),
    (10, "Received disconnect from 203.0.113.5 port 50022:11: Bye Bye [preauth]"),
    (10, "Disconnected from invalid user admin 203.0.113.5 port 50022 [preauth]"),
    # IPv6, host names, leading zeros: no dotted quad to leave out, the message is its key
    (16, "Failed password for invalid user ROOT from 2001:db8::1 port 50273 ssh2"),
    (16, "Disconnecting: Too many authentication failures [preauth]"),
    (17, "error: PAM: Authentication failure for stefanor from example.com"),
    (17, "Connection closed by 192.030.0.6 port 22 [preauth]"),
    (17, "Timeout before authentication for 192.0.2.3"),
    (18, "Accepted publickey for mtadmin from 127.0.0.1 port 40000 ssh2: ED25519 SHA256:jtomUTC"),
    (18, "Received disconnect from 127.0.0.1 port 40000:11: disconnected by user"),
    (18, "Disconnected from user mtadmin 127.0.0.1 port 40000"),
    (19, "Did not receive identification string from 192.0.2.8 port 35836"),
    (19, "Unable to negotiate with 192.0.2.8 port 35836: no matching key exchange method found. Their offer: x [preauth]"),
    (20, "kex_exchange_identification: Connection closed by remote host"),
    (20, "Connection closed by 192.0.2.44 port 4242"),
    (21, "User root from 192.0.2.45 not allowed because not listed in AllowUsers"),
    (21, "ROOT LOGIN REFUSED FROM 192.0.2.45 port 12345 [preauth]"),
    (22, "refused connect from 192.0.2.46 (192.0.2.46)"),
    (22, "Address 192.0.2.47 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"),
    (23, "Server listening on 0.0.0.0 port 22."),
    (24, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.48 rhost=192.0.2.49"),
    (24, "Failed publickey for bob from 192.0.2.48 port 22 ssh2: RSA SHA256:abc"),
    (25, "Connection reset by authenticating user root 192.0.2.51 port 5 [preauth]"),
]


def _ssh_lines(spec: list[tuple[int, str]], prog: str = "sshd") -> list[str]:
    return [SSH_HEAD.format(second=i % 60, prog=prog, pid=pid) + msg for i, (pid, msg) in enumerate(spec)]


def _state(clf: LogClassifier) -> dict:
    return {key: (s.ip, s.host, s.pending, sorted(s.pam_users), s.max_auth_counted)
            for key, s in clf._sessions.items()}


def _check_chunks(lines: list[str], cuts: list[int], *, max_sessions: int = 20000) -> int:
    """The lines cut into chunks at ``cuts``, each chunk classify_text'ed and its residue
    classified by the same classifier: the rows (each chunk's sshd rows in their order) and
    the connection state at the end equal the slow path's on all lines. Returns the number of
    chunks whose sshd lines were handled in bulk."""
    slow_clf = _classifier(max_sessions)
    slow = _rows(columns_from_events(slow_clf.classify_lines(lines)))
    clf = _classifier(max_sessions)
    rows: list[Row] = []
    bulk_chunks = 0
    bounds = [0, *sorted(set(cuts)), len(lines)]
    for start, end in zip(bounds, bounds[1:]):
        chunk = lines[start:end]
        if not chunk:
            continue
        fast, residue, residue_rows = _check_text("\n".join(chunk), chunk, clf)
        rows += fast + residue_rows
        sessions = [start + i for i, line in enumerate(chunk) if _session_line(line)]
        if sessions and not any(_session_line(line) for line in residue):
            assert fast[len(fast) - len(sessions):] == [slow[i] for i in sessions]
            bulk_chunks += 1
    assert collections.Counter(rows) == collections.Counter(slow)
    assert _state(clf) == _state(slow_clf)
    return bulk_chunks


def test_sshd_sessions_in_bulk() -> None:
    lines = _ssh_lines(SSH_SESSIONS)
    handled, residue = _check(lines)
    assert residue == 0
    rows = _slow_rows(lines)
    # the cases are there: the guessed password, the deferred attack, the address filled in
    assert (EventKind.SSHD_ACCEPTED, True, "198.51.100.7", "bob") == rows[10][:4]
    assert (EventKind.SSHD_ACCEPTED, False, "192.0.2.50", "carol") == rows[13][:4]
    assert rows[3][:3] == (EventKind.SSHD_INVALID_USER, False, None)
    assert rows[8][1] is True
    assert rows[4][2] == "203.0.113.5"
    assert [row[1] for row in rows[14:16]] == [True, False]  # the exhaustion counted once
    assert rows[21][2] == "2001:db8::1"


@pytest.mark.parametrize("prog", ["sshd", "sshd-session", "sshd-auth"])
def test_sshd_sessions_across_chunks(prog: str) -> None:
    lines = _ssh_lines(SSH_SESSIONS, prog)
    for cut in range(len(lines) + 1):
        assert _check_chunks(lines, [cut]) >= 1
    rng = random.Random(5)
    for _ in range(30):
        _check_chunks(lines, [rng.randrange(len(lines) + 1) for _ in range(rng.randrange(1, 6))])


def test_sshd_max_sessions_clearing() -> None:
    # With room for 3 connections the state is cleared every few new ones, in bulk as in the stream.
    lines = _ssh_lines(SSH_SESSIONS)
    for cuts in ([], [7], [3, 11, 20], list(range(0, len(lines), 4))):
        _check_chunks(lines, cuts, max_sessions=3)


def test_an_sshd_line_left_as_residue_leaves_them_all() -> None:
    # A line of a connection that the sshd pass does not take (a one-digit day without its
    # pad, a message over 600 characters, no host): all the chunk's sshd lines are residue
    # (their state must change in order), the other chunks' are still handled.
    lines = _ssh_lines(SSH_SESSIONS)
    odd = ["Nov 9 15:04:54 mail sshd[10]: Failed password for root from 203.0.113.5 port 1 ssh2",
           SSH_HEAD.format(second=1, prog="sshd", pid=11) + "Invalid user " + "x" * 700 + " from 192.0.2.1 port 2",
           "Nov 29 15:04:54 sshd[12]: Connection closed by 192.0.2.77 port 60000 [preauth]",
           # journal JSON, the program's name spelt with an escape
           '{"SYSLOG_IDENTIFIER": "\\u0073shd", "_PID": "10", "_HOSTNAME": "mail", "MESSAGE": "Connection closed by 192.0.2.77 port 1"}']
    for line in odd:
        mixed = lines[:12] + [line] + lines[12:] + SHAPES[:5]
        segments, residue = classify_text("\n".join(mixed), _classifier())
        assert [row for row in residue if _session_line(row)] == [row for row in mixed if _session_line(row)]
        assert len(residue) == len(lines) + 1
        _check(mixed, per_line=False)
        assert _check_chunks(mixed, [5, 30]) == 2  # the chunks without the odd line
    # An sshd line without a pid has no connection state: it is residue alone.
    mixed = lines[:12] + ["Nov 29 15:04:54 mail sshd: Connection closed by 192.0.2.77 port 60000 [preauth]"] + lines[12:]
    segments, residue = classify_text("\n".join(mixed), _classifier())
    assert residue == [mixed[12]]
    _check(mixed, per_line=False)


def test_sshd_keys_depending_on_the_address_use_the_whole_message() -> None:
    # The first dotted quad is not the one the handler reads: the key with it left out gives
    # another address per stand-in, so the line's whole message is its key.
    lines = [
        "Nov 29 15:04:54 mail sshd[1]: Disconnected from invalid user 192.0.2.1 198.51.100.2 port 22 [preauth]",
        "Nov 29 15:04:54 mail sshd[1]: Invalid user 1.2.3.4 from 198.51.100.3 port 22",
        "Nov 29 15:04:54 mail sshd[2]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.5 rhost=192.0.2.6",
        "Nov 29 15:04:54 mail sshd[3]: 192.0.2.7 pam_unix(sshd:auth) authentication failure rhost=192.0.2.7",
    ]
    # and a key that holds a stand-in address where the handler reads its address
    lines += [f"Nov 29 15:04:54 mail sshd[4]: Disconnected from invalid user 198.51.100.9 {ip} port 22 [preauth]"
              for ip, _port in bulk._SSH_STANDINS]
    handled, residue = _check(lines)
    assert residue == 0
    assert [row[2] for row in _slow_rows(lines)] == ["198.51.100.2", "198.51.100.3", "192.0.2.6", "192.0.2.7",
                                                     *(ip for ip, _port in bulk._SSH_STANDINS)]


def test_sshd_rows_that_depend_on_the_left_out_parts_are_not_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    # A handler whose user depended on the length of the address or port: the two stand-ins
    # disagree, so the key is not shared by lines of other addresses.
    key = ("sshd", "Failed password for root from ", " port ", " ssh2", None)
    assert bulk._SshRows()[key][2] is bulk._FROM_LINE
    real = bulk.classify
    monkeypatch.setattr(bulk, "classify", lambda record: real(record)._replace(user=str(len(record.message))))
    assert bulk._SshRows()[key] is bulk._WHOLE


def _syslog_shape(line: str) -> str:
    """A fail2ban sample line in the padded syslog shape the bulk passes take (same message)."""
    m = re.match(r"([A-Z][a-z]{2}) ([0-9]) (.*)", line)
    if m:
        line = f"{m[1]}  {m[2]} {m[3]}"
    if re.match(r"[^ :\[]+ sshd", line):  # journal short form without a date
        line = "Nov 29 15:04:54 " + line
    if re.match(r"[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} sshd", line):  # no host
        line = line[:16] + "srv " + line[16:]
    return line


@pytest.mark.skipif(not FAIL2BAN.is_dir(), reason=f"fail2ban's sample logs are not at {FAIL2BAN}")
@pytest.mark.parametrize("name", ["sshd", "sshd-journal", "pam-generic"])
def test_fail2ban_sshd_samples_in_bulk(name: str) -> None:
    lines = [_syslog_shape(line)
             for line in (FAIL2BAN / name).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
             if line and not line.startswith("#")]
    sessions = [line for line in lines if _session_line(line)]
    take = [line for line in sessions if bulk._SSH.match("\n" + line + "\n")]
    assert len(take) > 0.8 * len(sessions)
    handled, residue = _check(take)
    assert residue == 0, "every sshd line in the syslog shape is handled"
    rng = random.Random(len(name))
    for _ in range(20):
        _check_chunks(take, [rng.randrange(len(take)) for _ in range(3)], max_sessions=rng.choice([2, 5, 20000]))
    _check(_mutations(take, 300, seed=3), per_line=False)


_SSH_MESSAGES = [msg for _pid, msg in SSH_SESSIONS]
_SSH_ADDRESSES = ["203.0.113.5", "192.0.2.1", "1.2.3.4", "2001:db8::1", "example.com", "10.0.0.010", "198.51.100.254"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(1, 4), st.sampled_from(_SSH_MESSAGES), st.sampled_from(_SSH_ADDRESSES),
                       st.sampled_from(["", "root", "alice", "x y", "from 192.0.2.9"]), _line_parts,
                       st.integers(0, 300)),
             min_size=1, max_size=25),
    st.lists(st.integers(0, 25), max_size=4),
    st.sampled_from([1, 2, 20000]),
)
def test_property_sshd_streams(spec: list, cuts: list[int], max_sessions: int) -> None:
    # Connections (few pids) whose lines take another address or user, some with hostile bits
    # inserted, cut into chunks at random: rows and state equal the stream's.
    lines = []
    for i, (pid, msg, address, user, bits, at) in enumerate(spec):
        msg = re.sub(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", address, msg)
        msg = msg.replace("root", user) if user else msg
        if i % 3 == 0:
            at = min(at, len(msg))
            msg = msg[:at] + "".join(bits) + msg[at:]
        line = SSH_HEAD.format(second=i % 60, prog="sshd", pid=pid) + msg
        if "\n" not in line:
            lines.append(line)
    _check_chunks(lines, cuts, max_sessions=max_sessions)


# -- review findings: each case counted in bulk equals counted line by line -------------------

_SASL = "mail postfix/smtpd[1]: warning: unknown[203.0.113.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
_LOGIN = "mail dovecot: imap-login: Login: user=<bob>, method=PLAIN, rip=203.0.113.5, lip=192.0.2.2"


def _summaries(batches: list[list[str]]):
    now = dt.datetime(2026, 11, 29, 16, 0, tzinfo=dt.timezone.utc)
    slow, bulk = Aggregator(), Aggregator()
    slow_classifier = LogClassifier(parser=RecordParser(now=now))
    bulk_classifier = LogClassifier(parser=RecordParser(now=now))
    for batch in batches:
        slow.add_many(slow_classifier.classify_lines(batch))
        count_lines(batch, bulk_classifier, bulk)
    return slow.summary(), bulk.summary()


@pytest.mark.parametrize("batches", [
    # a date no calendar has (Feb 30) is no date: it gets the time from before the batch, both ways
    [[f"Nov 29 15:04:5{i} {_SASL}" for i in range(3)] + [f"Feb 30 12:00:00 {_LOGIN}"]],
    [["Nov 29 15:00:00 mail kernel: hello"],
     [f"Feb 30 12:00:0{i} {_SASL}" for i in range(3)] + [f"Nov 29 15:00:00 {_LOGIN}", "Nov 29 15:30:00 mail kernel: x"]],
    # dates datetime cannot hold in UTC: counted as undated, the summary still works
    [["9999-12-31T23:59:59-14:00 " + _SASL, "0001-01-01T00:00:00+14:00 " + _SASL, "Nov 29 15:00:00 " + _LOGIN]],
    # more than the names kept per address and minute, in an order the passes change
    [[f"Nov 29 15:04:54 mail sshd[{i}]: Invalid user u{i} from 203.0.113.9 port 22" for i in range(1000)]
     + ["Nov 29 15:04:54 mail postfix/smtpd[2]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 550 5.1.1 "
        "<zz@mailtui.test>: Recipient address rejected: User unknown in virtual mailbox table; "
        "from=<a@b.example> to=<zz@mailtui.test> proto=ESMTP helo=<x>"]
     + ["Nov 29 15:04:54 mail sshd[9999]: Invalid user last from 203.0.113.9 port 22"]],
], ids=["impossible-date", "impossible-date-across-batches", "out-of-range", "names-cap"])
def test_bulk_equals_line_by_line_on_odd_dates_and_full_buckets(batches):
    slow, bulk = _summaries(batches)
    assert bulk == slow


def test_undated_failures_then_an_undated_login_alarm():
    lines = ["mail sshd[1]: Failed password for bob from 203.0.113.5 port 1 ssh2"] * 3
    lines.append("mail sshd[1]: Accepted password for bob from 203.0.113.5 port 1 ssh2")
    slow, bulk = _summaries([lines])
    assert bulk == slow
    assert {key for key, _ in slow.alarms} == {"203.0.113.5", "bob"}


def test_a_relay_probe_spelling_the_tls_phrase_is_a_relay_probe():
    line = ("Nov 29 15:04:54 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.66]: 554 5.7.1 "
            "<x@victim.org>: Relay access denied; from=<\"TLS connection established\"@evil.example> "
            "to=<x@victim.org> proto=ESMTP helo=<x>")
    (event,) = LogClassifier().classify_lines([line])
    assert (event.kind, event.remote_ip, event.attack) == (EventKind.REJECT_RELAY, "203.0.113.66", True)
    slow, bulk = _summaries([[line] * 3])
    assert bulk == slow


def test_the_row_tables_keep_a_bounded_number_of_characters():
    lines = [f"Nov 29 15:04:54 mail postfix/smtpd[1]: warning: non-SMTP command from unknown[203.0.113.5]: "
             f"{i:08d}{'x' * 500}" for i in range(20_000)]
    count_lines(lines, LogClassifier(), Aggregator())
    table = bulk._tables["smtpd"]
    assert sum(sum(map(len, filter(None, key))) for key in table) <= bulk._ROWS_CHARS
