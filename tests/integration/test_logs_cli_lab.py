"""`mailtui logs TARGET` on the lab over SSH: the real mail and Dovecot logs, read
through sudo where needed, merged by time; --follow shows a line written afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture
def ssh_home(lab, isolated_home):
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(lab.admin_key, ssh_dir / "id_ed25519")
    os.chmod(ssh_dir / "id_ed25519", 0o600)
    (ssh_dir / "known_hosts").write_text(lab.known_hosts_line + "\n")
    return isolated_home


def _target(lab) -> str:
    return f"{lab.admin_user}@{lab.ssh_host}:{lab.ssh_port}"


def _outsider_relay_probe(rcpt: str = "victim@elsewhere.example") -> None:
    """A real relay attempt from 127.0.0.2, so the log surely has one."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", 25, local_hostname="probe.example.test", source_address=("127.0.0.2", 0), timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("someone@outsider.example.test")
        code, _ = smtp.rcpt(rcpt)
        assert code >= 400


def test_logs_over_ssh_classify_the_real_logs(lab, ssh_home):
    _outsider_relay_probe()
    time.sleep(0.5)
    result = subprocess.run([sys.executable, "-m", "mailtui", "logs", _target(lab), "--lines", "300", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    programs = {e["program"] for e in events}
    assert any(p.startswith("postfix/") for p in programs)
    assert any(p in ("imap-login", "pop3-login", "dovecot", "auth", "imap", "pop3") for p in programs), programs
    relay = [e for e in events if e["kind"] == "reject.relay" and e["ip"] == "127.0.0.2"]
    assert relay and relay[-1]["attack"] is True
    times = [e["time"] for e in events if e["time"]]
    assert times == sorted(times)  # several sources merged by time
    # --summary counts the same lines in bulk: the same kinds, the relay prober an offender.
    result = subprocess.run([sys.executable, "-m", "mailtui", "logs", _target(lab), "--lines", "300", "--summary",
                             "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["lines"] >= len(events) and summary["by_kind"]["reject.relay"] >= len(relay)
    assert "127.0.0.2" in {o["key"] for o in summary["offenders"]}


def test_logs_follow_shows_new_lines(lab, ssh_home):
    proc = subprocess.Popen([sys.executable, "-m", "mailtui", "logs", _target(lab), "--lines", "1", "--follow", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # connected and following
        marker = f"follow-{time.time_ns()}@elsewhere.example"
        _outsider_relay_probe(marker)
        deadline = time.monotonic() + 30
        seen = False
        while time.monotonic() < deadline and not seen:
            line = proc.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            seen = event["kind"] == "reject.relay" and event["ip"] == "127.0.0.2" and marker in event["line"]
        assert seen, proc.stderr.read() if proc.poll() is not None else "no relay line within 30 s"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
