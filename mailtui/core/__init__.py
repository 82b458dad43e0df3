"""mailtui's core: everything that is not the terminal UI.

Nothing under ``mailtui.core`` may import textual or rich (tests/unit/test_import_hygiene.py
checks it in a fresh interpreter), so the headless CLI and the tests use it alone.
"""
