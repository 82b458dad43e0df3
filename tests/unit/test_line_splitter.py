"""Streams cut huge lines, keep invalid UTF-8, and never hold more than a line."""

from mailtui.core.transport.base import LineSplitter


def test_lines_split_across_chunks():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ("one",)
    assert splitter.feed(b"o\r\nthree\n") == ("two", "three")
    assert splitter.flush() == ()


def test_one_megabyte_line_is_cut_and_memory_bounded():
    splitter = LineSplitter(max_bytes=1000)
    chunk = b"A" * 65536
    for _ in range(16):  # 1 MiB without a newline
        assert splitter.feed(chunk) == ()
        assert len(splitter._buffer) <= 1000
    (line,) = splitter.feed(b"tail\nnext line\n")[:1]
    assert line.startswith("A" * 1000)
    assert line.endswith(f"[… {16 * 65536 + 4 - 1000} more bytes cut by mailtui]")
    assert splitter.flush() == ()


def test_invalid_utf8_survives_as_surrogates():
    splitter = LineSplitter()
    (line,) = splitter.feed(b"user \xff\xfe\n")
    assert line.encode("utf-8", "surrogateescape") == b"user \xff\xfe"
