"""Themes as data: TOML files in ``themes/`` turned into Textual ``Theme`` objects.

A theme file names a Textual theme's colours::

    name = "mailtui-dark"
    dark = true
    primary = "#4f9fe0"
    secondary = "#8fa8d8"
    accent = "#f0a04b"
    background = "#0f141a"
    surface = "#161d26"
    panel = "#1f2935"
    foreground = "#d9dee7"
    success = "#78c479"
    warning = "#e6c170"
    error = "#f2677b"

    [variables]            # optional: Textual or mailtui CSS variables
    "footer-key-foreground" = "#f0a04b"

Only ``name``, ``primary`` and ``dark`` are required; Textual derives what is left out.
Each theme is a new ``Theme`` object: Textual's built-in themes are never touched.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

__all__ = ["DEFAULT_THEME", "ThemeError", "bundled_themes_dir", "load_theme", "load_themes"]

DEFAULT_THEME = "mailtui-dark"

_COLOUR_KEYS = ("primary", "secondary", "accent", "background", "surface", "panel",
                "foreground", "success", "warning", "error", "boost")
_ALLOWED_KEYS = {"name", "dark", "variables", "luminosity_spread", "text_alpha", *_COLOUR_KEYS}


class ThemeError(ValueError):
    """A theme file is wrong. The message names the file and the key."""

    def __init__(self, path: Path, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        super().__init__(f"{path}: {key}: {problem}")


def bundled_themes_dir() -> Path:
    """The ``themes/`` directory: beside the package in a checkout, else installed data.

    ``pip install .`` puts the files under ``<prefix>/share/mailtui/themes`` (see
    ``[tool.setuptools.data-files]`` in pyproject.toml).
    """
    checkout = Path(__file__).resolve().parents[2] / "themes"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "mailtui" / "themes"


def load_theme(path: Path) -> Theme:
    """Read one theme file and return it as a Textual Theme."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(path, "(file)", f"cannot be read: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(path, "(file)", f"is not valid TOML: {exc}") from None
    for key in data:
        if key not in _ALLOWED_KEYS:
            raise ThemeError(path, key, f"unknown key (expected one of: {', '.join(sorted(_ALLOWED_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(path, "name", "must be a non-empty string")
    if not isinstance(data.get("dark"), bool):
        raise ThemeError(path, "dark", "must be true or false")
    if "primary" not in data:
        raise ThemeError(path, "primary", "is missing")
    colours: dict[str, str] = {}
    for key in _COLOUR_KEYS:
        if key in data:
            colours[key] = _colour(path, key, data[key])
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ThemeError(path, "variables", "must be a table of strings")
    extra: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            if not isinstance(data[key], (int, float)) or isinstance(data[key], bool):
                raise ThemeError(path, key, "must be a number")
            extra[key] = float(data[key])
    return Theme(name=name.strip(), dark=data["dark"], variables=dict(variables), **colours, **extra)


def _colour(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(path, key, "must be a colour string such as \"#4f9fe0\"")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(path, key, f"{value!r} is not a colour") from None
    return value


def load_themes(directories: Iterable[Path]) -> tuple[list[Theme], list[ThemeError]]:
    """Every ``*.toml`` theme in ``directories`` (missing ones are skipped).

    A broken file does not stop the others: its error is returned beside the themes.
    """
    themes: list[Theme] = []
    errors: list[ThemeError] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                themes.append(load_theme(path))
            except ThemeError as exc:
                errors.append(exc)
    return themes, errors
