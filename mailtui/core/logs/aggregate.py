"""Counting classified events: per remote IP and per user, over time windows, with
attack labels, plus per-hour delivery statistics like pflogsumm's.

Counters are exact and memory is bounded: per key we keep totals by kind and one bucket
per minute for the last hour only (older buckets are dropped as time advances). Time is
the log's own time (the newest event seen), so a backlog read an hour late gives the same
answer as a live follow.

Attack labels and their thresholds (the numbers a reviewer should argue about) are in
:data:`THRESHOLDS`; each label says in words why it was given.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from bisect import insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from mailtui.core.logs.events import EventKind, Family, LogEvent

K = EventKind

#: A failed login of any service: each one is one guess at a password.
AUTH_FAILURE_KINDS = frozenset({
    K.SMTP_SASL_FAILED, K.PLESK_SASL_FAILED, K.DOVECOT_AUTH_FAILED, K.DOVECOT_PASSWORD_MISMATCH,
    K.DOVECOT_UNKNOWN_USER, K.SSHD_FAILED_PASSWORD, K.SSHD_FAILED_OTHER, K.SSHD_INVALID_USER,
    K.SSHD_PAM_FAILURE, K.AUTH_LOGIN_FAILED, K.AUTH_PAM_FAILURE,
})
#: Lines that mean someone is guessing passwords (the failures and the SMTP session
#: summary that reports them), e.g. to pick fail2ban's postfix-sasl jail for a ban.
GUESSING_KINDS = AUTH_FAILURE_KINDS | {K.SMTP_DISCONNECT_AUTH_FAILED}
#: A successful login (SMTP AUTH shows as a received message with a SASL user).
LOGIN_OK_KINDS = frozenset({K.DOVECOT_LOGIN, K.SSHD_ACCEPTED})
#: A client looking around rather than talking: the marks of a scanner.
SCAN_KINDS = frozenset({
    K.SMTP_LOST_CONNECTION, K.SMTP_NON_SMTP_COMMAND, K.SMTP_PIPELINING, K.SMTP_TOO_MANY_ERRORS,
    K.POSTSCREEN_PREGREET, K.POSTSCREEN_HANGUP, K.POSTSCREEN_PIPELINING, K.POSTSCREEN_PROTOCOL_VIOLATION,
    K.SSHD_PREAUTH_DISCONNECT, K.SSHD_NEGOTIATION_FAILED, K.DOVECOT_NO_AUTH, K.DOVECOT_PROBE,
})
#: Names tried that do not exist: the raw material of user enumeration.
UNKNOWN_NAME_KINDS = frozenset({K.REJECT_UNKNOWN_USER, K.SSHD_INVALID_USER, K.DOVECOT_UNKNOWN_USER})


#: Kinds counted per user (logins, failures, submissions).
_USER_KINDS = AUTH_FAILURE_KINDS | LOGIN_OK_KINDS | {K.QUEUE_RECEIVED}
#: Column of the per-hour delivery table each kind counts in.
_HOUR_COLUMN = {
    K.QUEUE_RECEIVED: 0, K.QUEUE_SENT: 1, K.QUEUE_DEFERRED: 2, K.QUEUE_BOUNCED: 3, K.QUEUE_EXPIRED: 3,
    **{kind: 4 for kind in EventKind if kind.info.family == Family.REJECT},
}


@dataclass(slots=True)
class Columns:
    """Classified lines as columns (one list per field, equal lengths), what an
    :class:`Aggregator` counts: the shape in which a bulk classifier hands over a chunk
    without building one event per line. Row ``i`` is one line; the order of rows does
    not matter to the counters (they order by the ``times``).
    """

    kinds: list[EventKind] = field(default_factory=list)
    attacks: list[bool] = field(default_factory=list)
    #: The remote address (``LogEvent.remote_ip``), or None.
    ips: list[str | None] = field(default_factory=list)
    #: ``LogEvent.user``, or None.
    users: list[str | None] = field(default_factory=list)
    #: For the kinds of UNKNOWN_NAME_KINDS, the name tried (the user, else the ``to``
    #: detail of a refused recipient); None for every other kind.
    names: list[str | None] = field(default_factory=list)
    #: ``record.time`` as POSIX seconds, or None for a line without a date.
    times: list[float | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kinds)

    def extend(self, other: Columns) -> None:
        """Append ``other``'s rows."""
        self.kinds.extend(other.kinds)
        self.attacks.extend(other.attacks)
        self.ips.extend(other.ips)
        self.users.extend(other.users)
        self.names.extend(other.names)
        self.times.extend(other.times)


def columns_from_events(events: Iterable[LogEvent]) -> Columns:
    """The columns of ``events`` (what :meth:`Aggregator.add_many` counts)."""
    cols = Columns()
    kinds, attacks, ips, users, names, times = (cols.kinds, cols.attacks, cols.ips, cols.users, cols.names,
                                                cols.times)
    unknown = UNKNOWN_NAME_KINDS
    last_time: _dt.datetime | None = None
    last_ts: float | None = None
    for event in events:
        kind = event[0]
        kinds.append(kind)
        attacks.append(event[2])
        ips.append(event[3])
        user = event[5]
        users.append(user)
        names.append((user or event.detail("to")) if kind in unknown else None)
        time = event[9][0]
        if time is not last_time:
            # Lines of one second share one datetime object: convert it once.
            last_time = time
            last_ts = time.timestamp() if time is not None else None
        times.append(last_ts)
    return cols


class Label(StrEnum):
    PASSWORD_GUESSING = "password guessing"
    RELAY_PROBING = "relay probing"
    USER_ENUMERATION = "user enumeration"
    SCANNING = "scanning"
    SPAM_RUN = "spam run"
    LOGIN_AFTER_FAILURES = "login after failures"


@dataclass(frozen=True)
class Thresholds:
    #: Failed logins from one IP within 15 minutes.
    password_guessing: int = 5
    #: Relay attempts refused from one IP within an hour (one already is a probe).
    relay_probing: int = 1
    #: Distinct non-existent names tried by one IP within an hour.
    user_enumeration: int = 5
    #: Scanner-like drops from one IP within 15 minutes.
    scanning: int = 3
    #: Messages one authenticated user submitted within an hour.
    spam_run: int = 100
    #: Failed logins from an IP (any time before) that make its successful login alarming.
    login_after_failures: int = 3


THRESHOLDS = Thresholds()
WINDOWS = (("1 min", 1), ("15 min", 15), ("1 h", 60))
_PRUNE_EVERY = 30  # minutes of log time between two prunings of old minute buckets


@dataclass(frozen=True)
class LabelReason:
    label: Label
    why: str


@dataclass(frozen=True)
class KeyStats:
    """What one remote IP (or one user) did."""

    key: str
    first_seen: _dt.datetime | None
    last_seen: _dt.datetime | None
    total: int
    attacks: int
    #: Counts by kind: the whole backlog, and the windows of WINDOWS ending at the newest event.
    by_kind: tuple[tuple[EventKind, int], ...]
    windows: tuple[tuple[str, int], ...]
    labels: tuple[LabelReason, ...]


@dataclass(frozen=True)
class HourStats:
    hour: _dt.datetime
    received: int
    sent: int
    deferred: int
    bounced: int
    rejected: int


@dataclass(frozen=True)
class Summary:
    lines: int
    first: _dt.datetime | None
    last: _dt.datetime | None
    by_kind: tuple[tuple[EventKind, int], ...]
    attacks: int
    offenders: tuple[KeyStats, ...]
    users: tuple[KeyStats, ...]
    hours: tuple[HourStats, ...]
    #: The labels that need attention now (a login after failures, a spam run).
    alarms: tuple[tuple[str, LabelReason], ...]


_INF = float("inf")
#: The time given to a failure or login of a line without a date when no date is known at
#: all: before every real time, so undated failures count as before an undated login.
_UNDATED = -1e300
#: Dates the counters accept (datetime's range, a day's margin for zones); others are undated.
_MIN_TS = _dt.datetime(1, 1, 2, tzinfo=_dt.timezone.utc).timestamp()
_MAX_TS = _dt.datetime(9999, 12, 30, tzinfo=_dt.timezone.utc).timestamp()
_MAX_NAMES = 1000  # distinct names remembered per IP and minute for enumeration (memory bound)


def _utc(ts: float | None) -> _dt.datetime | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)


class _Tally:
    """Counters for one key; minute buckets only for the last hour."""

    __slots__ = ("first", "last", "total", "attacks", "failures", "kinds", "minutes", "names", "early_failures",
                 "login")

    def __init__(self) -> None:
        self.first = _INF
        self.last = -_INF
        self.total = 0
        self.attacks = 0
        self.failures = 0
        self.kinds: dict[EventKind, int] = {}
        self.minutes: dict[int, dict[EventKind, int]] = {}
        self.names: dict[int, set[str]] = {}
        #: The earliest failed-login times (as many as the login-after-failures threshold):
        #: whether a successful login came after enough failures does not depend on the
        #: order in which lines are counted.
        self.early_failures: list[float] = []
        #: The latest successful login (-inf: none).
        self.login = -_INF

    def login_after_failures(self, threshold: int) -> bool:
        early = self.early_failures
        return self.login > -_INF and len(early) >= threshold and self.login >= early[threshold - 1]


def _count(tally: _Tally, kind: EventKind, attack: bool, ts: float | None, minute: int | None, recent: bool,
           threshold: int) -> None:
    """Count one row for a user (the loop of :meth:`Aggregator.add_columns` inlines this for addresses)."""
    tally.total += 1
    kinds = tally.kinds
    kinds[kind] = kinds.get(kind, 0) + 1
    if attack:
        tally.attacks += 1
    when = _UNDATED if ts is None else ts
    if kind in AUTH_FAILURE_KINDS:
        tally.failures += 1
        early = tally.early_failures
        if len(early) < threshold:
            insort(early, when)
        elif when < early[-1]:
            insort(early, when)
            early.pop()
    elif kind in LOGIN_OK_KINDS and when > tally.login:
        tally.login = when
    if ts is None:
        return
    if ts < tally.first:
        tally.first = ts
    if ts > tally.last:
        tally.last = ts
    if recent:
        bucket = tally.minutes.get(minute)
        if bucket is None:
            bucket = tally.minutes[minute] = {}
        bucket[kind] = bucket.get(kind, 0) + 1


class Aggregator:
    """Feed it events (:meth:`add_many`) or columns (:meth:`add_columns`); ask for a :class:`Summary` any time.

    The counters do not depend on the order of the rows within a batch (time comes from
    the lines), so a bulk classifier may hand over its rows grouped as it likes. A
    successful login is "after failures" when the key failed ``login_after_failures``
    times at or before the login's time (lines of the same second count as before it).
    Two bounded details do depend on order: which names are kept once an address tries
    more than _MAX_NAMES in a minute, and the time of a line without a date (or with one
    no calendar has): it counts at the newest time seen before its batch, or, when there
    is none, at no time (then only its totals count, and its failures count as before a
    login without a date).
    """

    def __init__(self, thresholds: Thresholds = THRESHOLDS) -> None:
        self.thresholds = thresholds
        self.lines = 0
        self.attacks = 0
        self.by_kind: Counter[EventKind] = Counter()
        self._first = _INF
        self._last = -_INF
        self._ips: dict[str, _Tally] = {}
        self._users: dict[str, _Tally] = {}
        self._hours: dict[int, list[int]] = {}
        #: Events and attacks per minute (log time), for the rate series; last hours only.
        self._per_minute: dict[int, list[int]] = {}
        self._newest_minute: int | None = None
        #: Log minute from which old buckets are dropped next (see _prune).
        self._next_prune = 0
        #: minute -> the address tallies that have a bucket for it (what _prune visits).
        self._bucketed: dict[int, list[_Tally]] = {}

    @property
    def first(self) -> _dt.datetime | None:
        return _utc(self._first) if self._first < _INF else None

    @property
    def last(self) -> _dt.datetime | None:
        return _utc(self._last) if self._last > -_INF else None

    def add_many(self, events: Iterable[LogEvent]) -> None:
        """Count ``events``."""
        self.add_columns(columns_from_events(events))

    def add_columns(self, cols: Columns) -> None:
        """Count classified lines given as columns (what a bulk classifier produces).

        Row by row, with everything the loop needs hoisted into locals: the per-key
        counters are dictionary updates whatever the layout, and a loop over zipped columns
        measured faster than the equivalent dozen ``Counter.update`` passes over them.
        """
        kinds = cols.kinds
        if not kinds:
            return
        self.lines += len(kinds)
        self.by_kind.update(kinds)
        attack_column = cols.attacks
        self.attacks += sum(attack_column)
        times = cols.times
        timed = [t for t in times if t is not None] if None in times else times
        if timed and (min(timed) < _MIN_TS or max(timed) > _MAX_TS):
            # A date datetime cannot hold (year 10000 in UTC...): a hostile line; undated.
            times = [t if t is not None and _MIN_TS <= t <= _MAX_TS else None for t in times]
        if None in times:
            fill = self._last if self._last > -_INF else None
            times = [fill if t is None else t for t in times]
            timed = [t for t in times if t is not None]
        if timed:
            high = max(timed)
            low = min(timed)
            if low < self._first:
                self._first = low
            if high > self._last:
                self._last = high
            newest = int(high // 60)
            if self._newest_minute is None or newest > self._newest_minute:
                self._newest_minute = newest
        # Minute buckets are kept for the last hour only (older ones would be pruned).
        recent_from = ((self._newest_minute or 0) - 60) * 60
        ips = self._ips
        users = self._users
        hours = self._hours
        per_minute = self._per_minute
        user_kinds = _USER_KINDS
        hour_column = _HOUR_COLUMN
        failure_kinds = AUTH_FAILURE_KINDS
        login_kinds = LOGIN_OK_KINDS
        threshold = self.thresholds.login_after_failures
        count = _count
        by_minute = self._bucketed
        last_ts: float | None = -1.0
        minute: int | None = None
        hour = 0
        recent = False
        for kind, attack, ip, user, name, ts in zip(kinds, attack_column, cols.ips, cols.users, cols.names, times):
            if ts != last_ts:
                last_ts = ts
                if ts is None:
                    minute = None
                    recent = False
                else:
                    minute = int(ts // 60)
                    hour = minute // 60
                    recent = ts >= recent_from
            column = hour_column.get(kind)
            if column is not None and minute is not None:
                row = hours.get(hour)
                if row is None:
                    row = hours[hour] = [0, 0, 0, 0, 0]
                row[column] += 1
            if recent:
                counts = per_minute.get(minute)
                if counts is None:
                    counts = per_minute[minute] = [0, 0]
                counts[0] += 1
                if attack:
                    counts[1] += 1
            if ip:
                # _count, inlined for the addresses (nearly every row has one)
                tally = ips.get(ip)
                if tally is None:
                    tally = ips[ip] = _Tally()
                tally.total += 1
                tally_kinds = tally.kinds
                tally_kinds[kind] = tally_kinds.get(kind, 0) + 1
                if attack:
                    tally.attacks += 1
                if kind in failure_kinds:
                    tally.failures += 1
                    when = _UNDATED if ts is None else ts
                    early = tally.early_failures
                    if len(early) < threshold:
                        insort(early, when)
                    elif when < early[-1]:
                        insort(early, when)
                        early.pop()
                elif kind in login_kinds:
                    when = _UNDATED if ts is None else ts
                    if when > tally.login:
                        tally.login = when
                if ts is not None:
                    if ts < tally.first:
                        tally.first = ts
                    if ts > tally.last:
                        tally.last = ts
                    if recent:
                        bucket = tally.minutes.get(minute)
                        if bucket is None:
                            bucket = tally.minutes[minute] = {}
                            bucketed = by_minute.get(minute)
                            if bucketed is None:
                                bucketed = by_minute[minute] = []
                            bucketed.append(tally)
                        bucket[kind] = bucket.get(kind, 0) + 1
                        if name:
                            names = tally.names.get(minute)
                            if names is None:
                                names = tally.names[minute] = set()
                            if len(names) < _MAX_NAMES:
                                names.add(name)
            if user and kind in user_kinds:
                tally = users.get(user)
                if tally is None:
                    tally = users[user] = _Tally()
                count(tally, kind, attack, ts, minute, recent, threshold)
        if self._newest_minute is not None and self._newest_minute >= self._next_prune:
            self._prune(self._newest_minute)

    def _prune(self, newest: int) -> None:
        """Drop minute buckets older than the longest window (memory only: windows read the last hour).

        It runs every _PRUNE_EVERY minutes of log time and visits only the addresses that
        have an old bucket (an index by minute), not all of them (100,000 after a big
        backfill); the users are few and are all looked at.
        """
        self._next_prune = newest + _PRUNE_EVERY
        oldest = newest - 60
        for minute in [m for m in self._bucketed if m < oldest]:
            for tally in self._bucketed.pop(minute):
                tally.minutes.pop(minute, None)
                tally.names.pop(minute, None)
        for tally in self._users.values():
            if tally.minutes and min(tally.minutes) < oldest:
                tally.minutes = {m: c for m, c in tally.minutes.items() if m >= oldest}
        for minute in [m for m in self._per_minute if m < oldest]:
            del self._per_minute[minute]

    # ---------------------------------------------------------------- reading
    def rates(self, minutes: int = 60) -> tuple[tuple[int, ...], tuple[int, ...], _dt.datetime | None]:
        """Events and attacks per minute for the last ``minutes`` (at most 60), ending at the newest."""
        if self._newest_minute is None:
            return (), (), None
        span = range(self._newest_minute - min(minutes, 60) + 1, self._newest_minute + 1)
        rows = [self._per_minute.get(m, (0, 0)) for m in span]
        return (tuple(r[0] for r in rows), tuple(r[1] for r in rows),
                _dt.datetime.fromtimestamp(self._newest_minute * 60, _dt.timezone.utc))

    def _window(self, tally: _Tally, minutes: int) -> Counter[EventKind]:
        counts: Counter[EventKind] = Counter()
        if self._newest_minute is None:
            return counts
        start = self._newest_minute - minutes + 1
        for minute, bucket in tally.minutes.items():
            if minute >= start:
                counts.update(bucket)
        return counts

    def _labels(self, key: str, tally: _Tally, is_user: bool) -> tuple[LabelReason, ...]:
        t = self.thresholds
        last15 = self._window(tally, 15)
        last60 = self._window(tally, 60)
        labels: list[LabelReason] = []
        failures15 = sum(n for k, n in last15.items() if k in AUTH_FAILURE_KINDS)
        if failures15 >= t.password_guessing:
            labels.append(LabelReason(Label.PASSWORD_GUESSING,
                                      f"{failures15} failed logins in the last 15 minutes (threshold {t.password_guessing})"))
        if not is_user:
            relay = last60[K.REJECT_RELAY]
            if relay >= t.relay_probing:
                labels.append(LabelReason(Label.RELAY_PROBING,
                                          f"{relay} relay attempt(s) refused in the last hour: testing for an open relay"))
            names: set[str] = set()
            full = False
            start = (self._newest_minute or 0) - 59
            for minute, bucket in tally.names.items():
                if minute >= start:
                    names |= bucket
                    full = full or len(bucket) >= _MAX_NAMES
            if len(names) >= t.user_enumeration:
                # A minute whose names filled up kept the first ones: say "at least", the
                # same whatever the order they were counted in.
                how_many = f"at least {_MAX_NAMES}" if full else str(len(names))
                labels.append(LabelReason(Label.USER_ENUMERATION,
                                          f"{how_many} different non-existent names tried in the last hour "
                                          f"(threshold {t.user_enumeration})"))
            scans = sum(n for k, n in last15.items() if k in SCAN_KINDS)
            if scans >= t.scanning:
                labels.append(LabelReason(Label.SCANNING,
                                          f"{scans} scanner-like disconnects in the last 15 minutes (threshold {t.scanning})"))
        else:
            sent = last60[K.QUEUE_RECEIVED]
            if sent >= t.spam_run:
                labels.append(LabelReason(Label.SPAM_RUN,
                                          f"{sent} messages submitted by this login in the last hour (threshold "
                                          f"{t.spam_run}): a stolen password used for spam?"))
        if tally.login_after_failures(t.login_after_failures):
            first = tally.early_failures[0]
            since = f", the first at {_utc(first):%Y-%m-%d %H:%M:%S}" if first > _UNDATED else ""
            at = f" at {_utc(tally.login):%Y-%m-%d %H:%M:%S}" if tally.login > _UNDATED else ""
            labels.append(LabelReason(Label.LOGIN_AFTER_FAILURES,
                                      f"a successful login{at} after at least {t.login_after_failures} failed ones "
                                      f"({tally.failures} failed in all{since}): the guessing may have worked — "
                                      "check this account now"))
        return tuple(labels)

    def _stats(self, key: str, tally: _Tally, is_user: bool) -> KeyStats:
        return KeyStats(
            key=key,
            first_seen=_utc(tally.first) if tally.first < _INF else None,
            last_seen=_utc(tally.last) if tally.last > -_INF else None,
            total=tally.total, attacks=tally.attacks,
            by_kind=_ranked(tally.kinds),
            windows=tuple((name, sum(self._window(tally, minutes).values())) for name, minutes in WINDOWS),
            labels=self._labels(key, tally, is_user),
        )

    def summary(self, top: int = 20) -> Summary:
        """Counts by kind, the top offending IPs and users (most attacks first), hours."""
        # The top ones only (nsmallest is sorted()[:top], without sorting every address).
        ips = heapq.nsmallest(top, self._ips.items(), key=lambda item: (-item[1].attacks, -item[1].total, item[0]))
        offenders = tuple(self._stats(k, v, False) for k, v in ips if v.attacks)
        users = heapq.nsmallest(top, self._users.items(),
                                key=lambda item: (-item[1].failures, -item[1].total, item[0]))
        user_stats = tuple(self._stats(k, v, True) for k, v in users)
        # Alarms are looked for in every key, not only the top ones: one successful
        # guess among ten thousand scanners must still surface.
        threshold = self.thresholds.login_after_failures
        alarms = tuple(
            (key, reason)
            for tallies, is_user in ((self._ips, False), (self._users, True))
            for key, tally in sorted(
                (key, tally) for key, tally in tallies.items()
                if tally.login_after_failures(threshold)
                or (is_user and tally.kinds.get(K.QUEUE_RECEIVED, 0) >= self.thresholds.spam_run)
            )
            for reason in self._labels(key, tally, is_user)
            if reason.label in (Label.LOGIN_AFTER_FAILURES, Label.SPAM_RUN)
        )
        hours = tuple(
            HourStats(_dt.datetime.fromtimestamp(hour * 3600, _dt.timezone.utc), *row)
            for hour, row in sorted(self._hours.items())
        )
        return Summary(self.lines, self.first, self.last, _ranked(self.by_kind), self.attacks,
                       offenders, user_stats, hours, alarms)


def _ranked(counts: dict[EventKind, int]) -> tuple[tuple[EventKind, int], ...]:
    """Most frequent first; ties by name, so the order does not depend on the order of counting."""
    return tuple(sorted(((kind, n) for kind, n in counts.items() if n), key=lambda item: (-item[1], item[0].value)))
