"""The Checklist panel, the fix preview and the fix history.

Without the lab: the preview shows a hostile diff as plain text, Cancel has the focus, a
dry run changes nothing, and every binding has an id and a tooltip.

With the lab (``lab_app`` connects as mtadmin over SSH): the hardened lab's results are
shown; then the lab goes to its weak profile, VRFY is fixed from the preview (live steps end
in "verified", the rule passes), undone from the history (the rule fails again), and the
lab is always put back to hardened.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Button, DataTable

from mailtui.core.checks.engine import FixPlan, Outcome, Step, StepState
from mailtui.core.checks.fixes import Service
from mailtui.core.findings import Finding, Severity, Status
from mailtui.ui.commands import palette_commands
from mailtui.ui.dialogs.fix_preview import FixPreviewDialog, FixRequest, highlight_diff
from mailtui.ui.screens.checklist import ChecklistScreen, RuleList, RulesView, fixable, summary_line
from mailtui.ui.screens.fix_history import FixHistoryScreen
from mailtui.ui.screens.server import ServerScreen
from tests.ui.conftest import lab_app, svg_screen_text, text_of, wait_for, wait_for_lab_facts

REPO = Path(__file__).resolve().parent.parent.parent
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]
HOSTILE = "[/b][bold red]evil[/] \x1b[2J\x1b]52;c;SGVsbG8=\x07 \u202egnp.exe"
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The local audit log goes to tmp_path."""
    path = tmp_path / "state"
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(path))
    return path


class FakeTransport:
    """Enough of a transport for a dialog that is given its plan (a dry run touches nothing)."""

    label = "ssh://admin@mail.example.org"
    is_root = False
    remote_user = "admin"


def hostile_plan(cuts_ssh: bool = False) -> FixPlan:
    path = "/etc/postfix/main.cf"
    before = f"smtpd_banner = {HOSTILE}\n".encode()
    after = b"smtpd_banner = $myhostname ESMTP\n"
    diff = (f"--- {path}\n+++ {path}\n@@ -1 +1 @@\n-smtpd_banner = {HOSTILE}\n"
            "+smtpd_banner = $myhostname ESMTP\n")
    return FixPlan(fix_id="smtp.banner", title="Neutral SMTP banner", rules=("smtp.banner",),
                   services=(Service.SSHD,) if cuts_ssh else (Service.POSTFIX,), edits=(),
                   before={path: before}, after={path: after}, diff=diff,
                   commands=("sudo postconf -e 'smtpd_banner=$myhostname ESMTP'",),
                   warnings=(f"the old banner was {HOSTILE}",), cuts_ssh=cuts_ssh)


class DialogApp(App[None]):
    CSS_PATH = str(REPO / "mailtui" / "ui" / "app.tcss")

    def __init__(self, plan: FixPlan) -> None:
        super().__init__()
        self.plan = plan
        self.answers: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(FixPreviewDialog(FakeTransport(), FixRequest(fix_id=self.plan.fix_id), plan=self.plan),
                         self.answers.append)


# ---------------------------------------------------------------------- without the lab
async def test_preview_shows_hostile_diff_as_text_and_cancel_is_the_default():
    app = DialogApp(hostile_plan(cuts_ssh=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FixPreviewDialog)
        diff = text_of(dialog.query_one("#fix-diff"))
        # the markup is shown literally; escape sequences and bidi controls are gone
        assert "[/b][bold red]evil[/]" in diff
        assert "\x1b" not in diff and "\u202e" not in diff and "\x07" not in diff
        assert "smtpd_banner = $myhostname ESMTP" in diff
        commands = text_of(dialog.query_one("#fix-commands"))
        assert "sudo postconf -e 'smtpd_banner=$myhostname ESMTP'" in commands
        warnings = [text_of(w) for w in dialog.query(".fix-warning")]
        assert any("timed revert" in w and "fresh SSH login" in w for w in warnings)  # cuts SSH
        assert any("[/b][bold red]evil[/]" in w for w in warnings)
        assert dialog.query_one("#apply", Button).variant == "error"
        screen = svg_screen_text(app.export_screenshot())
        assert "[/b][bold red]evil[/]" in screen
        # the safe answer has the focus: enter closes without running anything
        assert app.focused is dialog.query_one("#cancel", Button)
        await pilot.press("enter")
        await pilot.pause()
        assert app.answers == [None]


async def test_dry_run_changes_nothing_and_apply_stays_possible():
    app = DialogApp(hostile_plan())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FixPreviewDialog)
        await pilot.click("#dry-run")
        await wait_for(pilot, lambda: dialog.result is not None, what="dry run")
        assert dialog.result.outcome == Outcome.DRY_RUN
        assert [(e.step, e.state) for e in dialog.result.steps] == [(Step.PLAN, StepState.OK)]
        assert "Dry run: nothing was changed" in text_of(dialog.query_one("#fix-outcome"))
        assert "nothing was changed" in text_of(dialog.query_one("#fix-steps"))
        assert not dialog.query_one("#apply", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
        assert [a.outcome for a in app.answers] == [Outcome.DRY_RUN]


def test_diff_highlighting_marks_added_removed_and_file_names():
    content = highlight_diff(hostile_plan().diff)
    plain = content.plain
    styles = {plain[span.start:span.end]: str(span.style) for span in content.spans}
    assert "$text-success" in styles["+smtpd_banner = $myhostname ESMTP"]
    assert any("$text-error" in style for text, style in styles.items() if text.startswith("-smtpd_banner"))
    assert "bold" in styles["--- /etc/postfix/main.cf"] and "$text-primary" in styles["+++ /etc/postfix/main.cf"]
    assert "$text-accent" in styles["@@ -1 +1 @@"]


def test_summary_and_fixable_rules():
    def f(id_, status, target="", fix=None):
        return Finding(id_, status, Severity.MEDIUM, id_, "e", "w", area="SMTP", target=target, fix=fix)

    findings = [f("smtp.vrfy", Status.FAIL, fix="smtp.vrfy"), f("smtp.banner", Status.WARN, "port 25", "smtp.banner"),
                f("smtp.banner", Status.WARN, "port 587", "smtp.banner"), f("smtp.rbl", Status.WARN),
                f("smtp.helo_required", Status.PASS)]
    assert summary_line(findings).plain == "1 fail · 3 warn · 1 pass"
    assert [x.fix for x in fixable(findings)] == ["smtp.vrfy", "smtp.banner"]  # one per fix, no fix-less rule


def test_palette_fix_titles_are_safe_for_its_markup_highlighter():
    from mailtui.core.checks.registry import all_rules

    # "Fix: <rule title>" goes through the palette's matcher.highlight(), which parses markup.
    assert not [r.title for r in all_rules() if "[" in r.title or "]" in r.title]


def test_every_binding_has_an_id_and_a_tooltip():
    for screen in (ChecklistScreen, FixHistoryScreen, FixPreviewDialog, ServerScreen):
        for binding in screen.BINDINGS:
            assert binding.id and binding.tooltip, (screen.__name__, binding.key)
    keys = {b.key: b.action for b in ServerScreen.BINDINGS}
    assert keys["c"] == "app.show_checklist"
    assert {b.key for b in ChecklistScreen.BINDINGS} >= {"f", "r", "h", "escape"}


# --------------------------------------------------------------------------- the lab
def lab_profile(name: str) -> None:
    subprocess.run([*LAB, "profile", name], check=True, capture_output=True, timeout=120)


@pytest.fixture
def weak_lab(lab):
    """The lab in its weak profile for the test; hardened again afterwards, whatever happened."""
    try:
        lab_profile("weak")
        yield lab
    finally:
        lab_profile("hardened")


def finding(screen: ChecklistScreen, rule_id: str) -> Finding:
    return next(f for f in screen.findings if f.id == rule_id)


async def open_checklist(pilot, app) -> ChecklistScreen:
    await wait_for_lab_facts(pilot, app)
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, ChecklistScreen) and app.screen.generation >= 1,
                   timeout=60, what="the checklist")
    return app.screen


async def regraded(pilot, screen: ChecklistScreen, after: int) -> None:
    await wait_for(pilot, lambda: screen.generation > after and not screen.busy, timeout=60, what="graded again")


@pytest.mark.lab
async def test_checklist_shows_the_hardened_lab(lab):
    app = lab_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_checklist(pilot, app)
        assert len(screen.findings) >= 40
        for rule_id in ("smtp.vrfy", "smtp.open_relay", "imap.ssl_required", "ssh.password_auth", "tls.cert_expiry"):
            assert {f.status for f in screen.findings if f.id == rule_id} == {Status.PASS}, rule_id
        assert not fixable(screen.findings)  # hardened: no rule with an automatic fix fails
        summary = text_of(screen.query_one("#checklist-summary"))
        assert summary.startswith(f"{sum(f.status == Status.FAIL for f in screen.findings)} fail · ")
        assert f"{sum(f.status == Status.PASS for f in screen.findings)} pass" in summary
        # grouped by area in the registry's order, each rule with its status word
        listing = screen.query_one(RuleList)
        heads = [str(listing.get_option_at_index(i).prompt).split("  ")[0] for i in range(listing.option_count)
                 if listing.get_option_at_index(i).disabled]
        assert heads[:3] == ["SMTP", "SUBMISSION", "TLS"] and heads[-1] == "SYSTEM"
        # the detail explains the highlighted rule (the worst one first)
        selected = screen.query_one(RulesView).selected
        assert selected == min(screen.findings, key=Finding.sort_key)
        assert "Why" in text_of(screen.query_one("#finding-explanation"))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ServerScreen)


@pytest.mark.lab
async def test_fix_vrfy_from_the_preview_then_undo_it_from_the_history(weak_lab):
    app = lab_app(weak_lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_checklist(pilot, app)
        assert finding(screen, "smtp.vrfy").status == Status.FAIL
        # the palette offers the weak lab's fixes
        titles = [c.title for c in palette_commands(app, screen)]
        assert "Fix: VRFY disabled" in titles and "Fix history" in titles

        # f on the failing rule: the preview shows the exact change, Cancel has the focus
        assert screen.query_one(RulesView).select("smtp.vrfy")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FixPreviewDialog) and app.screen.plan is not None,
                       timeout=60, what="the fix plan")
        dialog = app.screen
        diff = text_of(dialog.query_one("#fix-diff"))
        assert "-disable_vrfy_command = no" in diff and "+disable_vrfy_command = yes" in diff
        assert app.focused is dialog.query_one("#cancel", Button)
        generation = screen.generation

        await pilot.click("#apply")
        await wait_for(pilot, lambda: dialog.result is not None, timeout=90, what="the fix applied")
        result = dialog.result
        assert result.outcome == Outcome.APPLIED, result.message
        steps = text_of(dialog.query_one("#fix-steps"))
        for step in ("backup", "apply", "validate", "reload", "verify"):
            assert step in steps
        assert "rule passes, services listen" in steps and "FAILED" not in steps
        assert "Applied and verified" in text_of(dialog.query_one("#fix-outcome"))
        assert app.focused is dialog.query_one("#cancel", Button)  # now "Close"
        await pilot.press("enter")
        await regraded(pilot, screen, generation)
        assert app.screen is screen
        assert finding(screen, "smtp.vrfy").status == Status.PASS

        # h: the history lists it first; u undoes it through the same protocol
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, FixHistoryScreen) and app.screen.items,
                       timeout=60, what="the history")
        history = app.screen
        assert history.selected.id == result.backup_id
        assert history.query_one(DataTable).row_count == len(history.items)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, FixPreviewDialog) and app.screen.plan is not None,
                       timeout=60, what="the undo plan")
        undo = app.screen
        assert undo.plan.undo_of == result.backup_id
        undo_diff = text_of(undo.query_one("#fix-diff"))
        assert "-disable_vrfy_command = yes" in undo_diff and "+disable_vrfy_command = no" in undo_diff
        await pilot.click("#apply")
        await wait_for(pilot, lambda: undo.result is not None, timeout=90, what="the undo applied")
        assert undo.result.outcome == Outcome.APPLIED, undo.result.message
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is history and history.items and history.items[0].undo_of,
                       timeout=60, what="the history read again")
        assert history.items[0].undo_of == result.backup_id
        generation = screen.generation
        await pilot.press("escape")
        await regraded(pilot, screen, generation)
        assert finding(screen, "smtp.vrfy").status == Status.FAIL
