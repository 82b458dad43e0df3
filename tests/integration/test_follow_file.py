"""Following a log file over SSH: written == received, no duplicates, through a dropped
connection (sshd restart), a killed follower process and a log rotation."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess

import pytest

from mailtui.core.logs.follow import FileFollower, FollowedLines, FollowNotice, NoticeKind
from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import LocalTransport, SshOptions, SshTransport

pytestmark = pytest.mark.lab

LOG = "/var/lib/mailtui-lab/follow-test.log"


def _line(i: int) -> str:
    return f"Nov 29 14:34:53 mail postfix/smtpd[{i}]: connect from unknown[192.0.2.{i % 250}] seq={i:06d}\n"


@pytest.fixture
def log_file():
    for path in (LOG, LOG + ".1"):
        if os.path.exists(path):
            os.unlink(path)
    with open(LOG, "w") as handle:
        handle.writelines(_line(i) for i in range(1, 501))
    yield LOG
    for path in (LOG, LOG + ".1"):
        if os.path.exists(path):
            os.unlink(path)


async def _write(first: int, last: int, rng: random.Random) -> None:
    """Append lines in chunks that cut lines in half, like a real writer's buffers."""
    data = "".join(_line(i) for i in range(first, last + 1)).encode()
    with open(LOG, "ab", buffering=0) as handle:
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 700)
            handle.write(data[pos : pos + step])
            pos += step
            await asyncio.sleep(0.002)


def _rotate() -> None:
    os.rename(LOG, LOG + ".1")
    with open(LOG, "w"):
        pass


async def test_follow_survives_drop_kill_and_rotation(lab, log_file, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.admin_user, lab.admin_key, agent=False)
    ssh = SshTransport(profile, SshOptions(known_hosts_files=(str(known),), reconnect_deadline=30))
    await ssh.connect()
    follower = FileFollower(ssh, LOG, backfill_lines=100, poll_interval=0.05, restart_delay=0.2)
    received: list[str] = []
    notices: list[NoticeKind] = []
    rng = random.Random(7)

    async def scenario():
        await _write(501, 1200, rng)
        await asyncio.to_thread(lab.lab, "sshd-restart", "--drop-sessions")
        await _write(1201, 1900, rng)
        await asyncio.sleep(0.3)
        subprocess.run(["pkill", "-f", follower._nonce], check=False)
        await _write(1901, 2500, rng)
        await asyncio.sleep(0.3)
        _rotate()
        await _write(2501, 3000, rng)

    task: asyncio.Task | None = None
    events = follower.events()
    try:
        async with asyncio.timeout(90):
            async for event in events:
                if isinstance(event, FollowedLines):
                    received.extend(event.lines)
                    if task is None:  # the backfill has been read: now the writer starts
                        task = asyncio.create_task(scenario())
                elif isinstance(event, FollowNotice):
                    notices.append(event.kind)
                if received and received[-1].endswith("seq=003000") and task and task.done():
                    break
    finally:
        await events.aclose()
        if task is not None:
            await task
        await ssh.close()
    expected = [_line(i).rstrip("\n") for i in range(401, 3001)]
    assert len(received) == len(set(received)), "duplicates"
    assert received == expected
    assert NoticeKind.INTERRUPTED in notices and NoticeKind.RESUMED in notices
    assert NoticeKind.RESTARTED in notices
    assert NoticeKind.ROTATED in notices


async def test_follow_resumes_from_a_saved_position(lab, log_file):
    local = LocalTransport()
    await local.connect()
    first = FileFollower(local, LOG, backfill_lines=100, poll_interval=0.05)
    events = first.events()
    await _write(501, 600, random.Random(1))
    seen: list[str] = []
    async with asyncio.timeout(20):
        async for event in events:
            if isinstance(event, FollowedLines):
                seen.extend(event.lines)
            if seen and seen[-1].endswith("seq=000600"):
                break
    await events.aclose()
    position = first.position
    assert position.offset == os.path.getsize(LOG)
    await _write(601, 700, random.Random(2))  # written while nobody follows
    second = FileFollower(local, LOG, position=position, poll_interval=0.05)
    events = second.events()
    later: list[str] = []
    async with asyncio.timeout(20):
        async for event in events:
            if isinstance(event, FollowedLines):
                later.extend(event.lines)
            if later and later[-1].endswith("seq=000700"):
                break
    await events.aclose()
    assert seen == [_line(i).rstrip("\n") for i in range(501, 601)]
    assert later == [_line(i).rstrip("\n") for i in range(601, 701)]


async def test_unreadable_file_is_reported_then_followed_once_readable(lab, log_file, tmp_path):
    """mtadmin without sudo may not read a 0600 root file: say so, don't spin, recover."""
    os.chmod(LOG, 0o600)
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.admin_user, lab.admin_key, agent=False)
    async with SshTransport(profile, SshOptions(known_hosts_files=(str(known),))) as ssh:
        follower = FileFollower(ssh, LOG, backfill_lines=0, poll_interval=0.05)
        events = follower.events()
        kinds: list[object] = []
        lines: list[str] = []
        async with asyncio.timeout(30):
            async for event in events:
                if isinstance(event, FollowNotice):
                    kinds.append(event.kind)
                    if event.kind == NoticeKind.UNREADABLE:
                        assert "may not read it" in event.text
                        os.chmod(LOG, 0o644)
                        await _write(501, 510, random.Random(3))
                else:
                    lines.extend(event.lines)
                if len(lines) >= 10:
                    break
        await events.aclose()
    assert kinds == [NoticeKind.UNREADABLE]
    assert lines == [_line(i).rstrip("\n") for i in range(1, 511)][-len(lines):]


async def test_a_backfill_says_how_much_is_still_coming(lab, log_file):
    """Each batch of a backfill tells the bytes the server still sends after it (the Logs
    panel counts lines that will not be in view in bulk); the newest batch says 0."""
    with open(LOG, "w") as handle:  # about 17 MB: several 4 MB segments
        handle.writelines(_line(i) for i in range(1, 200_001))
    size = os.path.getsize(LOG)
    local = LocalTransport()
    await local.connect()
    follower = FileFollower(local, LOG, backfill_lines=200_000, poll_interval=0.05)
    events = follower.events()
    batches: list[FollowedLines] = []
    async with asyncio.timeout(60):
        async for event in events:
            if isinstance(event, FollowedLines):
                batches.append(event)
                if event.position.offset == size:
                    break
    await events.aclose()
    assert len(batches) >= 4
    assert [b.behind for b in batches] == [size - b.position.offset for b in batches]
    assert batches[0].behind > 0 and batches[-1].behind == 0
    assert sum(len(b.lines) for b in batches) == 200_000
