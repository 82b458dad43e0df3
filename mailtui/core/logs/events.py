"""What a classified log line means: the event taxonomy, severities and explanations.

Every :class:`EventKind` has exactly one :class:`KindInfo` in :data:`KIND_INFO`: its family,
its usual severity, whether it is security-relevant, and a plain-language explanation
(what happened, how dangerous it is, what to do) written for a competent admin who is
not a full-time sysadmin. The UI, the CLI and reports read explanations from here only.

A :class:`LogEvent` is the result of classifying one :class:`~.records.LogRecord`. Its
text fields (user, remote host name, details) are sanitised; its ``remote_ip`` is a
validated IPv4/IPv6 address, never a host name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from mailtui.core.logs.records import LogRecord
from mailtui.core.text import sanitize

__all__ = [
    "EventKind",
    "Family",
    "Severity",
    "KindInfo",
    "KIND_INFO",
    "LogEvent",
    "explain",
]


class Family(StrEnum):
    """Which part of the mail server an event comes from."""

    SMTP = "smtp"
    REJECT = "reject"
    POSTSCREEN = "postscreen"
    TLS = "tls"
    QUEUE = "queue"
    DOVECOT = "dovecot"
    SSHD = "sshd"
    PLESK = "plesk"
    QMAIL = "qmail"
    FAIL2BAN = "fail2ban"
    AUTH = "auth"  # other IMAP/POP/SMTP servers and generic PAM
    SYSTEM = "system"
    OTHER = "other"


class Severity(StrEnum):
    """How much attention an event deserves, from routine to act-now."""

    INFO = "info"  # normal operation
    NOTICE = "notice"  # background noise of the internet, already handled by the server
    WARNING = "warning"  # worth a look: a configuration problem, mail not delivered, a guess at a password
    CRITICAL = "critical"  # act now


class EventKind(StrEnum):
    """Every kind of log line mailtui recognises, grouped by family (the value's prefix)."""

    # smtp: Postfix smtpd sessions
    SMTP_CONNECT = "smtp.connect"
    SMTP_DISCONNECT = "smtp.disconnect"
    SMTP_DISCONNECT_AUTH_FAILED = "smtp.disconnect_auth_failed"
    SMTP_LOST_CONNECTION = "smtp.lost_connection"
    SMTP_TIMEOUT = "smtp.timeout"
    SMTP_SASL_FAILED = "smtp.sasl_failed"
    SMTP_SASL_BACKEND_ERROR = "smtp.sasl_backend_error"
    SMTP_NON_SMTP_COMMAND = "smtp.non_smtp_command"
    SMTP_PIPELINING = "smtp.pipelining"
    SMTP_TOO_MANY_ERRORS = "smtp.too_many_errors"
    SMTP_RATE_LIMIT = "smtp.rate_limit"
    SMTP_HOSTNAME_MISMATCH = "smtp.hostname_mismatch"
    # reject: Postfix refused a command (NOQUEUE: reject ...)
    REJECT_RELAY = "reject.relay"
    REJECT_UNKNOWN_USER = "reject.unknown_user"
    REJECT_RBL = "reject.rbl"
    REJECT_HELO = "reject.helo"
    REJECT_SENDER = "reject.sender"
    REJECT_CLIENT = "reject.client"
    REJECT_POLICY = "reject.policy"
    REJECT_CONTENT = "reject.content"
    REJECT_OTHER = "reject.other"
    # postscreen: Postfix's zombie filter in front of smtpd
    POSTSCREEN_CONNECT = "postscreen.connect"
    POSTSCREEN_PASS_NEW = "postscreen.pass_new"
    POSTSCREEN_PASS_OLD = "postscreen.pass_old"
    POSTSCREEN_ALLOWLISTED = "postscreen.allowlisted"
    POSTSCREEN_DENYLISTED = "postscreen.denylisted"
    POSTSCREEN_PREGREET = "postscreen.pregreet"
    POSTSCREEN_DNSBL = "postscreen.dnsbl"
    POSTSCREEN_HANGUP = "postscreen.hangup"
    POSTSCREEN_PIPELINING = "postscreen.pipelining"
    POSTSCREEN_PROTOCOL_VIOLATION = "postscreen.protocol_violation"
    POSTSCREEN_DISCONNECT = "postscreen.disconnect"
    # tls
    TLS_ESTABLISHED = "tls.established"
    TLS_FAILED = "tls.failed"
    # queue: the life of a message
    QUEUE_RECEIVED = "queue.received"
    QUEUE_CLEANUP = "queue.cleanup"
    QUEUE_ACTIVE = "queue.active"
    QUEUE_SENT = "queue.sent"
    QUEUE_DEFERRED = "queue.deferred"
    QUEUE_BOUNCED = "queue.bounced"
    QUEUE_EXPIRED = "queue.expired"
    QUEUE_REMOVED = "queue.removed"
    QUEUE_NOTICE = "queue.notice"
    # dovecot: IMAP / POP3 / ManageSieve / submission logins
    DOVECOT_LOGIN = "dovecot.login"
    DOVECOT_LOGOUT = "dovecot.logout"
    DOVECOT_AUTH_FAILED = "dovecot.auth_failed"
    DOVECOT_PLAINTEXT_DISALLOWED = "dovecot.plaintext_disallowed"
    DOVECOT_PASSWORD_MISMATCH = "dovecot.password_mismatch"
    DOVECOT_UNKNOWN_USER = "dovecot.unknown_user"
    DOVECOT_NO_AUTH = "dovecot.no_auth"
    DOVECOT_PROBE = "dovecot.probe"
    # sshd
    SSHD_CONNECTION = "sshd.connection"
    SSHD_ACCEPTED = "sshd.accepted"
    SSHD_FAILED_PASSWORD = "sshd.failed_password"
    SSHD_FAILED_PUBLICKEY = "sshd.failed_publickey"
    SSHD_FAILED_OTHER = "sshd.failed_other"
    SSHD_INVALID_USER = "sshd.invalid_user"
    SSHD_PAM_FAILURE = "sshd.pam_failure"
    SSHD_NOT_ALLOWED = "sshd.not_allowed"
    SSHD_ROOT_REFUSED = "sshd.root_refused"
    SSHD_MAX_AUTH = "sshd.max_auth"
    SSHD_PREAUTH_DISCONNECT = "sshd.preauth_disconnect"
    SSHD_NEGOTIATION_FAILED = "sshd.negotiation_failed"
    SSHD_TIMEOUT = "sshd.timeout"
    SSHD_REVERSE_MAPPING = "sshd.reverse_mapping"
    SSHD_SESSION = "sshd.session"
    # plesk
    PLESK_SASL_FAILED = "plesk.sasl_failed"
    # qmail
    QMAIL_RBL = "qmail.rbl"
    # fail2ban's own log
    FAIL2BAN_FOUND = "fail2ban.found"
    FAIL2BAN_BAN = "fail2ban.ban"
    FAIL2BAN_UNBAN = "fail2ban.unban"
    # auth: other mail servers (Courier, Cyrus, UW-IMAP, solid-pop3d, perdition) and PAM
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_PAM_FAILURE = "auth.pam_failure"
    # system: daemons starting, stopping, complaining
    SERVICE_STATE = "system.service_state"
    SERVICE_PROBLEM = "system.service_problem"
    # other
    OTHER = "other"

    @property
    def info(self) -> "KindInfo":
        """This kind's family, severity and explanation."""
        return KIND_INFO[self]


@dataclass(frozen=True)
class KindInfo:
    """Everything fixed about one kind of event. Read it via ``EventKind.X.info``."""

    family: Family
    severity: Severity
    #: Whether an event of this kind is usually security-relevant (classification may
    #: decide otherwise for one line, e.g. a lost connection after DATA).
    attack: bool
    title: str
    #: What happened, in plain words.
    what: str
    #: How dangerous it is.
    danger: str
    #: What to do about it ("" when nothing).
    action: str


_S, _R, _P, _T, _Q = Family.SMTP, Family.REJECT, Family.POSTSCREEN, Family.TLS, Family.QUEUE
_D, _H = Family.DOVECOT, Family.SSHD
_I, _N, _W, _C = Severity.INFO, Severity.NOTICE, Severity.WARNING, Severity.CRITICAL
K = EventKind

KIND_INFO: dict[EventKind, KindInfo] = {
    K.SMTP_CONNECT: KindInfo(_S, _I, False, "SMTP connection",
        "A client opened a connection to your SMTP server.",
        "None by itself; every mail delivery starts like this.", ""),
    K.SMTP_DISCONNECT: KindInfo(_S, _I, False, "SMTP session ended",
        "A client closed its SMTP session. The counters show which commands it sent and how many "
        "succeeded (ehlo=1 mail=1 rcpt=0/1 means one recipient was refused).",
        "None by itself.", ""),
    K.SMTP_DISCONNECT_AUTH_FAILED: KindInfo(_S, _W, True, "SMTP session with failed logins",
        "A client ended a session in which AUTH failed (auth=0/1: one try, none succeeded). This "
        "summarises the session; the matching 'SASL ... authentication failed' line shows the guesses.",
        "A password-guessing session. Dangerous only if one of your mail passwords is weak.",
        "Make sure fail2ban's postfix-sasl (postfix[mode=auth]) jail is enabled; use strong passwords."),
    K.SMTP_LOST_CONNECTION: KindInfo(_S, _N, False, "Client hung up",
        "The client dropped the connection in the middle of the SMTP dialogue (the stage says where), "
        "or left without sending any mail (Exim: 'no MAIL in SMTP connection', sendmail: 'did not "
        "issue MAIL/EXPN/VRFY/ETRN'). Right after connecting, EHLO, STARTTLS or a failed AUTH this is "
        "the mark of a scanner or password bot checking whether a mail server listens; monitoring "
        "checks do it too. After DATA it is usually a flaky network.",
        "Low: scanners find every server on the internet within hours.",
        "Nothing, unless one address does it all day: then fail2ban's postfix[mode=ddos], "
        "exim[mode=more] or sendmail-reject[mode=extra] jail helps. Ignore your own monitoring."),
    K.SMTP_TIMEOUT: KindInfo(_S, _I, False, "SMTP timeout",
        "A client stayed silent too long and Postfix closed the session.",
        "Low: slow or broken clients, sometimes spam software.", ""),
    K.SMTP_SASL_FAILED: KindInfo(_S, _W, True, "SMTP login failed",
        "Someone tried to log in to send mail (SMTP AUTH) with a wrong password. Each line is one "
        "guess, usually by a bot cycling through common passwords for your mail accounts.",
        "Dangerous only if a password is weak: a correct guess lets the attacker send spam through "
        "your server, which gets it blacklisted.",
        "Check that fail2ban's postfix-sasl (postfix[mode=auth]) jail is on; use strong passwords; "
        "if one account is targeted a lot, warn its owner."),
    K.SMTP_SASL_BACKEND_ERROR: KindInfo(_S, _C, False, "SMTP login system broken",
        "Postfix could not ask its authentication backend (Dovecot's auth socket or saslauthd) "
        "whether a password is right. This is a configuration or service problem, not an attack.",
        "High for your users: nobody can log in to send mail until it is fixed.",
        "Check that the backend runs (systemctl status dovecot / saslauthd) and that "
        "smtpd_sasl_path points at an existing socket (e.g. private/auth)."),
    K.SMTP_NON_SMTP_COMMAND: KindInfo(_S, _N, True, "Non-SMTP or unexpected command",
        "A client sent something that is not SMTP (typically an HTTP request: a scanner probing "
        "every open port), or a command the server never offered it, such as AUTH on a port "
        "without authentication (Exim: 'AUTH command used when not advertised'): a password bot "
        "that does not look at what the server supports.",
        "Low: the server refuses it.", ""),
    K.SMTP_PIPELINING: KindInfo(_S, _N, True, "Talked out of turn",
        "The client sent commands without waiting for answers where SMTP forbids it, or talked "
        "before the server's greeting (Exim: 'SMTP protocol synchronization error', sendmail: "
        "'pre-greeting traffic'): habits of spam software in a hurry.",
        "Low: the server noticed and refused or distrusts the client.", ""),
    K.SMTP_TOO_MANY_ERRORS: KindInfo(_S, _N, True, "Too many errors",
        "The client caused so many errors (refused recipients, bad, unknown or non-mail commands) "
        "that the server disconnected or slowed it down (Postfix: 'too many errors', Exim: "
        "'dropped: too many ...', sendmail: 'possible SMTP attack'): typically dictionary attacks "
        "on addresses or broken spam bots.",
        "Low: it was disconnected or throttled.",
        "If it repeats, fail2ban's postfix[mode=errors], exim or sendmail-reject jail bans it."),
    K.SMTP_RATE_LIMIT: KindInfo(_S, _W, True, "Rate limit hit",
        "A client opened connections or sent requests faster than your limits allow "
        "(anvil: smtpd_client_connection_rate_limit and friends), and Postfix slowed it down.",
        "Medium: a flood, a spammer, or a misbehaving legitimate client of yours.",
        "Look at the address: if it is yours (a web app, a printer), raise its limit; else ban it."),
    K.SMTP_HOSTNAME_MISMATCH: KindInfo(_S, _N, True, "Client name does not match its address",
        "The client's reverse DNS name does not resolve back to its address. Common for dial-up "
        "and botnet hosts, sometimes a legitimate server with sloppy DNS.",
        "Low by itself.", ""),
    K.REJECT_RELAY: KindInfo(_R, _N, True, "Relay access denied",
        "Someone tried to send mail through your server to a domain that isn't yours, testing "
        "whether you are an open relay. Your server refused: good.",
        "None while you see this: it means your relay protection works.",
        "Nothing. If one address repeats, fail2ban's postfix jail bans it."),
    K.REJECT_UNKNOWN_USER: KindInfo(_R, _N, True, "Unknown recipient",
        "A sender tried an address that does not exist on your server: a typo, an old address, or "
        "a spammer guessing addresses (directory harvest). Asking the server to confirm or expand "
        "addresses (VRFY/EXPN) and being refused is the same harvesting.",
        "Low: refused. Many different ones from one address mean harvesting.", ""),
    K.REJECT_RBL: KindInfo(_R, _N, True, "Client on a blocklist",
        "The client's address is listed on a DNS blocklist you use (the list is named), so your "
        "mail server refused it. Almost always a spam-sending machine.",
        "None: the spam was refused.", ""),
    K.REJECT_HELO: KindInfo(_R, _N, True, "Bad HELO name",
        "The client introduced itself with a name your rules refuse (not a real host name, "
        "unknown, or pretending to be you).",
        "Low: typical of spam bots; refused.", ""),
    K.REJECT_SENDER: KindInfo(_R, _N, True, "Sender refused",
        "The sender address was refused: its domain does not exist or your rules block it.",
        "Low: refused.", ""),
    K.REJECT_CLIENT: KindInfo(_R, _N, True, "Client refused",
        "The client was refused because of who it is, for example its address has no reverse DNS "
        "name (reject_unknown_client_hostname) or an access rule blocks it (an Exim ACL that "
        "drops the connection, a sendmail access map).",
        "Low: refused. Check it isn't a partner whose DNS is broken.", ""),
    K.REJECT_POLICY: KindInfo(_R, _I, False, "Deferred by policy (greylisting)",
        "A policy service (greylisting, quota, postfwd) told the client to come back later. Real "
        "mail servers retry; many spam bots don't.",
        "None.", ""),
    K.REJECT_CONTENT: KindInfo(_R, _N, True, "Message content refused",
        "A filter (milter such as rspamd/SpamAssassin/ClamAV, header/body checks, Exim's "
        "local_scan or sa-exim) refused the message itself, threw it away, or marked it as spam: "
        "spam or malware.",
        "None when refused or discarded; a message marked as spam but accepted reached a mailbox "
        "with a spam tag.", "Nothing, unless real mail is caught: then check the filter's thresholds."),
    K.REJECT_OTHER: KindInfo(_R, _N, False, "Command refused",
        "Postfix refused an SMTP command for another reason (see the reply text).",
        "Usually low.", ""),
    K.POSTSCREEN_CONNECT: KindInfo(_P, _I, False, "postscreen: connection",
        "A client connected; postscreen checks it before handing it to smtpd.", "None.", ""),
    K.POSTSCREEN_PASS_NEW: KindInfo(_P, _I, False, "postscreen: new client passed",
        "A client passed postscreen's tests for the first time and is remembered.", "None.", ""),
    K.POSTSCREEN_PASS_OLD: KindInfo(_P, _I, False, "postscreen: known client",
        "A client that passed before came back and was let through at once.", "None.", ""),
    K.POSTSCREEN_ALLOWLISTED: KindInfo(_P, _I, False, "postscreen: allowlisted",
        "The client is on your postscreen allowlist and skipped the tests.", "None.", ""),
    K.POSTSCREEN_DENYLISTED: KindInfo(_P, _N, True, "postscreen: denylisted",
        "The client is on your postscreen access denylist.", "None: refused.", ""),
    K.POSTSCREEN_PREGREET: KindInfo(_P, _N, True, "postscreen: talked too early",
        "The client spoke before the server greeted it, which real mail servers never do: a spam "
        "bot in a hurry.", "None: postscreen caught it.", ""),
    K.POSTSCREEN_DNSBL: KindInfo(_P, _N, True, "postscreen: on blocklists",
        "The client's address scored on the DNS blocklists postscreen asks (rank = weighted score).",
        "None: refused or watched.", ""),
    K.POSTSCREEN_HANGUP: KindInfo(_P, _N, True, "postscreen: hung up",
        "The client dropped the connection during postscreen's tests: a scanner or a bot.",
        "Low.", ""),
    K.POSTSCREEN_PIPELINING: KindInfo(_P, _N, True, "postscreen: pipelining",
        "The client sent several commands at once without being allowed to: spam software.",
        "Low: caught.", ""),
    K.POSTSCREEN_PROTOCOL_VIOLATION: KindInfo(_P, _N, True, "postscreen: protocol violation",
        "The client broke SMTP (non-SMTP command, bare newline, too many or too slow commands).",
        "Low: caught.", ""),
    K.POSTSCREEN_DISCONNECT: KindInfo(_P, _I, False, "postscreen: disconnect",
        "A client left postscreen.", "None.", ""),
    K.TLS_ESTABLISHED: KindInfo(_T, _I, False, "TLS established",
        "The connection is encrypted; the line names the protocol and cipher.",
        "None, unless the protocol is old (SSLv3, TLSv1, TLSv1.1): then the client or your "
        "settings are outdated.",
        "If old protocols appear, set smtpd_tls_protocols = >=TLSv1.2 (and the mandatory variant)."),
    K.TLS_FAILED: KindInfo(_T, _N, False, "TLS handshake failed",
        "A client and your server could not agree on encryption (old protocol, no shared cipher, "
        "or a scanner testing TLS).",
        "Low by itself; if your own users see it, their client is too old or your settings too strict.",
        ""),
    K.QUEUE_RECEIVED: KindInfo(_Q, _I, False, "Message received",
        "A message entered the queue (from a client, or locally via sendmail). With sasl_username, "
        "it was sent by one of your authenticated users.",
        "None; but many from one user in a short time can mean a stolen password.", ""),
    K.QUEUE_CLEANUP: KindInfo(_Q, _I, False, "Message accepted for processing",
        "The cleanup daemon recorded the message's Message-ID.", "None.", ""),
    K.QUEUE_ACTIVE: KindInfo(_Q, _I, False, "Message ready to deliver",
        "The queue manager took the message for delivery (sender, size, number of recipients).",
        "None.", ""),
    K.QUEUE_SENT: KindInfo(_Q, _I, False, "Delivered",
        "The message was delivered (relay names where, dsn 2.x.x = success).", "None.", ""),
    K.QUEUE_DEFERRED: KindInfo(_Q, _W, False, "Delivery postponed",
        "Delivery failed temporarily; Postfix will retry (the reason is in the line).",
        "Medium if many pile up: the queue grows, perhaps because you are blacklisted or a "
        "destination is down.",
        "Check the reasons; 'postqueue -p' shows the queue."),
    K.QUEUE_BOUNCED: KindInfo(_Q, _W, False, "Bounced",
        "Delivery failed permanently; the sender gets a non-delivery notice.",
        "Medium: many bounces of your own users' mail can mean a blacklisting.",
        "Read the reason (dsn 5.x.x); check blocklists if remote servers refuse you."),
    K.QUEUE_EXPIRED: KindInfo(_Q, _W, False, "Expired",
        "The message could not be delivered within maximal_queue_lifetime and was returned.",
        "Medium.", "Look at why the earlier attempts were deferred."),
    K.QUEUE_REMOVED: KindInfo(_Q, _I, False, "Removed from queue",
        "The message left the queue (delivered, bounced or deleted).", "None.", ""),
    K.QUEUE_NOTICE: KindInfo(_Q, _I, False, "Notification created",
        "Postfix created a delivery status notification (bounce, delay or success notice).",
        "None.", ""),
    K.DOVECOT_LOGIN: KindInfo(_D, _I, False, "Mailbox login",
        "A user logged in to read mail (IMAP/POP3).",
        "None, unless the user or the address is unexpected.", ""),
    K.DOVECOT_LOGOUT: KindInfo(_D, _I, False, "Mailbox logout",
        "A user's mail session ended.", "None.", ""),
    K.DOVECOT_AUTH_FAILED: KindInfo(_D, _W, True, "Mailbox login failed",
        "Someone tried to log in to a mailbox with a wrong password (the count says how many "
        "tries in that connection): usually a bot guessing passwords, sometimes a phone with an "
        "old password.",
        "Dangerous only if a password is weak: a correct guess exposes the whole mailbox.",
        "Enable fail2ban's dovecot jail; use strong passwords; if it's one of your users' own "
        "devices, tell them to update the password."),
    K.DOVECOT_PLAINTEXT_DISALLOWED: KindInfo(_D, _N, True, "Plaintext login refused",
        "A client tried to log in without encryption and Dovecot refused (disable_plaintext_auth "
        "/ auth_allow_cleartext = no): a scanner or a badly configured client.",
        "None: the password was not accepted over an unencrypted connection.", ""),
    K.DOVECOT_PASSWORD_MISMATCH: KindInfo(_D, _W, True, "Wrong password",
        "Dovecot's authentication backend (passwd-file, SQL, LDAP, PAM) rejected a password: "
        "one guess.", "Dangerous only if a password is weak.",
        "Enable fail2ban's dovecot jail."),
    K.DOVECOT_UNKNOWN_USER: KindInfo(_D, _N, True, "Unknown mail user",
        "Someone tried to log in as a user that does not exist: guessing user names.",
        "Low: no such account.", "Enable fail2ban's dovecot jail."),
    K.DOVECOT_NO_AUTH: KindInfo(_D, _I, False, "Connection without login",
        "A client connected and left without trying to log in (a monitoring check, a client "
        "that only looked at the capabilities, or a timeout).", "None.", ""),
    K.DOVECOT_PROBE: KindInfo(_D, _N, True, "Aborted before login",
        "A client broke off before logging in: failed TLS handshake, connection reset, invalid "
        "commands. Scanners and TLS testers do this.",
        "Low.", "fail2ban's dovecot[mode=aggressive] bans repeat offenders."),
    K.SSHD_CONNECTION: KindInfo(_H, _I, False, "SSH connection",
        "A client connected to the SSH server.", "None by itself.", ""),
    K.SSHD_ACCEPTED: KindInfo(_H, _I, False, "SSH login",
        "Someone logged in over SSH (user, method and key are named).",
        "None if you expect it. A login right after failed attempts for other users in the same "
        "connection is flagged: it may be a guessed password.",
        "If you don't recognise the user or address, check 'last' and the account at once."),
    K.SSHD_FAILED_PASSWORD: KindInfo(_H, _W, True, "SSH password guess",
        "A wrong password for an SSH login: bots try common user names and passwords all day.",
        "Dangerous only if password login is allowed and a password is weak.",
        "Prefer keys: PasswordAuthentication no. Enable fail2ban's sshd jail."),
    K.SSHD_FAILED_PUBLICKEY: KindInfo(_H, _I, False, "SSH key refused",
        "A client offered a key that isn't authorised. For an existing user this is normal: "
        "SSH agents offer their keys one after the other. For an invalid user it is a scan.",
        "Low.", ""),
    K.SSHD_FAILED_OTHER: KindInfo(_H, _W, True, "SSH login failed",
        "A login by another method (keyboard-interactive, hostbased, ...) failed.",
        "Like a password guess.", "Enable fail2ban's sshd jail."),
    K.SSHD_INVALID_USER: KindInfo(_H, _N, True, "SSH: unknown user",
        "Someone tried to log in as a user that doesn't exist (admin, test, oracle...): a bot "
        "working through a list.", "Low: the account does not exist.", "Enable fail2ban's sshd jail."),
    K.SSHD_PAM_FAILURE: KindInfo(_H, _W, True, "SSH: PAM authentication failure",
        "PAM rejected a password for an SSH login.", "Like a password guess.",
        "Enable fail2ban's sshd jail; prefer keys."),
    K.SSHD_NOT_ALLOWED: KindInfo(_H, _N, True, "SSH: user not allowed",
        "Someone tried a user your sshd configuration does not allow (AllowUsers, DenyUsers, "
        "groups, locked account, TCP wrappers).", "None: refused by your rules.", ""),
    K.SSHD_ROOT_REFUSED: KindInfo(_H, _N, True, "SSH: root login refused",
        "Someone tried to log in as root and your configuration refused it (PermitRootLogin).",
        "None: refused.", ""),
    K.SSHD_MAX_AUTH: KindInfo(_H, _W, True, "SSH: too many attempts",
        "A client used up its attempts in one connection (MaxAuthTries) and was disconnected.",
        "Medium: persistent guessing.", "Enable fail2ban's sshd jail."),
    K.SSHD_PREAUTH_DISCONNECT: KindInfo(_H, _N, True, "SSH: left before login",
        "A client disconnected before logging in. Scanners and version probes (ssh-audit, "
        "mass scanners) do this constantly; a client that refused your host key does too. When the "
        "same connection had failed attempts without an address, they are counted here.",
        "Low.", "fail2ban's sshd[mode=aggressive] bans repeat offenders."),
    K.SSHD_NEGOTIATION_FAILED: KindInfo(_H, _N, True, "SSH: handshake junk",
        "The client did not complete the SSH handshake: no or bad version banner, no common "
        "cipher/key exchange, corrupted packets. Typical of scanners and ancient bots.",
        "Low.", "fail2ban's sshd[mode=ddos] bans repeat offenders."),
    K.SSHD_TIMEOUT: KindInfo(_H, _N, True, "SSH: login timeout",
        "A client connected and never finished logging in (LoginGraceTime).", "Low.", ""),
    K.SSHD_REVERSE_MAPPING: KindInfo(_H, _I, False, "SSH: reverse DNS mismatch",
        "The client's address has a reverse DNS name that doesn't point back to it. sshd's "
        "'POSSIBLE BREAK-IN ATTEMPT' wording is alarmist: this is a DNS oddity, not an attack.",
        "None by itself.", ""),
    K.SSHD_SESSION: KindInfo(_H, _I, False, "SSH session activity",
        "Normal session bookkeeping: session opened/closed, command started, disconnect.",
        "None.", ""),
    K.PLESK_SASL_FAILED: KindInfo(Family.PLESK, _W, True, "Plesk: mail login failed",
        "Plesk's SASL service rejected a mail login (wrong password or unknown account).",
        "Dangerous only if a password is weak.",
        "Enable Plesk's fail2ban jail 'plesk-postfix'; the IP is in the matching Postfix line."),
    K.QMAIL_RBL: KindInfo(Family.QMAIL, _N, True, "qmail: client on a blocklist",
        "qmail (rblsmtpd / badiprbl) refused a client listed on a DNS blocklist.",
        "None: refused.", ""),
    K.FAIL2BAN_FOUND: KindInfo(Family.FAIL2BAN, _I, False, "fail2ban: failure seen",
        "fail2ban matched a failure line and counts it toward a ban.", "None.", ""),
    K.FAIL2BAN_BAN: KindInfo(Family.FAIL2BAN, _N, False, "fail2ban: banned",
        "fail2ban blocked an address at the firewall for its jail's bantime.",
        "None: this is your defence working.", ""),
    K.FAIL2BAN_UNBAN: KindInfo(Family.FAIL2BAN, _I, False, "fail2ban: unbanned",
        "A ban expired; the address may connect again.",
        "None. Frequent returns suggest enabling the recidive jail.", ""),
    K.AUTH_LOGIN_FAILED: KindInfo(Family.AUTH, _W, True, "Login failed",
        "A mail server (Exim or sendmail SMTP AUTH, Courier, Cyrus, UW-IMAP, solid-pop3d, "
        "perdition...) rejected a login: a wrong password or an unknown user, usually a bot "
        "guessing. For sendmail, 'possible SMTP attack: command=AUTH' means a run of such guesses "
        "in one connection.",
        "Dangerous only if a password is weak: a correct guess on an SMTP server lets the attacker "
        "send spam through it, which gets it blacklisted.",
        "Enable the matching fail2ban jail (exim, sendmail-auth, courier-auth...); use strong passwords."),
    K.AUTH_PAM_FAILURE: KindInfo(Family.AUTH, _W, True, "PAM authentication failure",
        "PAM rejected a password for some service (named in the line).",
        "Dangerous only if a password is weak.", ""),
    K.SERVICE_STATE: KindInfo(Family.SYSTEM, _I, False, "Service started/stopped",
        "A daemon started, stopped or reloaded its configuration.",
        "None if you did it; unexpected restarts deserve a look.", ""),
    K.SERVICE_PROBLEM: KindInfo(Family.SYSTEM, _W, False, "Service warning or error",
        "A daemon reported a warning or error about itself or its configuration.",
        "Depends on the message; read it.", ""),
    K.OTHER: KindInfo(Family.OTHER, _I, False, "Other",
        "A line mailtui does not classify yet.", "Unknown; usually routine.", ""),
}
del K

assert set(KIND_INFO) == set(EventKind), "every EventKind needs exactly one KindInfo"


def explain(kind: EventKind) -> KindInfo:
    """The explanation of ``kind`` (same as ``kind.info``)."""
    return KIND_INFO[kind]


class LogEvent(NamedTuple):
    """One classified log line.

    ``attack`` counts one hostile act toward ``remote_ip``: a failed login, a relay probe,
    a scanner's drop, a blocklisted client. An aggregator may sum it per address. When a
    line is hostile but its address only appears later in the same sshd connection, the
    session-aware :class:`~.classify.LogClassifier` counts it on the later line instead.

    Text fields are sanitised (no escape sequences); ``record`` keeps the raw line.
    A ``NamedTuple`` for speed, like :class:`~.records.LogRecord`.
    """

    kind: EventKind
    severity: Severity
    attack: bool
    #: The remote party's IP address, validated (IPv4-mapped IPv6 unwrapped), or None.
    remote_ip: str | None
    #: The remote host name as logged (reverse DNS, or what the line called the host), sanitised.
    remote_host: str | None
    #: SASL user name, login user, mailbox user; sanitised.
    user: str | None
    #: Postfix queue id, when the line has one.
    queue_id: str | None
    #: smtpd, submission, smtps, postscreen, qmgr, smtp, imap, pop3, managesieve, sshd ...
    service: str
    #: Extra facts as (key, value) pairs, e.g. ("stage", "CONNECT"), ("rbl", "zen.spamhaus.org").
    details: tuple[tuple[str, str], ...]
    record: LogRecord

    @property
    def display_line(self) -> str:
        """The whole raw line, safe to show in a terminal (escapes visible, length capped)."""
        return sanitize(self.record.raw, max_length=4096)

    @property
    def info(self) -> KindInfo:
        """Family, title and explanation of this event's kind."""
        return KIND_INFO[self.kind]

    def detail(self, key: str) -> str | None:
        """The value of one detail, or None."""
        for k, v in self.details:
            if k == key:
                return v
        return None
