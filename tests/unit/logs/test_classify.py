"""Classification of real log lines, one family at a time, plus hostile input.

Lines are real: copied from this project's lab logs (Postfix 3.7, Dovecot 2.3, OpenSSH with
``sshd -E``) or written in the exact formats of the Postfix/Dovecot/OpenSSH sources. The
fail2ban samples are exercised in ``tests/conformance``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mailtui.core.logs import (
    KIND_INFO,
    EventKind,
    Family,
    LogClassifier,
    RecordParser,
    Severity,
    classify,
    classify_lines,
    parse_line,
)

K = EventKind
NOW = dt.datetime(2026, 11, 29, 16, 0, tzinfo=dt.timezone.utc)


def ev(line: str):
    return classify(parse_line(line, now=NOW))


# (line, kind, attack, ip, user, extra checks)
CASES = [
    # smtp
    ("Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from mail.mailtui.test[127.0.0.1]", K.SMTP_CONNECT, False, "127.0.0.1", None),
    ("Nov 29 15:04:54 mail postfix/submission/smtpd[8755]: disconnect from outsider.example.test[127.0.0.2] ehlo=1 starttls=1 auth=1 quit=1 commands=4", K.SMTP_DISCONNECT, False, "127.0.0.2", None),
    ("Feb 10 13:26:34 srv postfix/smtpd[123]: disconnect from unknown[192.0.2.1] helo=1 auth=0/1 quit=1 commands=2/3", K.SMTP_DISCONNECT_AUTH_FAILED, True, "192.0.2.1", None),
    ("Nov 29 15:05:00 mail postfix/smtpd[8745]: lost connection after CONNECT from mail.mailtui.test[127.0.0.1]", K.SMTP_LOST_CONNECTION, True, "127.0.0.1", None),
    ("Feb 18 09:50:05 xxx postfix/smtpd[42]: lost connection after DATA from good-host.example.com[192.0.2.10]", K.SMTP_LOST_CONNECTION, False, "192.0.2.10", None),
    ("Nov 29 15:06:00 mail postfix/smtpd[1]: timeout after RCPT from unknown[192.0.2.3]", K.SMTP_TIMEOUT, False, "192.0.2.3", None),
    ("Nov  4 09:11:01 mail postfix/smtpd[1234]: warning: unknown[192.0.2.152]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin", K.SMTP_SASL_FAILED, True, "192.0.2.152", "admin"),
    ("Nov 29 15:06:00 mail postfix/smtpd[1]: warning: SASL authentication failure: cannot connect to saslauthd server: No such file or directory", K.SMTP_SASL_BACKEND_ERROR, False, None, None),
    ("Nov 29 15:06:00 mail postfix/smtpd[1]: warning: SASL: Connect to private/auth failed: No such file or directory", K.SMTP_SASL_BACKEND_ERROR, False, None, None),
    ("Feb  3 08:29:28 mail postfix/smtpd[21022]: warning: unknown[1.1.1.1]: SASL LOGIN authentication failed: Connection lost to authentication server", K.SMTP_SASL_BACKEND_ERROR, False, "1.1.1.1", None),
    ("Nov 29 15:06:00 mail postfix/smtpd[1]: warning: non-SMTP command from unknown[192.0.2.4]: GET / HTTP/1.1", K.SMTP_NON_SMTP_COMMAND, True, "192.0.2.4", None),
    ("Dec 25 02:35:54 platypus postfix/smtpd[9144]: improper command pipelining after RSET from x.example[173.10.140.217]", K.SMTP_PIPELINING, True, "173.10.140.217", None),
    ("Jun  3 06:25:43 srv postfix/smtpd[29306]: too many errors after RCPT from example.com[192.0.2.11]", K.SMTP_TOO_MANY_ERRORS, True, "192.0.2.11", None),
    ("Sep 19 12:10:57 h postfix/smtpd[23244]: warning: Connection rate limit exceeded: 31 from spamhost.domain.org[192.0.2.123] for service smtpd", K.SMTP_RATE_LIMIT, True, "192.0.2.123", None),
    ("Aug 14 10:00:01 mail postfix/smtpd[1234]: warning: hostname bad.example.com does not resolve to address 192.0.2.44: Name or service not known", K.SMTP_HOSTNAME_MISMATCH, True, "192.0.2.44", None),
    # reject
    ("Nov 29 15:06:00 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from outsider.example.test[127.0.0.2]: 554 5.7.1 <victim@example.org>: Relay access denied; from=<x@outsider.example.test> to=<victim@example.org> proto=ESMTP helo=<outsider.example.test>", K.REJECT_RELAY, True, "127.0.0.2", None),
    ("Aug 13 15:45:46 server postfix/smtpd[13844]: 00ADB3C0899: reject: RCPT from example.com[192.0.2.1]: 550 5.1.1 <sales@server.com>: Recipient address rejected: User unknown in local recipient table; from=<x@example.com> to=<sales@server.com> proto=ESMTP helo=<mail.example.com>", K.REJECT_UNKNOWN_USER, True, "192.0.2.1", None),
    ("Dec 30 18:19:15 xxx postfix/smtpd[1574]: NOQUEUE: reject: RCPT from badguy.example.com[93.184.216.34]: 454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using zen.spamhaus.org; from=<s@example.com> to=<g@example.com> proto=ESMTP helo=<badguy.example.com>", K.REJECT_RBL, True, "93.184.216.34", None),
    ("Jan 31 13:55:24 xxx postfix/smtpd[3462]: NOQUEUE: reject: EHLO from s1.example.ru[78.107.251.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<User>", K.REJECT_HELO, True, "78.107.251.238", None),
    ("Nov 22 22:33:44 xxx postfix/smtpd[11111]: NOQUEUE: reject: RCPT from a.example.com[1.2.3.4]: 450 4.1.8 <s@nonexistant.tld>: Sender address rejected: Domain not found; from=<s@nonexistant.tld> to=<g@example.com> proto=ESMTP helo=<a.example.com>", K.REJECT_SENDER, True, "1.2.3.4", None),
    ("Nov 29 15:06:00 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from a.example.net[192.0.2.8]: 450 4.2.0 <b@mailtui.test>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/; from=<a@example.net> to=<b@mailtui.test> proto=ESMTP helo=<a.example.net>", K.REJECT_POLICY, False, "192.0.2.8", None),
    ("Apr  7 03:10:56 server postfix/smtpd[7754]: NOQUEUE: reject: RCPT from unknown[192.0.2.246]: 550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.246]; from=<l@example.com> to=<s@example.com> proto=ESMTP helo=<[192.0.2.246]>", K.REJECT_CLIENT, True, "192.0.2.246", None),
    ("Mar  7 02:09:33 server postfix/smtpd[27246]: 1D8CC1CA0A7F: milter-reject: DATA from m.example.com[192.0.2.151]: 550 5.7.1 Command rejected; from=<s@mail.example.com> to=<h@example.com> proto=ESMTP helo=<m.example.com>", K.REJECT_CONTENT, True, "192.0.2.151", None),
    # postscreen
    ("Nov 29 15:06:00 mx postfix/postscreen[21057]: CONNECT from [192.0.2.2]:59415 to [192.0.2.1]:25", K.POSTSCREEN_CONNECT, False, "192.0.2.2", None),
    ("Dec 23 19:39:13 xxx postfix/postscreen[21057]: PREGREET 14 after 0.08 from [192.0.2.2]:59415: EHLO ylmf-pc\\r\\n", K.POSTSCREEN_PREGREET, True, "192.0.2.2", None),
    ("Nov 29 15:06:00 mx postfix/postscreen[1]: DNSBL rank 3 for [192.0.2.5]:4711", K.POSTSCREEN_DNSBL, True, "192.0.2.5", None),
    ("Dec 24 00:54:36 xxx postfix/postscreen[22515]: HANGUP after 16 from [192.0.2.3]:48119 in tests after SMTP handshake", K.POSTSCREEN_HANGUP, True, "192.0.2.3", None),
    ("Nov 29 15:04:54 mx postfix/postscreen[22515]: HANGUP after 0.52 from [192.0.2.3]:48119 in tests after SMTP handshake", K.POSTSCREEN_HANGUP, True, "192.0.2.3", None),
    ("Nov 29 15:06:00 mx postfix/postscreen[1]: COMMAND PIPELINING from [192.0.2.6]:4711 after EHLO: QUIT\\r\\n", K.POSTSCREEN_PIPELINING, True, "192.0.2.6", None),
    ("Nov 29 15:06:00 mx postfix/postscreen[1]: PASS NEW [192.0.2.7]:4711", K.POSTSCREEN_PASS_NEW, False, "192.0.2.7", None),
    ("Nov 29 15:06:00 mx postfix/postscreen[1]: PASS OLD [2001:db8::7]:4711", K.POSTSCREEN_PASS_OLD, False, "2001:db8::7", None),
    ("Jun  8 23:14:28 proxy2 postfix/postscreen[473]: COMMAND TIME LIMIT from [192.0.2.77]:3608 after CONNECT", K.POSTSCREEN_PROTOCOL_VIOLATION, True, "192.0.2.77", None),
    # tls
    ("Nov 29 15:04:54 mail postfix/smtps/smtpd[8747]: Anonymous TLS connection established from mail.mailtui.test[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256", K.TLS_ESTABLISHED, False, "127.0.0.1", None),
    ("Nov 29 15:10:00 mail postfix/smtps/smtpd[8747]: SSL_accept error from outsider.example.test[127.0.0.2]: -1", K.TLS_FAILED, False, "127.0.0.2", None),
    # queue
    ("Nov 29 15:05:01 mail postfix/smtps/smtpd[8747]: 4dLZ3F0zZxz9vDc: client=outsider.example.test[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@mailtui.test", K.QUEUE_RECEIVED, False, "127.0.0.2", "alice@mailtui.test"),
    ("Nov 29 15:05:01 mail postfix/qmgr[8733]: 4dLZ3F0zZxz9vDc: from=<alice@mailtui.test>, size=512, nrcpt=1 (queue active)", K.QUEUE_ACTIVE, False, None, None),
    ("Nov 29 15:05:01 mail postfix/virtual[9]: 4dLZ3F0zZxz9vDc: to=<bob@mailtui.test>, relay=virtual, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)", K.QUEUE_SENT, False, None, None),
    ("Nov 29 15:05:01 mail postfix/smtp[9]: 3F0zZxz9vDc: to=<a@example.net>, relay=mx.example.net[192.0.2.9]:25, delay=5, delays=0/0/5/0, dsn=4.4.1, status=deferred (connect to mx.example.net[192.0.2.9]:25: Connection timed out)", K.QUEUE_DEFERRED, False, None, None),
    ("Nov 29 15:05:01 mail postfix/virtual[9]: 4dLZ3F0zZxz9vDc: to=<mtuser@mailtui.test>, relay=virtual, delay=0, delays=0/0/0/0, dsn=5.1.1, status=bounced (unknown user: \"mtuser@mailtui.test\")", K.QUEUE_BOUNCED, False, None, None),
    ("Nov 29 15:05:01 mail postfix/qmgr[9]: 4dLZ3F0zZxz9vDc: from=<a@mailtui.test>, status=expired, returned to sender", K.QUEUE_EXPIRED, False, None, None),
    ("Nov 29 15:05:01 mail postfix/qmgr[8733]: 4dLZ3F0zZxz9vDc: removed", K.QUEUE_REMOVED, False, None, None),
    # dovecot
    ("Nov 29 15:05:01 imap-login: Info: Login: user=<alice@mailtui.test>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, mpid=9316, TLS, session=<MW4VnmthM4V/AAAC>", K.DOVECOT_LOGIN, False, "127.0.0.2", "alice@mailtui.test"),
    ("Nov 29 15:05:01 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<alice@mailtui.test>, rip=127.0.0.2, lip=127.0.0.1, session=<x>", K.DOVECOT_AUTH_FAILED, True, "127.0.0.2", "alice@mailtui.test"),
    ("Jun 12 19:07:29 hostname dovecot[241]: imap-login: Login aborted: Connection closed (auth failed, 3 attempts in 16 secs) (auth_failed): user=<test>, method=PLAIN, rip=192.0.2.241, lip=203.0.113.104, TLS, session=<9ZH>", K.DOVECOT_AUTH_FAILED, True, "192.0.2.241", "test"),
    ("Nov 29 15:05:01 imap-login: Info: Login failed: Plaintext authentication disabled: user=<>, rip=127.0.0.2, lip=127.0.0.1, session=<x>", K.DOVECOT_PLAINTEXT_DISALLOWED, True, "127.0.0.2", None),
    ("Jun 11 13:57:17 main dovecot: auth: sql(admin@example.ru,192.168.144.226,<6rXunFtu493AqJDi>): Password mismatch", K.DOVECOT_PASSWORD_MISMATCH, True, "192.168.144.226", "admin@example.ru"),
    ("Jan 29 05:13:40 mail dovecot: auth-worker(31326): pam(username,1.2.3.4): unknown user", K.DOVECOT_UNKNOWN_USER, True, "1.2.3.4", "username"),
    ("Nov 29 15:04:54 imap-login: Info: Disconnected: Aborted login by logging out (no auth attempts in 0 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<S3W>", K.DOVECOT_NO_AUTH, False, "127.0.0.1", None),
    ("Nov 29 15:10:00 pop3-login: Info: Disconnected: Connection closed: SSL_accept() failed: error:0A000102:SSL routines::unsupported protocol (no auth attempts in 0 secs): user=<>, rip=127.0.0.2, lip=127.0.0.1, TLS handshaking: SSL_accept() failed, session=<x>", K.DOVECOT_PROBE, True, "127.0.0.2", None),
    ("Nov 29 15:05:01 imap(alice@mailtui.test)<9316><MW4V>: Info: Disconnected: Logged out in=12 out=477", K.DOVECOT_LOGOUT, False, None, "alice@mailtui.test"),
    # sshd (lab sshd -E lines are bare; the classic ones carry syslog headers)
    ("Nov 29 15:20:00 mail sshd[4669]: Accepted publickey for mtadmin from 127.0.0.1 port 40000 ssh2: ED25519 SHA256:jtom", K.SSHD_ACCEPTED, False, "127.0.0.1", "mtadmin"),
    ("Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user ROOT from 194.117.26.69 port 50273 ssh2", K.SSHD_FAILED_PASSWORD, True, "194.117.26.69", "ROOT"),
    ("Nov 29 15:20:00 mail sshd[1]: Failed publickey for mtadmin from 127.0.0.1 port 40000 ssh2: ED25519 SHA256:v+N", K.SSHD_FAILED_PUBLICKEY, False, "127.0.0.1", "mtadmin"),
    ("Jul 20 14:42:12 localhost sshd[22708]: Invalid user ftp from 192.0.2.2 port 37220", K.SSHD_INVALID_USER, True, "192.0.2.2", "ftp"),
    ("Mar  7 18:53:20 bar sshd[1556]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.113  user=rda", K.SSHD_PAM_FAILURE, True, "192.0.2.113", "rda"),
    ("Nov 29 15:20:00 mail sshd[1]: User nobody from 127.0.0.2 not allowed because not listed in AllowUsers", K.SSHD_NOT_ALLOWED, True, "127.0.0.2", "nobody"),
    ("Nov 23 21:50:37 myhost sshd[21810]: error: maximum authentication attempts exceeded for root from 61.0.0.1 port 49940 ssh2 [preauth]", K.SSHD_MAX_AUTH, True, "61.0.0.1", "root"),
    ("Nov 29 15:20:00 mail sshd[1]: Connection closed by 127.0.0.1 port 38562 [preauth]", K.SSHD_PREAUTH_DISCONNECT, True, "127.0.0.1", None),
    ("Nov 26 13:03:29 srv sshd[45]: Unable to negotiate with 192.0.2.1 port 55419: no matching cipher found. Their offer: aes256-cbc [preauth]", K.SSHD_NEGOTIATION_FAILED, True, "192.0.2.1", None),
    ("Mar  1 18:59:52 srv sshd[12345]: fatal: Timeout before authentication for 192.0.2.14 port 55555", K.SSHD_TIMEOUT, True, "192.0.2.14", None),
    ("Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM ::ffff:1.2.3.4", K.SSHD_ROOT_REFUSED, True, "1.2.3.4", "root"),
    ("Oct 15 19:51:35 server sshd[7592]: Address 1.2.3.4 maps to x.example.com, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!", K.SSHD_REVERSE_MAPPING, False, "1.2.3.4", None),
    ("Nov 29 15:20:00 mail sshd[1]: Connection from 127.0.0.1 port 38562 on 127.0.0.1 port 2222 rdomain \"\"", K.SSHD_CONNECTION, False, "127.0.0.1", None),
    ("Nov 29 15:20:00 mail sshd[1]: Server listening on 127.0.0.1 port 2222.", K.SERVICE_STATE, False, None, None),
    # plesk, qmail, fail2ban, peers
    ("Nov 29 15:20:00 mx plesk_saslauthd[4711]: failed mail authentication attempt for user 'info@example.com' (password len=9)", K.PLESK_SASL_FAILED, True, None, "info@example.com"),
    ("Sep  6 07:18:29 sd6 qmail: 1157519909.633171 qmail-smtpd: 421 badiprbl: ip 198.51.100.54 rbl: example.com", K.QMAIL_RBL, True, "198.51.100.54", None),
    ("2026-11-29 15:00:01,123 fail2ban.actions        [811]: NOTICE  [sshd] Ban 192.0.2.7", K.FAIL2BAN_BAN, False, "192.0.2.7", None),
    ("2026-11-29 16:00:01,123 fail2ban.actions        [811]: NOTICE  [sshd] Unban 192.0.2.7", K.FAIL2BAN_UNBAN, False, "192.0.2.7", None),
    ("Apr 23 21:59:01 dns2 imapd: LOGIN FAILED, user=sales@example.com, ip=[::ffff:1.2.3.4]", K.AUTH_LOGIN_FAILED, True, "1.2.3.4", "sales@example.com"),
    ("Nov 29 15:20:00 mx something: a line nobody knows", K.OTHER, False, None, None),
]


@pytest.mark.parametrize(("line", "kind", "attack", "ip", "user"), CASES, ids=[c[1].value + f"-{i}" for i, c in enumerate(CASES)])
def test_kind_attack_ip_user(line, kind, attack, ip, user) -> None:
    event = ev(line)
    assert event.kind is kind
    assert event.attack is attack
    assert event.remote_ip == ip
    if user is not None:
        assert event.user == user
    assert event.severity is KIND_INFO[kind].severity or event.kind is K.SSHD_ACCEPTED


def test_every_kind_has_a_sample_here_or_is_declared_untested() -> None:
    untested = {K.QUEUE_CLEANUP, K.QUEUE_NOTICE, K.POSTSCREEN_ALLOWLISTED, K.POSTSCREEN_DENYLISTED,
                K.POSTSCREEN_DISCONNECT, K.SSHD_FAILED_OTHER, K.SSHD_SESSION, K.FAIL2BAN_FOUND,
                K.AUTH_PAM_FAILURE, K.SERVICE_PROBLEM, K.REJECT_OTHER, K.SMTP_HOSTNAME_MISMATCH}
    covered = {c[1] for c in CASES}
    assert set(EventKind) - covered <= untested


def test_every_kind_is_explained_in_plain_words() -> None:
    for kind in EventKind:
        info = kind.info
        assert info.title and info.what and info.danger
        assert isinstance(info.family, Family) and isinstance(info.severity, Severity)
        if kind.value != "other":
            assert kind.value.split(".")[0] in {f.value for f in Family}


def test_sasl_failure_details_and_explanation() -> None:
    event = ev("Mar 10 13:33:30 gandalf postfix/smtpd[3937]: warning: HOSTNAME[1.1.1.1]: SASL LOGIN authentication failed: authentication failure")
    assert event.detail("mechanism") == "LOGIN"
    assert event.service == "smtpd"
    assert "guess" in event.info.what and "fail2ban" in event.info.action
    assert event.remote_host == "HOSTNAME"


def test_rbl_name_and_services() -> None:
    event = ev(CASES[17][0])
    assert event.detail("rbl") == "zen.spamhaus.org"
    assert ev("Apr 12 02:24:11 xxx postfix/smtps/smtpd[42]: connect from a[192.0.2.1]").service == "smtps"
    assert ev("Nov 29 15:05:01 pop3-login: Info: Login: user=<b>, method=PLAIN, rip=127.0.0.2").service == "pop3"


def test_remote_ip_is_never_a_hostname() -> None:
    event = ev("May 29 20:56:52 imago sshd[28732]: error: PAM: Authentication failure for stefanor from example.com")
    assert event.remote_ip is None and event.remote_host == "example.com"
    assert event.attack


def test_sshd_context_fills_address_and_counts_once() -> None:
    lines = [
        "Feb 12 04:09:18 localhost sshd[26713]: Connection from 115.249.163.77 port 51353",
        "Feb 12 04:09:21 localhost sshd[26713]: Disconnecting: Too many authentication failures for root [preauth]",
    ]
    events = classify_lines(lines, parser=RecordParser(now=NOW))
    assert events[1].remote_ip == "115.249.163.77" and events[1].attack


def test_sshd_accepted_after_guessing_other_users_is_critical() -> None:
    lines = [
        "Mar  7 18:53:22 bar sshd[1558]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=root rhost=192.0.2.114",
        "Mar  7 18:53:24 bar sshd[1558]: Accepted password for known from 192.0.2.114 port 52100 ssh2",
    ]
    events = LogClassifier(parser=RecordParser(now=NOW)).classify_lines(lines)
    assert not events[0].attack  # held: PAM stacks log a failure before a success
    assert events[1].attack and events[1].severity is Severity.CRITICAL


def test_lab_logs_classify_without_unknown_attacks() -> None:
    from pathlib import Path
    sources = [(Path("/var/log/mail.log"), None), (Path("/var/log/dovecot.log"), None),
               (Path("/var/lib/mailtui-lab/logs/sshd.log"), "sshd")]
    present = [(p, h) for p, h in sources if p.is_file()]
    if not present:
        pytest.skip("lab logs not present on this machine")
    for path, hint in present:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        events = classify_lines(lines, parser=RecordParser(program_hint=hint))
        assert len(events) == len(lines)
        other = sum(e.kind is K.OTHER for e in events)
        # anvil statistics are the only unclassified Postfix lines in the lab today
        assert other <= len(lines) * 0.05, path
