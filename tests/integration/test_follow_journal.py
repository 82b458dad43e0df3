"""Following the journal over SSH: resume by cursor through a dropped connection and a
killed journalctl. Real journal files, written by systemd-journal-remote (no journald
runs on the lab machine), read with `journalctl --file` through sudo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import pytest

from mailtui.core.logs.follow import FollowedLines, FollowNotice, JournalFollower, JournalPosition, NoticeKind
from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import SshOptions, SshTransport

pytestmark = pytest.mark.lab

JOURNAL_DIR = "/var/lib/mailtui-lab/journal-test"
JOURNAL = f"{JOURNAL_DIR}/remote.journal"
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def _entry(i: int, facility: int = 2) -> str:
    return (
        f"__REALTIME_TIMESTAMP={int(time.time() * 1e6)}\n__MONOTONIC_TIMESTAMP={i}\n"
        f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mail\nSYSLOG_FACILITY={facility}\n"
        f"SYSLOG_IDENTIFIER=postfix/smtpd\n_PID={i}\nPRIORITY=6\n"
        f"MESSAGE=connect from unknown[192.0.2.{i % 250}] seq={i:06d}\n\n"
    )


def _append(first: int, last: int, facility: int = 2) -> None:
    data = "".join(_entry(i, facility) for i in range(first, last + 1)).encode()
    subprocess.run([JOURNAL_REMOTE, "-o", JOURNAL, "-"], input=data, check=True, capture_output=True)


@pytest.fixture
def journal(lab):
    if not os.path.exists(JOURNAL_REMOTE):
        pytest.fail("systemd-journal-remote is missing: `python3 tests/lab/lab.py install` installs it")
    subprocess.run(["rm", "-rf", JOURNAL_DIR], check=True)
    os.makedirs(JOURNAL_DIR, mode=0o700)
    _append(1, 300)
    yield JOURNAL
    subprocess.run(["rm", "-rf", JOURNAL_DIR], check=True)


def _seq(line: str) -> int:
    return int(json.loads(line)["MESSAGE"].rsplit("seq=", 1)[1])


async def test_journal_follow_resumes_by_cursor(lab, journal, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.admin_user, lab.admin_key, agent=False)
    ssh = SshTransport(profile, SshOptions(known_hosts_files=(str(known),), reconnect_deadline=30))
    await ssh.connect()
    follower = JournalFollower(ssh, files=(journal,), backfill_lines=50, restart_delay=0.2)
    seqs: list[int] = []
    notices: list[NoticeKind] = []

    async def scenario():
        await asyncio.to_thread(_append, 301, 400)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(lab.lab, "sshd-restart", "--drop-sessions")
        await asyncio.to_thread(_append, 401, 500)
        await asyncio.to_thread(_append, 501, 510, 3)  # daemon facility: not mail/auth, filtered out
        await asyncio.sleep(1.5)
        subprocess.run(["pkill", "-f", "--", f"--file={journal}"], check=False)
        await asyncio.to_thread(_append, 511, 600)

    task: asyncio.Task | None = None
    events = follower.events()
    try:
        async with asyncio.timeout(60):
            async for event in events:
                if isinstance(event, FollowedLines):
                    seqs.extend(_seq(line) for line in event.lines)
                    if task is None:
                        task = asyncio.create_task(scenario())
                else:
                    notices.append(event.kind)
                if seqs and seqs[-1] == 600:
                    break
    finally:
        await events.aclose()
        if task is not None:
            await task
        await ssh.close()
    expected = [*range(251, 501), *range(511, 601)]
    assert len(seqs) == len(set(seqs)), "duplicates"
    assert seqs == expected
    assert NoticeKind.INTERRUPTED in notices and NoticeKind.RESUMED in notices
    assert NoticeKind.RESTARTED in notices
    assert isinstance(follower.position, JournalPosition) and follower.position.cursor
