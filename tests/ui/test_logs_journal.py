"""The Logs panel on a server that logs to the journal: over SSH from the lab, through sudo.

No journald runs on these machines, so the test writes real journal files itself with
systemd-journal-remote into the system journal directory (``/var/log/journal/<machine
id>/``), where a plain ``journalctl`` -- what mailtui runs on a server -- reads them. It
refuses to do that where a journald is running (that journal is not ours to write to).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest

from mailtui.core.facts import LogSource
from mailtui.core.logs.events import EventKind
from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import SshOptions, SshTransport
from mailtui.ui.screens.logs import LogsScreen
from mailtui.ui.widgets.log_view import LogView
from mailtui.ui.widgets.offenders import OffendersTable
from tests.ui.conftest import wait_for
from tests.ui.test_logs_panel import SIZE, logs_app

pytestmark = pytest.mark.lab

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
ATTACKER = "198.51.100.23"


def _machine_dir() -> str:
    with open("/etc/machine-id") as handle:
        return f"/var/log/journal/{handle.read().strip()}"


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return handle.read().strip().replace("-", "")


def _entry(i: int, identifier: str, message: str, facility: int = 2) -> str:
    # This boot's id, as journald would write: `journalctl --follow` on the system journal
    # shows nothing of entries from another boot.
    return (
        f"__REALTIME_TIMESTAMP={int(time.time() * 1e6)}\n__MONOTONIC_TIMESTAMP={i}\n"
        f"_BOOT_ID={_boot_id()}\n_HOSTNAME=mail\nSYSLOG_FACILITY={facility}\n"
        f"SYSLOG_IDENTIFIER={identifier}\n_PID={1000 + i}\nPRIORITY=4\nMESSAGE={message}\n\n"
    )


def _guesses(first: int, last: int) -> list[str]:
    return [_entry(i, "postfix/submission/smtpd",
                   f"warning: unknown[{ATTACKER}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
            for i in range(first, last + 1)]


class Journal:
    def __init__(self, path: str) -> None:
        self.path = path

    def append(self, entries: list[str]) -> None:
        subprocess.run([JOURNAL_REMOTE, "-o", self.path, "-"], input="".join(entries).encode(), check=True,
                       capture_output=True)


@pytest.fixture
def system_journal(lab):
    if not os.path.exists(JOURNAL_REMOTE):
        pytest.fail("systemd-journal-remote is missing: `python3 tests/lab/lab.py install` installs it")
    if subprocess.run(["pgrep", "-x", "systemd-journal"], capture_output=True).returncode == 0:
        pytest.fail("a journald runs on this machine: this test writes journal files of its own into "
                    "/var/log/journal and will not mix them with a live journal")
    directory = _machine_dir()
    made_dir = not os.path.isdir(directory)
    path = f"{directory}/system.journal"
    if os.path.exists(path):
        pytest.fail(f"{path} exists already: not ours, not touching it")
    os.makedirs(directory, exist_ok=True)
    journal = Journal(path)
    journal.append([
        _entry(1, "postfix/smtpd", "connect from outsider.example.test[127.0.0.2]"),
        _entry(2, "postfix/smtpd", "NOQUEUE: reject: RCPT from outsider.example.test[127.0.0.2]: 554 5.7.1 "
               "<victim@example.org>: Relay access denied; from=<x@example.org> to=<victim@example.org> "
               "proto=ESMTP helo=<outsider.example.test>"),
        _entry(3, "kernel", "an unrelated kernel line", facility=0),  # not mail/auth: not read
        *_guesses(4, 13),
    ])
    try:
        yield journal
    finally:
        for name in os.listdir(directory):
            if name.startswith("system"):
                os.unlink(os.path.join(directory, name))
        if made_dir:
            os.rmdir(directory)


async def test_logs_panel_backfills_and_follows_the_journal_over_ssh(lab, system_journal, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.admin_user, lab.admin_key, agent=False)
    ssh = SshTransport(profile, SshOptions(known_hosts_files=(str(known),)))
    await ssh.connect()
    app = logs_app()
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = LogsScreen(ssh, [LogSource("journald", "journal", "mail", "sudo")], label="lab journal",
                                poll_interval=0.05)
            app.push_screen(screen)
            await pilot.pause()
            view = screen.query_one(LogView)
            table = screen.query_one(OffendersTable)

            def guesses() -> int:
                return sum(1 for e in view.matching_events()
                           if e.kind == EventKind.SMTP_SASL_FAILED and e.remote_ip == ATTACKER)

            # Backfill: the mail lines, classified; the kernel's line is not a mail/auth line.
            await wait_for(pilot, lambda: guesses() == 10, timeout=30, what="the journal's backfill")
            events = list(view.matching_events())
            assert len(events) == 12
            assert [e.kind for e in events[:2]] == [EventKind.SMTP_CONNECT, EventKind.REJECT_RELAY]
            assert {e.record.program for e in events} == {"postfix/smtpd", "postfix/submission/smtpd"}
            assert all("kernel" not in e.record.raw for e in events)
            await wait_for(pilot, lambda: table.row_count >= 1, what="offenders")
            assert [str(c) for c in table.get_row_at(0)][:2] == [ATTACKER, "10"]

            # Live: new entries appear without a restart, none twice.
            await asyncio.to_thread(system_journal.append, _guesses(14, 33))
            await wait_for(pilot, lambda: guesses() == 30, timeout=30, what="the journal's new entries")
            await pilot.pause(0.5)
            assert guesses() == 30
            assert len(list(view.matching_events())) == 32
    finally:
        await ssh.close()
