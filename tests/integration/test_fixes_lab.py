"""The fix engine against the real lab over SSH: every fix on the weak state, and fault
injection that must leave the configuration byte-identical and the services up."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import subprocess
import time

import pytest

from mailtui.core import audit
from mailtui.core.checks import fixes as fx
from mailtui.core.checks.engine import FixEngine, Outcome, Step, StepState, apply_undo, history, plan_fix, plan_undo
from mailtui.core.checks.gather import CONFIG_PROBES, gather
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import Status
from tests.integration.test_checks_lab import LAB, SSHD_DROPINS, hup_sshd, lab_profile, ssh_transport, wait_ssh, weak_sshd

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("fix_backups_removed")]

WATCHED = ["/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/dovecot/dovecot.conf",
           "/var/lib/mailtui-lab/sshd_config"]


def snapshot() -> dict[str, str]:
    paths = WATCHED + sorted(glob.glob(str(SSHD_DROPINS / "*.conf"))) + sorted(glob.glob("/etc/dovecot/conf.d/99-mailtui-*"))
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def services_up() -> None:
    status = subprocess.run([*LAB, "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr


def cleanup() -> None:
    for path in glob.glob(str(SSHD_DROPINS / "00-mailtui-*")) + glob.glob("/etc/dovecot/conf.d/99-mailtui-*") + \
            glob.glob("/etc/postfix/mailtui-own-domains") + glob.glob("/etc/postfix/mailtui-sender-login") + \
            glob.glob("/etc/postfix/mailtui-sasl-access"):
        os.unlink(path)
    hup_sshd()


@pytest.fixture
def weak_lab(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))
    lab_profile("weak")
    with weak_sshd():
        try:
            yield lab
        finally:
            cleanup()
    lab_profile("hardened")
    wait_ssh()


async def test_every_fix_flips_its_rule_on_the_weak_lab_and_undo_restores(weak_lab, tmp_path):
    started = time.monotonic()
    async with ssh_transport(weak_lab, tmp_path) as ssh:
        facts = await gather(ssh, CONFIG_PROBES)
        todo = sorted({f.fix for f in evaluate(facts) if f.fix and f.status in (Status.FAIL, Status.WARN)})
        assert len(todo) >= 18, todo
        first = snapshot()
        backups = []
        for fix_id in todo:
            plan = await plan_fix(ssh, fix_id)
            if not plan.files:
                continue  # an earlier fix already repaired it (e.g. imap.ssl_required also fixes listeners)
            assert plan.diff.startswith("---")
            result = await FixEngine(ssh).apply(plan)
            assert result.outcome == Outcome.APPLIED, (fix_id, result.message)
            # port 25 of the cipher rule stays INFO: anonymous/phase-out suites are normal there
            assert all(f.status == Status.PASS or (f.status == Status.INFO and f.id == "tls.postfix_ciphers"
                                                   and f.target == "port 25")
                       for f in result.findings_after), (fix_id, [(f.id, f.target, f.status) for f in result.findings_after])
            backups.append(result.backup_id)
            services_up()
        after = evaluate(await gather(ssh, CONFIG_PROBES))
        still = [f"{f.id}: {f.evidence}" for f in after if f.fix in todo and f.status == Status.FAIL]
        assert not still, still
        items = {i.id: i for i in await history(ssh)}
        assert all(items[b].status == "applied" for b in backups)
        # undo the last Postfix fix through the same protocol: its rule fails again
        last = next(b for b in reversed(backups) if items[b].files[0].startswith("/etc/postfix"))
        shown = await plan_undo(ssh, last)
        with pytest.raises(fx.FixError):
            await apply_undo(ssh, backups[0] if backups[0] != last else backups[1], plan=shown)
        undo = await apply_undo(ssh, last, plan=shown)  # exactly the plan that was shown
        assert undo.outcome == Outcome.APPLIED, undo.message
        assert undo.plan is shown
        # the engine writes the final status of both: nothing for the UI to guess
        items = {i.id: i for i in await history(ssh)}
        assert items[last].status == "undone" and items[last].undone_by == undo.backup_id
        assert items[undo.backup_id].status == "applied" and items[undo.backup_id].undo_of == last
        assert not items[last].undoable and items[undo.backup_id].undoable
        assert [e.action for e in audit.read_local()][-1] == "undo"
    services_up()
    assert first != snapshot()
    print(f"{len(backups)} fixes + undo in {time.monotonic() - started:.1f}s")


def _custom(fix_id: str, build, reads=(), rules=()) -> fx.Fix:
    return fx.Fix(fix_id, f"test {fix_id}", rules, build, reads)


async def _fault(lab, tmp_path, fix_def, engine_kwargs=None, engine_cls=FixEngine, observer=None, expect=Outcome.ROLLED_BACK,
                 **options):
    before = snapshot()
    async with ssh_transport(lab, tmp_path, **options) as ssh:
        plan = await plan_fix(ssh, fix_def.id, fix_def=fix_def)
        events = []

        def watch(event):
            events.append(event)
            if observer:
                observer(event)

        result = await engine_cls(ssh, observer=watch, **(engine_kwargs or {})).apply(plan)
    assert result.outcome == expect, result.message
    if expect == Outcome.ROLLED_BACK:
        assert snapshot() == before
        services_up()
    return result, events, before


async def test_invalid_value_fails_validation_and_restores(weak_lab, tmp_path):
    bad = _custom("test.bad_value", lambda f, files, u: fx._sshd(f, files, "test.bad_value", {"MaxAuthTries": "lots"}),
                  reads=("sshd_config",))
    result, events, _ = await _fault(weak_lab, tmp_path, bad)
    assert (Step.VALIDATE, StepState.FAILED) in [(e.step, e.state) for e in events]
    assert "sshd" in result.message and "restored byte for byte" in result.message


async def test_failing_reload_restores(weak_lab, tmp_path):
    class BrokenReload(FixEngine):
        def reload_command(self, service, plan):
            return ["postfix", "reload-that-does-not-exist"]

    vrfy = fx.FIXES["smtp.vrfy"]
    result, events, _ = await _fault(weak_lab, tmp_path, vrfy, engine_cls=BrokenReload)
    assert (Step.RELOAD, StepState.FAILED) in [(e.step, e.state) for e in events]


async def test_failing_verification_restores(weak_lab, tmp_path):
    # a valid change that does not repair the rule it claims to repair
    wrong = _custom("test.wrong_fix", lambda f, files, u: fx._dovecot(f, files, "test.wrong_fix",
                                                                       {"login_greeting": "Hello."}),
                    reads=("dovecot.conf",), rules=("imap.ssl_required",))
    result, events, _ = await _fault(weak_lab, tmp_path, wrong)
    assert (Step.VERIFY, StepState.FAILED) in [(e.step, e.state) for e in events]
    assert "still fails" in result.message
    async with ssh_transport(weak_lab, tmp_path) as ssh:
        item = {i.id: i for i in await history(ssh)}[result.backup_id]
    assert item.status == "rolled back" and not item.undoable


async def test_connection_dropped_mid_apply_restores(weak_lab, tmp_path):
    def drop(event):
        if event.step == Step.VALIDATE and event.state == StepState.STARTED:
            subprocess.run([*LAB, "sshd-restart", "--drop-sessions"], check=True, capture_output=True, timeout=60)

    result, events, _ = await _fault(weak_lab, tmp_path, fx.FIXES["imap.ssl_required"], observer=drop)
    assert any(e.step == Step.RESTORE and e.state == StepState.OK for e in events)


async def test_timed_revert_fires_when_the_fresh_login_fails(weak_lab, tmp_path):
    lockout = _custom("test.lockout", lambda f, files, u: fx._sshd(f, files, "test.lockout", {"DenyUsers": "mtadmin"}),
                      reads=("sshd_config",))

    def drop(event):
        # the admin's session dies too: mailtui cannot restore, only the server can
        if event.step == Step.LOGIN and event.state == StepState.STARTED:
            subprocess.run([*LAB, "sshd-restart", "--drop-sessions"], check=True, capture_output=True, timeout=60)

    before = snapshot()
    result, events, _ = await _fault(weak_lab, tmp_path, lockout, engine_kwargs={"revert_after": 6},
                                     observer=drop, expect=Outcome.REVERT_PENDING, reconnect_deadline=3)
    assert (Step.LOGIN, StepState.FAILED) in [(e.step, e.state) for e in events]
    assert snapshot() != before  # still locked out until the server reverts
    deadline = time.monotonic() + 30
    while snapshot() != before and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert snapshot() == before
    wait_ssh()
    async with ssh_transport(weak_lab, tmp_path) as ssh:  # logging in works again
        assert (await ssh.run(["true"])).ok
        # the engine could not write the end; the server's restore did: the history says so
        item = {i.id: i for i in await history(ssh)}[result.backup_id]
        assert item.status == "rolled back", item
    services_up()
