"""Themes are TOML data files turned into Textual themes; the built-in ones stay untouched."""

from __future__ import annotations

import copy

import pytest
from textual.theme import BUILTIN_THEMES

from mailtui.core.profiles import ServerProfile
from mailtui.ui.app import MailtuiApp
from mailtui.ui.themes import DEFAULT_THEME, ThemeError, bundled_themes_dir, load_theme, load_themes
from tests.ui.conftest import SIZE, saved_config


def test_bundled_themes_have_a_dark_and_a_light_one():
    themes, errors = load_themes([bundled_themes_dir()])
    assert errors == []
    by_name = {t.name: t for t in themes}
    assert by_name[DEFAULT_THEME].dark is True
    assert any(not t.dark for t in themes)
    for theme in themes:
        for field in ("primary", "secondary", "accent", "background", "surface", "panel", "foreground",
                      "success", "warning", "error"):
            assert getattr(theme, field), f"{theme.name}: {field}"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('name = "x"\ndark = true\n', "primary"),
        ('name = "x"\nprimary = "#123456"\n', "dark"),
        ('name = "x"\ndark = true\nprimary = "not-a-colour"\n', "primary"),
        ('name = "x"\ndark = true\nprimary = "#123456"\nshiny = 1\n', "shiny"),
        ('name = \n', "(file)"),
    ],
)
def test_a_bad_theme_file_names_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ThemeError) as info:
        load_theme(path)
    assert info.value.key == key
    assert str(path) in str(info.value)


async def test_app_registers_themes_without_touching_builtin_ones(tmp_path, config_path):
    before = copy.deepcopy(BUILTIN_THEMES)
    # A user theme beside the config file is loaded too; a broken one is reported, not fatal.
    (config_path.parent / "themes").mkdir(parents=True)
    (config_path.parent / "themes" / "mine.toml").write_text(
        'name = "mine"\ndark = false\nprimary = "#884400"\n')
    (config_path.parent / "themes" / "broken.toml").write_text('name = "broken"\n')
    app = MailtuiApp(config=saved_config(ServerProfile("mail", "mail.example.org")), target=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert {"mailtui-dark", "mailtui-light", "mine"} <= set(app.available_themes)
        assert any("broken.toml" in n.message for n in app._notifications)
        app.theme = "mailtui-light"
        await pilot.pause()
        assert app.current_theme.dark is False
        assert app.theme_variables["primary"].lower() == "#1d62c4"
    assert BUILTIN_THEMES == before
