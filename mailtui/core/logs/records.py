"""Turn one raw log line into a :class:`LogRecord`: time, host, program, pid, message.

The formats a small mail server writes, all recognised from the line itself:

- classic syslog and Postfix ``maillog_file``: ``Dec  5 17:07:00 host prog[pid]: msg``
  (year-less: the year comes from a reference time, with Dec->Jan rollover);
- RFC 3339 as current rsyslog writes it: ``2026-11-29T14:34:53.123456+00:00 host prog[pid]: msg``;
- RFC 5424 with priority and structured data: ``<38>1 2019-07-08T17:40:16-04:00 host sshd 57 - - msg``;
- Dovecot's own ``log_path`` (no host, ``Info:`` level word) and its
  ``%Y-%m-%d %H:%M:%S`` variant; fail2ban's own log (``2024-01-02 03:04:05,678 fail2ban.actions [9]: ...``);
- journald JSON (``journalctl -o json``), whose ``MESSAGE`` may be a byte array;
- TAI64N (``@4000000063...``, daemontools/qmail multilog);
- Exim's own mainlog: ``2013-06-12 03:57:58 [pid] 1Uo5Sz-0002Ij-TD message`` (no tag; the
  pid and message id are optional), recognised on the general path as program ``exim``;
- BSD syslogd's ``-v`` form with ``<facility.priority>`` before the host (sendmail on BSD);
- journal-style lines without a date (``host prog[pid]: msg``) and bare lines of a
  daemon's own log file (``sshd -E``), given a ``program_hint``.

Anything unparseable becomes a record with program ``""`` and the whole line as message:
parsing never raises. Records keep the raw text as it came (it may hold escape
sequences); sanitising is the event's job, once, at the boundary to display.

The common shape (classic or RFC 3339 date, host, ``prog[pid]:``) is split by one regex
match per line (:meth:`RecordParser.parse_many`); the rest takes the general path.

Records are ``NamedTuple``s rather than frozen dataclasses: equally immutable, but about
four times cheaper to build (measured 0.27 µs vs 1.0 µs), which matters at a million
lines per second.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import NamedTuple

from mailtui.core.text import decode_remote

__all__ = ["LogRecord", "RecordParser", "parse_line"]

_UTC = _dt.timezone.utc
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# TAI64 labels are 2**62 + TAI seconds; daemontools writes 2**62 + 10 + Unix time.
_TAI64_UNIX_OFFSET = (1 << 62) + 10
_DIGITS = frozenset("0123456789")

# The shape of nearly every line of a mail server's syslog, recognised in one regex match:
# ``Mmm dd hh:mm:ss host prog[pid]: `` or ``YYYY-MM-DDThh:mm:ss... host prog[pid]: `` (pid
# optional). Every line it matches is split exactly as the general parser would split it
# (the character classes exclude what would send the general parser down another branch:
# ``:`` or ``[`` in the host, ``[](<:`` or a space in the program, non-ASCII digits or
# too many digits in the pid); everything else takes the general path.
_CLASSIC_STAMP = r"((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9])"
_FAST_HEAD = re.compile(
    rf"(?:{_CLASSIC_STAMP}|([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[^ ]{{8,}}))"
    r" ([^ :\[]+) ([^ \[\]():<]+)(?:\[([0-9]{1,18})\])?: "
)
_STAMP_CACHE_MAX = 4096
# ``exim[123]: `` or ``exim4: ``: the tag of an Exim line that syslog-ng wrote with an ISO-like date.
_EXIM_TAG = re.compile(r"exim[0-9]*(?:\[[0-9]{1,18}\])?: ")
_tuple_new = tuple.__new__


class LogRecord(NamedTuple):
    """One log line, split into its syslog parts. Fields hold remote, unsanitised text."""

    #: When the line was written (timezone-aware), or None when the line has no date.
    time: _dt.datetime | None
    #: The host name the logger wrote ("" when the format has none).
    host: str
    #: The program tag without pid: ``postfix/smtpd``, ``dovecot``, ``imap-login``, ``sshd``.
    program: str
    pid: int | None
    #: The message after ``program[pid]: ``.
    message: str
    #: The line exactly as read (without the trailing newline).
    raw: str
    #: What followed the program name in the tag besides the pid, e.g. Dovecot's
    #: ``(alice@example.org)<9316><MW4VnmthM4V/AAAC>`` or ``(default)``; usually "".
    context: str = ""


def _unparsed(line: str, program_hint: str | None) -> LogRecord:
    return LogRecord(None, "", program_hint or "", None, line, line, "")


def _split_tag(tag: str) -> tuple[str, int | None, str]:
    """``postfix/smtpd[123]`` -> (``postfix/smtpd``, 123, ""); ``imap(u)<1><s>`` -> (``imap``, None, ``(u)<1><s>``)."""
    if tag[-1:] == "]":
        # the common case, first: "prog[pid]"
        i = tag.find("[")
        if i > 0 and tag[i + 1 : -1].isdigit() and "(" not in tag and "<" not in tag:
            return tag[:i], int(tag[i + 1 : -1]), ""
    cut = len(tag)
    for ch in "[(<":
        i = tag.find(ch)
        if 0 <= i < cut:
            cut = i
    program = tag[:cut]
    rest = tag[cut:]
    pid = None
    if rest.startswith("["):
        end = rest.find("]")
        if end > 1 and rest[1:end].isdigit():
            pid = int(rest[1:end])
            rest = rest[end + 1 :]
    return program, pid, rest


def _looks_like_tag(token: str) -> bool:
    """A syslog tag: no spaces, not empty, not a sentence word ending in a colon."""
    return bool(token) and token[0] not in "[(" and "=" not in token


class RecordParser:
    """Parses lines of one source; keeps the caches that make parsing cheap.

    ``now`` is the year hint for year-less syslog dates: a date more than two days after
    ``now`` belongs to the previous year (a ``Dec 31`` line read on ``Jan 2``). ``tz`` is
    the zone of year-less and zone-less dates (the server's zone; UTC by default).
    ``program_hint`` names the program of a file that holds one daemon's bare messages
    (``sshd -E``); lines that do not parse get it as their program.
    """

    __slots__ = ("_now", "_tz", "_program_hint", "_last_stamp", "_last_time", "_year", "_horizon", "_stamps")

    def __init__(
        self,
        *,
        now: _dt.datetime | None = None,
        tz: _dt.tzinfo | None = None,
        program_hint: str | None = None,
    ) -> None:
        self._tz = tz or _UTC
        self._now = now or _dt.datetime.now(self._tz)
        self._program_hint = program_hint
        self._last_stamp = ""
        self._last_time: _dt.datetime | None = None
        self._year = self._now.year
        self._horizon = self._now.date() + _dt.timedelta(days=2)
        #: syslog stamp -> datetime; merged sources interleave seconds, so a dict beats "last".
        self._stamps: dict[str, _dt.datetime | None] = {}

    # -- timestamps -------------------------------------------------------------------

    def _syslog_time(self, stamp: str) -> _dt.datetime | None:
        """``Dec  5 17:07:00`` (or ``Dec 5 17:07:00``) -> aware datetime; cached per second."""
        if stamp == self._last_stamp:
            return self._last_time
        time = None
        try:
            month = _MONTHS[stamp[:3]]
            day_s, clock = stamp[4:].split()
            day = int(day_s)
            hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
            year = self._year
            # A date more than two days ahead of "now" is last year's (Dec read in Jan).
            if _dt.date(year, month, day) > self._horizon:
                year -= 1
            time = _dt.datetime(year, month, day, hour, minute, second, tzinfo=self._tz)
        except (KeyError, ValueError, IndexError):
            time = None
        self._last_stamp = stamp
        self._last_time = time
        return time

    def stamp_time(self, stamp: str) -> _dt.datetime | None:
        """The time of a date as :meth:`parse_many` reads it from a line's start: a classic
        syslog stamp (``Nov 29 15:04:54``, year inferred) or an RFC 3339 one. For callers
        that split lines themselves (the bulk classifier) and must get the very same times.
        """
        if stamp[3:4] == " " and stamp[:3] in _MONTHS:
            return self._syslog_time(stamp)
        return self._iso_time(stamp)

    def _iso_time(self, stamp: str) -> _dt.datetime | None:
        if stamp == self._last_stamp:
            return self._last_time
        try:
            time = _dt.datetime.fromisoformat(stamp.replace(",", "."))
            if time.tzinfo is None:
                time = time.replace(tzinfo=self._tz)
        except ValueError:
            time = None
        self._last_stamp = stamp
        self._last_time = time
        return time

    # -- the rest of the line after the time -------------------------------------------

    def _host_tag_message(
        self, line: str, rest: str, time: _dt.datetime | None, *, with_host: bool = True, _priority: bool = True
    ) -> LogRecord:
        """Split ``host prog[pid]: msg`` (host optional) into a record."""
        sp = rest.find(" ")
        if sp < 0:
            return LogRecord(time, "", self._program_hint or "", None, rest, line, "")
        first = rest[:sp]
        if first[:1] == "<" and first[-1:] == ">" and "." in first and with_host and _priority:
            # ``<mail.notice> host prog[pid]: msg``: BSD syslogd -v writes facility.priority first
            # (once: a line of many such tokens must not recurse, or copy itself, per token).
            return self._host_tag_message(line, rest[sp + 1 :], time, _priority=False)
        if first.endswith(":") and _looks_like_tag(first[:-1]):
            # No host: Dovecot log_path (``imap-login: Info: ...``), ``sshd[1]: ...``.
            program, pid, context = _split_tag(first[:-1])
            return LogRecord(time, "", program, pid, rest[sp + 1 :], line, context)
        if first.startswith("[") and first.endswith("]:"):
            # ``[sshd]: msg`` (some BSD/Solaris loggers)
            return LogRecord(time, "", first[1:-2], None, rest[sp + 1 :], line, "")
        if first.startswith("[") and first.endswith("]"):
            return LogRecord(time, "", first[1:-1], None, rest[sp + 1 :], line, "")
        if not with_host:
            return LogRecord(time, "", self._program_hint or "", None, rest, line, "")
        # ``host prog[pid]: msg``
        tag_end = rest.find(": ", sp + 1)
        if tag_end < 0:
            if rest.endswith(":"):
                tag_end = len(rest) - 1
            else:
                return LogRecord(time, first, self._program_hint or "", None, rest[sp + 1 :], line, "")
        tag = rest[sp + 1 : tag_end]
        if " " in tag:
            if tag.startswith("[") and tag.endswith("]") and " " not in tag[: tag.find("]")]:
                pass
            else:
                # ``host [sshd] User root ...`` or no tag at all.
                sp2 = rest.find(" ", sp + 1)
                second = rest[sp + 1 : sp2]
                if second.startswith("[") and second.endswith("]"):
                    return LogRecord(time, first, second[1:-1], None, rest[sp2 + 1 :], line, "")
                return LogRecord(time, first, self._program_hint or "", None, rest[sp + 1 :], line, "")
        if tag.startswith("[") and tag.endswith("]"):
            return LogRecord(time, first, tag[1:-1], None, rest[tag_end + 2 :], line, "")
        program, pid, context = _split_tag(tag)
        return LogRecord(time, first, program, pid, rest[tag_end + 2 :], line, context)

    # -- formats -------------------------------------------------------------------------

    def _journal_json(self, line: str) -> LogRecord:
        try:
            entry = json.loads(line)
        except ValueError:
            return _unparsed(line, self._program_hint)
        if not isinstance(entry, dict):
            return _unparsed(line, self._program_hint)
        message = entry.get("MESSAGE", "")
        if isinstance(message, list):
            # journald stores non-UTF-8 or control-bearing messages as a byte array.
            try:
                message = decode_remote(bytes(message))
            except (TypeError, ValueError):
                message = ""
        elif not isinstance(message, str):
            message = "" if message is None else str(message)
        time = None
        stamp = entry.get("__REALTIME_TIMESTAMP")
        if isinstance(stamp, str) and stamp.isdigit():
            time = _dt.datetime.fromtimestamp(int(stamp) / 1_000_000, _UTC)
        pid_s = entry.get("SYSLOG_PID") or entry.get("_PID")
        pid = int(pid_s) if isinstance(pid_s, str) and pid_s.isdigit() else None
        program = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or ""
        host = entry.get("_HOSTNAME") or ""
        if not isinstance(program, str):
            program = ""
        if not isinstance(host, str):
            host = ""
        program, _, context = _split_tag(program)
        return LogRecord(time, host, program, pid, message, line, context)

    def _tai64n(self, line: str) -> LogRecord:
        label, _, rest = line.partition(" ")
        time = None
        try:
            seconds = int(label[1:17], 16) - _TAI64_UNIX_OFFSET
            nanos = int(label[17:25], 16)
            time = _dt.datetime.fromtimestamp(seconds + nanos / 1e9, _UTC)
        except (ValueError, OverflowError, OSError):
            time = None
        return self._host_tag_message(line, rest, time, with_host=False)

    def _rfc5424(self, line: str) -> LogRecord:
        # <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD]|- MSG
        close = line.find(">")
        parts = line[close + 1 :].split(" ", 6)
        if len(parts) < 7:
            return _unparsed(line, self._program_hint)
        _version, stamp, host, app, procid, _msgid, rest = parts
        time = None if stamp == "-" else self._iso_time(stamp)
        if rest.startswith("-"):
            message = rest[2:]
        else:
            # Skip structured data: [id k="v" ...][...]; quoted values may hold brackets.
            i, n, depth, quoted = 0, len(rest), 0, False
            while i < n:
                ch = rest[i]
                if quoted:
                    if ch == "\\":
                        i += 1
                    elif ch == '"':
                        quoted = False
                elif ch == '"':
                    quoted = True
                elif ch == "[":
                    depth += 1
                elif ch == "]":
                    depth -= 1
                    if depth == 0 and (i + 1 >= n or rest[i + 1] == " "):
                        i += 1
                        break
                i += 1
            message = rest[i + 1 :] if i < n else ""
        pid = int(procid) if procid.isdigit() else None
        return LogRecord(time, "" if host == "-" else host, "" if app == "-" else app, pid, message, line, "")

    def parse(self, line: str) -> LogRecord:
        """Parse one line (without or with its trailing newline). Never raises."""
        return self.parse_many((line,))[0]

    def parse_many(self, lines: Iterable[str]) -> list[LogRecord]:
        """Parse lines (with or without trailing newlines) in order. Never raises.

        Same result as ``[parse(line) for line in lines]``; the common syslog shape is
        split by one regex match, and timestamps are looked up in a per-parser cache.
        """
        out: list[LogRecord] = []
        append = out.append
        head = _FAST_HEAD.match
        stamps = self._stamps
        new = _tuple_new
        record_cls = LogRecord
        for raw in lines:
            line = raw.rstrip("\r\n")
            m = head(line)
            if m is not None:
                classic, iso, host, program, pid = m.groups()
                if classic is not None:
                    time = stamps.get(classic, stamps)
                    if time is stamps:
                        if len(stamps) >= _STAMP_CACHE_MAX:
                            stamps.clear()
                        time = stamps[classic] = self._syslog_time(classic)
                else:
                    time = self._iso_time(iso)
                append(new(record_cls, (time, host, program, int(pid) if pid is not None else None,
                                        line[m.end() :], line, "")))
                continue
            try:
                append(self._parse(line))
            except Exception:  # noqa: BLE001 - hostile input must never stop the stream
                append(_unparsed(raw, self._program_hint))
        return out

    def _parse(self, line: str) -> LogRecord:
        if len(line) < 16:
            return _unparsed(line, self._program_hint)
        c0 = line[0]
        # Classic syslog: "Mmm dd hh:mm:ss " or "Mmm d hh:mm:ss " (some loggers drop the pad).
        if line[3] == " " and line[:3] in _MONTHS:
            if line[4] == " ":
                # "Dec  5 17:07:00 " -> 15 characters
                if line[15:16] == " ":
                    return self._host_tag_message(line, line[16:], self._syslog_time(line[:15]))
            elif line[5] == " ":
                # "Dec 5 17:07:00 " (single digit, one space)
                if line[14:15] == " ":
                    return self._host_tag_message(line, line[15:], self._syslog_time(line[:14]))
            elif line[15:16] == " ":
                return self._host_tag_message(line, line[16:], self._syslog_time(line[:15]))
            return _unparsed(line, self._program_hint)
        if c0 in _DIGITS and line[4] == "-" and line[7] == "-":
            if line[10] == "T":
                sp = line.find(" ", 19)
                if sp < 0:
                    return _unparsed(line, self._program_hint)
                return self._host_tag_message(line, line[sp + 1 :], self._iso_time(line[:sp]))
            if line[10] == " ":
                # "2013-08-11 03:56:40 prog: ..." (Dovecot) or "... 03:56:40,123 fail2ban.x [9]: ..."
                end = 19
                if line[19:20] == "," or line[19:20] == ".":
                    end = 20
                    while end < len(line) and line[end] in _DIGITS:
                        end += 1
                time = self._iso_time(line[:end])
                rest = line[end + 1 :]
                if rest.startswith("fail2ban"):
                    return self._fail2ban_own(line, rest, time)
                if self._program_hint is None and line[19:20] != "," and line[end : end + 1] == " ":
                    # (Exim's +millisec stamp uses "."; a "," fraction is fail2ban's or Python logging's)
                    exim = self._exim_mainlog(line, rest, time)
                    if exim is not None:
                        return exim
                return self._host_tag_message(line, rest, time, with_host=False)
        if c0 == "{":
            return self._journal_json(line)
        if c0 == "@" and len(line) > 26 and line[25] == " ":
            return self._tai64n(line)
        if c0 == "<" and line[1:2] in _DIGITS:
            close = line.find(">", 1, 5)
            if close > 0 and line[close + 1 : close + 3] == "1 ":
                return self._rfc5424(line)
        if self._program_hint is not None:
            return _unparsed(line, self._program_hint)
        # Journal-style line without a date: "host prog[pid]: msg".
        sp = line.find(" ")
        if sp > 0:
            tag_end = line.find(": ", sp + 1)
            if tag_end > sp + 1:
                tag = line[sp + 1 : tag_end]
                if " " not in tag and "[" in tag and tag.endswith("]") and "=" not in line[:sp]:
                    program, pid, context = _split_tag(tag)
                    return LogRecord(None, line[:sp], program, pid, line[tag_end + 2 :], line, context)
        return _unparsed(line, self._program_hint)

    def _exim_mainlog(self, line: str, rest: str, time: _dt.datetime | None) -> LogRecord | None:
        """Exim's own mainlog (``YYYY-MM-DD hh:mm:ss [pid] [msgid] message``), or None.

        Exim writes no program tag, so a dated line whose first word is not a ``prog:`` tag
        (Dovecot's log_path) is Exim's. Also syslog-ng's ``date host exim[pid]: msg``.
        Lines indented after the date (Domino) and ``[name]`` tags are left to the caller.
        """
        if time is None:
            return None  # Exim always writes a valid stamp; a broken one is some other line
        sp = rest.find(" ")
        if sp <= 0:
            return None
        first = rest[:sp]
        if first[:2] != "H=" and ("(" in first or ":" in first):
            return None  # a "prog:" or "prog(context):" tag (Dovecot's log_path), or a broken one
        if first[0] in _DIGITS and first[6:7] != "-":
            return None  # the only leading number Exim writes is a message id (1Uo5Sz-0002Ij-TD)
        if first[0] == "[":
            if first[-1] == "]" and first[1:-1].isascii() and first[1:-1].isdigit():
                return LogRecord(time, "", "exim", int(first[1:-1]), rest[sp + 1 :], line, "")
            return None
        if _EXIM_TAG.match(rest, sp + 1) is not None:
            # ``2019-10-22 03:39:17 mx1 exim[29786]: msg`` (syslog-ng with an ISO-like date)
            return self._host_tag_message(line, rest, time)
        return LogRecord(time, "", "exim", None, rest, line, "")

    def _fail2ban_own(self, line: str, rest: str, time: _dt.datetime | None) -> LogRecord:
        # "fail2ban.actions        [1234]: NOTICE  [sshd] Ban 192.0.2.1"
        sp = rest.find(" ")
        program = rest[:sp] if sp > 0 else rest
        after = rest[sp:].lstrip() if sp > 0 else ""
        pid = None
        if after.startswith("["):
            end = after.find("]:")
            if end > 0 and after[1:end].isdigit():
                pid = int(after[1:end])
                after = after[end + 2 :].lstrip()
        elif after.startswith(": "):
            after = after[2:]
        return LogRecord(time, "", program, pid, after, line, "")


def parse_line(
    line: str,
    *,
    now: _dt.datetime | None = None,
    tz: _dt.tzinfo | None = None,
    program_hint: str | None = None,
) -> LogRecord:
    """Parse one log line into a :class:`LogRecord`; see :class:`RecordParser` for the options.

    For many lines build one :class:`RecordParser` and call ``parse``: it caches timestamps.
    """
    return RecordParser(now=now, tz=tz, program_hint=program_hint).parse(line)
