"""Classify log records into :class:`~.events.LogEvent`s: Postfix, Dovecot, sshd, Exim, sendmail and friends.

Speed matters (a busy server writes millions of lines a day and a panel re-reads them):
classification dispatches on the program name (one dict lookup to a handler that already
knows its service) and on the first words of the message with plain ``str`` operations,
and only then runs one small compiled regex. IP validation and field sanitising are
cached (bots repeat them). Nothing here raises on hostile input: an unknown or malformed
line becomes :attr:`EventKind.OTHER`.

Two entry points:

- :func:`classify` — one record, stateless;
- :class:`LogClassifier` — lines in, events out, for a stream. It keeps a little state
  per sshd connection (keyed by host and pid), because sshd names the client's address on
  some lines of a connection only: a later ``Too many authentication failures`` gets the
  address of the ``Connection from`` line, and a hostile line whose address is still
  unknown is counted on the connection's next line that names it. It also remembers
  sendmail's unknown recipients per message until the line naming the client.

Exim and sendmail have no kinds of their own: their failed logins, refusals and protocol
abuse are the same facts as Postfix's and map onto the shared ``smtp.*``, ``reject.*`` and
``auth.*`` kinds (one explanation per fact); ``service`` says which server wrote the line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from mailtui.core.logs.events import KIND_INFO, EventKind, LogEvent, Severity
from mailtui.core.logs.records import LogRecord, RecordParser
from mailtui.core.text import sanitize

__all__ = ["classify", "classify_lines", "LogClassifier"]

K = EventKind
_SEVERITY = {kind: info.severity for kind, info in KIND_INFO.items()}
_ATTACK = {kind: info.attack for kind, info in KIND_INFO.items()}
_FIELD_MAX = 256
_DIGITS_SET = frozenset("0123456789")

# -- small helpers ---------------------------------------------------------------------

_ip_cache: dict[str, str | None] = {}
_IP_CACHE_MAX = 65536
# Dotted-quad IPv4 with no leading zeros ("192.030.0.6" is not an address): the common
# case, validated without ``ipaddress`` (which costs microseconds).
_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])")
_ipv4 = _IPV4.fullmatch


def _ip(text: str | None) -> str | None:
    """``text`` as a normalised IP address string, or None when it is not one."""
    if not text:
        return None
    hit = _ip_cache.get(text, _ip_cache)
    if hit is not _ip_cache:
        return hit  # type: ignore[return-value]
    if _ipv4(text) is not None:
        result: str | None = text
    else:
        candidate = text.strip("[]")
        if candidate[:5].lower() == "ipv6:":
            candidate = candidate[5:]
        try:
            address = ipaddress.ip_address(candidate.split("%", 1)[0])
        except ValueError:
            result = None
        else:
            mapped = getattr(address, "ipv4_mapped", None)
            result = str(mapped if mapped is not None else address)
    if len(_ip_cache) >= _IP_CACHE_MAX:
        _ip_cache.clear()
    _ip_cache[text] = result
    return result


# Host and user names repeat a lot (bursts from one bot): sanitise each distinct one once.
_clean_cache: dict[str, str] = {}


_new = tuple.__new__
_CLEAN_CACHE_MAX = 65536


def _cleaned(text: str) -> str:
    """``sanitize`` for a short field, cached: bots repeat the same names thousands of times."""
    clean = _clean_cache.get(text)
    if clean is None:
        clean = sanitize(text, max_length=_FIELD_MAX)
        if len(text) <= 128:  # long texts rarely repeat; keep the cache's memory small
            if len(_clean_cache) >= _CLEAN_CACHE_MAX:
                _clean_cache.clear()
            _clean_cache[text] = clean
    return clean


def _event(
    kind: EventKind,
    record: LogRecord,
    service: str,
    ip: str | None = None,
    host: str | None = None,
    user: str | None = None,
    queue_id: str | None = None,
    details: tuple[tuple[str, str], ...] = (),
    attack: bool | None = None,
) -> LogEvent:
    if host:
        host = _clean_cache.get(host) or _cleaned(host)
    elif host == "":
        host = None
    if user is not None:
        user = _clean_cache.get(user) or _cleaned(user)
    if service:
        # Usually a constant ("smtpd"), but an unknown program's name comes from the line.
        service = _clean_cache.get(service) or _cleaned(service)
    return _new(LogEvent, (
        kind,
        _SEVERITY[kind],
        _ATTACK[kind] if attack is None else attack,
        ip,
        host,
        user,
        queue_id,
        service,
        details,
        record,
    ))


def _d(key: str, value: str) -> tuple[str, str]:
    return (key, _clean_cache.get(value) or _cleaned(value))


def _other(record: LogRecord, service: str = "") -> LogEvent:
    if service:
        service = _clean_cache.get(service) or _cleaned(service)
    return _new(LogEvent, (K.OTHER, _SEVERITY[K.OTHER], False, None, None, None, None, service, (), record))


# "name[1.2.3.4]" / "unknown[2001:db8::1]:4711" / "[1.2.3.4]:4711"
# The look-behind lets a match start only where a name can start (after a space or a
# bracket): without it, search() retries from every position of a long token and a
# hostile 1 MB line would take hours (quadratic). Leftmost matches are unchanged.
_NAME_ADDR = re.compile(r"(?<![^\s\[\]])([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)?")
_QUEUE_ID = re.compile(r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}")


def _name_addr(text: str, start: int = 0) -> tuple[str | None, str | None, int]:
    m = _NAME_ADDR.search(text, start)
    if m is None:
        return None, None, -1
    return m.group(1) or None, _ip(m.group(2)), m.end()


# -- Postfix ---------------------------------------------------------------------------

_DISCONNECT_AUTH = re.compile(r" auth=(\d+)/(\d+)")
_STAGE = re.compile(r"(?:NOQUEUE: )?(lost connection|timeout|too many errors) after (\S+)(?: \(\d+ bytes\))? from ")
_SASL_FAIL = re.compile(r"warning: ([^\s\[\]]*)\[([^\]]*)\](?::\d+)?: SASL ([\w-]+) authentication failed:? ?(.*)$")
_SASL_USER = re.compile(r"sasl_username=([^,\s]*)")
_REJECT = re.compile(
    r"(?:(NOQUEUE)|([0-9A-Za-z]{5,})): (reject|milter-reject|reject_warning|discard): (\S+) from "
    r"([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)?: (.*)$"
)
_RBL_NAME = re.compile(r"blocked using ([^\s;,]+)")
_RATE = re.compile(r"warning: (.*? limit exceeded): (\d+) from ([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)? for service (\S+)")
_HOSTNAME_MISMATCH = re.compile(r"warning: hostname (\S+) does not resolve to address (\S+?):?(?: |$)")
_ADDR_NOT_LISTED = re.compile(r"warning: (\S+?): address not listed for hostname (\S+)")
_TLS_EST = re.compile(
    r"(\w+) TLS connection established (from|to) ([^\s\[\]]*)\[([^\]\s]*)\](?::\d+)?: (\S+) with cipher (\S+)"
)
_QUEUE_FIELDS = re.compile(r"(to|from|relay|dsn|status|orig_to|size|nrcpt|delay)=(<[^>]*>|[^,\s]*)")
# "HANGUP after 0.52 from [...]": Postfix 3 writes the seconds with decimals (older ones whole).
_POSTSCREEN = re.compile(r"([A-Z][A-Z -]*?) (?:(\d+) after [\d.]+ |rank (\d+) for |after [\d.]+ )?(?:from )?\[([^\]\s]+)\]:\d+")

_BACKEND_HINTS = ("authentication server", "saslauthd", "connect to", "Connection lost", "unable to")


def _postfix_service(program: str) -> str:
    """``postfix/submission/smtpd`` -> ``submission``; ``postfix/smtpd`` -> ``smtpd``."""
    parts = program.split("/")
    if len(parts) >= 3:
        return parts[-2]
    return parts[-1]


def _reject_kind(body: str, verdict: str) -> tuple[EventKind, tuple[tuple[str, str], ...]]:
    code = body[:3]
    if verdict == "milter-reject":
        return K.REJECT_CONTENT, (("code", code),)
    if "Relay access denied" in body:
        return K.REJECT_RELAY, (("code", code),)
    if "blocked using " in body:
        m = _RBL_NAME.search(body)
        return K.REJECT_RBL, (("code", code), _d("rbl", m.group(1) if m else ""))
    if "Helo command rejected" in body:
        return K.REJECT_HELO, (("code", code),)
    if "Sender address rejected" in body:
        return K.REJECT_SENDER, (("code", code),)
    low = body.lower()
    if "greylist" in low or "policy" in low or "try again later" in low:
        return K.REJECT_POLICY, (("code", code),)
    if "user unknown" in low or "undeliverable address" in low or "recipient address rejected" in low:
        return K.REJECT_UNKNOWN_USER, (("code", code),)
    if "too many connections" in low or "rate limit" in low:
        return K.SMTP_RATE_LIMIT, (("code", code),)
    if "Client host rejected" in body:
        return K.REJECT_CLIENT, (("code", code),)
    if "header" in low[:60] or "body" in low[:60]:
        return K.REJECT_CONTENT, (("code", code),)
    return K.REJECT_OTHER, (("code", code),)


def _postfix_reject(record: LogRecord, service: str, m: re.Match[str]) -> LogEvent:
    _noqueue, qid, verdict, command, name, addr, body = m.groups()
    kind, details = _reject_kind(body, verdict)
    ip = _ip(addr)
    # 4xx from a policy/greylist is not hostile; permanent "other" refusals are.
    attack = None
    if kind is K.REJECT_OTHER:
        attack = body[:1] == "5"
    if verdict == "reject_warning":
        attack = False
    details = details + (("command", command),)
    helo = body.rfind(" helo=<")
    if helo >= 0:
        details = details + (_d("helo", body[helo + 7 : body.find(">", helo + 7) if ">" in body[helo:] else None]),)
    sender = body.find("from=<")
    if sender >= 0:
        details = details + (_d("from", body[sender + 6 : body.find(">", sender)]),)
    rcpt = body.find(" to=<")
    if rcpt >= 0:
        details = details + (_d("to", body[rcpt + 5 : body.find(">", rcpt)]),)
    return _event(kind, record, service, ip, name or None, None, qid, details + (_d("reply", body[:200]),), attack)


def _classify_smtpd(record: LogRecord, service: str) -> LogEvent:
    msg = record.message
    c = msg[:1]
    if c == "c" and msg.startswith("connect from "):
        name, ip, _ = _name_addr(msg, 13)
        return _event(K.SMTP_CONNECT, record, service, ip, name)
    if c == "d" and msg.startswith("disconnect from "):
        name, ip, _ = _name_addr(msg, 16)
        m = _DISCONNECT_AUTH.search(msg)
        if m is not None and int(m.group(1)) < int(m.group(2)):
            return _event(K.SMTP_DISCONNECT_AUTH_FAILED, record, service, ip, name,
                          details=(("auth", f"{m.group(1)}/{m.group(2)}"),))
        return _event(K.SMTP_DISCONNECT, record, service, ip, name)
    if c == "w" and msg.startswith("warning: "):
        return _smtpd_warning(record, service, msg)
    m = _STAGE.match(msg)
    if m is not None:
        what, stage = m.groups()
        name, ip, _ = _name_addr(msg, m.end())
        details = (("stage", stage[:32]),)
        if what == "lost connection":
            # A scanner's signature: gone right after connecting or greeting. After
            # AUTH the session's failure is already counted (SASL and disconnect lines).
            hostile = stage in ("CONNECT", "EHLO", "HELO", "STARTTLS", "UNKNOWN")
            return _event(K.SMTP_LOST_CONNECTION, record, service, ip, name, details=details, attack=hostile)
        if what == "timeout":
            return _event(K.SMTP_TIMEOUT, record, service, ip, name, details=details)
        return _event(K.SMTP_TOO_MANY_ERRORS, record, service, ip, name, details=details)
    if c == "i" and msg.startswith("improper command pipelining after "):
        name, ip, _ = _name_addr(msg, 34)
        return _event(K.SMTP_PIPELINING, record, service, ip, name,
                      details=(("stage", msg[34 : msg.find(" ", 34)][:32]),))
    # At the start only ("Anonymous TLS connection established from ..."): a hostile sender
    # address may spell the phrase later in a reject line.
    if " TLS connection established " in msg[:48]:
        return _tls_established(record, service, msg)
    if msg.startswith("SSL_accept error from "):
        name, ip, _ = _name_addr(msg, 22)
        return _event(K.TLS_FAILED, record, service, ip, name)
    if ": client=" in msg[:40]:
        qid, _, rest = msg.partition(": client=")
        name, ip, _ = _name_addr(rest)
        m2 = _SASL_USER.search(rest)
        return _event(K.QUEUE_RECEIVED, record, service, ip, name, m2.group(1) if m2 else None, qid)
    if "reject: " in msg[:40] or "milter-reject: " in msg[:40] or "reject_warning: " in msg[:40]:
        m = _REJECT.match(msg)
        if m is not None:
            return _postfix_reject(record, service, m)
    if msg.startswith(("fatal: ", "error: ", "panic: ")):
        return _event(K.SERVICE_PROBLEM, record, service)
    return _other(record, service)


def _smtpd_warning(record: LogRecord, service: str, msg: str) -> LogEvent:
    if " authentication failed" in msg:
        m = _SASL_FAIL.match(msg)
        if m is not None:
            name, addr, mech, reason = m.groups()
            m2 = _SASL_USER.search(reason)
            user = m2.group(1) if m2 else None
            details = (_d("mechanism", mech.upper()), _d("reason", reason[:120]))
            if any(h in reason for h in _BACKEND_HINTS):
                return _event(K.SMTP_SASL_BACKEND_ERROR, record, service, _ip(addr), name or None, user, details=details)
            return _event(K.SMTP_SASL_FAILED, record, service, _ip(addr), name or None, user, details=details)
    if msg.startswith("warning: SASL"):
        # "SASL authentication failure: cannot connect to saslauthd server", "SASL: Connect to private/auth failed"
        return _event(K.SMTP_SASL_BACKEND_ERROR, record, service)
    if msg.startswith("warning: non-SMTP command from "):
        name, ip, end = _name_addr(msg, 31)
        return _event(K.SMTP_NON_SMTP_COMMAND, record, service, ip, name,
                      details=(_d("command", msg[end + 2 :][:120]),) if end > 0 else ())
    if "limit exceeded" in msg:
        m = _RATE.match(msg)
        if m is not None:
            limit, count, name, addr, svc = m.groups()
            return _event(K.SMTP_RATE_LIMIT, record, service, _ip(addr), name or None,
                          details=(_d("limit", limit), ("count", count), _d("for_service", svc)))
    if msg.startswith("warning: hostname "):
        m = _HOSTNAME_MISMATCH.match(msg)
        if m is not None:
            return _event(K.SMTP_HOSTNAME_MISMATCH, record, service, _ip(m.group(2)), m.group(1))
    m = _ADDR_NOT_LISTED.match(msg)
    if m is not None:
        return _event(K.SMTP_HOSTNAME_MISMATCH, record, service, _ip(m.group(1)), m.group(2))
    if msg.startswith("warning: TLS library problem"):
        return _event(K.TLS_FAILED, record, service)
    return _event(K.SERVICE_PROBLEM, record, service)


def _tls_established(record: LogRecord, service: str, msg: str) -> LogEvent:
    m = _TLS_EST.search(msg)
    if m is None:
        return _event(K.TLS_ESTABLISHED, record, service)
    trust, direction, name, addr, proto, cipher = m.groups()
    details = (("trust", trust), ("direction", direction), _d("protocol", proto), _d("cipher", cipher))
    return _event(K.TLS_ESTABLISHED, record, service, _ip(addr), name or None, details=details)


def _classify_postscreen(record: LogRecord, service: str) -> LogEvent:
    msg = record.message
    if "reject: " in msg[:30]:
        m = _REJECT.match(msg)
        if m is not None:
            return _postfix_reject(record, service, m)
    m = _POSTSCREEN.match(msg)
    if m is None:
        if msg.startswith("warning: "):
            return _event(K.SERVICE_PROBLEM, record, service)
        return _other(record, service)
    word, count, rank, addr = m.groups()
    ip = _ip(addr)
    if word == "CONNECT":
        return _event(K.POSTSCREEN_CONNECT, record, service, ip)
    if word == "PASS NEW":
        return _event(K.POSTSCREEN_PASS_NEW, record, service, ip)
    if word == "PASS OLD":
        return _event(K.POSTSCREEN_PASS_OLD, record, service, ip)
    if word in ("WHITELISTED", "ALLOWLISTED"):
        return _event(K.POSTSCREEN_ALLOWLISTED, record, service, ip)
    if word in ("BLACKLISTED", "DENYLISTED"):
        return _event(K.POSTSCREEN_DENYLISTED, record, service, ip)
    if word == "PREGREET":
        return _event(K.POSTSCREEN_PREGREET, record, service, ip, details=(("bytes", count or ""),))
    if word == "DNSBL":
        return _event(K.POSTSCREEN_DNSBL, record, service, ip, details=(("rank", rank or ""),))
    if word == "HANGUP":
        return _event(K.POSTSCREEN_HANGUP, record, service, ip)
    if word == "COMMAND PIPELINING":
        return _event(K.POSTSCREEN_PIPELINING, record, service, ip)
    if word == "DISCONNECT":
        return _event(K.POSTSCREEN_DISCONNECT, record, service, ip)
    if word in ("NON-SMTP COMMAND", "BARE NEWLINE", "COMMAND TIME LIMIT", "COMMAND COUNT LIMIT",
                "COMMAND LENGTH LIMIT"):
        return _event(K.POSTSCREEN_PROTOCOL_VIOLATION, record, service, ip, details=(("test", word),))
    return _other(record, service)


def _classify_delivery(record: LogRecord, service: str) -> LogEvent:
    """smtp/lmtp/local/virtual/pipe/error/qmgr/cleanup/pickup/bounce lines: ``QID: ...``."""
    msg = record.message
    colon = msg.find(": ")
    if colon < 5 or colon > 20 or _QUEUE_ID.fullmatch(msg[:colon]) is None:
        if " TLS connection established " in msg[:48]:
            return _tls_established(record, service, msg)
        if msg.startswith(("warning: ", "fatal: ", "error: ", "panic: ")):
            return _event(K.SERVICE_PROBLEM, record, service)
        return _other(record, service)
    qid = msg[:colon]
    rest = msg[colon + 2 :]
    if rest.startswith("to=<"):
        fields = dict(_QUEUE_FIELDS.findall(rest))
        status = fields.get("status", "")
        kind = {"sent": K.QUEUE_SENT, "deferred": K.QUEUE_DEFERRED, "bounced": K.QUEUE_BOUNCED,
                "expired": K.QUEUE_EXPIRED}.get(status, K.OTHER)
        paren = rest.find(" (", rest.find("status="))
        details = tuple(_d(k, fields[k].strip("<>")) for k in ("to", "relay", "dsn", "status") if k in fields)
        if paren > 0:
            details += (_d("reason", rest[paren + 2 : -1][:200]),)
        return _event(kind, record, service, queue_id=qid, details=details)
    if rest.startswith("from=<"):
        if "status=expired" in rest:
            return _event(K.QUEUE_EXPIRED, record, service, queue_id=qid,
                          details=(_d("from", rest[6 : rest.find(">")]),))
        fields = dict(_QUEUE_FIELDS.findall(rest))
        details = tuple(_d(k, fields[k].strip("<>")) for k in ("from", "size", "nrcpt") if k in fields)
        return _event(K.QUEUE_ACTIVE, record, service, queue_id=qid, details=details)
    if rest == "removed":
        return _event(K.QUEUE_REMOVED, record, service, queue_id=qid)
    if rest.startswith("message-id="):
        return _event(K.QUEUE_CLEANUP, record, service, queue_id=qid, details=(_d("message_id", rest[11:].strip("<>")),))
    if rest.startswith("uid="):
        fr = rest.find("from=<")
        return _event(K.QUEUE_RECEIVED, record, service, queue_id=qid,
                      user=rest[fr + 6 : rest.find(">", fr)] if fr >= 0 else None)
    if rest.startswith("client="):
        name, ip, _ = _name_addr(rest)
        m2 = _SASL_USER.search(rest)
        return _event(K.QUEUE_RECEIVED, record, service, ip, name, m2.group(1) if m2 else None, qid)
    if "notification: " in rest:
        return _event(K.QUEUE_NOTICE, record, service, queue_id=qid)
    if rest.startswith(("reject: ", "milter-reject: ")):
        m = _REJECT.match(msg)
        if m is not None:
            return _postfix_reject(record, service, m)
        return _event(K.REJECT_CONTENT, record, service, queue_id=qid)
    return _other(record, service)


def _postfix_handler(program: str) -> Callable[[LogRecord], LogEvent]:
    """The classifier for one Postfix program name, with its daemon and service worked out once."""
    daemon = program[program.rfind("/") + 1 :]
    service = _postfix_service(program)
    if daemon == "smtpd":
        return lambda record: _classify_smtpd(record, service)
    if daemon == "postscreen":
        return lambda record: _classify_postscreen(record, service)
    if daemon in ("master", "postfix-script", "postfix"):
        def state(record: LogRecord) -> LogEvent:
            if record.message.startswith(("warning: ", "fatal: ", "error: ", "panic: ")):
                return _event(K.SERVICE_PROBLEM, record, service)
            return _event(K.SERVICE_STATE, record, service)
        return state
    if daemon in ("anvil", "scache", "tlsmgr", "dnsblog", "verify", "proxymap", "trivial-rewrite",
                  "tlsproxy", "postlogd", "postdrop", "sendmail", "postsuper", "postqueue"):
        queue_lines = daemon == "postsuper" or daemon == "tlsproxy"

        def helper(record: LogRecord) -> LogEvent:
            if record.message.startswith(("warning: ", "fatal: ", "error: ", "panic: ")):
                return _event(K.SERVICE_PROBLEM, record, service)
            if queue_lines:
                return _classify_delivery(record, service)
            return _other(record, service)
        return helper
    return lambda record: _classify_delivery(record, service)


# -- Dovecot ---------------------------------------------------------------------------

_DOVECOT_LEVELS = ("Info: ", "Warning: ", "Error: ", "Fatal: ", "Panic: ", "Debug: ")
_RIP = re.compile(r"\brip=([0-9A-Fa-f:.]+)")
_DOVECOT_USER = re.compile(r"\buser=<([^>]*)>")
_METHOD = re.compile(r"\bmethod=([\w-]+)")
_AUTH_ATTEMPTS = re.compile(r"\(auth failed, (\d+) attempts")
# passdb/userdb lookups: "pam(user,1.2.3.4)", "sql(user,1.2.3.4,<session>)", "ldap(dog,1.2.3.4,)"
_PASSDB = re.compile(r"\b([a-z][\w-]{1,15})\(([^()]*?),([0-9A-Fa-f:.]+)(?:,[^()]*)?\): (.*)$")
_AUTH_CONTEXT = re.compile(r"^\(([^()]*?),([0-9A-Fa-f:.]+)(?:,[^()]*)?\)")
_PAM_USER = re.compile(r"\s user=(.*?)\s*$")
_PAM_RUSER = re.compile(r" ruser=(\S*) ")

# A disconnect before any login is a probe when it shows a broken handshake or protocol.
_PROBE_HINTS = ("failed", "reset by peer", "Too many invalid commands", "auth was ready",
                "didn't finish SASL", "during TLS handshake")
_LOGIN_SERVICES = {"imap-login": "imap", "pop3-login": "pop3", "managesieve-login": "managesieve",
                   "submission-login": "submission", "lmtp": "lmtp", "imap": "imap", "pop3": "pop3"}


def _password_result(record: LogRecord, service: str, user: str, addr: str, result: str) -> LogEvent | None:
    low = result.lower()
    if "unknown user" in low or "user not known" in low or "user not found" in low:
        return _event(K.DOVECOT_UNKNOWN_USER, record, service, _ip(addr), user=user)
    if "mismatch" in low or "pam_authenticate() failed" in low or "invalid credentials" in low:
        return _event(K.DOVECOT_PASSWORD_MISMATCH, record, service, _ip(addr), user=user)
    return None


def _classify_dovecot(record: LogRecord) -> LogEvent:
    program = record.program
    msg = record.message
    if msg.startswith("badlogin: "):  # Cyrus imapd logs as "imap" too
        return _classify_peer_auth(record)
    if "pam_unix(" in msg and "authentication failure" in msg:
        return _pam_failure(record, "dovecot", msg)
    if program.startswith("dovecot"):
        # syslog form: "dovecot: imap-login: Login: ..." / "dovecot: auth-worker(304): pam(...)"
        if msg.startswith("dovecot: "):
            msg = msg[9:]
        sp = msg.find(": ")
        if 0 < sp < 64 and " " not in msg[:sp]:
            tag = msg[:sp]
            cut = min((i for i in (tag.find("("), tag.find("["), tag.find("<")) if i >= 0), default=len(tag))
            program, context = tag[:cut], tag[cut:]
            msg = msg[sp + 2 :]
        else:
            context = record.context
    else:
        context = record.context
    for level in _DOVECOT_LEVELS:
        if msg.startswith(level):
            msg = msg[len(level) :]
            if level in ("Error: ", "Fatal: ", "Panic: ") and "pam_unix" not in msg:
                problem = True
            else:
                problem = False
            break
    else:
        problem = False
    service = _LOGIN_SERVICES.get(program, program)
    if program.endswith("-login"):
        rip = _RIP.search(msg)
        ip = _ip(rip.group(1)) if rip else None
        um = _DOVECOT_USER.search(msg)
        user = um.group(1) if um else None
        if msg.startswith("Login: "):
            mm = _METHOD.search(msg)
            return _event(K.DOVECOT_LOGIN, record, service, ip, user=user,
                          details=(("method", mm.group(1)),) if mm else ())
        if rip is None:
            return _other(record, service)
        paren = msg.rfind(" (", 0, rip.start())
        head = msg[:rip.start()]
        if "(auth failed" in head or "(proxy dest auth failed)" in head:
            am = _AUTH_ATTEMPTS.search(head)
            mm = _METHOD.search(msg)
            details = (("attempts", am.group(1)),) if am else ()
            if mm:
                details += (("method", mm.group(1)),)
            return _event(K.DOVECOT_AUTH_FAILED, record, service, ip, user=user or None, details=details)
        if "(tried to use disallowed" in head or "(tried to use disabled" in head or "Plaintext authentication disabled" in head:
            return _event(K.DOVECOT_PLAINTEXT_DISALLOWED, record, service, ip, user=user or None)
        if paren >= 0 or "(no auth attempts" in head:
            hostile = any(h in msg for h in _PROBE_HINTS)
            if hostile:
                return _event(K.DOVECOT_PROBE, record, service, ip, user=user or None)
            if "no auth attempts" in head or "Disconnected" in head or "Login aborted" in head:
                return _event(K.DOVECOT_NO_AUTH, record, service, ip, user=user or None)
        return _other(record, service)
    if program.startswith("auth"):
        # Dovecot 2.4: user and address sit in the tag: auth(user,1.2.3.4,sasl:login)<sess>: sql: Password mismatch
        cm = _AUTH_CONTEXT.match(context) if context else None
        if cm is not None:
            ev = _password_result(record, "auth", cm.group(1), cm.group(2), msg)
            if ev is not None:
                return ev
        m = _PASSDB.search(msg)
        if m is not None:
            ev = _password_result(record, "auth", m.group(2), m.group(3), m.group(4))
            if ev is not None:
                return ev
        if "SASL" in msg or problem:
            return _event(K.SERVICE_PROBLEM, record, "auth")
        return _other(record, "auth")
    if program in ("imap", "pop3", "managesieve", "submission", "lmtp") and msg.startswith("Disconnected"):
        user = context[1 : context.find(")")] if context.startswith("(") else None
        return _event(K.DOVECOT_LOGOUT, record, service, user=user)
    if program == "master":
        if problem:
            return _event(K.SERVICE_PROBLEM, record, "dovecot")
        return _event(K.SERVICE_STATE, record, "dovecot")
    if problem:
        return _event(K.SERVICE_PROBLEM, record, service)
    return _other(record, service)


def _pam_failure(record: LogRecord, service: str, msg: str) -> LogEvent:
    # ruser and user are client-chosen and may contain " rhost=": take the last rhost
    # before the " user=" field that follows the first rhost.
    first = msg.find(" rhost=")
    host_text = ""
    if first >= 0:
        user_at = msg.find(" user=", first)
        segment = msg[: user_at] if user_at >= 0 else msg
        last = segment.rfind(" rhost=")
        host_text = segment[last + 7 :].split(" ", 1)[0]
    ip = _ip(host_text)
    um = _PAM_USER.search(msg)
    user = um.group(1) if um else None
    if user is None:
        rm = _PAM_RUSER.search(msg)
        user = rm.group(1) or None if rm else None
    kind = K.SSHD_PAM_FAILURE if service == "sshd" else K.AUTH_PAM_FAILURE
    if kind is K.AUTH_PAM_FAILURE and service == "dovecot":
        kind = K.DOVECOT_PASSWORD_MISMATCH
    return _event(kind, record, service, ip, None if ip else host_text or None, user)


# -- sshd ------------------------------------------------------------------------------

_SSH_FAILED = re.compile(
    r"Failed (\S+) for (invalid user )?(\S*) from (\S+?)(?: port (\d+))?(?: ssh\d?)?(?:: (.*))?$"
)
_SSH_ACCEPTED = re.compile(r"Accepted (\S+) for (\S+) from (\S+) port (\d+)")
_SSH_FROM_TAIL = re.compile(r"^(\S+?)(?: port \d+)?(?: ssh\d?)?(?: on \S+(?: port \d+)?)?(?:[:,] .*)?(?: \[preauth\])?\s*$")
_SSH_USER_FROM = re.compile(r"User (.+) from (\S+) not allowed because (.*)$")
_SSH_PAM = re.compile(r"PAM: (.*?) for (?:illegal user |invalid user )?(.*) from (\S+?)(?: via \S+)?\s*$")
_SSH_AUTHUSER_ADDR = re.compile(
    r"(?:Connection closed|Connection reset|Disconnected|Disconnecting) (?:by |from )?"
    r"(?:(authenticating|invalid) user (.*) )?(\S+) port (\d+)"
)
_SSH_PLAIN_ADDR = re.compile(r"(?:Connection closed by|Connection reset by|Disconnected from|Received disconnect from) (\S+?)(?::? ?port (\d+))?(?::|$| )")
_SSH_MAX_AUTH = re.compile(r"maximum authentication attempts exceeded for (?:invalid user )?(.*) from (\S+)")
_SSH_DISCONNECTING_USER = re.compile(r"Disconnecting (?:invalid|authenticating) user (.*) (\S+) port \d+: (.*)$")
_NO_IDENT = "Did not receive identification string from "
_KERNEL_PREFIX = re.compile(r"kernel: ?\[[^\]]*\]:? ")
_SSH_REMOTE = re.compile(r"Remote: ([0-9A-Fa-f:.]+)-\d+")


def _last_from(text: str) -> tuple[str, str | None]:
    """Split ``user from ADDR port N ssh2`` at the last `` from `` whose tail looks like sshd's."""
    i = text.rfind(" from ")
    while i >= 0:
        m = _SSH_FROM_TAIL.match(text, i + 6)
        if m is not None and _ip(m.group(1)) is not None:
            return text[:i], m.group(1)
        i = text.rfind(" from ", 0, i)
    i = text.rfind(" from ")
    if i >= 0:
        return text[:i], text[i + 6 :].split(" ", 1)[0]
    return text, None


def _addr(text: str | None) -> tuple[str | None, str | None]:
    """An sshd 'host' field as (ip, host name when not an address)."""
    if not text:
        return None, None
    ip = _ip(text)
    return (ip, None) if ip else (None, text)


def _classify_sshd(record: LogRecord) -> LogEvent:
    msg = record.message
    if msg.startswith("[ID "):
        # Solaris: "[ID 800047 auth.info] Failed ..."
        end = msg.find("] ")
        if end > 0:
            msg = msg[end + 2 :]
    elif msg.startswith("kernel:"):
        # some journal forwarders prepend a kernel-style uptime stamp
        m = _KERNEL_PREFIX.match(msg)
        if m is not None:
            msg = msg[m.end() :]
    for prefix in ("error: ", "fatal: ", "debug1: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
            break
    svc = "sshd"
    c = msg[:1]
    if c == "F" and msg.startswith("Failed "):
        m = _SSH_FAILED.match(msg)
        if m is not None:
            method, invalid, user, addr, _port, _extra = m.groups()
        else:
            method = msg[7 : msg.find(" ", 7)]
            rest = msg[msg.find(" for ") + 5 :] if " for " in msg else ""
            user, addr = _last_from(rest)
            invalid = "invalid user " if user.startswith("invalid user ") else None
            if invalid:
                user = user[13:]
        ip, host = _addr(addr)
        details = (_d("method", method),) + ((("invalid_user", "yes"),) if invalid else ())
        if method == "password":
            return _event(K.SSHD_FAILED_PASSWORD, record, svc, ip, host, user, details=details)
        if method == "publickey":
            # Agents offer keys one by one: a refused key of a real user is routine.
            return _event(K.SSHD_FAILED_PUBLICKEY, record, svc, ip, host, user, details=details,
                          attack=bool(invalid))
        return _event(K.SSHD_FAILED_OTHER, record, svc, ip, host, user, details=details)
    if c == "A" and msg.startswith("Accepted "):
        m = _SSH_ACCEPTED.match(msg)
        if m is not None:
            method, user, addr, _port = m.groups()
            ip, host = _addr(addr)
            return _event(K.SSHD_ACCEPTED, record, svc, ip, host, user, details=(_d("method", method),))
        if msg.startswith("Accepted key "):
            return _event(K.SSHD_SESSION, record, svc)
        return _other(record, svc)
    if c == "I" and msg.startswith(("Invalid user ", "Illegal user ")):
        user, addr = _last_from(msg[13:])
        ip, host = _addr(addr)
        return _event(K.SSHD_INVALID_USER, record, svc, ip, host, user)
    if msg.startswith("input_userauth_request: invalid user "):
        user = msg[37:].removesuffix(" [preauth]")
        return _event(K.SSHD_INVALID_USER, record, svc, user=user)
    if c == "C":
        if msg.startswith("Connection from "):
            ip, host = _addr(msg[16:].split(" ", 1)[0])
            return _event(K.SSHD_CONNECTION, record, svc, ip, host)
        if msg.startswith(("Connection closed by ", "Connection reset by ")):
            return _ssh_disconnect(record, msg)
        if msg.startswith(("Close session", "Closing connection")):
            return _event(K.SSHD_SESSION, record, svc)
    if c == "D":
        if msg.startswith("Disconnecting: Too many authentication failures"):
            user = msg[52:].removesuffix(" [preauth]") if msg[47:52] == " for " else None
            return _event(K.SSHD_MAX_AUTH, record, svc, user=user)
        if msg.startswith(("Disconnecting invalid user ", "Disconnecting authenticating user ")):
            m = _SSH_DISCONNECTING_USER.match(msg)
            if m is not None:
                user, addr, reason = m.groups()
                ip, host = _addr(addr)
                kind = K.SSHD_MAX_AUTH if "Too many authentication failures" in reason else K.SSHD_PREAUTH_DISCONNECT
                return _event(kind, record, svc, ip, host, user, details=(_d("reason", reason[:120]),), attack=True)
        if msg.startswith("Disconnected from "):
            return _ssh_disconnect(record, msg)
        if msg.startswith(_NO_IDENT):
            ip, host = _addr(msg[len(_NO_IDENT) :].split(" ", 1)[0])
            return _event(K.SSHD_NEGOTIATION_FAILED, record, svc, ip, host)
    if c == "R":
        if msg.startswith("Received disconnect from "):
            return _ssh_received_disconnect(record, msg)
        if msg.startswith(("Received signal", "Received SIGHUP")):
            return _event(K.SERVICE_STATE, record, svc)
        if msg.startswith("ROOT LOGIN REFUSED FROM "):
            ip, host = _addr(msg[24:].split(" ", 1)[0])
            return _event(K.SSHD_ROOT_REFUSED, record, svc, ip, host, "root")
    if c == "U":
        if msg.startswith("User "):
            m = _SSH_USER_FROM.match(msg)
            if m is not None:
                user, addr, why = m.groups()
                ip, host = _addr(addr)
                return _event(K.SSHD_NOT_ALLOWED, record, svc, ip, host, user, details=(_d("reason", why),))
            if " not allowed because " in msg:
                return _event(K.SSHD_NOT_ALLOWED, record, svc, user=msg[5 : msg.find(" not allowed")])
            if msg.startswith("User child is on pid"):
                return _event(K.SSHD_SESSION, record, svc)
        if msg.startswith("Unable to negotiate"):
            addr = msg[25:].split(" ", 1)[0] if msg.startswith("Unable to negotiate with ") else None
            ip, host = _addr(addr)
            return _event(K.SSHD_NEGOTIATION_FAILED, record, svc, ip, host)
    if msg.startswith("PAM: ") or msg.startswith("PAM "):
        m = _SSH_PAM.match(msg)
        if m is not None:
            _what, user, addr = m.groups()
            ip, host = _addr(addr)
            return _event(K.SSHD_PAM_FAILURE, record, svc, ip, host, user)
        return _event(K.SSHD_PAM_FAILURE, record, svc)
    if "pam_unix" in msg[:20] and "authentication failure" in msg:
        return _pam_failure(record, "sshd", msg)
    if msg.startswith("maximum authentication attempts exceeded"):
        m = _SSH_MAX_AUTH.match(msg)
        if m is not None:
            user, addr = m.group(1), m.group(2)
            ip, host = _addr(addr)
            return _event(K.SSHD_MAX_AUTH, record, svc, ip, host, user)
    if msg.startswith("refused connect from "):
        inner = msg[msg.rfind("(") + 1 : msg.rfind(")")] if msg.endswith(")") else msg[21:].split(" ", 1)[0]
        ip, host = _addr(inner)
        return _event(K.SSHD_NOT_ALLOWED, record, svc, ip, host, details=(("reason", "tcp_wrappers"),))
    if msg.startswith(("kex_exchange_identification: ", "Bad protocol version identification",
                       "banner exchange: ", "ssh_dispatch_run_fatal: ", "Read from socket failed",
                       "no matching ", "Unable to negotiate", "kex_protocol_error", "Protocol major versions differ",
                       "ssh_packet_", "send_error: ", "Connection corrupted", "invalid format")):
        ip, host = None, None
        j = msg.find(" from ")
        if j < 0:
            j = msg.find("Connection from ")
            j = j + 10 if j >= 0 else -1
        if j >= 0:
            _, addr = _last_from(msg[j:])
            ip, host = _addr(addr)
            if ip is None:
                host = None
        hostile = not msg.startswith(("ssh_packet_", "send_error"))
        return _event(K.SSHD_NEGOTIATION_FAILED, record, svc, ip, host, attack=hostile)
    if msg.startswith("Timeout before authentication"):
        j = msg.find(" from ")
        j = j if j >= 0 else msg.find(" for ", 20)
        addr = msg[j:].split(" ", 3)[2].rstrip(",:") if j >= 0 and len(msg[j:].split(" ", 3)) > 2 else None
        ip, host = _addr(addr)
        return _event(K.SSHD_TIMEOUT, record, svc, ip, host)
    if msg.startswith("Address ") and "POSSIBLE BREAK-IN ATTEMPT" in msg:
        ip, host = _addr(msg[8:].split(" ", 1)[0])
        return _event(K.SSHD_REVERSE_MAPPING, record, svc, ip, host)
    if msg.startswith(("Starting session", "Postponed ", "pam_unix(sshd:session)", "Transferred",
                       "session opened", "session closed", "Close session")):
        return _event(K.SSHD_SESSION, record, svc)
    if msg.startswith(("Server listening", "Received signal", "Server terminated")):
        return _event(K.SERVICE_STATE, record, svc)
    if msg.startswith("SSH: Server;"):
        m = _SSH_REMOTE.search(msg)
        return _event(K.SSHD_SESSION, record, svc, _ip(m.group(1)) if m else None)
    if msg.startswith("Bind to port") or record.message.startswith(("fatal: ", "error: ")):
        return _event(K.SERVICE_PROBLEM, record, svc)
    return _other(record, svc)


def _ssh_disconnect(record: LogRecord, msg: str) -> LogEvent:
    preauth = msg.endswith("[preauth]")
    m = _SSH_AUTHUSER_ADDR.match(msg)
    if m is not None:
        _which, user, addr, _port = m.groups()
    else:
        m2 = _SSH_PLAIN_ADDR.match(msg)
        user, addr = None, (m2.group(1) if m2 else None)
    ip, host = _addr(addr)
    if not preauth:
        if msg.startswith("Disconnected from user "):
            return _event(K.SSHD_SESSION, record, "sshd", ip, host, user=msg[23:].split(" ", 1)[0])
        return _event(K.SSHD_SESSION, record, "sshd", ip, host, user)
    return _event(K.SSHD_PREAUTH_DISCONNECT, record, "sshd", ip, host, user)


_AUTH_GIVE_UP = ("Auth fail", "No supported authentication methods", "No authentication methods available")


def _ssh_received_disconnect(record: LogRecord, msg: str) -> LogEvent:
    rest = msg[25:]
    addr = rest.split(" ", 1)[0].rstrip(":")
    if ":" in addr and _ip(addr) is None:
        addr = addr.split(":", 1)[0]
    ip, host = _addr(addr)
    if any(h in msg for h in _AUTH_GIVE_UP):
        return _event(K.SSHD_PREAUTH_DISCONNECT, record, "sshd", ip, host, details=(("reason", "auth_given_up"),))
    if msg.endswith("[preauth]"):
        return _event(K.SSHD_PREAUTH_DISCONNECT, record, "sshd", ip, host)
    return _event(K.SSHD_SESSION, record, "sshd", ip, host)


# -- Exim ----------------------------------------------------------------------------------

# Exim names a remote host ``name (helo) [ip]:port``, name and helo optional. Exim accepts
# only syntactically valid HELO names by default (no spaces or parentheses), so the helo
# part is matched without them: a hostile HELO cannot slide a second ``[ip]`` into the match.
# What follows must be Exim's own text (a space, ": 535", or the ")" closing the line).
_EXIM_HOST = re.compile(r"(?:([^\s()\[\]]+) )?(?:\(([^\s()]*)\) )?\[([^\]\s]+)\](?::\d+)?(?=\s|:|\)?$)")
_EXIM_MSGID = re.compile(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} ")
_EXIM_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? ")
_EXIM_AUTH = re.compile(r"(\S+) authenticator failed for ")
_EXIM_SA = re.compile(r"\(host=([^\s(]+) \[([^\]\s]+)\]\)")
_EXIM_SYNC_H = re.compile(r" H=((?:[^\s()\[\]]+ )?(?:\([^\s()]*\) )?\[[^\]\s]+\](?::\d+)?)(?: I=\[| next input=| input=|$)")
_EXIM_DNSBL = ("dnsbl", "black list", "blacklist", "blocklist", "block list", "rbl", "spamhaus")


def _exim_host(text: str, start: int = 0) -> tuple[str | None, str | None]:
    """(name or helo, ip) of Exim's ``name (helo) [ip]:port`` at ``start``."""
    m = _EXIM_HOST.match(text, start)
    if m is None:
        return None, None
    name, helo, addr = m.groups()
    return name or helo or None, _ip(addr)


def _exim_reason_kind(reason: str) -> EventKind:
    low = reason.lower()
    if "relay not permitted" in low or "relaying" in low:
        return K.REJECT_RELAY
    if any(word in low for word in _EXIM_DNSBL):
        return K.REJECT_RBL
    if "sender verify" in low:
        return K.REJECT_SENDER
    if "unknown user" in low or "unrouteable address" in low or "no such user" in low or "user unknown" in low:
        return K.REJECT_UNKNOWN_USER
    return K.REJECT_OTHER


def _classify_exim(record: LogRecord) -> LogEvent:
    """Exim's mainlog lines about hostile clients, mapped onto the shared SMTP/reject/auth kinds."""
    msg = record.message
    if msg[:1] in _DIGITS_SET:
        # journald/syslog copy of a mainlog line keeps Exim's own date in the message
        m = _EXIM_STAMP.match(msg)
        if m is not None:
            msg = msg[m.end() :]
    if msg[:1] == "[":
        end = msg.find("] ")
        if end > 1 and msg[1:end].isdigit():
            msg = msg[end + 2 :]
    qid = None
    m = _EXIM_MSGID.match(msg)
    if m is not None:
        qid, msg = msg[: m.end() - 1], msg[m.end() :]
    if " authenticator failed for " in msg:
        m = _EXIM_AUTH.match(msg)
        if m is not None:
            name, ip = _exim_host(msg, m.end())
            # "(set_id=user)" closes the line; found from the end (no regex: linear on hostile lines)
            j = msg.rfind("(set_id=")
            tail = msg[j + 8 :].rstrip() if j >= 0 else ""
            user = tail[:-1] if tail.endswith(")") and ")" not in tail[:-1] else None
            return _event(K.AUTH_LOGIN_FAILED, record, "exim", ip, name, user, qid,
                          (_d("mechanism", m.group(1)),))
    if msg.startswith("H="):
        return _exim_host_line(record, msg, qid)
    if msg.startswith("F=") and " H=" in msg:
        # "F=sender H=host [ip] P=smtp rejected by local_scan(): ..."
        h = msg.find(" H=")
        name, ip = _exim_host(msg, h + 3)
        return _exim_verdict(record, msg[h:], name, ip, qid)
    if msg.startswith("SMTP "):
        if msg.startswith("SMTP call from "):
            name, ip = _exim_host(msg, 15)
            hostile = " dropped: too many " in msg
            kind = K.SMTP_TOO_MANY_ERRORS if hostile else K.SMTP_LOST_CONNECTION
            return _event(kind, record, "exim", ip, name, queue_id=qid, attack=hostile,
                          details=(_d("reason", msg[msg.find(" dropped") + 1 :][:120]),) if hostile else ())
        if msg.startswith("SMTP connection from "):
            name, ip = _exim_host(msg, 21)
            if " closed by DROP in ACL" in msg:
                return _event(K.REJECT_CLIENT, record, "exim", ip, name, queue_id=qid, details=(("acl", "DROP"),))
            if " lost" in msg:
                # "... lost D=2s": the client went away; Exim logs no stage, so not counted
                return _event(K.SMTP_LOST_CONNECTION, record, "exim", ip, name, queue_id=qid, attack=False)
            return _event(K.SMTP_CONNECT, record, "exim", ip, name, queue_id=qid)
        if msg.startswith("SMTP protocol synchronization error"):
            m = _EXIM_SYNC_H.search(msg)
            name, ip = _exim_host(m.group(1)) if m else (None, None)
            return _event(K.SMTP_PIPELINING, record, "exim", ip, name, queue_id=qid,
                          details=(("reason", "synchronization error"),))
        if msg.startswith("SMTP protocol error in "):
            # The quoted command is the client's: the real host is after the last " H=".
            h = msg.rfind(" H=")
            name, ip = _exim_host(msg, h + 3) if h > 0 else (None, None)
            return _event(K.SMTP_NON_SMTP_COMMAND, record, "exim", ip, name, queue_id=qid,
                          details=(_d("command", msg[23:].split('" ', 1)[0].strip('"')[:80]),))
    if msg.startswith("no MAIL in SMTP connection from "):
        name, ip = _exim_host(msg, 32)
        c = msg.rfind(" C=")
        stage = msg[c + 3 :].split(" ", 1)[0].rsplit(",", 1)[-1] if c > 0 else "CONNECT"
        return _event(K.SMTP_LOST_CONNECTION, record, "exim", ip, name, queue_id=qid, attack=True,
                      details=(("stage", stage[:32]), ("reason", "no MAIL")))
    if msg.startswith("no host name found for IP address "):
        return _event(K.SMTP_HOSTNAME_MISMATCH, record, "exim", _ip(msg[34:].split(" ", 1)[0]), queue_id=qid)
    if msg.startswith("no IP address found for host "):
        j = msg.find(" connection from ")
        name = msg[29:].split(" ", 1)[0]
        ip = _exim_host(msg, j + 17)[1] if j > 0 else None
        return _event(K.SMTP_HOSTNAME_MISMATCH, record, "exim", ip, name, queue_id=qid)
    if msg.startswith("SA: Action: "):
        m = _EXIM_SA.search(msg)
        name, ip = (m.group(1), _ip(m.group(2))) if m else (None, None)
        return _event(K.REJECT_CONTENT, record, "exim", ip, None if name == "NULL" else name, queue_id=qid,
                      details=(_d("action", msg[12 : msg.find(":", 12)][:80]),))
    if msg.startswith(("Start queue run", "End queue run", "exim ", "Completed")) or msg[:3] in ("<= ", "=> ", "-> ", "** ", "== "):
        return _event(K.OTHER, record, "exim", queue_id=qid)
    return _other(record, "exim")


def _exim_host_line(record: LogRecord, msg: str, qid: str | None) -> LogEvent:
    """``H=name (helo) [ip]:port I=... F=<sender> rejected RCPT <rcpt>: reason`` and friends."""
    m = _EXIM_HOST.match(msg, 2)
    if m is None:
        return _other(record, "exim")
    name, helo, addr = m.groups()
    return _exim_verdict(record, msg[m.end() :], name or helo or None, _ip(addr), qid)


def _exim_verdict(record: LogRecord, rest: str, name: str | None, ip: str | None, qid: str | None) -> LogEvent:
    """What Exim did to the client named before ``rest``."""
    if " sender verify fail for " in rest:
        reason = rest[rest.find(">: ") + 3 :] if ">: " in rest else ""
        return _event(K.REJECT_SENDER, record, "exim", ip, name, queue_id=qid, details=(_d("reason", reason[:200]),))
    for verb, command in ((" rejected RCPT ", "RCPT"), (" rejected MAIL ", "MAIL"), (" rejected EHLO", "EHLO"),
                          (" rejected HELO", "HELO"), (" rejected after DATA", "DATA"),
                          (" rejected by local_scan()", "DATA"), (" dropped by '", "ACL")):
        i = rest.find(verb)
        if i < 0:
            continue
        temporary = rest[max(0, i - 12) : i] == " temporarily"
        colon = rest.find(": ", i + len(verb))
        reason = rest[colon + 2 :] if colon >= 0 else ""
        details = (("command", command), _d("reason", reason[:200]))
        if temporary:
            return _event(K.REJECT_POLICY, record, "exim", ip, name, queue_id=qid, details=details)
        if command == "ACL":
            return _event(K.REJECT_CLIENT, record, "exim", ip, name, queue_id=qid, details=details)
        if command == "DATA":
            return _event(K.REJECT_CONTENT, record, "exim", ip, name, queue_id=qid, details=details)
        if command in ("EHLO", "HELO"):
            return _event(K.REJECT_HELO, record, "exim", ip, name, queue_id=qid, details=details)
        kind = _exim_reason_kind(reason)
        if kind is K.REJECT_OTHER and command == "MAIL":
            kind = K.REJECT_SENDER
        # Exim logs only permanent refusals as "rejected": count every one, like fail2ban's exim filter.
        return _event(kind, record, "exim", ip, name, queue_id=qid, details=details, attack=True)
    return _event(K.OTHER, record, "exim", ip, name, queue_id=qid)


# -- sendmail -------------------------------------------------------------------------------

# sendmail names a client ``name [ip]`` or ``[ip]`` (``[IPv6:...]``), maybe ``(may be forged)``.
_SM_HOST = re.compile(r"(?:([^\s\[\]]+) )?\[((?:IPv6:)?[0-9A-Fa-f:.]+)\](?: \(may be forged\))?")
_SM_QID = re.compile(r"[0-9A-Za-z]{8,20}: ")
_SM_RULESET = re.compile(r"ruleset=(check_\w+), arg1=(.*?), (?:arg2=\S+, )?relay=((?:[^\s\[\],]+ )?\[(?:IPv6:)?[0-9A-Fa-f:.]+\])(?: \(may be forged\))?, reject=(.*)$")
_SM_RELAY_TAIL = re.compile(r"(?:[^\s\[\],]+ )?\[(?:IPv6:)?[0-9A-Fa-f:.]+\](?: \(may be forged\))?\s*$")
_SM_PROBE = re.compile(r"(EXPN|VRFY) (.*) \[rejected\]$", re.IGNORECASE)
_SM_RBL = ("listed at", "blacklist", "black list", "blocklist", " rbl", " pbl", "spamcop", "spamhaus")


def _sm_host(text: str, start: int = 0) -> tuple[str | None, str | None]:
    m = _SM_HOST.match(text, start)
    if m is None:
        return None, None
    return m.group(1) or None, _ip(m.group(2))


def _sendmail_reject_kind(reply: str) -> tuple[EventKind, bool | None]:
    low = reply.lower()
    code = reply[:1]
    if "rate limit" in low or "too many open connections" in low:
        return K.SMTP_RATE_LIMIT, None
    if "relaying denied" in low and "temporarily" not in low:
        return K.REJECT_RELAY, None
    if any(word in low for word in _SM_RBL):
        return K.REJECT_RBL, None
    if "domain of sender address" in low or "sender address" in low:
        return K.REJECT_SENDER, None
    if "user unknown" in low or "no such user" in low:
        return K.REJECT_UNKNOWN_USER, None
    if "reverse dns" in low or "ptr record" in low or "ip name" in low:
        # "Relaying temporarily denied. Cannot resolve PTR record": no reverse DNS (fail2ban aggressive)
        return K.REJECT_CLIENT, None
    if "greylist" in low or "try again later" in low:
        return K.REJECT_POLICY, None
    return K.REJECT_OTHER, code == "5"


def _classify_sendmail(record: LogRecord) -> LogEvent:
    """sendmail (sm-mta) lines about hostile clients; refusals map to ``reject.*``."""
    msg = record.message
    qid = None
    m = _SM_QID.match(msg)
    if m is not None:
        qid, msg = msg[: m.end() - 2], msg[m.end() :]
    c = msg[:1]
    if c == "r" and msg.startswith("ruleset=check_"):
        m = _SM_RULESET.match(msg)
        if m is not None:
            ruleset, arg1, relay, reply = m.groups()
            name, ip = _sm_host(relay)
            kind, attack = _sendmail_reject_kind(reply)
            details = (("ruleset", ruleset), ("code", reply[:3]), _d("arg1", arg1[:120]), _d("reply", reply[:200]))
            return _event(kind, record, "sendmail", ip, name, queue_id=qid, details=details, attack=attack)
    elif c == "A" and msg.startswith("AUTH failure ("):
        # "AUTH failure (MECH): reason[, user=U], relay=name [ip][ (may be forged)]": the user
        # name is the client's text, so the relay is the last one and must close the line.
        close = msg.find("): ", 14)
        j = msg.rfind(", relay=")
        if close > 0 and j > close and _SM_RELAY_TAIL.match(msg, j + 8) is not None:
            name, ip = _sm_host(msg, j + 8)
            u = msg.rfind(", user=", close, j)
            user = msg[u + 7 : j] if u >= 0 else None
            reason = msg[close + 3 : u if u >= 0 else j]
            return _event(K.AUTH_LOGIN_FAILED, record, "sendmail", ip, name, user, qid,
                          (_d("mechanism", msg[14:close].upper()), _d("reason", reason[:120])))
    elif c == "r" and msg.startswith("rejecting commands from "):
        if " due to pre-greeting traffic" in msg:
            name, ip = _sm_host(msg, 24 + (msg[24:25] == " "))
            return _event(K.SMTP_PIPELINING, record, "sendmail", ip, name, queue_id=qid,
                          details=(("reason", "pre-greeting traffic"),))
    elif c == "l" and msg.startswith("lost input channel from "):
        name, ip = _sm_host(msg, 24)
        after = msg.rsplit(" after ", 1)[-1] if " after " in msg else ""
        hostile = after.lower() not in ("data", "")
        return _event(K.SMTP_LOST_CONNECTION, record, "sendmail", ip, name, queue_id=qid,
                      details=(("stage", after[:32]),), attack=hostile)
    elif c == "f" and msg.startswith("from=<"):
        j = msg.rfind(", relay=")
        name, ip = _sm_host(msg, j + 8) if j >= 0 else (None, None)
        no_rcpt = ", nrcpts=0, " in msg
        # Not hostile by itself; LogClassifier counts it when recipients of this message were unknown.
        return _event(K.QUEUE_RECEIVED, record, "sendmail", ip, name, queue_id=qid,
                      details=(("nrcpts", "0"),) if no_rcpt else ())
    if msg.endswith(("... User unknown", "... No such user here")):
        # No address on this line; the message's "from=..., nrcpts=0, relay=" line names it.
        return _event(K.REJECT_UNKNOWN_USER, record, "sendmail", queue_id=qid, attack=False,
                      details=(_d("to", msg[: msg.rfind("...")].strip("<>")[:200]),))
    if ": possible SMTP attack: " in msg:
        name, ip = _sm_host(msg)
        j = msg.find("command=")
        what = msg[j:][:80] if j >= 0 else ""
        # command=AUTH: a run of failed logins in one connection; other commands: repeated errors
        kind = K.AUTH_LOGIN_FAILED if what.startswith("command=AUTH") else K.SMTP_TOO_MANY_ERRORS
        return _event(kind, record, "sendmail", ip, name, queue_id=qid,
                      details=(_d("reason", "possible SMTP attack: " + what),))
    if " did not issue MAIL/EXPN/VRFY/ETRN" in msg:
        name, ip = _sm_host(msg)
        return _event(K.SMTP_LOST_CONNECTION, record, "sendmail", ip, name, queue_id=qid, attack=True,
                      details=(("stage", "CONNECT"), ("reason", "no MAIL")))
    if msg.endswith(" [rejected]"):
        name, ip = _sm_host(msg)
        m = _SM_PROBE.search(msg)
        if m is not None and ip is not None:
            return _event(K.REJECT_UNKNOWN_USER, record, "sendmail", ip, name, queue_id=qid,
                          details=(("command", m.group(1).upper()), _d("argument", m.group(2)[:120])))
    return _other(record, "sendmail")


# -- other programs ----------------------------------------------------------------------

_QMAIL_RBLSMTPD = re.compile(r"rblsmtpd: (\S+) pid \d+ (\S+?):")
_QMAIL_RBLSMTPD_OLD = re.compile(r"^(?:rblsmtpd: )?(\S+) blocked (\S+)")
_QMAIL_BADIP = re.compile(r"badiprbl: ip (\S+) rbl: (\S+)")
_F2B = re.compile(r"(?:\w+\s+)?\[([^\]]+)\] (Found|Ban|Unban|Restore Ban|Increase Ban) (\S+)")
_PLESK = re.compile(r"failed mail authentication attempt for user '([^']*)'")
_COURIER = re.compile(r"LOGIN FAILED, (?:user=(.*?), )?(?:method=\S+, )?ip=\[([^\]]*)\]")
_COURIER_SMTP = re.compile(r"error,relay=([^,]+),.*?(?:: 5\d\d |msg=\"5\d\d )")
_CYRUS = re.compile(r"badlogin: (?:(\S+) ?)?\[([^\]]+)\] (\S+) (\S*)")
_UWIMAP = re.compile(r"(?:Login failed|Login excessive login failures|Login disabled|Failed \w+ override of) user=(\S*) .*?\[([^\]]+)\]")
_SOLID = re.compile(r"(?:authentication failed|root login not allowed|can't find APOP secret|APOP authentication failed).*? - (\S+)$")
_PERDITION = re.compile(r"(?:Auth: |from client )([0-9A-Fa-f:.]+?):\d+->.*?(?:status=\"failed|Exiting child)")


def _classify_qmail(record: LogRecord) -> LogEvent:
    msg = record.message
    for rx, ip_group, list_group in ((_QMAIL_RBLSMTPD, 1, 2), (_QMAIL_BADIP, 1, 2), (_QMAIL_RBLSMTPD_OLD, 2, 1)):
        m = rx.search(msg)
        if m is not None and _ip(m.group(ip_group)):
            return _event(K.QMAIL_RBL, record, "qmail-smtpd", _ip(m.group(ip_group)),
                          details=(_d("rbl", m.group(list_group)),))
    return _other(record, "qmail")


def _classify_fail2ban(record: LogRecord) -> LogEvent:
    m = _F2B.search(record.message)
    if m is None:
        return _other(record, "fail2ban")
    jail, action, addr = m.groups()
    kind = {"Found": K.FAIL2BAN_FOUND, "Unban": K.FAIL2BAN_UNBAN}.get(action, K.FAIL2BAN_BAN)
    return _event(kind, record, "fail2ban", _ip(addr), details=(_d("jail", jail),))


def _classify_plesk(record: LogRecord) -> LogEvent:
    m = _PLESK.search(record.message)
    if m is not None:
        return _event(K.PLESK_SASL_FAILED, record, "plesk_saslauthd", user=m.group(1))
    return _other(record, "plesk_saslauthd")


def _classify_peer_auth(record: LogRecord) -> LogEvent:
    """Courier, Cyrus, UW-IMAP, solid-pop3d, perdition: login failures only."""
    msg = record.message
    program = record.program
    service = program.rsplit("/", 1)[-1]
    if "LOGIN FAILED" in msg:
        m = _COURIER.search(msg)
        if m is not None:
            return _event(K.AUTH_LOGIN_FAILED, record, service, _ip(m.group(2)), user=m.group(1))
    if "error,relay=" in msg:
        m = _COURIER_SMTP.search(msg)
        if m is not None:
            return _event(K.AUTH_LOGIN_FAILED if "535" in msg else K.REJECT_UNKNOWN_USER, record, service, _ip(m.group(1)))
    if "badlogin: " in msg:
        m = _CYRUS.search(msg)
        if m is not None:
            return _event(K.AUTH_LOGIN_FAILED, record, service, _ip(m.group(2)), m.group(1), m.group(4) or None)
    m = _UWIMAP.search(msg)
    if m is not None:
        return _event(K.AUTH_LOGIN_FAILED, record, service, _ip(m.group(2)), user=m.group(1))
    m = _SOLID.search(msg)
    if m is not None:
        return _event(K.AUTH_LOGIN_FAILED, record, service, _ip(m.group(1)))
    m = _PERDITION.search(msg)
    if m is not None:
        return _event(K.AUTH_LOGIN_FAILED, record, service, _ip(m.group(1)))
    return _other(record, service)


def _classify_unknown_program(record: LogRecord) -> LogEvent:
    msg = record.message
    if "authentication failure" in msg and ("pam_unix" in msg or "(pam_unix)" in msg):
        return _pam_failure(record, record.program or "pam", msg)
    return _other(record, record.program)


_DOVECOT_PROGRAMS = frozenset({
    "dovecot", "dovecot-auth", "imap-login", "pop3-login", "managesieve-login", "submission-login",
    "auth", "auth-worker", "imap", "pop3", "managesieve", "submission", "lmtp", "master", "config",
    "anvil", "log", "indexer", "indexer-worker", "doveadm", "lda", "quota-status", "stats",
})
_PEER_AUTH_PROGRAMS = frozenset({
    "imapd", "pop3d", "imapd-ssl", "pop3d-ssl", "courierpop3login", "courieresmtpd", "courier-imapd",
    "ipop3d", "solid-pop3d", "cyrus", "imaps", "pop3s",
})

_SENDMAIL_PROGRAMS = frozenset({"sendmail", "sm-mta", "sm-msp-queue", "sm-acceptingconnections"})

_dispatch_cache: dict[str, Callable[[LogRecord], LogEvent]] = {}


def _handler_for(program: str) -> Callable[[LogRecord], LogEvent]:
    handler = _dispatch_cache.get(program)
    if handler is not None:
        return handler
    if program.startswith("postfix"):
        handler = _postfix_handler(program)
    elif program in ("sshd", "sshd-session", "sshd-auth"):
        handler = _classify_sshd
    elif program in _DOVECOT_PROGRAMS or program.startswith("dovecot"):
        handler = _classify_dovecot
    elif program.startswith("fail2ban"):
        handler = _classify_fail2ban
    elif program.startswith("plesk_saslauthd"):
        handler = _classify_plesk
    elif program in ("qmail", "rblsmtpd", "qmail-smtpd", "tcpserver"):
        handler = _classify_qmail
    elif program == "exim" or program.startswith("exim4"):
        handler = _classify_exim
    elif program in _SENDMAIL_PROGRAMS or program.startswith("sm-"):
        handler = _classify_sendmail
    elif program in _PEER_AUTH_PROGRAMS or program.startswith(("cyrus/", "perdition")):
        handler = _classify_peer_auth
    else:
        handler = _classify_unknown_program
    if len(_dispatch_cache) < 4096:  # program names are few; hostile ones must not grow this forever
        _dispatch_cache[program] = handler
    return handler


# What a message means depends on the program, the message and the tag's context only
# (never on the time, host or pid): the handlers are pure functions of those three. Bots
# repeat themselves (a password-guessing burst writes the very same lines from one address
# again and again, only the pid and the second differ), so the stream classifier remembers
# the event fields of recent messages and reuses them: about half of the lines of the
# benchmark's log. Bounded (cleared when full; long messages are not kept).
_memo: dict[tuple[str, str, str], tuple] = {}
_MEMO_MAX = 32768
_MEMO_MESSAGE_MAX = 512


def classify(record: LogRecord) -> LogEvent:
    """Classify one record, without context. Never raises: unknown lines become ``OTHER``."""
    try:
        return _handler_for(record.program)(record)
    except Exception:  # noqa: BLE001 - one hostile line must not stop the panel
        return _other(record, record.program)


# -- stateful stream classification --------------------------------------------------------

_SSH_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})
_SESSION_END = frozenset({K.SSHD_PREAUTH_DISCONNECT, K.SSHD_SESSION})


class _SshSession:
    __slots__ = ("ip", "host", "pending", "pam_users", "max_auth_counted")

    def __init__(self) -> None:
        self.ip: str | None = None
        self.host: str | None = None
        self.pending = 0
        self.pam_users: set[str] = set()
        self.max_auth_counted = False


class LogClassifier:
    """Classifies a stream of lines, remembering per sshd connection what earlier lines said.

    Rules (all within one sshd connection, i.e. one host and pid):

    - a line without an address gets the connection's address, when an earlier line named it;
    - a hostile line whose address is not known yet is not counted (``attack=False``); the
      connection's next line that names the address is counted instead;
    - a PAM failure is counted when the connection ends without a login, when another user is
      tried, or when a login succeeds for a different user (then the ``Accepted`` line is
      hostile: a guessed password). PAM stacks such as pam_unix + pam_ldap log a failure
      right before a successful login, so a lone failure followed by success is not counted;
    - ``Too many authentication failures`` is counted once per connection.

    sendmail logs a refused recipient (``<x>... User unknown``) without the client's address
    and names the client on the message's closing ``from=<...>, nrcpts=0, relay=...`` line
    (same queue id): that line is counted as the unknown-recipient attack.
    """

    def __init__(
        self,
        *,
        parser: RecordParser | None = None,
        max_sessions: int = 20000,
    ) -> None:
        self._parser = parser or RecordParser()
        self._sessions: dict[tuple[str, int], _SshSession] = {}
        self._max_sessions = max_sessions
        #: (host, sendmail queue id) -> unknown recipients seen, until the from= line names the client
        self._sm_unknown: dict[tuple[str, str], int] = {}

    @property
    def parser(self) -> RecordParser:
        """The parser of this stream's lines (its year inference is the stream's)."""
        return self._parser

    def classify_record(self, record: LogRecord) -> LogEvent:
        """Classify one record with the stream's context."""
        event = classify(record)
        if record.program in _SSH_PROGRAMS and record.pid is not None:
            return self._ssh_context(event, record)
        if _handler_for(record.program) is _classify_sendmail:
            return self._sendmail_context(event, record)
        return event

    def classify_lines(self, lines: Iterable[str]) -> list[LogEvent]:
        """Parse and classify a batch of lines (in order). Never raises."""
        out: list[LogEvent] = []
        append = out.append
        handlers = _dispatch_cache
        sessions = _SSH_PROGRAMS
        sendmail = _classify_sendmail
        memo = _memo
        memo_get = memo.get
        new = _new
        event_cls = LogEvent
        for record in self._parser.parse_many(lines):
            program = record[2]
            message = record[4]
            key = (program, message, record[6])
            fields = memo_get(key)
            if fields is not None:
                event = new(event_cls, fields + (record,))
                handler = handlers.get(program) or _handler_for(program)
            else:
                handler = handlers.get(program) or _handler_for(program)
                try:
                    event = handler(record)
                except Exception:  # noqa: BLE001 - one hostile line must not stop the panel
                    event = _other(record, program)
                if len(message) <= _MEMO_MESSAGE_MAX:
                    if len(memo) >= _MEMO_MAX:
                        memo.clear()
                    memo[key] = event[:9]
            if program in sessions and record[3] is not None:
                event = self._ssh_context(event, record)
            elif handler is sendmail:
                event = self._sendmail_context(event, record)
            append(event)
        return out

    def _ssh_context(self, event: LogEvent, record: LogRecord) -> LogEvent:
        kind = event[0]
        message = record[4]
        ip, host, attack, critical = self._ssh_step(
            (record[1], record[3]), kind, event[2], event[3], event[4], event[5],
            kind is K.SSHD_PAM_FAILURE and "pam_unix" in message,
            kind is K.SSHD_MAX_AUTH and "maximum authentication attempts" in message,
        )
        if critical:
            return _new(LogEvent, (kind, Severity.CRITICAL, attack, ip, host) + event[5:])
        if attack is event[2] and ip is event[3] and host is event[4]:
            return event
        return _new(LogEvent, (kind, event[1], attack, ip, host) + event[5:])

    def _ssh_step(
        self,
        key: tuple[str, int],
        kind: EventKind,
        attack: bool,
        ip: str | None,
        host: str | None,
        user: str | None,
        pam_unix: bool,
        max_attempts: bool,
    ) -> tuple[str | None, str | None, bool, bool]:
        """One line of sshd connection ``key`` (host, pid) through the connection's state.

        Takes what the stateless classifier said of the line (kind, attack, address, host
        name, user; ``pam_unix``: the message names pam_unix; ``max_attempts``: it is the
        "maximum authentication attempts exceeded" form) and returns what the stream says of
        it: (address, host name, attack, critical). The one place of these rules, for
        :meth:`classify_lines` and for the bulk classifier (core.logs.bulk), which walks its
        rows through it in the lines' order.
        """
        sessions = self._sessions
        session = sessions.get(key)
        if session is None:
            if kind is K.SSHD_SESSION and ip is None:
                return ip, host, attack, False
            if len(sessions) >= self._max_sessions:
                sessions.clear()
            session = sessions[key] = _SshSession()
        if ip is None and host is None:
            ip, host = session.ip, session.host
        else:
            session.ip, session.host = ip, host
        if kind is K.SSHD_PAM_FAILURE and pam_unix:
            user = user or ""
            other_user = bool(session.pam_users) and user not in session.pam_users
            session.pam_users.add(user)
            if other_user:
                session.pending = 0
                return ip, host, attack, False
            session.pending += 1
            return ip, host, False, False
        if kind is K.SSHD_MAX_AUTH:
            # "maximum authentication attempts exceeded" is followed by "Disconnecting ...:
            # Too many authentication failures" for the same exhaustion: count it once.
            if max_attempts:
                session.max_auth_counted = True
            elif session.max_auth_counted:
                return ip, host, False, False
        if kind is K.SSHD_ACCEPTED:
            guessed = bool(session.pam_users - {user or ""})
            session.pending = 0
            session.pam_users.clear()
            if guessed:
                return ip, host, True, True
            return ip, host, attack, False
        if attack:
            if ip is None and host is None:
                session.pending += 1
                return ip, host, False, False
            session.pending = 0
            session.pam_users.clear()
            return ip, host, attack, False
        if session.pending and (ip is not None or host is not None):
            if kind in _SESSION_END or kind is K.SSHD_NEGOTIATION_FAILED:
                session.pending = 0
                session.pam_users.clear()
                return ip, host, True, False
        return ip, host, attack, False

    def _sendmail_context(self, event: LogEvent, record: LogRecord) -> LogEvent:
        qid = event.queue_id
        if qid is None:
            return event
        kind = event.kind
        if kind is K.REJECT_UNKNOWN_USER and event.remote_ip is None:
            pending = self._sm_unknown
            if len(pending) >= self._max_sessions:
                pending.clear()
            key = (record.host, qid)
            pending[key] = pending.get(key, 0) + 1
            return event
        if kind is K.QUEUE_RECEIVED and event.details == (("nrcpts", "0"),):
            count = self._sm_unknown.pop((record.host, qid), 0)
            if count and (event.remote_ip is not None or event.remote_host is not None):
                return _new(LogEvent, (K.REJECT_UNKNOWN_USER, _SEVERITY[K.REJECT_UNKNOWN_USER], True)
                            + event[3:8] + ((("unknown_recipients", str(count)),),) + event[9:])
        return event


def classify_lines(lines: Iterable[str], *, parser: RecordParser | None = None) -> list[LogEvent]:
    """Parse and classify ``lines`` in one pass, with sshd connection context. Never raises."""
    return LogClassifier(parser=parser).classify_lines(lines)
