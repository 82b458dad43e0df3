"""The sanitizer neutralises hostile remote text (STYLE.md habit 7)."""

from rich.text import Text

from mailtui.core.text import decode_remote, is_clean, sanitize

ESC = "\x1b"

HOSTILE = {
    "osc52 clipboard write": f"{ESC}]52;c;cm0gLXJmIH4K\x07",
    "csi clear screen": f"{ESC}[2J{ESC}[H",
    "8-bit csi": "\x9b2J",
    "8-bit osc": "\x9d0;title\x9c",
    "title change": f"{ESC}]0;pwned{ESC}\\",
    "bidi override": "user\u202eexe.txt",
    "bidi isolate": "a\u2066b\u2069c",
    "backspace overwrite": "good\x08\x08\x08\x08evil",
    "carriage return": "shown\rhidden",
    "bell": "\x07",
    "line separator": "one\u2028two",
}


def test_no_dangerous_character_survives():
    for name, payload in HOSTILE.items():
        cleaned = sanitize(payload)
        assert ESC not in cleaned, name
        assert not any(0x80 <= ord(c) <= 0x9F for c in cleaned), name
        assert not any(ord(c) < 0x20 for c in cleaned), name
        assert not any(c in cleaned for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028"), name
        assert is_clean(cleaned)


def test_escapes_stay_visible_as_evidence():
    assert sanitize(f"{ESC}[2J") == "\\x1b[2J"
    assert sanitize("\x9b2J") == "\\x9b2J"
    assert sanitize("a\u202eb") == "a\\u202eb"
    assert sanitize(HOSTILE["osc52 clipboard write"]) == "\\x1b]52;c;cm0gLXJmIH4K\\x07"


def test_single_line_fields_cannot_pose_as_several_lines():
    assert sanitize("host\nFAKE LINE") == "host\\nFAKE LINE"
    assert sanitize("a\tb") == "a b"
    assert sanitize("line one\nline two", multiline=True) == "line one\nline two"
    assert sanitize("tab\there", multiline=True) == "tab\there"


def test_plain_text_is_untouched_including_markup_lookalikes():
    for text in ("postfix/smtpd[123]: connect from unknown[192.0.2.1]", "[/b] [bold]x[/bold]", "Grüße ✓ 日本"):
        assert sanitize(text) == text


def test_markup_in_remote_text_renders_literally():
    # The UI shows remote text as Text, never as markup: "[/b]" must not raise MarkupError.
    text = Text(sanitize("warning: [/b] closing tag from a HELO name"))
    assert "[/b]" in text.plain


def test_invalid_utf8_keeps_every_byte_visible():
    raw = b"user=\xff\xfe caf\xc3\xa9"
    decoded = decode_remote(raw)
    assert decoded.encode("utf-8", "surrogateescape") == raw
    assert sanitize(decoded) == "user=\\xff\\xfe café"


def test_truncation_says_how_much_was_cut():
    assert sanitize("x" * 100, max_length=10) == "x" * 10 + "… [90 more characters]"
