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
_MAX_NAMES = 1000  # distinct names remembered per IP for enumeration (memory bound)
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


class _Tally:
    """Counters for one key; minute buckets only for the last hour."""

    __slots__ = ("first", "last", "total", "attacks", "kinds", "minutes", "names",
                 "failures_before_login", "logins_after_failures", "failures")

    def __init__(self) -> None:
        self.first: _dt.datetime | None = None
        self.last: _dt.datetime | None = None
        self.total = 0
        self.attacks = 0
        self.failures = 0
        self.kinds: dict[EventKind, int] = {}
        self.minutes: dict[int, dict[EventKind, int]] = {}
        self.names: dict[int, set[str]] = {}
        self.logins_after_failures = 0
        self.failures_before_login = 0


class Aggregator:
    """Feed it events (in log order); ask it for a :class:`Summary` at any time."""

    def __init__(self, thresholds: Thresholds = THRESHOLDS) -> None:
        self.thresholds = thresholds
        self.lines = 0
        self.first: _dt.datetime | None = None
        self.last: _dt.datetime | None = None
        self.by_kind: dict[EventKind, int] = {}
        self.attacks = 0
        self._ips: dict[str, _Tally] = {}
        self._users: dict[str, _Tally] = {}
        self._hours: dict[int, list[int]] = {}
        self._newest_minute: int | None = None
        self._last_time: _dt.datetime | None = None
        self._last_minute: int | None = None
        #: Log minute from which old buckets are dropped next (see _prune).
        self._next_prune = 0

    def add_many(self, events: Iterable[LogEvent]) -> None:
        """Count ``events`` in order; the same as calling :meth:`add` for each, about twice as fast.

        The body of :meth:`add` (and of ``_count`` for addresses) is inlined, with the
        attribute lookups hoisted out of the loop: a panel's backfill counts a million events.
        """
        by_kind = self.by_kind
        ips = self._ips
        users = self._users
        hours = self._hours
        count = self._count
        user_kinds = _USER_KINDS
        hour_column = _HOUR_COLUMN
        auth_failures = AUTH_FAILURE_KINDS
        login_ok = LOGIN_OK_KINDS
        unknown_names = UNKNOWN_NAME_KINDS
        login_after = self.thresholds.login_after_failures
        lines = attacks = 0
        last_time = self._last_time
        last_minute = self._last_minute
        try:
            for event in events:
                lines += 1
                kind = event[0]
                by_kind[kind] = by_kind.get(kind, 0) + 1
                time = event[9][0]
                if time is None:
                    time = self.last
                if time is last_time:
                    minute = last_minute
                else:
                    if time is not None:
                        first = self.first
                        if first is None or time < first:
                            self.first = time
                        last = self.last
                        if last is None or time > last:
                            self.last = time
                    minute = int(time.timestamp() // 60) if time is not None else None
                    self._last_time = last_time = time
                    self._last_minute = last_minute = minute
                    if minute is not None and (self._newest_minute is None or minute > self._newest_minute):
                        self._newest_minute = minute
                        if minute >= self._next_prune:
                            self._prune(minute)
                attack = event[2]
                if attack:
                    attacks += 1
                ip = event[3]
                if ip:
                    tally = ips.get(ip)
                    if tally is None:
                        tally = ips[ip] = _Tally()
                    # _count, inlined
                    if time is not None:
                        if tally.first is None or time < tally.first:
                            tally.first = time
                        if tally.last is None or time > tally.last:
                            tally.last = time
                    tally.total += 1
                    kinds = tally.kinds
                    kinds[kind] = kinds.get(kind, 0) + 1
                    if attack:
                        tally.attacks += 1
                    if kind in auth_failures:
                        tally.failures += 1
                    elif kind in login_ok and tally.failures >= login_after:
                        tally.logins_after_failures += 1
                        tally.failures_before_login = tally.failures
                    if minute is not None:
                        bucket = tally.minutes.get(minute)
                        if bucket is None:
                            bucket = tally.minutes[minute] = {}
                        bucket[kind] = bucket.get(kind, 0) + 1
                        if kind in unknown_names:
                            name = event[5] or event.detail("to")
                            names = tally.names.setdefault(minute, set())
                            if name and len(names) < _MAX_NAMES:
                                names.add(name)
                user = event[5]
                if user and kind in user_kinds:
                    tally = users.get(user)
                    if tally is None:
                        tally = users[user] = _Tally()
                    count(tally, event, kind, time, minute)
                column = hour_column.get(kind)
                if column is not None and minute is not None:
                    row = hours.get(minute // 60)
                    if row is None:
                        row = hours[minute // 60] = [0, 0, 0, 0, 0]
                    row[column] += 1
        finally:
            self.lines += lines
            self.attacks += attacks

    def add(self, event: LogEvent) -> None:
        self.lines += 1
        kind = event.kind
        by_kind = self.by_kind
        by_kind[kind] = by_kind.get(kind, 0) + 1
        time = event.record.time
        if time is None:
            time = self.last
        if time is self._last_time:
            # Lines of the same second share one datetime object: skip the arithmetic.
            minute = self._last_minute
        else:
            if time is not None:
                if self.first is None or time < self.first:
                    self.first = time
                if self.last is None or time > self.last:
                    self.last = time
            minute = int(time.timestamp() // 60) if time is not None else None
            self._last_time, self._last_minute = time, minute
            if minute is not None and (self._newest_minute is None or minute > self._newest_minute):
                self._newest_minute = minute
                if minute >= self._next_prune:
                    self._prune(minute)
        if event.attack:
            self.attacks += 1
        ip = event.remote_ip
        if ip:
            tally = self._ips.get(ip)
            if tally is None:
                tally = self._ips[ip] = _Tally()
            self._count(tally, event, kind, time, minute)
        user = event.user
        if user and kind in _USER_KINDS:
            tally = self._users.get(user)
            if tally is None:
                tally = self._users[user] = _Tally()
            self._count(tally, event, kind, time, minute)
        column = _HOUR_COLUMN.get(kind)
        if column is not None and minute is not None:
            row = self._hours.get(minute // 60)
            if row is None:
                row = self._hours[minute // 60] = [0, 0, 0, 0, 0]
            row[column] += 1

    def _count(self, tally: _Tally, event: LogEvent, kind: EventKind, time: _dt.datetime | None,
               minute: int | None) -> None:
        if time is not None:
            # Sources arrive interleaved, not strictly in time order: keep the extremes.
            if tally.first is None or time < tally.first:
                tally.first = time
            if tally.last is None or time > tally.last:
                tally.last = time
        tally.total += 1
        kinds = tally.kinds
        kinds[kind] = kinds.get(kind, 0) + 1
        if event.attack:
            tally.attacks += 1
        if kind in AUTH_FAILURE_KINDS:
            tally.failures += 1
        elif kind in LOGIN_OK_KINDS and tally.failures >= self.thresholds.login_after_failures:
            tally.logins_after_failures += 1
            tally.failures_before_login = tally.failures
        if minute is not None:
            bucket = tally.minutes.get(minute)
            if bucket is None:
                bucket = tally.minutes[minute] = {}
            bucket[kind] = bucket.get(kind, 0) + 1
            if kind in UNKNOWN_NAME_KINDS:
                # sshd/Dovecot name the user; a Postfix reject names the recipient tried.
                name = event.user or event.detail("to")
                names = tally.names.setdefault(minute, set())
                if name and len(names) < _MAX_NAMES:
                    names.add(name)

    def _prune(self, newest: int) -> None:
        """Drop minute buckets older than the longest window.

        Only memory depends on it (windows read the last hour only), so it runs every
        _PRUNE_EVERY minutes of log time: it walks every address (100,000 after a big backfill).
        """
        self._next_prune = newest + _PRUNE_EVERY
        oldest = newest - 60
        for tallies in (self._ips, self._users):
            for tally in tallies.values():
                if tally.minutes and min(tally.minutes) < oldest:
                    tally.minutes = {m: c for m, c in tally.minutes.items() if m >= oldest}
                    tally.names = {m: n for m, n in tally.names.items() if m >= oldest}

    # ---------------------------------------------------------------- reading
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
            start = (self._newest_minute or 0) - 59
            for minute, bucket in tally.names.items():
                if minute >= start:
                    names |= bucket
            if len(names) >= t.user_enumeration:
                labels.append(LabelReason(Label.USER_ENUMERATION,
                                          f"{len(names)} different non-existent names tried in the last hour "
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
        if tally.logins_after_failures:
            labels.append(LabelReason(Label.LOGIN_AFTER_FAILURES,
                                      f"a successful login after {tally.failures_before_login} failed ones: "
                                      "the guessing may have worked — check this account now"))
        return tuple(labels)

    def _stats(self, key: str, tally: _Tally, is_user: bool) -> KeyStats:
        return KeyStats(
            key=key, first_seen=tally.first, last_seen=tally.last, total=tally.total, attacks=tally.attacks,
            by_kind=tuple(Counter(tally.kinds).most_common()),
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
        alarms = tuple(
            (key, reason)
            for tallies, is_user in ((self._ips, False), (self._users, True))
            for key, tally in sorted(
                (key, tally) for key, tally in tallies.items()
                if tally.logins_after_failures or (is_user and tally.kinds.get(K.QUEUE_RECEIVED, 0) >= self.thresholds.spam_run)
            )
            for reason in self._labels(key, tally, is_user)
            if reason.label in (Label.LOGIN_AFTER_FAILURES, Label.SPAM_RUN)
        )
        hours = tuple(
            HourStats(_dt.datetime.fromtimestamp(hour * 3600, _dt.timezone.utc), *row)
            for hour, row in sorted(self._hours.items())
        )
        return Summary(self.lines, self.first, self.last, tuple(Counter(self.by_kind).most_common()), self.attacks,
                       offenders, user_stats, hours, alarms)
