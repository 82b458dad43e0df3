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

Postfix smtpd (any service), postscreen and the delivery daemons, and Dovecot depend on the
line alone. sshd (and OpenSSH 9.8+'s sshd-session and sshd-auth) is the last pass, because
:class:`~.classify.LogClassifier` keeps state per connection (host and pid): the pass's rows
are stateless rows, as above (a message's first dotted quad and its port left out of the key,
checked with two stand-ins of different lengths; a message without one, or whose row depends on
it, is its own key), then walked in the lines' order through the classifier's own
:meth:`~.classify.LogClassifier._ssh_step`, which updates its connection state as
``classify_lines`` would. That holds only if no line of a connection is left for the slow
path, which would classify it after the chunk: when a line of the residue is an sshd line with
a pid (an unusual head, a message over 600 characters), the chunk's sshd lines all stay
residue. sendmail (state per message) is always residue, as is anything unusual (IPv6,
non-ASCII or control characters in the left-out parts, very long lines) in the other passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from mailtui.core.logs.aggregate import Aggregator, Columns, columns_from_events
from mailtui.core.logs.classify import _SSH_PROGRAMS, LogClassifier, classify
from mailtui.core.logs.events import EventKind
from mailtui.core.logs.records import RecordParser

__all__ = ["classify_text", "count_lines"]

# -- pattern pieces --------------------------------------------------------------------------
# Runs that cannot give back a character and still match (a class that excludes what follows)
# are possessive (``++``, ``{m,n}+``): the same matches, without trying the backtracking (~10%).

# A line start, then the date exactly as records._FAST_HEAD reads it (classic, or an RFC 3339
# subset), then the host (any characters but space, colon, bracket: not part of any row).
_DATE = (
    r"((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2}))"
)
_HEAD = rf"\n{_DATE} [^ :\[\n]++ "
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
# The address: a dotted quad without leading zeros (what classify._ip returns unchanged).
_IP = rf"(?P<ip>{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})"
_PID = r"\[[0-9]{1,18}\]"
# A Postfix program name (``postfix/smtpd``, ``postfix/submission/smtpd``, ``postfix-out/qmgr``).
_POSTFIX = r"postfix[0-9A-Za-z_.-]*+/(?:[0-9A-Za-z_.-]++/)?+"
# A client name before ``[address]``: no space, ``=``, ``:`` or bracket, so no handler's test
# (all of which look for spaces, ``=``, ``:`` or ``<``) can see it.
_NAME = r"[0-9A-Za-z._-]{0,255}+"
_QID = r"(?:[0-9A-F]{6,20}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,20})"
# Text the key keeps verbatim; bounded, so that long lines stay residue (as the slow path's
# memo leaves them out too).
_TAIL = r"[^\n]{0,512}+"
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
    r"|HANGUP after [0-9.]{1,12} from "
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
    + r"|(?P<msgid>message-id=)[^\n]{0,512}+"
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
    + r"(?:<[0-9]{1,10}>)?(?:<[A-Za-z0-9+/]{1,40}>)?: Disconnected[^\n(]{0,512}+"
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
#: Characters of keys a table keeps (keys hold text from the lines: an attacker picks them).
_ROWS_CHARS = 4_000_000
_SYNTH_PARSER = RecordParser()


class _Table(dict):  # type: ignore[type-arg]
    """A bounded key -> row cache: emptied when it would hold too many keys or key characters."""

    chars = 0

    def remember(self, key: tuple[str | None, ...], row: object) -> None:
        size = sum(map(len, filter(None, key)))
        if len(self) >= _ROWS_MAX or self.chars + size > _ROWS_CHARS:
            self.clear()
            self.chars = 0
        self.chars += size
        self[key] = row


class _Rows(_Table):
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
        self.remember(key, row)
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


# -- sshd: stateless rows, then the connection state in the lines' order -------------------

# sshd (and OpenSSH 9.8+'s sshd-session and sshd-auth): any message, the session key (host,
# pid) captured. A message's first dotted quad after a space or "=" (and followed by a space,
# ":", "," or the end) is left out of the key with the port after it; the rest of the message
# is the key. A message without one is its own key (IPv6 or a host name included: the row is
# the slow path's for that very message). Rows go through LogClassifier._ssh_step in order.
_SSH_HEAD = rf"\n{_DATE} (?P<host>[^ :\[\n]++) (?P<prog>sshd|sshd-session|sshd-auth)\[(?P<pid>[0-9]{{1,18}})\]: "
_SSH = re.compile(
    _SSH_HEAD
    # a message of 600 characters at most (longer ones are residue, as in the other passes)
    + r"(?=[^\n]{0,600}\n)"
    # the address at a word's start (after a space or "="), words taken lazily: the first one
    + r"(?:(?P<pre>(?:[^ =\n]*+[ =])*?)" + _IP
    + r"(?:(?P<port> port )(?P<pnum>[0-9]{1,5}))?(?P<post>(?=[ :,\r\n])[^\n]*+)"
    # (a trailing "\r" stays in the key: the parser drops it from the synthetic line too)
    + r"|(?P<msg>[^\n]*+))" + _END
)
_SSH_KEY_GROUPS = ("prog", "pre", "port", "post", "msg")
# The two stand-ins for the address and the port, of the shortest and the longest length: a
# handler whose answer (other than the address) depended on them would answer differently.
_SSH_STANDINS = (("1.2.3.4", "1"), ("198.251.113.254", "65535"))
#: A row's address when the key left it out: the line's own.
_FROM_LINE: str = object()  # type: ignore[assignment]
#: A key whose row depends on the address or port left out: the line's whole message is the key.
_WHOLE = None

_SshRow = tuple  # (kind, attack, ip or _FROM_LINE, host, user, name, pam_unix, max_attempts)


class _SshRows(_Table):
    """(program, pre, port, post, message) -> an sshd line's stateless row, by the slow path.

    A key with the address left out (``message`` None) is classified twice, with each of
    :data:`_SSH_STANDINS` in the place of the address and port: both must give their own
    address back and agree on everything else, or the key's row is :data:`_WHOLE` (the
    line's whole message must be its key). A whole message is classified as it is.
    """

    def __missing__(self, key: tuple[str | None, ...]) -> _SshRow | None:
        prog, pre, port, post, msg = key
        if msg is not None:
            row: _SshRow | None = _ssh_row(f"{_SYNTH_HEAD}{prog}[1]: {msg}")
        else:
            first, second = (
                _ssh_row(f"{_SYNTH_HEAD}{prog}[1]: {pre}{ip}{port + pnum if port else ''}{post}")
                for ip, pnum in _SSH_STANDINS
            )
            same = first[:2] == second[:2] and first[3:] == second[3:]
            if same and first[2] == _SSH_STANDINS[0][0] and second[2] == _SSH_STANDINS[1][0]:
                row = first[:2] + (_FROM_LINE,) + first[3:]
            else:
                row = _WHOLE
        self.remember(key, row)
        return row


def _ssh_row(line: str) -> _SshRow:
    record = _SYNTH_PARSER.parse(line)
    event = classify(record)
    cols = columns_from_events([event])
    kind = event.kind
    message = record.message
    return (kind, event.attack, event.remote_ip, event.remote_host, event.user, cols.names[0],
            kind is EventKind.SSHD_PAM_FAILURE and "pam_unix" in message,
            kind is EventKind.SSHD_MAX_AUTH and "maximum authentication attempts" in message)


_ssh_table = _SshRows()


@dataclass
class _SshLines:
    """The sshd lines a chunk's last pass took, in order, before their walk through the state."""

    stamps: list[str]
    sessions: list[tuple[str, int]]
    ips: list[str | None]
    rows: list[_SshRow]


class _SessionKeys(dict):  # type: ignore[type-arg]
    """(host, pid text) -> the connection's key in ``LogClassifier``: (host, pid)."""

    def __missing__(self, key: tuple[str, str]) -> tuple[str, int]:
        value = self[key] = (key[0], int(key[1]))
        return value


def _split_ssh(text: str) -> tuple[_SshLines, str]:
    """The sshd lines of ``text`` (stateless rows, in order) and the text they leave."""
    pattern = _SSH
    parts = pattern.split(text)
    if len(parts) == 1:
        return _SshLines([], [], [], []), text
    step = pattern.groups + 1
    at = {name: index for name, index in pattern.groupindex.items()}
    stamps = parts[1::step]
    ips = parts[at["ip"]::step]
    sessions = list(map(_SessionKeys().__getitem__, zip(parts[at["host"]::step], parts[at["pid"]::step])))
    rows = list(map(_ssh_table.__getitem__, zip(*(parts[at[name]::step] for name in _SSH_KEY_GROUPS))))
    if _WHOLE in rows:
        progs, pres, ports, pnums, posts = (parts[at[name]::step] for name in ("prog", "pre", "port", "pnum", "post"))
        for i, row in enumerate(rows):
            if row is _WHOLE:
                port = ports[i] + pnums[i] if ports[i] else ""
                rows[i] = _ssh_table[progs[i], None, None, None, f"{pres[i]}{ips[i]}{port}{posts[i]}"]
    return _SshLines(stamps, sessions, ips, rows), "".join(parts[0::step])


def _walk_ssh(lines: _SshLines, classifier: LogClassifier, stamp_times: _StampTimes) -> Columns:
    """The rows of ``lines`` as the stream says them: each through ``classifier``'s sshd
    connection state (:meth:`LogClassifier._ssh_step`), in order, updating it."""
    step = classifier._ssh_step  # noqa: SLF001 - the one implementation of the rules
    ips: list[str | None] = []
    attacks: list[bool] = []
    add_ip, add_attack = ips.append, attacks.append
    from_line = _FROM_LINE
    for session, (kind, attack, ip, host, user, _name, pam_unix, max_attempts), line_ip in zip(
            lines.sessions, lines.rows, lines.ips):
        ip, host, attack, _critical = step(session, kind, attack, line_ip if ip is from_line else ip, host, user,
                                           pam_unix, max_attempts)
        add_ip(ip)
        add_attack(attack)
    rows = lines.rows
    return Columns(
        kinds=list(map(_kind_of, rows)),
        attacks=attacks,
        ips=ips,
        users=list(map(itemgetter(4), rows)),
        names=list(map(itemgetter(5), rows)),
        times=list(map(stamp_times.__getitem__, lines.stamps)),
    )


def classify_text(text: str, classifier: LogClassifier) -> tuple[list[Columns], list[str]]:
    """Classify the lines of ``text`` that have a common shape, in bulk.

    ``text`` holds complete lines joined with ``"\\n"`` (a final ``"\\n"`` is optional; a
    line may end in ``"\\r"``, which is dropped as :meth:`RecordParser.parse_many` drops it).
    Returns column segments, one per pass that handled lines, and the residue: the lines no
    pass handled, in their original order, for ``classifier.classify_lines``, which must see
    them next. Each row equals what ``columns_from_events(classifier.classify_lines(lines))``
    gives for that line: the classifier's parser converts the dates (the year of year-less
    dates), and the sshd lines handled go through its sshd connection state, in order, as
    they would in ``classify_lines`` (which is why they are handled only when no line left
    as residue belongs to an sshd connection: its line would be classified after theirs).
    Never raises on hostile text; when the passes' rows and the residue do not add up to the
    lines given (a bug), everything is returned as residue.
    """
    if not text:
        return [], []
    total = text.count("\n") + (0 if text.endswith("\n") else 1)
    rest = "\n" + text if text.endswith("\n") else "\n" + text + "\n"
    segments: list[Columns] = []
    parser = classifier.parser
    stamp_times = _StampTimes(parser)
    for spec in _PASSES:
        result = _run_pass(spec, rest, stamp_times)
        if result is None:
            continue  # a shape this pass cannot vouch for: its lines go on as they are
        cols, rest = result
        if cols.kinds:
            segments.append(cols)
    # sshd last: the lines it takes are walked through the connection state in their order,
    # which holds only if no line of a connection stays behind for the slow path.
    ssh_lines, ssh_rest = _split_ssh(rest)
    if ssh_lines.rows and not _touches_ssh_sessions(ssh_rest, parser):
        rest = ssh_rest
    else:
        ssh_lines = None
    residue = rest[1:-1].split("\n") if len(rest) > 1 else []
    handled = sum(len(c) for c in segments) + (len(ssh_lines.rows) if ssh_lines else 0)
    if handled + len(residue) != total:
        return [], _lines(text)
    if ssh_lines:
        segments.append(_walk_ssh(ssh_lines, classifier, stamp_times))
    return segments, residue


def _touches_ssh_sessions(text: str, parser: RecordParser) -> bool:
    """Whether a line of ``text`` is one that ``LogClassifier`` keeps sshd connection state
    for (an sshd program with a pid). Parses only the lines that can be: those that name
    sshd, and journal JSON lines (whose strings may spell it with escapes)."""
    if "sshd" not in text and "\n{" not in text:
        return False
    for line in text.split("\n"):
        if "sshd" in line or line[:1] == "{":
            record = parser.parse(line)
            if record.program in _SSH_PROGRAMS and record.pid is not None:
                return True
    return False


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def count_lines(lines: Sequence[str], classifier: LogClassifier, aggregator: Aggregator) -> None:
    """Classify and count ``lines`` (in order, none holding ``"\\n"``): the same counters as
    ``aggregator.add_many(classifier.classify_lines(lines))``, without an event per line.

    The residue goes through ``classifier`` (which keeps its sshd and sendmail context, as
    no handled line touches it); its rows and the passes' rows are counted in one
    :meth:`Aggregator.add_columns` call, so lines without a usable date get the time one
    ``add_many`` call would give them. For one thread at a time (the row tables are shared).
    """
    if not lines:
        return
    segments, residue = classify_text("\n".join(lines), classifier)
    cols = columns_from_events(classifier.classify_lines(residue)) if residue else Columns()
    for segment in segments:
        cols.extend(segment)
    aggregator.add_columns(cols)
