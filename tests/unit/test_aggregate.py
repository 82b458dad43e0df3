"""Aggregation: windows, labels with thresholds, alarms, hourly delivery stats."""

from __future__ import annotations

from mailtui.core.logs.aggregate import Aggregator, Label
from mailtui.core.logs.classify import LogClassifier
from mailtui.core.logs.events import EventKind


def _events(lines: list[str]):
    return LogClassifier().classify_lines(lines)


def _at(minute: int, second: int, rest: str) -> str:
    return f"Nov 29 14:{minute:02d}:{second:02d} mail {rest}"


SASL_FAIL = "postfix/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
RELAY = ("postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 454 4.7.1 <x@elsewhere.example>: "
         "Relay access denied; from=<a@b.example> to=<x@elsewhere.example> proto=ESMTP helo=<probe>")
UNKNOWN = ("postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 550 5.1.1 <{user}@mailtui.test>: "
           "Recipient address rejected: User unknown in virtual mailbox table; from=<a@b.example> "
           "to=<{user}@mailtui.test> proto=ESMTP helo=<probe>")
LOST = "postfix/smtpd[{pid}]: lost connection after CONNECT from unknown[{ip}]"
DOVECOT_FAIL = ("dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@mailtui.test>, "
                "method=PLAIN, rip={ip}, lip=127.0.0.1, TLS, session=<abc>")
DOVECOT_OK = ("dovecot: imap-login: Login: user=<alice@mailtui.test>, method=PLAIN, rip={ip}, lip=127.0.0.1, "
              "mpid=42, TLS, session=<def>")


def test_password_guessing_and_the_alarming_login_after_failures():
    lines = [_at(0, i, SASL_FAIL.format(pid=100 + i, ip="203.0.113.5")) for i in range(6)]
    lines += [_at(1, i, DOVECOT_FAIL.format(ip="198.51.100.9")) for i in range(3)]
    lines.append(_at(2, 0, DOVECOT_OK.format(ip="198.51.100.9")))
    agg = Aggregator()
    agg.add_many(_events(lines))
    summary = agg.summary()
    by_ip = {o.key: o for o in summary.offenders}
    guesser = by_ip["203.0.113.5"]
    assert guesser.attacks == 6 and [l.label for l in guesser.labels] == [Label.PASSWORD_GUESSING]
    assert "6 failed logins in the last 15 minutes" in guesser.labels[0].why
    assert dict(guesser.windows) == {"1 min": 0, "15 min": 6, "1 h": 6}
    alarms = {(key, reason.label) for key, reason in summary.alarms}
    assert ("198.51.100.9", Label.LOGIN_AFTER_FAILURES) in alarms
    assert ("203.0.113.5", Label.LOGIN_AFTER_FAILURES) not in alarms


def test_relay_probing_enumeration_and_scanning():
    ip = "192.0.2.77"
    lines = [_at(5, 0, RELAY.format(pid=1, ip=ip))]
    lines += [_at(5, i + 1, UNKNOWN.format(pid=2, ip=ip, user=name)) for i, name in
              enumerate(["admin", "info", "sales", "test", "webmaster", "admin"])]
    lines += [_at(6, i, LOST.format(pid=3 + i, ip="192.0.2.88")) for i in range(3)]
    agg = Aggregator()
    agg.add_many(_events(lines))
    by_ip = {o.key: {l.label for l in o.labels} for o in agg.summary().offenders}
    assert by_ip[ip] >= {Label.RELAY_PROBING, Label.USER_ENUMERATION}
    assert Label.SCANNING in by_ip["192.0.2.88"]


def test_windows_slide_with_the_log_time_and_old_buckets_are_dropped():
    ip = "203.0.113.20"
    lines = [_at(0, 0, SASL_FAIL.format(pid=1, ip=ip))]
    lines += [_at(59, 59, LOST.format(pid=2, ip="192.0.2.1"))]
    lines += [f"Nov 29 15:{m:02d}:00 mail " + LOST.format(pid=3, ip="192.0.2.1") for m in range(0, 30)]
    agg = Aggregator()
    agg.add_many(_events(lines))
    stats = next(o for o in agg.summary().offenders if o.key == ip)
    assert dict(stats.windows) == {"1 min": 0, "15 min": 0, "1 h": 0}  # more than an hour ago
    assert stats.total == 1  # the whole-backlog count stays exact
    assert all(min(t.minutes) >= agg._newest_minute - 60 for t in agg._ips.values() if t.minutes)


def test_hourly_delivery_stats():
    lines = [
        _at(10, 0, "postfix/smtpd[9]: 1A8DD160034: client=unknown[192.0.2.5], sasl_method=PLAIN, sasl_username=alice@mailtui.test"),
        _at(10, 1, "postfix/smtp[10]: 1A8DD160034: to=<x@example.org>, relay=mx.example.org[192.0.2.99]:25, delay=1.2, "
                   "delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 123)"),
        _at(10, 2, "postfix/smtp[10]: 9018D160036: to=<y@example.org>, relay=none, delay=30, delays=0/0/30/0, "
                   "dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.99]:25: Connection timed out)"),
        _at(10, 3, RELAY.format(pid=11, ip="192.0.2.66")),
    ]
    agg = Aggregator()
    events = _events(lines)
    assert [e.kind for e in events][:3] == [EventKind.QUEUE_RECEIVED, EventKind.QUEUE_SENT, EventKind.QUEUE_DEFERRED]
    agg.add_many(events)
    (hour,) = agg.summary().hours
    assert (hour.received, hour.sent, hour.deferred, hour.bounced, hour.rejected) == (1, 1, 1, 0, 1)
    assert hour.hour.minute == 0
    users = {u.key: u for u in agg.summary().users}
    assert users["alice@mailtui.test"].by_kind == ((EventKind.QUEUE_RECEIVED, 1),)


def test_spam_run_from_an_authenticated_account():
    line = "postfix/smtpd[9]: 1A8DD16{n:04X}: client=unknown[192.0.2.5], sasl_method=PLAIN, sasl_username=bob@mailtui.test"
    lines = [_at(20 + n // 60, n % 60, line.format(n=n)) for n in range(120)]
    agg = Aggregator()
    agg.add_many(_events(lines))
    alarms = agg.summary().alarms
    assert [(key, reason.label) for key, reason in alarms] == [("bob@mailtui.test", Label.SPAM_RUN)]


def test_counting_does_not_depend_on_the_order_of_the_lines():
    """A bulk classifier hands over its rows grouped by pattern, not in log order."""
    import random

    from mailtui.core.logs.aggregate import columns_from_events

    lines = [_at(0, i, SASL_FAIL.format(pid=100 + i, ip="203.0.113.5")) for i in range(6)]
    lines += [_at(1, i, DOVECOT_FAIL.format(ip="198.51.100.9")) for i in range(3)]
    lines.append(_at(2, 0, DOVECOT_OK.format(ip="198.51.100.9")))
    lines += [_at(5, i + 1, UNKNOWN.format(pid=2, ip="192.0.2.77", user=name)) for i, name in
              enumerate(["admin", "info", "sales", "test", "webmaster"])]
    lines += [_at(6, i, LOST.format(pid=3 + i, ip="192.0.2.88")) for i in range(3)]
    events = _events(lines)
    in_order = Aggregator()
    in_order.add_many(events)
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    by_columns = Aggregator()
    for start in range(0, len(shuffled), 4):
        by_columns.add_columns(columns_from_events(shuffled[start:start + 4]))
    assert by_columns.summary() == in_order.summary()


def test_a_login_counts_as_after_failures_by_the_times_of_the_lines():
    ok = _at(2, 0, DOVECOT_OK.format(ip="198.51.100.9"))
    before = [_at(1, i, DOVECOT_FAIL.format(ip="198.51.100.9")) for i in range(3)]
    after = [_at(3, i, DOVECOT_FAIL.format(ip="198.51.100.9")) for i in range(3)]
    for lines, alarmed in (([ok, *before], True), ([*after, ok], False), ([*before[:2], ok, *after], False)):
        agg = Aggregator()
        agg.add_many(_events(lines))
        alarms = {key for key, _ in agg.summary().alarms}
        assert alarms == ({"198.51.100.9", "alice@mailtui.test"} if alarmed else set()), lines
    agg = Aggregator()
    agg.add_many(_events([*before, ok]))
    reason = dict(agg.summary().alarms)["198.51.100.9"]
    assert "at least 3 failed ones (3 failed in all, the first at" in reason.why
