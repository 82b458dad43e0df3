"""The mail log lexer: the right tokens on real lines, a lossless split, linear time."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Name, Number, Operator, Text

from mailtui.highlight import MailLogLexer
from mailtui.highlight.lexer import (
    ADDRESS,
    GOOD,
    HOST,
    KEY,
    LEVEL,
    MAIL_ADDRESS,
    MESSAGE_ID,
    PID,
    PROGRAM,
    TIMESTAMP,
    TROUBLE,
)

# Lines from our own lab (Postfix 3.7 and Dovecot 2.3 via maillog_file/log_path,
# sshd -E, fail2ban 1.0), copied verbatim.
LAB_POSTFIX = [
    "Nov 29 15:04:54 mail postfix/smtpd[8745]: connect from outsider.example.test[127.0.0.2]",
    "Nov 29 15:05:01 mail postfix/smtpd[8745]: NOQUEUE: reject: RCPT from outsider.example.test[127.0.0.2]: 554 5.7.1 <victim@example.org>: Relay access denied; from=<x@outsider.example.test> to=<victim@example.org> proto=ESMTP helo=<outsider.example.test>",
    "Nov 29 15:05:01 mail postfix/submission/smtpd[8755]: disconnect from outsider.example.test[127.0.0.2] ehlo=2 starttls=1 auth=1 quit=1 commands=5",
    "Nov 29 15:05:01 mail postfix/smtps/smtpd[8747]: warning: TLS library problem: error:0A000412:SSL routines::sslv3 alert bad certificate:../ssl/record/rec_layer_s3.c:1602:SSL alert number 42:",
    "Nov 29 15:05:02 mail postfix/cleanup[9353]: 53939160030: message-id=<20261129150502.53939160030@mail.mailtui.test>",
    'Nov 29 15:05:02 mail postfix/virtual[9354]: 53939160030: to=<root@mailtui.test>, orig_to=<root>, relay=virtual, delay=0.02, delays=0.01/0/0/0.01, dsn=5.1.1, status=bounced (unknown user: "root@mailtui.test")',
    "Nov 29 15:05:09 mail postfix/smtps/smtpd[8747]: 1A8DD160034: client=outsider.example.test[127.0.0.2], sasl_method=PLAIN, sasl_username=alice@mailtui.test",
    "Nov 29 15:05:09 mail postfix/virtual[9354]: 1A8DD160034: to=<bob@mailtui.test>, relay=virtual, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
]
LAB_DOVECOT = [
    "Nov 29 15:05:01 imap-login: Info: Login: user=<alice@mailtui.test>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, mpid=9316, TLS, session=<MW4VnmthM4V/AAAC>",
    "Nov 29 15:05:01 imap(alice@mailtui.test)<9316><MW4VnmthM4V/AAAC>: Info: Disconnected: Logged out in=12 out=477 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0",
    "Nov 29 15:06:58 imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 0 secs): user=<alice@mailtui.test>, rip=127.0.0.2, lip=127.0.0.1, session=<CzQNpWthMY5/AAAC>",
    "Nov 29 15:06:36 master: Warning: Killed with signal 15 (by pid=12869 uid=0 code=kill)",
]
LAB_SSHD = [
    "Failed publickey for mtadmin from 127.0.0.1 port 60780 ssh2: ED25519 SHA256:fEqZ9SpqgGdLab7Q1DmANqOcp0DOefwwH0ENZN3bxnU",
    "Accepted publickey for mtadmin from 127.0.0.1 port 36030 ssh2: ED25519 SHA256:jtomuSPIHhiQp1VFZJztMk/EwIFPPsTzOhogBM5NmhQ",
    "User nobody from 127.0.0.1 not allowed because not listed in AllowUsers",
    "Connection closed by invalid user nobody 127.0.0.1 port 49372 [preauth]",
    "Connection closed by ::1 port 35174",
    "Received disconnect from 127.0.0.1 port 42766:9: Host key is not trusted for host 127.0.0.1 [preauth]",
]
LAB_FAIL2BAN = [
    "2026-11-29 15:03:57,570 fail2ban.jail           [8044]: INFO    Jail 'sshd' uses poller {}",
    "2026-11-29 15:03:57,570 fail2ban.database       [8044]: WARNING New database created. Version '4'",
]
# Formats the lab does not produce, written by hand to the daemons' documented shapes.
OTHER_FORMATS = [
    "Nov  9 01:02:03 mx dovecot: imap-login: Login: user=<a@example.org>, rip=2001:db8::7, lip=[::1]",
    "2026-11-29T14:34:53.123456+00:00 mx postfix/smtp[1]: 4bC2ZT4FGZzJq: to=<x@example.org>, relay=mx.example.org[192.0.2.5]:25, dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.5]:25: Connection refused)",
    "Nov 29 14:34:53 mx postfix/smtp[1]: 4Q2Xyz1AbC: to=<x@example.org>, status=sent (250 2.0.0 Ok: queued as 4Q2Xyz1AbD)",
    "Nov 29 14:34:53 mx sshd[9]: Failed password for invalid user admin from 203.0.113.9 port 5555 ssh2",
    "Nov 29 14:34:53 mx sshd[9]: Invalid user oracle from 2001:db8::9 port 5555",
    "2026-11-29 15:10:00,000 fail2ban.actions        [8044]: NOTICE  [sshd] Ban 203.0.113.9",
    "2026-11-29 15:20:00,000 fail2ban.actions        [8044]: NOTICE  [sshd] Unban 203.0.113.9",
    "2026-11-29 14:34:53 1tABCD-000123-AB <= sender@example.com H=mx.example.net [192.0.2.5]:25 P=esmtps S=1234",
    "2026-11-29 14:34:54 1tABCD-000123-AB ** nobody@example.org R=dnslookup: Unrouteable address",
    "2026-11-29 14:34:54 1tABCD-000123-AB Completed",
    "@400000006929ab1c2f3b4c5d delivery 1: success: did_0+0+1/",
    "@400000006929ab1c2f3b4c5e delivery 2: deferral: Sorry,_I_couldn't_find_any_host/",
]
ALL_LINES = LAB_POSTFIX + LAB_DOVECOT + LAB_SSHD + LAB_FAIL2BAN + OTHER_FORMATS

LEXER = MailLogLexer()


def lex(text: str) -> list[tuple]:
    return [(ttype, value) for _, ttype, value in LEXER.get_tokens_unprocessed(text)]


def kind(line: str, value: str, nth: int = 0):
    """The token type of the ``nth`` token whose text is exactly ``value``."""
    found = [ttype for ttype, text in lex(line) if text == value]
    assert len(found) > nth, f"{value!r} is not a token of {line!r}:\n{lex(line)}"
    return found[nth]


# --- what each part of a line becomes ----------------------------------------------


def test_syslog_prefix_timestamp_host_program_pid():
    line = LAB_POSTFIX[0]
    assert kind(line, "Nov 29 15:04:54") is TIMESTAMP
    assert kind(line, "mail") is HOST
    assert kind(line, "postfix/smtpd") is PROGRAM
    assert PROGRAM in Name
    assert kind(line, "8745") is PID



@pytest.mark.parametrize(
    ("line", "stamp"),
    [
        ("Nov  9 01:02:03 mx sshd[9]: x", "Nov  9 01:02:03"),  # RFC 3164 space padding
        ("Nov 9 01:02:03 mx sshd[9]: x", "Nov 9 01:02:03"),
        ("2026-11-29T14:34:53.123456+00:00 mx sshd[9]: x", "2026-11-29T14:34:53.123456+00:00"),
        (LAB_FAIL2BAN[0], "2026-11-29 15:03:57,570"),
        ("@400000006929ab1c2f3b4c5d new msg 12345", "@400000006929ab1c2f3b4c5d"),
    ],
)
def test_timestamp_forms(line, stamp):
    assert lex(line)[0] == (TIMESTAMP, stamp)


def test_remote_client_host_and_ip():
    line = "Nov 29 15:04:54 mail postfix/smtpd[123]: connect from unknown[203.0.113.7]"
    assert kind(line, "postfix/smtpd") is PROGRAM
    assert kind(line, "123") is PID
    assert kind(line, "unknown") is HOST
    assert kind(line, "203.0.113.7") is ADDRESS
    assert ADDRESS is Number  # IPs are plain Number; other numbers are a subtype
    assert kind(line, "connect") is Text


def test_postfix_reject_line():
    line = LAB_POSTFIX[1]
    assert kind(line, "NOQUEUE") is TROUBLE
    assert kind(line, "reject") is TROUBLE
    assert kind(line, "554") is TROUBLE
    assert kind(line, "5.7.1") is TROUBLE
    assert kind(line, "Relay access denied") is TROUBLE
    assert kind(line, "victim@example.org") is MAIL_ADDRESS
    assert kind(line, "helo") is KEY
    assert kind(line, "=") is Operator
    assert kind(line, "outsider.example.test", nth=1) is MAIL_ADDRESS  # inside helo=<...>


def test_delivery_status_bounced_is_trouble_and_sent_is_good():
    bounced, sent = LAB_POSTFIX[5], LAB_POSTFIX[7]
    assert kind(bounced, "status") is KEY
    assert kind(bounced, "bounced") is TROUBLE
    assert kind(bounced, "5.1.1") is TROUBLE  # dsn=5.1.1
    assert kind(bounced, "unknown user") is TROUBLE
    assert kind(sent, "sent") is GOOD
    assert kind(sent, "2.0.0") is GOOD
    deferred = OTHER_FORMATS[1]
    assert kind(deferred, "deferred") is TROUBLE
    assert kind(deferred, "4.4.1") is TROUBLE
    assert kind(deferred, "refused") is TROUBLE


def test_postfix_queue_ids_short_and_long():
    assert kind(LAB_POSTFIX[4], "53939160030") is MESSAGE_ID
    assert kind(LAB_POSTFIX[6], "1A8DD160034") is MESSAGE_ID
    assert kind(OTHER_FORMATS[1], "4bC2ZT4FGZzJq") is MESSAGE_ID
    assert kind(OTHER_FORMATS[2], "4Q2Xyz1AbC") is MESSAGE_ID
    assert kind(OTHER_FORMATS[2], "4Q2Xyz1AbD") is MESSAGE_ID  # "queued as ..."
    assert kind(OTHER_FORMATS[2], "250") is GOOD
    # In the same place, words are not queue ids.
    assert kind(LAB_POSTFIX[3], "warning:") is TROUBLE
    assert kind(LAB_DOVECOT[1], "Disconnected") is Text


def test_postfix_sasl_login_and_client():
    line = LAB_POSTFIX[6]
    assert kind(line, "client") is KEY
    assert kind(line, "outsider.example.test") is HOST
    assert kind(line, "127.0.0.2") is ADDRESS
    assert kind(line, "sasl_username") is KEY
    assert kind(line, "alice@mailtui.test") is MAIL_ADDRESS


def test_openssl_error_is_trouble_and_double_colon_is_not_an_address():
    line = LAB_POSTFIX[3]
    assert kind(line, "error:") is TROUBLE
    assert kind(line, "::") is not ADDRESS
    assert kind(line, "1602") is Number.Integer
    assert ADDRESS not in {ttype for ttype, _ in lex(line)}


def test_dovecot_login_line():
    line = LAB_DOVECOT[0]
    assert kind(line, "imap-login") is PROGRAM
    assert kind(line, "Info") is LEVEL
    assert kind(line, "Login:") is GOOD
    assert kind(line, "rip") is KEY
    assert kind(line, "127.0.0.2") is ADDRESS
    assert kind(line, "alice@mailtui.test") is MAIL_ADDRESS
    assert kind(line, "MW4VnmthM4V/AAAC") is MESSAGE_ID  # session=<...>


def test_dovecot_mail_process_prefix():
    line = LAB_DOVECOT[1]
    assert kind(line, "imap") is PROGRAM
    assert kind(line, "alice@mailtui.test") is MAIL_ADDRESS
    assert kind(line, "9316") is PID
    assert kind(line, "MW4VnmthM4V/AAAC") is MESSAGE_ID


def test_dovecot_levels_and_auth_failure():
    assert kind(LAB_DOVECOT[2], "auth failed") is TROUBLE
    assert kind(LAB_DOVECOT[3], "master") is PROGRAM
    assert kind(LAB_DOVECOT[3], "Warning") is TROUBLE
    for level in ("Error", "Fatal"):
        assert kind(f"Nov 29 15:06:36 auth: {level}: x", level) is TROUBLE


def test_dovecot_through_syslog_and_ipv6():
    line = OTHER_FORMATS[0]
    assert kind(line, "mx") is HOST
    assert kind(line, "dovecot") is PROGRAM
    assert kind(line, "imap-login") is PROGRAM
    assert kind(line, "2001:db8::7") is ADDRESS
    assert kind(line, "::1") is ADDRESS


def test_sshd_lines():
    failed, accepted, not_allowed, invalid, v6, _ = LAB_SSHD
    assert kind(failed, "Failed") is TROUBLE
    assert kind(failed, "127.0.0.1") is ADDRESS
    assert kind(accepted, "Accepted") is GOOD
    assert kind(not_allowed, "not allowed") is TROUBLE
    assert kind(invalid, "invalid user") is TROUBLE
    assert kind(v6, "::1") is ADDRESS
    assert kind(OTHER_FORMATS[3], "Failed") is TROUBLE
    assert kind(OTHER_FORMATS[3], "invalid user") is TROUBLE
    assert kind(OTHER_FORMATS[4], "Invalid user") is TROUBLE
    assert kind(OTHER_FORMATS[4], "2001:db8::9") is ADDRESS


def test_port_with_reason_code_is_not_an_address():
    line = LAB_SSHD[5]
    assert kind(line, "42766") is Number.Integer
    assert kind(line, "9") is Number.Integer


def test_fail2ban_lines():
    line = OTHER_FORMATS[5]
    assert kind(line, "fail2ban.actions") is PROGRAM
    assert kind(line, "8044") is PID
    assert kind(line, "NOTICE") is LEVEL
    assert kind(line, "sshd") is PROGRAM  # the jail
    assert kind(line, "Ban") is TROUBLE
    assert kind(line, "203.0.113.9") is ADDRESS
    assert kind(OTHER_FORMATS[6], "Unban") is GOOD
    assert kind(LAB_FAIL2BAN[0], "INFO") is LEVEL
    assert kind(LAB_FAIL2BAN[1], "WARNING") is TROUBLE


def test_trouble_words_need_a_word_boundary():
    line = "Nov 29 15:04:54 mx postfix/smtpd[1]: Banana rejection Failedness"
    assert TROUBLE not in {ttype for ttype, _ in lex(line)}


def test_exim_and_qmail():
    arrival, failed, completed, success, deferral = OTHER_FORMATS[7:]
    assert kind(arrival, "1tABCD-000123-AB") is MESSAGE_ID
    assert kind(arrival, "<=") is Operator
    assert kind(arrival, "192.0.2.5") is ADDRESS
    assert kind(failed, "**") is TROUBLE
    assert kind(completed, "Completed") is GOOD
    assert kind(success, "success:") is GOOD
    assert kind(deferral, "deferral:") is TROUBLE


# --- lossless, never fails ----------------------------------------------------------


@pytest.mark.parametrize("line", ALL_LINES)
def test_every_sample_line_round_trips_without_error_tokens(line):
    tokens = lex(line + "\n")
    assert "".join(value for _, value in tokens) == line + "\n"
    assert Error not in {ttype for ttype, _ in tokens}


def test_get_tokens_round_trips_and_keeps_leading_blank_lines():
    # The log view maps tokens back onto lines, so Pygments' default of stripping
    # leading/trailing newlines is turned off.
    text = "\n\n" + "\n".join(ALL_LINES) + "\n\n"
    assert "".join(value for _, value in MailLogLexer().get_tokens(text)) == text


HOSTILE_ALPHABET = (
    list("aAzZ09 .:;,<>[]()=@+-_/\\\"'*\t")
    + ["\x00", "\x1b", "\x1b[2J", "\x1b]52;c;", "\x07", "\r", "\r\n", "\n", "\x85"]
    + ["\u2028", "\u202e", "\udcff", "\udc80", "é", "漢", "Nov 29 15:04:54 ", "status="]
    + ["127.0.0.1", "::1", "NOQUEUE: ", "Ban ", "[1234]: ", "<a@b.c>", "1tABCD-000123-AB "]
)


def test_random_hostile_input_round_trips_and_never_raises():
    rnd = random.Random(20261129)
    for _ in range(2000):
        text = "".join(rnd.choice(HOSTILE_ALPHABET) for _ in range(rnd.randint(0, 60)))
        tokens = lex(text)
        assert "".join(value for _, value in tokens) == text, repr(text)
        assert Error not in {ttype for ttype, _ in tokens}, repr(text)


def test_undecodable_bytes_control_and_escape_sequences():
    raw = b"Nov 29 15:04:54 mail postfix/smtpd[1]: \xff\xfe\x00 from=<\x1b]52;c;x\x07@\xc3> \x9b2J\r\n"
    text = raw.decode("utf-8", errors="surrogateescape")
    tokens = lex(text)
    assert "".join(value for _, value in tokens) == text
    assert Error not in {ttype for ttype, _ in tokens}


# --- linear time ------------------------------------------------------------------

MEGABYTE = 1 << 20


def lex_seconds(text: str) -> float:
    start = time.perf_counter()
    tokens = list(LEXER.get_tokens_unprocessed(text))
    elapsed = time.perf_counter() - start
    assert "".join(value for _, _, value in tokens) == text
    assert Error not in {ttype for _, ttype, _ in tokens}
    return elapsed


# Each of these takes under 0.1 s on the development machine; a pattern that
# backtracks or rescans the line would take minutes.
@pytest.mark.parametrize(
    "line",
    [
        "A" * MEGABYTE,
        "[" * MEGABYTE,
        "1." * (MEGABYTE // 2),
        " " * MEGABYTE,
        "1" * MEGABYTE + "a",
        "<" * MEGABYTE,
        ":" * MEGABYTE,
        "Nov 29 15:04:54 mail " + "a" * MEGABYTE,
    ],
    ids=["A", "[", "1.1.1.", "spaces", "digits-then-letter", "<", ":", "prefix-then-A"],
)
def test_huge_hostile_line_lexes_fast(line):
    assert lex_seconds(line) < 5.0


@pytest.mark.parametrize("unit", ["a[", "a@", "ab:", "<a", "a=", "\x1b[31m", "1.1.1.1.."])
def test_time_grows_linearly_with_line_length(unit):
    # Lines made of many short tokens cost more per byte (about 3 s/MB here, the
    # Pygments per-token overhead), so this checks the growth, not the constant:
    # 4x the input must not take 16x the time.
    def best(n: int) -> float:
        return min(lex_seconds(unit * n) for _ in range(3))

    small, large = best(10_000), best(40_000)
    # The 0.5 s of slack absorbs a noisy machine (CI saw 0.03 s -> 0.35 s once); a
    # quadratic pattern would take many seconds at 40 000 characters.
    assert large < 10 * small + 0.5, (small, large)


# --- registration -------------------------------------------------------------------


def test_found_through_the_pygments_entry_point():
    assert isinstance(get_lexer_by_name("maillog"), MailLogLexer)
    assert isinstance(get_lexer_by_name("mail-log"), MailLogLexer)
    assert isinstance(get_lexer_for_filename("/var/log/mail.log"), MailLogLexer)


def test_pygmentize_colours_a_log(tmp_path):
    sample = tmp_path / "mail.log"
    sample.write_bytes("\n".join(ALL_LINES).encode() + b"\n\xff\xfe broken utf-8 line\n")
    out = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "maillog", "-f", "terminal256", str(sample)],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    shown = out.stdout.decode(errors="replace")
    set_colour = r"\x1b\[38;5;[0-9;]*m"  # 256-colour foreground, not the reset
    assert re.search(set_colour + "NOQUEUE", shown)  # trouble is coloured
    assert "RCPT" in re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert not re.search(set_colour + "RCPT", shown)  # plain text is not
