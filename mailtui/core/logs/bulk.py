"""Classify a whole chunk of log text at C speed, straight into :class:`~.aggregate.Columns`.

:meth:`LogClassifier.classify_lines` costs a few microseconds per line in Python. Most lines
of a mail server's log have a handful of shapes (smtpd connect/disconnect, SASL failures,
postscreen, queue manager, Dovecot logins), so :func:`classify_text` splits a chunk with a
few ``re.split`` passes, one per family of shapes, without a Python loop per line:

- each pass's pattern starts at a line start (``\\n``) and consumes one whole line; what it
  does not match stays in the text between matches, which is the next pass's input and, after
  the last pass, the residue, in its original order;
- ``re.split`` with groups returns the text between matches and the groups of each match in
  one flat list, so a column is an extended slice of that list (no tuple per line);
- a line's row is made of three parts. The time comes from its date, converted once per
  distinct date by the parser (:meth:`RecordParser.stamp_time`, the conversion the slow path
  uses). The address comes from one group, a strict dotted quad (as ``classify._ip`` accepts
  unchanged). Everything else (kind, attack, user, name) comes from the line's *key*: the
  groups holding the text that decides the classification, with the variable parts that
  cannot (date, host, pid, queue id, client name, address, session ids...) left out.

The row of each distinct key is computed by the slow path itself: a synthetic line is built
from the key with fixed stand-ins for the left-out parts (a canary address in the address's
place) and classified by :func:`~.classify.classify`. If the classifier does not return the
canary as the line's address (the handler took the address from elsewhere, or found none),
the whole pass is dropped and its lines go on to the next pass and to the residue: a slower
but never a different answer. The patterns are strict (ASCII classes, ``[0-9]`` rather than
``\\d``, no spaces, ``=`` or brackets in the parts left out of the key) so that the left-out
parts cannot change what the handlers decide; tests/unit/logs/test_bulk.py checks every row
against the slow path, on generated, real and hostile lines.

Only programs whose classification depends on the line alone are handled: Postfix smtpd
(any service), postscreen and the delivery daemons, and Dovecot. sshd and sendmail keep state
across lines (:class:`~.classify.LogClassifier`) and are always residue, as is anything
unusual (IPv6, non-ASCII or control characters in the left-out parts, very long lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from mailtui.core.logs.aggregate import Aggregator, Columns, columns_from_events
from mailtui.core.logs.classify import LogClassifier, classify
from mailtui.core.logs.events import EventKind
from mailtui.core.logs.records import RecordParser

__all__ = ["classify_text", "count_lines"]

# -- pattern pieces --------------------------------------------------------------------------

# A line start, then the date exactly as records._FAST_HEAD reads it (classic, or an RFC 3339
# subset), then the host (any characters but space, colon, bracket: not part of any row).
_HEAD = (
    r"\n((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2}))"
    r" [^ :\[\n]+ "
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
# The address: a dotted quad without leading zeros (what classify._ip returns unchanged).
_IP = rf"(?P<ip>{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})"
_PID = r"\[[0-9]{1,18}\]"
# A Postfix program name (``postfix/smtpd``, ``postfix/submission/smtpd``, ``postfix-out/qmgr``).
_POSTFIX = r"postfix[0-9A-Za-z_.-]*/(?:[0-9A-Za-z_.-]+/)?"
# A client name before ``[address]``: no space, ``=``, ``:`` or bracket, so no handler's test
# (all of which look for spaces, ``=``, ``:`` or ``<``) can see it.
_NAME = r"[0-9A-Za-z._-]{0,255}"
_QID = r"(?:[0-9A-F]{6,20}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,20})"
# Text the key keeps verbatim; bounded, so that long lines stay residue (as the slow path's
# memo leaves them out too).
_TAIL = r"[^\n]{0,512}"
_END = r"(?=\n)"

_CANARY = "192.0.2.1"


@dataclass(frozen=True)
class _Pass:
    """One family of line shapes: a pattern and how to rebuild a line from a key."""

    name: str
    pattern: re.Pattern[str]
    #: key (the groups other than the date and the address, in order) -> (synthetic line,
    #: the address the classifier must return for it: the canary, or None when the shape has none)
    synth: Callable[[tuple[str | None, ...]], tuple[str, str | None]]


_SYNTH_HEAD = "Jan  1 00:00:00 h "


# Postfix smtpd (any service) and postscreen: ``prefix name[address]:port tail``.
_SMTPD_PREFIXES = (
    r"connect from |disconnect from "
    r"|(?:lost connection|timeout|too many errors) after [A-Z-]{1,20}(?: \([0-9]{1,12} bytes\))? from "
    r"|improper command pipelining after [A-Z-]{1,20} from "
    r"|client="
    # the SASL warning's tail must be the one _SASL_FAIL reads, or the address would be lost
    rf"|warning: (?={_NAME}\[[0-9.]{{7,15}}\](?::[0-9]{{1,5}})?: SASL [A-Za-z0-9-]{{1,20}} authentication failed)"
    r"|warning: non-SMTP command from "
    rf"|NOQUEUE: (?:reject|reject_warning|discard): [A-Z-]{{1,20}} from (?={_NAME}\[[0-9.]{{7,15}}\](?::[0-9]{{1,5}})?: )"
    rf"|[A-Za-z]{{1,20}} TLS connection established from (?={_NAME}\[[0-9.]{{7,15}}\](?::[0-9]{{1,5}})?: [^ \n]+ with cipher [^ \n])"
)
_POSTSCREEN_PREFIXES = (
    r"CONNECT from |PASS OLD |PASS NEW |DISCONNECT "
    r"|PREGREET [0-9]{1,9} after [0-9.]{1,12} from |DNSBL rank [0-9]{1,4} for "
    r"|HANGUP after [0-9]{1,9} from "
    r"|(?:NON-SMTP COMMAND|BARE NEWLINE|COMMAND TIME LIMIT|COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT) from "
    r"|(?:WHITELISTED|BLACKLISTED|ALLOWLISTED|DENYLISTED) "
)
_SMTPD = re.compile(
    _HEAD
    + rf"(?:{_POSTFIX}smtpd{_PID}: (?:{_QID}: (?=client=)|(?!client=))(?P<smtpd>{_SMTPD_PREFIXES}){_NAME}"
    + rf"|{_POSTFIX}postscreen{_PID}: (?P<postscreen>{_POSTSCREEN_PREFIXES})(?=\[[0-9.]{{7,15}}\]:[0-9]))"
    + rf"\[{_IP}\](?::[0-9]{{1,5}})?(?P<tail>{_TAIL}){_END}"
)


def _smtpd_synth(key: tuple[str | None, ...]) -> tuple[str, str | None]:
    smtpd, postscreen, tail = key
    if smtpd is not None:
        # smtpd's handlers read a port after the address as optional: it is left out
        qid = "ABCDEF1234: " if smtpd == "client=" else ""
        return f"{_SYNTH_HEAD}postfix/smtpd[1]: {qid}{smtpd}unknown[{_CANARY}]{tail}", _CANARY
    return f"{_SYNTH_HEAD}postfix/postscreen[1]: {postscreen}[{_CANARY}]:25{tail}", _CANARY


# Postfix queue lines of the delivery daemons (``QID: ...``): no address.
_DELIVERY = re.compile(
    _HEAD
    + rf"{_POSTFIX}(?:cleanup|qmgr|oqmgr|nqmgr|smtp|lmtp|local|virtual|pipe|error|retry|discard){_PID}: {_QID}: "
    + r"(?:(?P<removed>removed)\r*"
    + r"|(?P<msgid>message-id=)[^\n]{0,512}"
    + r"|(?P<active>from=<)[^\n<>=]{0,256}>, size=[0-9]{1,12}, nrcpt=[0-9]{1,6} \(queue active\)\r*"
    # every field value free of "=": the last "status=" _QUEUE_FIELDS finds is this one
    + r"|(?P<to>to=<)[^\n<>=\s]{0,256}>(?:, [a-z_]{1,16}=(?:<[^\n<>=\s]{0,256}>|[^\n<>=,\s]{0,256})){0,12}"
    + r", status=(?P<status>[a-z]{1,16})(?: \([^\n=]{0,512}\))?\r*"
    + rf"){_END}"
)


def _delivery_synth(key: tuple[str | None, ...]) -> tuple[str, str | None]:
    removed, msgid, active, to, status = key
    if removed is not None:
        rest = "removed"
    elif msgid is not None:
        rest = "message-id=<a@b>"
    elif active is not None:
        rest = "from=<a@b>, size=1, nrcpt=1 (queue active)"
    else:
        rest = f"to=<a@b>, relay=x, delay=1, dsn=2.0.0, status={status} (r)"
    return f"{_SYNTH_HEAD}postfix/qmgr[1]: ABCDEF1234: {rest}", None


# Dovecot (the syslog form ``dovecot: service: ...``): login processes, auth passdb results
# (user and address in ``passdb(user,address,...)``), and mailbox sessions ending.
_DOVECOT = re.compile(
    _HEAD
    + rf"dovecot(?:{_PID})?: (?:"
    + r"(?:(?P<login>(?:imap|pop3|managesieve|submission)-login: [^\n=<>]{0,200}?: )"
    + r"(?:user=<(?P<luser>[^\n<>=]{0,256})>, )?(?:method=[A-Z0-9-]{1,20}, )?rip="
    + r"|(?P<auth>auth(?:-worker)?(?:\([0-9]{1,10}\))?: (?:(?:Info|Debug|Warning|Error): )?[a-z][a-z0-9_-]{1,15}\()"
    + r"(?P<auser>[^\n\s(),<>:=]{0,64}),)"
    + _IP
    # a login's tail holds nothing a handler reads (the session id must not spell "failed",
    # a probe hint); a passdb result is kept in the key
    + r"(?(login)(?:, lip=[0-9A-Fa-f:.]{1,45})?(?:, mpid=[0-9]{1,10})?(?:, (?:TLS|secured))?"
    + r"(?:, session=<(?![^\n>]{0,40}failed)[A-Za-z0-9+/]{1,40}>)?\r*"
    + r"|(?:,<[A-Za-z0-9+/]{0,40}>)?\): "
    # only results that _password_result reads (others lose the address: SERVICE_PROBLEM, OTHER)
    + r"(?=(?i:[ -~]{0,256}?(?:unknown user|user not known|user not found|mismatch|pam_authenticate\(\) failed"
    + r"|invalid credentials)))(?P<result>[ -~]{0,256})\r*)"
    # "imap(user)<pid><session>: Disconnected: ...": the tag must stay under 64 characters
    + r"|(?=[^\n:]{1,63}: )(?P<session>(?:imap|pop3|managesieve|submission|lmtp)\()(?P<suser>[^\n\s()<>:=,]{0,60})\)"
    + r"(?:<[0-9]{1,10}>)?(?:<[A-Za-z0-9+/]{1,40}>)?: Disconnected[^\n(]{0,512}"
    + rf"){_END}"
)


def _dovecot_synth(key: tuple[str | None, ...]) -> tuple[str, str | None]:
    login, luser, auth, auser, result, session, suser = key
    if login is not None:
        user = f"user=<{luser}>, " if luser is not None else ""
        return f"{_SYNTH_HEAD}dovecot: {login}{user}method=PLAIN, rip={_CANARY}, lip=192.0.2.2", _CANARY
    if auth is not None:
        return f"{_SYNTH_HEAD}dovecot: {auth}{auser},{_CANARY}): {result}", _CANARY
    return f"{_SYNTH_HEAD}dovecot: {session}{suser}): Disconnected", None


_PASSES = (
    _Pass("smtpd", _SMTPD, _smtpd_synth),
    _Pass("delivery", _DELIVERY, _delivery_synth),
    _Pass("dovecot", _DOVECOT, _dovecot_synth),
)

# -- rows of keys ----------------------------------------------------------------------------

_Row = tuple[EventKind, bool, "str | None", "str | None"]
_ROWS_MAX = 65536
_SYNTH_PARSER = RecordParser()


class _Rows(dict):  # type: ignore[type-arg]
    """key -> (kind, attack, user, name) of one pass, computed on first use by the slow path.

    A ``dict`` whose misses call :meth:`__missing__`, so that ``map(rows.__getitem__, keys)``
    runs in C for every key seen before. Shared by all calls (a row depends on the
    classifier's code only); bounded. A key whose synthetic line does not give back the canary
    address gives None and marks the table ``failed``.
    """

    def __init__(self, spec: _Pass) -> None:
        super().__init__()
        self.spec = spec
        self.failed = False

    def __missing__(self, key: tuple[str | None, ...]) -> _Row | None:
        line, want_ip = self.spec.synth(key)
        cols = columns_from_events([classify(_SYNTH_PARSER.parse(line))])
        row: _Row | None = (cols.kinds[0], cols.attacks[0], cols.users[0], cols.names[0])
        if cols.ips[0] != want_ip:
            self.failed = True  # not remembered: each call that meets the key fails again
            return None
        if len(self) >= _ROWS_MAX:
            self.clear()
        self[key] = row
        return row


class _StampTimes(dict):  # type: ignore[type-arg]
    """date text -> POSIX seconds (or None), converted by ``parser`` on first use."""

    def __init__(self, parser: RecordParser) -> None:
        super().__init__()
        self.parser = parser

    def __missing__(self, stamp: str) -> float | None:
        time = self.parser.stamp_time(stamp)
        seconds = self[stamp] = time.timestamp() if time is not None else None
        return seconds


_tables = {spec.name: _Rows(spec) for spec in _PASSES}
_kind_of, _attack_of, _user_of, _name_of = (itemgetter(i) for i in range(4))


def _run_pass(spec: _Pass, text: str, stamp_times: _StampTimes) -> tuple[Columns, str] | None:
    """Split ``text`` with one pass: (its rows, the text it left), or None when a key failed."""
    pattern = spec.pattern
    parts = pattern.split(text)
    if len(parts) == 1:
        return Columns(), text
    step = pattern.groups + 1
    ip_at = pattern.groupindex.get("ip", 0)
    stamps = parts[1::step]
    ips = parts[ip_at::step] if ip_at else [None] * len(stamps)
    key_columns = [parts[i::step] for i in range(2, step) if i != ip_at]
    table = _tables[spec.name]
    table.failed = False
    rows = list(map(table.__getitem__, zip(*key_columns)))
    if table.failed:
        table.failed = False
        return None
    cols = Columns(
        kinds=list(map(_kind_of, rows)),
        attacks=list(map(_attack_of, rows)),
        ips=ips,
        users=list(map(_user_of, rows)),
        names=list(map(_name_of, rows)),
        times=list(map(stamp_times.__getitem__, stamps)),
    )
    return cols, "".join(parts[0::step])


def classify_text(text: str, parser: RecordParser) -> tuple[list[Columns], list[str]]:
    """Classify the lines of ``text`` that have a common, context-free shape, in bulk.

    ``text`` holds complete lines joined with ``"\\n"`` (a final ``"\\n"`` is optional; a
    line may end in ``"\\r"``, which is dropped as :meth:`RecordParser.parse_many` drops it).
    Returns column segments, one per pass that handled lines, and the residue: the lines no
    pass handled, in their original order, for :meth:`LogClassifier.classify_lines`. Each row
    equals what ``columns_from_events(LogClassifier(parser=...).classify_lines(lines))`` gives
    for that line; ``parser`` provides the dates' conversion (the year of year-less dates).
    Never raises on hostile text; when the passes' rows and the residue do not add up to the
    lines given (a bug), everything is returned as residue.
    """
    if not text:
        return [], []
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    rest = "\n" + text if text.endswith("\n") else "\n" + text + "\n"
    segments: list[Columns] = []
    stamp_times = _StampTimes(parser)
    for spec in _PASSES:
        result = _run_pass(spec, rest, stamp_times)
        if result is None:
            continue  # a shape this pass cannot vouch for: its lines go on as they are
        cols, rest = result
        if cols.kinds:
            segments.append(cols)
    residue = rest[1:-1].split("\n") if len(rest) > 1 else []
    if sum(len(c) for c in segments) + len(residue) != total:
        return [], _lines(text)
    return segments, residue


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def count_lines(lines: Sequence[str], classifier: LogClassifier, aggregator: Aggregator) -> None:
    """Classify and count ``lines`` (in order): the same counters as
    ``aggregator.add_many(classifier.classify_lines(lines))``, without an event per line.

    The residue goes through ``classifier`` (which keeps its sshd and sendmail context, as
    no handled line touches it) and is counted first: a residue line without a date counts
    at the newest time seen before this batch, as it would in one ``add_many`` call.
    """
    if not lines:
        return
    segments, residue = classify_text("\n".join(lines), classifier.parser)
    if residue:
        aggregator.add_many(classifier.classify_lines(residue))
    for cols in segments:
        aggregator.add_columns(cols)
