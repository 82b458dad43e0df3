"""How the UI shows file paths: short, with ``~`` for the home directory."""

from __future__ import annotations

import os
from pathlib import Path


def display_path(path: Path | str) -> str:
    """``~/.config/mailtui/config.toml`` rather than the full path under the home directory."""
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + str(Path(path).relative_to(home))
    except ValueError:
        return str(path)
