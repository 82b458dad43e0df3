"""mailtui.core must not import textual or rich (STYLE.md habit 1)."""

import subprocess
import sys

CODE = """
import sys, pkgutil, importlib
import mailtui.core
for mod in pkgutil.walk_packages(mailtui.core.__path__, 'mailtui.core.'):
    importlib.import_module(mod.name)
import mailtui.cli
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))
print(','.join(bad))
"""


def test_core_and_cli_do_not_load_textual_or_rich():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core pulled in: {out.stdout.strip()}"
