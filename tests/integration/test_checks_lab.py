"""Helpers shared by the checklist/fix lab tests: the lab's weak sshd and SSH transports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import SshOptions, SshTransport

LAB_DIR = Path(os.environ.get("MAILTUI_LAB_DIR", "/var/lib/mailtui-lab"))
SSHD_DROPINS = LAB_DIR / "sshd_config.d"
SSHD_PID = LAB_DIR / "run" / "sshd.pid"
REPO = Path(__file__).resolve().parent.parent.parent
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]

#: The weak sshd state: a drop-in read before the lab's hardened main config.
WEAK_SSHD = SSHD_DROPINS / "50-lab-weak.conf"
WEAK_SSHD_TEXT = "# weak state for the checklist tests\nPasswordAuthentication yes\nPermitRootLogin yes\nMaxAuthTries 6\n"


def hup_sshd(timeout: float = 10) -> None:
    """Make the lab sshd re-read its config (SIGHUP re-executes it) and wait until it answers."""
    pid = int(SSHD_PID.read_text().split()[0])
    os.kill(pid, signal.SIGHUP)
    wait_ssh(timeout)


def wait_ssh(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", 2222), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("lab sshd does not answer")
        time.sleep(0.05)


@contextlib.contextmanager
def weak_sshd(active: bool = True):
    """Put the lab sshd in its weak state for the duration (no-op when not ``active``)."""
    if not active:
        yield
        return
    SSHD_DROPINS.mkdir(exist_ok=True)
    WEAK_SSHD.write_text(WEAK_SSHD_TEXT)
    hup_sshd()
    try:
        yield
    finally:
        WEAK_SSHD.unlink(missing_ok=True)
        hup_sshd()


def lab_profile(name: str) -> None:
    subprocess.run([*LAB, "profile", name], check=True, capture_output=True, timeout=120)


def ssh_transport(lab, tmp_path, **options) -> SshTransport:
    """An SshTransport to the lab as mtadmin (sudo NOPASSWD), host key pinned."""
    known = tmp_path / "known_hosts_checks"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile(name="lab", host=lab.ssh_host, port=lab.ssh_port, user=lab.admin_user,
                            key=lab.admin_key, agent=False, sudo=True)
    opts = dict(known_hosts_files=(str(known),), connect_timeout=5, reconnect_deadline=20)
    opts.update(options)
    return SshTransport(profile, SshOptions(**opts))
