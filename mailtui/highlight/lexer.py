"""A Pygments lexer for the logs a small mail server writes.

:class:`MailLogLexer` reads Postfix, Dovecot, sshd, fail2ban, qmail (multilog) and Exim
lines, whether they went through syslog (``Nov 29 14:34:53 mail postfix/smtpd[123]: ...``),
through a daemon's own log file (``Nov 29 14:34:53 imap-login: Info: ...``), or carry no
prefix at all (``sshd -E``). It is registered as the ``maillog`` Pygments plugin, so
``pygmentize -l maillog /var/log/mail.log`` works, and the app's log view uses the same
tokens.

Log lines come from machines we do not trust, so the lexer is built to be boring under
attack: every pattern is either bounded in how far it looks ahead or scans only characters
that the rule which finally matches at that position consumes as well. Lexing time is
therefore linear in the input, even for a megabyte-long line made of one repeated
character. Every character matches some rule, so no input raises and no ``Error`` token
is produced; the tokens always join back into the input.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, default, include
from pygments.token import (
    Comment,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = [
    "MailLogLexer",
    "TIMESTAMP",
    "HOST",
    "PROGRAM",
    "PID",
    "LEVEL",
    "ADDRESS",
    "MESSAGE_ID",
    "MAIL_ADDRESS",
    "KEY",
    "TROUBLE",
    "GOOD",
]

# The token types, named once so that the tests and the log view read the same facts.
TIMESTAMP = Comment.Preproc
HOST = Name.Variable  # the syslog host and a remote host in ``name[ip]``
PROGRAM = Name.Tag  # postfix/smtpd, imap-login, sshd, fail2ban.actions, a fail2ban jail
PID = Number.Integer
LEVEL = Keyword  # Info:, Debug:, INFO, NOTICE (the harmless levels)
ADDRESS = Number  # IPv4 and IPv6; plain numbers are Number.Integer / Number.Float
MESSAGE_ID = Name.Label  # Postfix queue id, Exim message id, Dovecot session id
MAIL_ADDRESS = String  # e-mail addresses and the inside of <...>
KEY = Name.Attribute  # the key of key=value
TROUBLE = Generic.Error  # reject, NOQUEUE, status=bounced, 5xx, Failed password, Ban ...
GOOD = Generic.Inserted  # status=sent, 2xx, Accepted, Login:, Unban ...

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# RFC 3164 pads a one-digit day with a space ("Nov  9"); some senders do not ("Nov 9").
_SYSLOG_TIME = _MONTH + r" (?:\d\d| ?\d) \d\d:\d\d:\d\d(?:\.\d{1,9})?"
# RFC 3339 (rsyslog, journald), and the space/comma variant of Exim and fail2ban.
_ISO_TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
# daemontools/multilog (qmail): '@' + 24 hex digits of TAI64N.
_TAI64N = r"@[0-9a-fA-F]{24}"

_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)"
_H16 = r"[0-9A-Fa-f]{1,4}"
_H16S = _H16 + r"(?::" + _H16 + r"){0,6}"  # one to seven colon-separated groups
_IPV6 = (
    r"(?:"
    + r"(?:[0-9A-Fa-f]{0,4}:){2,6}\d{1,3}(?:\.\d{1,3}){3}"  # ::ffff:192.0.2.1
    + r"|(?:" + _H16 + r":){7}" + _H16  # all eight groups
    + r"|" + _H16S + r"::(?:" + _H16S + r")?"  # 2001:db8::7, fe80::
    + r"|::" + _H16S  # ::1
    + r")(?![\w:]|\.\d)"
)

# Postfix short queue ids are upper-case hex, long ones (enable_long_queue_ids) use
# digits and consonants; both contain digits, which is what tells them from words such
# as "warning:" in the same place. The lookahead is bounded so a long run of letters
# costs at most 20 steps here.
_QUEUE_ID = r"(?=[A-Za-z]{0,19}\d)[0-9A-Za-z]{5,20}"
# Exim: 1tABCD-000123-AB (up to 4.96), 1tABCD-0001234567A-ABCD (4.97 and later).
_EXIM_ID = r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}"

# A program tag: postfix/smtps/smtpd[123], sshd[9], fail2ban.actions   [8044],
# dovecot, or Dovecot's own imap(user@example.org)<1234><sessionid>.
_PROGRAM_NAME = r"[A-Za-z_][\w./@-]{0,63}"
_PROGRAM_TAIL = (
    r"(?:(\()([^()\s]{0,255})(\)))?"  # (user)
    r"(?:(<)(\d{1,10})(>))?"  # <pid>
    r"(?:(<)([^<>\s]{1,64})(>))?"  # <session>
    r"(?:([^\S\n]{0,32})(\[)(\d{1,10})(\]))?"  # [pid]; fail2ban pads the name
    r"(:)(?=\s|$)"
)
_PROGRAM_TOKENS = (
    Punctuation, MAIL_ADDRESS, Punctuation,
    Punctuation, PID, Punctuation,
    Punctuation, MESSAGE_ID, Punctuation,
    Whitespace, Punctuation, PID, Punctuation,
    Punctuation,
)  # fmt: skip
# Inside a message from the "dovecot" syslog tag, the service names its own process.
_DOVECOT_SERVICE = (
    r"(?:[a-z0-9]+-login|imap|pop3|lmtp|lda|auth(?:-worker)?|submission|managesieve"
    r"|doveadm|indexer(?:-worker)?|dict|quota-status|master|config|anvil|log|stats)"
)

# Words that mean someone should look. Phrases ending in ':' cannot end in \b (there is
# no word boundary between ':' and a space), so they are listed apart.
_TROUBLE_WORDS = (
    r"(?:NOQUEUE|reject(?:ed)?|REJECT(?:ED)?|[Aa]uthentication failed|auth failed"
    r"|authentication failure|[Ff]ailed|FAILED|failure|[Ii]nvalid user|Illegal user"
    r"|[Ee]rrors?|Ban|blocked|Blocked|[Dd]enied|Relay access denied|User unknown"
    r"|unknown user|not allowed|lost connection|[Tt]imeout|timed out|refused"
    r"|Too many authentication failures|maximum authentication attempts exceeded"
    r"|POSSIBLE BREAK-IN ATTEMPT|Did not receive identification string)\b"
)
_TROUBLE_COLON = r"(?:warning|error|fatal|panic|deferral|failure):"
_GOOD_WORDS = r"(?:Accepted|Unban|Completed)\b"
_GOOD_COLON = r"(?:Login|success):"
# Everything the message rules recognise by its words (see the fast path there).
_SPECIAL_WORDS = "|".join(
    (_TROUBLE_COLON, _TROUBLE_WORDS, _GOOD_COLON, _GOOD_WORDS, r"queued as", r"notification:")
)


class MailLogLexer(RegexLexer):
    """Highlight mail server logs: Postfix, Dovecot, sshd, fail2ban, qmail, Exim.

    What is highlighted, and as which token type:

    * timestamps (``Nov 29 14:34:53``, ``Nov  9 ...``, RFC 3339, fail2ban/Exim
      ``2026-11-29 15:03:57,532``, TAI64N ``@4000...``): ``Comment.Preproc``;
    * the syslog host and a remote host written as ``name[ip]``: ``Name.Variable``;
    * the program, e.g. ``postfix/smtpd``, ``imap-login``, ``imap(user)``, ``sshd``,
      ``fail2ban.actions``, and a fail2ban jail ``[sshd]``: ``Name.Tag``; its pid
      ``Number.Integer``;
    * log levels: ``Info:``/``Debug:``/``INFO``/``NOTICE`` as ``Keyword``;
      ``Warning:``/``Error:``/``Fatal:``/``Panic:``/``WARNING``/``ERROR`` as trouble;
    * IPv4 and IPv6 addresses anywhere (``[203.0.113.7]``, ``rip=``, ``from ::1``):
      ``Number``, while other numbers are ``Number.Integer``/``Number.Float``;
    * Postfix queue ids (``53939160030:``, long ``4bC2ZT4FGZzJq:``, ``queued as ...``),
      Exim message ids and Dovecot session ids: ``Name.Label``;
    * e-mail addresses and the inside of ``<...>``: ``String``;
    * ``key=value``: the key ``Name.Attribute``, ``=`` ``Operator``;
    * trouble, ``Generic.Error``: ``reject``, ``NOQUEUE``, ``status=`` anything but
      sent, 4xx/5xx SMTP replies (``554 5.7.1``) and ``dsn=4/5.x.x``, ``authentication
      failed``, ``Failed password``, ``Invalid user``, ``warning:``, ``error:``,
      ``fatal:``, fail2ban ``Ban``, Exim ``**``/``==``, qmail ``deferral:``/``failure:``;
    * good news, ``Generic.Inserted``: ``status=sent``, 2xx replies and ``dsn=2.x.x``,
      sshd ``Accepted``, Dovecot ``Login:``, fail2ban ``Unban``, Exim ``Completed``,
      qmail ``success:``.

    Everything else is ``Text``, ``Whitespace`` or ``Punctuation``.
    """

    name = "Mail log"
    aliases = ["maillog", "mail-log"]
    filenames = [
        "mail.log",
        "maillog",
        "mail.err",
        "mail.info",
        "mail.warn",
        "auth.log",
        "secure",
        "dovecot.log",
        "fail2ban.log",
        "postfix.log",
    ]
    mimetypes: list[str] = []

    def __init__(self, **options):
        # Pygments strips leading and trailing blank lines by default; in a log they are
        # content, and the log view maps tokens back onto the lines it shows.
        options.setdefault("stripnl", False)
        super().__init__(**options)

    # States: every line starts in "root"; after the timestamp come "prefix" (host and
    # program), then "msgstart" (level, queue id, Dovecot service), then "message".
    # Each non-root state replaces itself ('#pop' then push) and pops at the newline, so
    # the stack never grows past two states whatever the input.
    tokens = {
        "root": [
            (r"\n", Whitespace),
            (_SYSLOG_TIME, TIMESTAMP, "prefix"),
            (_ISO_TIME, TIMESTAMP, "prefix"),
            # multilog lines carry no host or program tag: the message follows.
            (_TAI64N, TIMESTAMP, "msgstart"),
            # No timestamp (sshd -E, continuation lines): lex the rest as a message.
            default("msgstart"),
        ],
        "prefix": [
            (r"\n", Whitespace, "#pop"),
            (r"[^\S\n]+", Whitespace),
            # Exim writes its message id straight after the timestamp.
            include("exim"),
            # Dovecot's own log and syslog without a host go straight to the program.
            (
                "(" + _PROGRAM_NAME + ")" + _PROGRAM_TAIL,
                bygroups(PROGRAM, *_PROGRAM_TOKENS),
                ("#pop", "msgstart"),
            ),
            # A host only when a program follows it; the lookahead is bounded.
            (
                r"([\w.:-]{1,255})(?=[^\S\n]{1,8}" + _PROGRAM_NAME + r"(?:\[\d{1,10}\])?:)",
                HOST,
            ),
            default(("#pop", "msgstart")),
        ],
        "msgstart": [
            (r"\n", Whitespace, "#pop"),
            (r"[^\S\n]+", Whitespace),
            (r"(Info|Debug)(:)", bygroups(LEVEL, Punctuation)),
            (r"(Warning|Error|Fatal|Panic)(:)", bygroups(TROUBLE, Punctuation)),
            (r"(?:INFO|DEBUG|NOTICE)\b", LEVEL),
            (r"(?:WARNING|ERROR|CRITICAL)\b", TROUBLE),
            (r"(\[)([\w.-]{1,64})(\])", bygroups(Punctuation, PROGRAM, Punctuation)),
            (r"(NOQUEUE)(:)", bygroups(TROUBLE, Punctuation), ("#pop", "message")),
            include("exim"),
            (
                "(" + _QUEUE_ID + r")(:)(?=\s|$)",
                bygroups(MESSAGE_ID, Punctuation),
                ("#pop", "message"),
            ),
            # syslog "dovecot: imap-login: Login: ..." and "dovecot: imap(bob)<1><s>: ..."
            ("(" + _DOVECOT_SERVICE + ")" + _PROGRAM_TAIL, bygroups(PROGRAM, *_PROGRAM_TOKENS)),
            default(("#pop", "message")),
        ],
        "exim": [
            (
                "(" + _EXIM_ID + r")([^\S\n]+)(\*\*|==)(?=\s)",
                bygroups(MESSAGE_ID, Whitespace, TROUBLE),
                ("#pop", "message"),
            ),
            (
                "(" + _EXIM_ID + r")([^\S\n]+)(<=|=>|->|>>|\*>)(?=\s)",
                bygroups(MESSAGE_ID, Whitespace, Operator),
                ("#pop", "message"),
            ),
            ("(" + _EXIM_ID + r")(?=\s|$)", MESSAGE_ID, ("#pop", "message")),
        ],
        "message": [
            (r"\n", Whitespace, "#pop"),
            (r"[^\S\n]+", Whitespace),
            # No rule below starts with these characters, so they are tried early: a
            # line of punctuation then costs three attempts per run, not twenty-five.
            (r"[^\w\s<:]+", Punctuation),
            # Fast path for the commonest token, a plain word that no rule below treats
            # specially: not a listed phrase, not followed by '=', '[', '@', '.', ':'...
            # Real logs lex about a third faster with it. The possessive '++' never
            # gives back letters, so a failed attempt costs one scan of the word.
            (
                r"(?!" + _SPECIAL_WORDS + r")[A-Za-z]++(?![\w@.+=\[:-])",
                Text,
            ),
            (r"(status)(=)(sent|delivered|deliverable)\b", bygroups(KEY, Operator, GOOD)),
            (r"(status)(=)(\w+)", bygroups(KEY, Operator, TROUBLE)),
            (r"(dsn)(=)(2\.\d{1,3}\.\d{1,3})", bygroups(KEY, Operator, GOOD)),
            (r"(dsn)(=)([45]\.\d{1,3}\.\d{1,3})", bygroups(KEY, Operator, TROUBLE)),
            (
                r"(session)(=)(<)([^<>\s]{1,64})(>)",
                bygroups(KEY, Operator, Punctuation, MESSAGE_ID, Punctuation),
            ),
            (r"([A-Za-z_][\w-]{0,40})(=)", bygroups(KEY, Operator)),
            # An SMTP reply with its enhanced status code, "554 5.7.1" or "250-2.1.0".
            (r"(2\d\d)([ -])(2\.\d{1,3}\.\d{1,3})(?!\.?\d)", bygroups(GOOD, Text, GOOD)),
            (r"([45]\d\d)([ -])([45]\.\d{1,3}\.\d{1,3})(?!\.?\d)", bygroups(TROUBLE, Text, TROUBLE)),
            (_TROUBLE_COLON, TROUBLE),
            (_TROUBLE_WORDS, TROUBLE),
            (_GOOD_COLON, GOOD),
            (_GOOD_WORDS, GOOD),
            (
                r"(queued as|notification:)([^\S\n]{1,8})(" + _QUEUE_ID + r")\b",
                bygroups(Text, Whitespace, MESSAGE_ID),
            ),
            (_IPV4, ADDRESS),
            (_IPV6, ADDRESS),
            (r"<>", Punctuation),
            (r"(<)([^<>\s]{1,998})(>)", bygroups(Punctuation, MAIL_ADDRESS, Punctuation)),
            (r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*", MAIL_ADDRESS),
            (r"\d+(?:\.\d+)+(?![\w-])", Number.Float),
            (r"\d+(?![\w-])", Number.Integer),
            # The client in "connect from unknown[203.0.113.7]". Only [\w.-] is scanned,
            # which the plain-word rule below then consumes: no rescanning.
            (r"\w[\w.-]{0,252}(?=\[)", HOST),
            # Plain words, host names, paths' pieces: taken whole, so a long run is
            # consumed in one step rather than retried at every character.
            (r"\w[\w.-]*", Text),
            # '<' and ':' start addresses; a run of them that is not one is taken whole.
            (r"<+|:+", Punctuation),
        ],
    }
