"""The engine interrupted on a scratch "server" (this machine, files under tmp_path, no
services): a cancelled apply and an unexpected exception both restore byte for byte and
audit before the interruption propagates; an error after the disarm never rolls back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mailtui.core import audit
from mailtui.core.checks import engine as E
from mailtui.core.transport.local import LocalTransport


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "BACKUP_ROOT", str(tmp_path / "backups"))
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))

    async def record(transport, entry):
        audit.append_local(entry)
        return entry

    monkeypatch.setattr(audit, "record", record)
    conf = tmp_path / "main.cf"
    conf.write_bytes(b"a = 1\n")
    plan = E.FixPlan(fix_id="t.fix", title="T", rules=(), services=(), edits=(), before={str(conf): b"a = 1\n"},
                     after={str(conf): b"a = 2\n"}, diff="", commands=("write",), warnings=(), cuts_ssh=False)
    yield conf, plan
    for d in (tmp_path / "backups").glob("*"):  # no revert left running
        import subprocess
        subprocess.run(["sh", "-c", E._DISARM, "x", str(d)], timeout=120)


class Quiet(E.FixEngine):
    async def _listening(self, plan):
        return set()

    async def _verify(self, plan, before_listen, verify_rules):
        return ()


async def test_cancelled_after_apply_restores_and_audits(scratch):
    conf, plan = scratch
    holder = {}

    def cancel(event):
        if event.step == E.Step.APPLY and event.state == E.StepState.OK:
            assert conf.read_bytes() == b"a = 2\n"
            holder["task"].cancel()

    async with LocalTransport(sudo=False) as local:
        holder["task"] = asyncio.ensure_future(Quiet(local, observer=cancel).apply(plan))
        with pytest.raises(asyncio.CancelledError):
            await holder["task"]
    assert conf.read_bytes() == b"a = 1\n"
    entry = audit.read_local()[-1]
    assert entry.outcome == "rolled back" and "cancelled during" in entry.message


async def test_unexpected_error_in_verify_restores_audits_and_reraises(scratch):
    conf, plan = scratch

    class Buggy(Quiet):
        async def _verify(self, plan, before_listen, verify_rules):
            raise ValueError("a bug")

    async with LocalTransport(sudo=False) as local:
        with pytest.raises(ValueError) as err:
            await Buggy(local).apply(plan)
    assert conf.read_bytes() == b"a = 1\n"
    assert any("rolled back" in n for n in err.value.__notes__)
    assert audit.read_local()[-1].outcome == "rolled back"


async def test_an_error_after_the_disarm_never_rolls_back(scratch):
    conf, plan = scratch

    class BadBookkeeping(Quiet):
        async def _write_meta(self, bdir, plan, backup_id, status):
            if status == E.FixStatus.APPLIED:
                raise KeyError("meta")
            await super()._write_meta(bdir, plan, backup_id, status)

    async with LocalTransport(sudo=False) as local:
        result = await BadBookkeeping(local).apply(plan)
    assert result.outcome == E.Outcome.APPLIED and "history not updated" in result.message
    assert conf.read_bytes() == b"a = 2\n"


async def test_a_slow_verify_loses_to_the_revert_and_is_rolled_back(scratch):
    conf, plan = scratch

    class Slow(Quiet):
        async def _verify(self, plan, before_listen, verify_rules):
            await asyncio.sleep(2.5)
            return ()

    async with LocalTransport(sudo=False) as local:
        result = await Slow(local, revert_after=1).apply(plan)
    assert result.outcome == E.Outcome.ROLLED_BACK and "timed revert fired" in result.message
    assert conf.read_bytes() == b"a = 1\n"
    meta = json.loads((Path(E.BACKUP_ROOT) / result.backup_id / "meta.json").read_text())
    assert meta["status"] == "rolled back"
