"""The follower's framing: fast bulk decoding and compressed segments give the same lines and offsets."""

from __future__ import annotations

import gzip
import random

import pytest

from mailtui.core.logs.follow import FollowedLines, FollowProtocolError, _Framing

NONCE = "@@mailtui-test"
_PIECES = [b"a", b"\n", b"\r", b"\r\n", b"\xe2\x82", b"\xac", b"\xff", b"\xe2\x82\xac", b" ", b"\x1b[2J"]


def _frames(data: bytes, segment: int, compress: bool) -> bytes:
    out = [f"{NONCE} start 7 0\n".encode()]
    for off in range(0, len(data), segment):
        part = data[off : off + segment]
        if compress:
            packed = gzip.compress(part, compresslevel=1)
            out.append(f"{NONCE} zdata 7 {off} {len(part)} {len(packed)}\n".encode() + packed)
        else:
            out.append(f"{NONCE} data 7 {off} {len(part)}\n".encode() + part)
    return b"".join(out)


def _run(framing: _Framing, stream: bytes, chunk: int) -> list[str]:
    lines: list[str] = []
    for i in range(0, len(stream), chunk):
        for item in framing.feed(stream[i : i + chunk]):
            assert isinstance(item, FollowedLines)
            lines.extend(item.lines)
    return lines


def _reference(data: bytes, max_line_bytes: int) -> tuple[list[str], int]:
    """Line by line, the way the framing worked before the fast path."""
    framing = _Framing(NONCE, "/var/log/mail.log", None, max_line_bytes)
    lines: list[str] = []
    framing._lines_one_by_one(data, lines)
    return lines, framing.committed


@pytest.mark.parametrize("compress", [False, True])
def test_bulk_and_compressed_segments_match_line_by_line(compress: bool) -> None:
    rng = random.Random(5)
    for _ in range(400):
        data = b"".join(rng.choice(_PIECES) * rng.choice([1, 1, 2, 30]) for _ in range(rng.randrange(0, 150)))
        max_line_bytes = rng.choice([1, 4, 40, 65536])
        framing = _Framing(NONCE, "/var/log/mail.log", None, max_line_bytes)
        stream = _frames(data, rng.choice([1, 5, 64, 4096]), compress)
        lines = _run(framing, stream, rng.choice([1, 3, 50, 100000]))
        expected, committed = _reference(data, max_line_bytes)
        assert lines == expected
        assert framing.committed == committed
        assert framing.position.inode == 7


def test_a_corrupt_compressed_segment_is_a_protocol_error() -> None:
    framing = _Framing(NONCE, "/var/log/mail.log", None, 65536)
    with pytest.raises(FollowProtocolError):
        framing.feed(f"{NONCE} zdata 7 0 10 4\n".encode() + b"junk")


def test_a_compressed_segment_of_the_wrong_length_is_a_protocol_error() -> None:
    packed = gzip.compress(b"one line\n")
    framing = _Framing(NONCE, "/var/log/mail.log", None, 65536)
    with pytest.raises(FollowProtocolError):
        framing.feed(f"{NONCE} zdata 7 0 99 {len(packed)}\n".encode() + packed)


def test_the_long_line_check_agrees_with_measuring_every_line():
    import random

    from mailtui.core.logs.follow import _longest_line_over

    for seed in range(3000):
        rng = random.Random(seed)
        limit = rng.randint(1, 40)
        body = bytes(rng.choice(b"ab\n" if seed % 2 else b"abcdefg\n") for _ in range(rng.randint(0, 150)))
        assert _longest_line_over(body, limit) == (max(map(len, body.split(b"\n"))) > limit), (body, limit)


@pytest.mark.parametrize("notice", ["rotated 8 /var/log/mail.log.1", "gone 8", "truncated 0"])
def test_lines_before_a_rotation_in_the_same_chunk_are_not_behind(notice: str) -> None:
    """The server sends a rotated/gone/truncated frame right after the old file's last
    segment: those lines are the newest, nothing of that catch-up is still coming."""
    data = b"".join(b"Nov 29 15:04:54 mail x[1]: line %d\n" % i for i in range(10))
    framing = _Framing(NONCE, "/var/log/mail.log", None, 65536)
    stream = (f"{NONCE} start 7 0\n{NONCE} data 7 0 {len(data)} 50000000\n".encode() + data
              + f"{NONCE} {notice}\n".encode())
    items = framing.feed(stream)
    lines = [item for item in items if isinstance(item, FollowedLines)]
    assert sum(len(item.lines) for item in lines) == 10
    assert [item.behind for item in lines] == [0] * len(lines)
    # and a catch-up still under way says how much is coming
    framing = _Framing(NONCE, "/var/log/mail.log", None, 65536)
    (item,) = framing.feed(f"{NONCE} start 7 0\n{NONCE} data 7 0 {len(data)} 5000\n".encode() + data)
    assert item.behind == 5000 - len(data)
