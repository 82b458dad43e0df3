"""The engine's server scripts run for real against a scratch directory (no lab, no sudo):
the timed revert and the disarm race, the refusal while another revert is armed, restore.sh
starting a stopped service, and the id validation on every path into a script."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mailtui.core.checks import engine as E
from mailtui.core.checks.fixes import FixError, Service


def _plan(files: dict[str, tuple[bytes | None, bytes | None]], services=(), fix_id="t.fix", **kw) -> E.FixPlan:
    return E.FixPlan(fix_id=fix_id, title="t", rules=(), services=services, edits=(),
                     before={p: b for p, (b, _) in files.items()}, after={p: a for p, (_, a) in files.items()},
                     diff="", commands=(), warnings=(), cuts_ssh=False, **kw)


def sh(script: str, *args: str, input: str | None = None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script, "x", *args], input=input, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "backups"
    conf = tmp_path / "etc" / "main.cf"
    conf.parent.mkdir()
    conf.write_bytes(b"a = 1\n")
    armed: list[Path] = []
    yield root, conf, armed
    for d in armed:  # never leave a revert running
        sh(E._DISARM, str(d))


def arm(root: Path, conf: Path, armed: list, after: int, name="20250101T000000Z-t.fix-abcd"):
    d = root / name
    plan = _plan({str(conf): (b"a = 1\n", b"a = 2\n")})
    r = sh(E._BACKUP, str(d), str(after), str(conf), input=E.restore_script(str(d), plan))
    if r.returncode == 0:
        armed.append(d)
    return d, r


def test_revert_fired_first_disarm_says_so_and_files_are_old(server):
    root, conf, armed = server
    d, r = arm(root, conf, armed, 1)
    assert r.returncode == 0, r.stderr
    conf.write_bytes(b"a = 2\n")  # the change
    time.sleep(2.5)  # verification took longer than the revert delay
    r = sh(E._DISARM, str(d))
    assert r.returncode == E.DISARM_REVERT_RAN
    assert conf.read_bytes() == b"a = 1\n" and (d / "restored").exists()


def test_disarm_in_time_stops_the_revert(server):
    root, conf, armed = server
    d, r = arm(root, conf, armed, 2)
    conf.write_bytes(b"a = 2\n")
    assert sh(E._DISARM, str(d)).returncode == 0
    time.sleep(3)
    assert conf.read_bytes() == b"a = 2\n" and not (d / "restored").exists()
    assert not (d / "revert.pid").exists()


def test_disarm_of_a_missing_backup_is_quiet(tmp_path):
    assert sh(E._DISARM, str(tmp_path / "nothing")).returncode == 0


def test_backup_refuses_while_another_revert_is_armed(server):
    root, conf, armed = server
    first, r = arm(root, conf, armed, 60)
    assert r.returncode == 0
    second, r = arm(root, conf, armed, 60, name="20250101T000001Z-t.fix-beef")
    assert r.returncode == E.BACKUP_OTHER_ARMED
    assert first.name in r.stderr and " s (" in r.stderr, r.stderr
    assert not second.exists()
    assert sh(E._DISARM, str(first)).returncode == 0
    second, r = arm(root, conf, armed, 60, name="20250101T000001Z-t.fix-beef")
    assert r.returncode == 0, r.stderr


def test_revert_script_is_static_and_quotes_its_dir(server):
    root, conf, armed = server
    d, _ = arm(root, conf, armed, 60)
    text = (d / "revert.sh").read_text()
    assert str(d) not in text and 'mkdir -- "$1/firing"' in text and 'sh "$1/restore.sh"' in text


def _fake_bin(tmp_path: Path, running: bool) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    (bin_dir / "postfix").write_text(f'#!/bin/sh\necho "postfix $*" >> {log}\n'
                                     f'[ "$1" = status ] && exit {0 if running else 1}\nexit 0\n')
    (bin_dir / "postfix").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, log


@pytest.mark.parametrize("running", [True, False])
def test_restore_starts_a_stopped_postfix(tmp_path, running):
    conf = tmp_path / "main.cf"
    conf.write_bytes(b"old\n")
    d = tmp_path / "b" / "20250101T000000Z-t.fix-abcd"
    plan = _plan({str(conf): (b"old\n", b"new\n")}, services=(Service.POSTFIX,))
    env, log = _fake_bin(tmp_path, running)
    assert sh(E._BACKUP, str(d), "60", str(conf), input=E.restore_script(str(d), plan)).returncode == 0
    try:
        conf.write_bytes(b"new\n")
        r = subprocess.run(["sh", str(d / "restore.sh")], capture_output=True, text=True, env=env, timeout=30)
    finally:
        sh(E._DISARM, str(d))
    assert r.returncode == 0 and conf.read_bytes() == b"old\n"
    calls = log.read_text().split("\n")
    if running:
        assert "postfix reload" in calls and "postfix start" not in calls
    else:
        assert "postfix start" in calls and "postfix was not running" in r.stdout


def test_restore_script_for_dovecot_and_sshd_starts_them():
    plan = _plan({"/etc/x": (b"", b"")}, services=(Service.DOVECOT, Service.SSHD),
                 sshd_config="/var/lib/lab/sshd_config", sshd_pidfile="/var/lib/lab/run/sshd.pid")
    text = E.restore_script("/var/backups/mailtui/20250101T000000Z-t.fix-abcd", plan)
    assert "doveadm reload" in text and "dovecot || status=1" in text
    assert "kill -0" in text and "-f /var/lib/lab/sshd_config" in text and "/var/lib/lab/run/sshd.pid" in text


@pytest.mark.parametrize("bad", ["../etc", "a b", "x;rm -rf /", "A", "", "..", "t/../x", "x$(id)"])
def test_bad_fix_ids_are_refused(bad):
    with pytest.raises(FixError):
        E.check_fix_id(bad)
    with pytest.raises(FixError):
        E.restore_script("/var/backups/mailtui/x", _plan({}, fix_id=bad))


@pytest.mark.parametrize("bad", ["../../etc", "20250101T000000Z-x-abcd; id", "20250101T000000Z-X-abcd", ""])
async def test_bad_backup_ids_are_refused_before_any_command(bad):
    class NoTransport:
        label = "nowhere"

        async def run(self, *a, **k):
            raise AssertionError("no command may run")

    with pytest.raises(FixError):
        await E.plan_undo(NoTransport(), bad)
    with pytest.raises(FixError):
        await E.apply_undo(NoTransport(), bad)


async def test_engine_refuses_a_plan_with_a_bad_fix_id():
    class NoTransport:
        label = "nowhere"

        async def run(self, *a, **k):
            raise AssertionError("no command may run")

    with pytest.raises(FixError):
        await E.FixEngine(NoTransport()).apply(_plan({"/etc/x": (b"", b"x")}, fix_id="x;id"))


def test_history_maps_an_applied_fix_whose_revert_ran_to_rolled_back():
    assert E._final_status("applied", "-R") == "rolled back"
    assert E._final_status("applied", "-") == "applied"
    assert E._final_status("applying", "-P") == "revert pending"


def test_plesk_warning_needs_consent():
    plan = _plan({}, )
    assert not E.plan_needs_plesk_consent(plan)
    warned = E.replace(plan, warnings=(E.plesk_warning("18.0.52"),))
    assert E.plan_needs_plesk_consent(warned) and "overwritten" in warned.warnings[0]
