"""Quitting is refused while a fix is being applied (no lab).

A real worker in the ``fix-apply`` group (the group FixPreviewDialog._apply runs in) waits on
an event: ``q`` and ``ctrl+q`` then leave the app running, the worker untouched, and show the
"A fix is being applied" warning. Once the worker has ended, ``q`` quits.
"""

from __future__ import annotations

import asyncio
import inspect

from textual.worker import WorkerState

from mailtui.core.profiles import load_config
from mailtui.ui.app import MailtuiApp
from mailtui.ui.dialogs.fix_preview import FixPreviewDialog
from tests.ui.conftest import SIZE, wait_for

GROUP = "fix-apply"
MESSAGE = "A fix is being applied"


def test_the_group_is_the_one_the_preview_applies_in():
    assert f'@work(group="{GROUP}"' in inspect.getsource(FixPreviewDialog)


def warnings_shown(app: MailtuiApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "warning"]


async def test_quit_waits_for_the_fix_apply_worker():
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        release = asyncio.Event()

        async def applying() -> str:
            await release.wait()
            return "applied"

        worker = app.run_worker(applying, group=GROUP, name="apply fix", exit_on_error=False)
        await wait_for(pilot, lambda: worker.state == WorkerState.RUNNING, what="the apply worker")

        for key in ("q", "ctrl+q"):
            before = len(warnings_shown(app))
            await pilot.press(key)
            await pilot.pause()
            assert app.is_running and app.return_code is None, key
            assert worker.state == WorkerState.RUNNING, key  # not cancelled half way
            new = warnings_shown(app)[before:]
            assert len(new) == 1 and new[0].startswith(MESSAGE), (key, new)

        release.set()
        await worker.wait()
        assert worker.state == WorkerState.SUCCESS and worker.result == "applied"

        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None, timeout=10, what="the app to quit")
    assert app.return_code == 0
