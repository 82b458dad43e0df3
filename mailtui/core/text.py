"""Neutralise text that came from a server before anyone displays it.

Everything a remote machine sends us (command output, log lines, SMTP banners, HELO
names, user names) is hostile until it went through :func:`sanitize`. Textual passes
raw escape sequences through to the terminal, so an ``ESC ] 52`` in a log line could
write the admin's clipboard and a ``CSI 2J`` could wipe the screen. We do not strip
such bytes silently: an attack attempt is evidence, so each dangerous character is
replaced by a visible escape (``\\x1b``, ``\\u202e``) and the rest of the sequence stays
as harmless printable text.

Rich/Textual markup (``[/b]``) is not touched here: that danger is handled by never
interpolating remote text into markup (the UI builds ``Text``/``Content`` objects).
"""

from __future__ import annotations

import re

__all__ = ["sanitize", "decode_remote", "is_clean"]


def _escape_for(codepoint: int) -> str:
    if 0xDC80 <= codepoint <= 0xDCFF:
        # A lone surrogate made by ``surrogateescape`` decoding: show the raw byte.
        return f"\\x{codepoint - 0xDC00:02x}"
    if codepoint <= 0xFF:
        return f"\\x{codepoint:02x}"
    return f"\\u{codepoint:04x}"


# C0 controls except TAB and LF, DEL, the C1 block (0x80-0x9f holds 8-bit CSI 0x9b,
# OSC 0x9d, ST 0x9c ...), Unicode line/paragraph separators, the bidi embedding /
# override / isolate controls (Trojan Source), lone surrogates from undecodable bytes.
_DANGEROUS = (
    [c for c in range(0x00, 0x20) if c not in (0x09, 0x0A)]
    + [0x7F]
    + list(range(0x80, 0xA0))
    + [0x061C, 0x200E, 0x200F, 0x2028, 0x2029]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
    + list(range(0xDC80, 0xDD00))
)
_TABLE = {c: _escape_for(c) for c in _DANGEROUS}
_SINGLE_LINE_TABLE = {**_TABLE, 0x0A: "\\n", 0x09: " "}
_DANGEROUS_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _DANGEROUS) + "]")
_SINGLE_LINE_RE = re.compile("[\n\t" + _DANGEROUS_RE.pattern[1:])


def sanitize(text: str, *, multiline: bool = False, max_length: int | None = None) -> str:
    """Return ``text`` made safe to show in a terminal.

    ``multiline=False`` (the default, for a field such as a host name or a log line)
    also escapes line feeds so one remote value can never pose as several lines.
    ``max_length`` truncates overly long text and says how much was cut.
    """
    if max_length is not None and len(text) > max_length:
        cut = len(text) - max_length
        text = text[:max_length]
        suffix = f"… [{cut} more characters]"
    else:
        suffix = ""
    pattern, table = (_DANGEROUS_RE, _TABLE) if multiline else (_SINGLE_LINE_RE, _SINGLE_LINE_TABLE)
    if pattern.search(text) is not None:
        text = text.translate(table)
    return text + suffix


def is_clean(text: str, *, multiline: bool = False) -> bool:
    """True when ``sanitize`` would leave ``text`` unchanged (length limits aside)."""
    pattern = _DANGEROUS_RE if multiline else _SINGLE_LINE_RE
    return pattern.search(text) is None


def decode_remote(data: bytes) -> str:
    """Decode bytes from a server without losing anything.

    Invalid UTF-8 becomes lone surrogates (``surrogateescape``) so parsers still see
    every byte and :func:`sanitize` later shows them as ``\\xNN``.
    """
    return data.decode("utf-8", errors="surrogateescape")
