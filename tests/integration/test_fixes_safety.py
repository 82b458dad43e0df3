"""Safety of the fix engine against the real lab: the timed revert racing the disarm, a
second fix while another fix's revert is armed, the apply task cancelled half way, and the
CLI's undo (plan shown, --dry-run honoured, TARGET honoured). Every test ends with the lab
in its hardened profile and running."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from mailtui.core import audit
from mailtui.core.checks import fixes as fx
from mailtui.core.checks.engine import (
    _BACKUP,
    _DISARM,
    BACKUP_ROOT,
    FixEngine,
    Outcome,
    Step,
    StepState,
    history,
    plan_fix,
    restore_script,
)
from tests.integration.test_checks_lab import LAB, lab_profile, ssh_transport, wait_ssh
from tests.integration.test_fixes_lab import cleanup, services_up, snapshot

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("fix_backups_removed")]


@pytest.fixture
def weak_postfix_lab(lab, monkeypatch, tmp_path):
    """The weak profile (Postfix/Dovecot) for one test; hardened and running again whatever happens."""
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))
    try:
        lab_profile("weak")
        yield lab
    finally:
        cleanup()
        lab_profile("hardened")
        subprocess.run([*LAB, "up"], capture_output=True, timeout=600)
        wait_ssh()


async def _history_item(lab, tmp_path, backup_id):
    async with ssh_transport(lab, tmp_path) as ssh:
        return {i.id: i for i in await history(ssh)}[backup_id]


async def test_revert_firing_before_the_disarm_is_reported_as_rolled_back(weak_postfix_lab, tmp_path):
    before = snapshot()

    bdir = {}

    def slow(event):  # verification "takes longer" than the revert delay: it fires before the disarm
        if event.step == Step.BACKUP and event.state == StepState.STARTED:
            bdir["path"] = event.message
        if event.step == Step.VERIFY and event.state == StepState.OK:
            deadline = time.monotonic() + 60
            while not os.path.exists(bdir["path"] + "/restored") and time.monotonic() < deadline:
                time.sleep(0.2)

    async with ssh_transport(weak_postfix_lab, tmp_path) as ssh:
        plan = await plan_fix(ssh, "smtp.vrfy")
        result = await FixEngine(ssh, observer=slow, revert_after=8).apply(plan)
    assert result.outcome == Outcome.ROLLED_BACK, result.message
    assert "timed revert fired" in result.message
    assert (Step.DISARM, StepState.FAILED) in [(e.step, e.state) for e in result.steps]
    assert snapshot() == before
    services_up()
    item = await _history_item(weak_postfix_lab, tmp_path, result.backup_id)
    assert item.status == "rolled back" and not item.undoable
    assert audit.read_local()[-1].outcome == "rolled back"


async def test_a_fix_is_refused_while_another_fix_revert_is_armed(weak_postfix_lab, tmp_path):
    before = snapshot()
    other = f"{BACKUP_ROOT}/20250101T000000Z-test.other-abcd"
    scratch = "/var/lib/mailtui-lab/mailtui-safety-scratch"  # absent: restoring it removes nothing real
    from mailtui.core.checks.engine import FixPlan

    dummy = FixPlan(fix_id="test.other", title="t", rules=(), services=(), edits=(), before={scratch: None},
                    after={scratch: b"x"}, diff="", commands=(), warnings=(), cuts_ssh=False)
    armed = subprocess.run(["sh", "-c", _BACKUP, "x", other, "120", scratch], input=restore_script(other, dummy),
                           capture_output=True, text=True, timeout=60)
    assert armed.returncode == 0, armed.stderr
    try:
        async with ssh_transport(weak_postfix_lab, tmp_path) as ssh:
            plan = await plan_fix(ssh, "smtp.vrfy")
            result = await FixEngine(ssh).apply(plan)
        assert result.outcome == Outcome.FAILED, result.message
        assert "20250101T000000Z-test.other-abcd" in result.message and "timed revert" in result.message
        assert snapshot() == before
    finally:
        subprocess.run(["sh", "-c", _DISARM, "x", other], timeout=120)
        shutil.rmtree(other, ignore_errors=True)
    services_up()


async def test_cancelling_the_apply_task_restores_and_audits(weak_postfix_lab, tmp_path):
    before = snapshot()
    async with ssh_transport(weak_postfix_lab, tmp_path) as ssh:
        plan = await plan_fix(ssh, "smtp.vrfy")
        holder: dict = {}

        def cancel(event):  # the app quits / Ctrl-C right after the files changed
            if event.step == Step.APPLY and event.state == StepState.OK:
                holder["task"].cancel()

        engine = FixEngine(ssh, observer=cancel)
        holder["task"] = asyncio.ensure_future(engine.apply(plan))
        with pytest.raises(asyncio.CancelledError):
            await holder["task"]
        assert any(e.step == Step.RESTORE and e.state == StepState.OK for e in engine._events)
    assert snapshot() == before
    services_up()
    entry = audit.read_local()[-1]
    assert entry.outcome == "rolled back" and "cancelled" in entry.message
    backup_id = entry.message.rsplit("backup=", 1)[1]
    assert (await _history_item(weak_postfix_lab, tmp_path, backup_id)).status == "rolled back"


async def test_an_unexpected_error_in_verify_restores_and_audits(weak_postfix_lab, tmp_path):
    class Buggy(FixEngine):
        async def _verify(self, plan, before_listen, verify_rules):
            raise KeyError("a bug")

    before = snapshot()
    async with ssh_transport(weak_postfix_lab, tmp_path) as ssh:
        plan = await plan_fix(ssh, "smtp.vrfy")
        with pytest.raises(KeyError) as err:
            await Buggy(ssh).apply(plan)
    assert any("rolled back" in n for n in getattr(err.value, "__notes__", ()))
    assert snapshot() == before
    assert audit.read_local()[-1].outcome == "rolled back"
    services_up()


def _mailtui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailtui", *args], capture_output=True, text=True, timeout=300,
                          env=os.environ)


async def test_cli_undo_dry_run_shows_the_plan_on_the_target_and_changes_nothing(weak_postfix_lab, tmp_path,
                                                                                  isolated_home):
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(weak_postfix_lab.admin_key, ssh_dir / "id_ed25519")
    os.chmod(ssh_dir / "id_ed25519", 0o600)
    (ssh_dir / "known_hosts").write_text(weak_postfix_lab.known_hosts_line + "\n")
    target = f"{weak_postfix_lab.admin_user}@{weak_postfix_lab.ssh_host}:{weak_postfix_lab.ssh_port}"
    async with ssh_transport(weak_postfix_lab, tmp_path) as ssh:
        result = await FixEngine(ssh).apply(await plan_fix(ssh, "smtp.vrfy"))
    assert result.outcome == Outcome.APPLIED, result.message
    fixed = snapshot()
    shown = _mailtui("fix", "--undo", result.backup_id, target, "--dry-run")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"on {target}" in shown.stdout or weak_postfix_lab.ssh_host in shown.stdout, shown.stdout
    assert "+disable_vrfy_command = no" in shown.stdout.replace(" ", "") or "disable_vrfy_command" in shown.stdout
    assert "dry run: nothing changed" in shown.stdout and "! files changed after this fix" in shown.stdout
    assert snapshot() == fixed
    both = _mailtui("fix", "smtp.vrfy", "--undo", result.backup_id, target)
    assert both.returncode == 2 and "RULE_ID" in both.stderr
    assert snapshot() == fixed
    item = await _history_item(weak_postfix_lab, tmp_path, result.backup_id)
    assert item.status == "applied"
