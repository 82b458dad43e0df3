"""Fixtures of the integration tests that leave the lab machine as they found it."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest

from mailtui.core.checks.engine import BACKUP_ROOT


def _backup_dirs() -> set[str]:
    """The backup directories under BACKUP_ROOT (not its ``.lock``/``.lock.d``)."""
    try:
        entries = list(os.scandir(BACKUP_ROOT))
    except FileNotFoundError:
        return set()
    return {e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}


def _revert_armed(bdir: Path) -> bool:
    """True while the backup's timed revert still runs: it restores from this directory."""
    try:
        pid = (bdir / "revert.pid").read_text().strip()
        if not pid.isdigit():
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return f"{bdir}/revert.sh".encode() in cmdline.replace(b"\0", b" ")


@pytest.fixture
def fix_backups_removed():
    """Remove the backup directories (BACKUP_ROOT/<id>/) that fixes applied by the test made.

    Only entries that were not there before the test go. A backup whose timed revert is
    still running is kept (with a warning): deleting it would leave that revert nothing
    to restore. Used through ``usefixtures`` so it is set up before the lab fixtures and
    torn down after them (their cleanup may apply or restore through the engine too).
    """
    if os.geteuid() != 0:  # the lab tests skip; BACKUP_ROOT is root's
        yield
        return
    before = _backup_dirs()
    yield
    for name in sorted(_backup_dirs() - before):
        bdir = Path(BACKUP_ROOT) / name
        if _revert_armed(bdir):
            warnings.warn(f"kept {bdir}: its timed revert is still armed", stacklevel=1)
            continue
        shutil.rmtree(bdir)
