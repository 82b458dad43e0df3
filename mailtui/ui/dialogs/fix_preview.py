"""Preview a checklist fix (or the undo of one), then apply it with live steps.

:class:`FixPreviewDialog` plans in a worker (:func:`~mailtui.core.checks.engine.plan_fix`,
or :func:`~mailtui.core.checks.engine.plan_undo` for an undo), shows the exact diff
(highlighted with Pygments' ``DiffLexer``), the commands and the warnings, and waits.
Cancel has the focus: a stray enter changes nothing. *Apply* runs the
:class:`~mailtui.core.checks.engine.FixEngine` in a worker whose observer streams every
step (backup, apply, validate, reload, verify, fresh login, restore…) into the dialog;
*Dry run* runs the engine without touching anything. The dialog returns the last
:class:`~mailtui.core.checks.engine.FixResult` (None when nothing ran), so the caller can
grade the server again.

The diff and the step messages come from the server (its config files, its error
messages): they are sanitized again and shown as ``Content`` built from tokens, never as
markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from pygments.lexers import DiffLexer
from pygments.token import Generic, Token, _TokenType
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from mailtui.core.checks.engine import (
    REVERT_AFTER,
    REVERT_AFTER_SSH,
    FixEngine,
    FixPlan,
    FixResult,
    Outcome,
    OutsideCheck,
    Step,
    StepEvent,
    StepState,
    apply_undo,
    plan_fix,
    plan_undo,
)
from mailtui.core.checks.fixes import FixError
from mailtui.core.join import outside_check_for
from mailtui.core.text import sanitize
from mailtui.core.transport import Transport, TransportError

__all__ = ["FixPreviewDialog", "FixRequest", "highlight_diff", "step_line"]

_MUTED = "$foreground-muted"
_DIFF = DiffLexer()
_DIFF_STYLES: dict[_TokenType, str] = {
    Generic.Inserted: "$text-success",
    Generic.Deleted: "$text-error",
    Generic.Subheading: "$text-accent",
    Generic.Heading: "bold $text-primary",
}


def highlight_diff(diff: str) -> Content:
    """A unified diff as Content: added lines green, removed red, hunks and file names marked.

    Every character of ``diff`` ends up as plain text with a style; none is read as markup.
    """
    parts: list[tuple[str, str] | str] = []
    for _index, token, value in _DIFF.get_tokens_unprocessed(sanitize(diff, multiline=True)):
        if value.startswith(("--- ", "+++ ")):
            style = "bold $text-primary"  # the file names, not a removed/added line
        else:
            style = ""
            while token is not Token and not style:
                style = _DIFF_STYLES.get(token, "")
                token = token.parent
        parts.append((value, style) if style else value)
    return Content.assemble(*parts)


@dataclass(frozen=True)
class FixRequest:
    """What to preview: a fix by id, or the undo of a backup (exactly one of them)."""

    fix_id: str | None = None
    undo_of: str | None = None
    #: A title to show while planning (the rule's or fix's title).
    title: str = ""

    def __post_init__(self) -> None:
        if (self.fix_id is None) == (self.undo_of is None):
            raise ValueError("a FixRequest names either a fix or a backup to undo")


_STEP_MARK = {
    StepState.STARTED: ("⋯", "$text-accent"),
    StepState.OK: ("✓", "$text-success"),
    StepState.FAILED: ("✗", "bold $text-error"),
    StepState.SKIPPED: ("-", _MUTED),
}


def step_line(event: StepEvent) -> Content:
    """``✓ backup        /var/backups/mailtui/… (timed revert in 300 s)``"""
    mark, style = _STEP_MARK[event.state]
    word = {StepState.STARTED: "running", StepState.OK: "ok", StepState.FAILED: "FAILED",
            StepState.SKIPPED: "skipped"}[event.state]
    parts: list[tuple[str, str] | str] = [(mark, style), " ", (event.step.value.ljust(14), "bold"),
                                          (word.ljust(8), style)]
    if event.message:
        parts.append(sanitize(event.message))
    return Content.assemble(*parts)


_OUTCOME = {
    Outcome.APPLIED: ("Applied and verified", "-ok"),
    Outcome.DRY_RUN: ("Dry run: nothing was changed", "-info"),
    Outcome.ROLLED_BACK: ("Rolled back: the previous configuration is in place again", "-error"),
    Outcome.REVERT_PENDING: ("NOT restored yet: the server's timed revert will put the old files back", "-alarm"),
    Outcome.FAILED: ("Failed before anything changed", "-error"),
}


#: What the intro says once the engine ran (the diff stays: it is what was applied or tried).
_INTRO_AFTER = {
    Outcome.APPLIED: ("mailtui made these changes on ", " (the backup and every step are below):"),
    Outcome.ROLLED_BACK: ("mailtui tried these changes on ", ", then put the old files back (see below):"),
    Outcome.REVERT_PENDING: ("mailtui tried these changes on ",
                             "; the server will put the old files back by itself (see below):"),
    Outcome.FAILED: ("mailtui did not change anything on ", " (see below why):"),
}


class FixPreviewDialog(ModalScreen[FixResult | None]):
    """Plans ``request`` on ``transport``, shows the plan, applies it only on Apply."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="fix_preview.cancel",
                tooltip="Close without changing anything (not while a fix is being applied)"),
    ]

    def __init__(self, transport: Transport, request: FixRequest, *, plan: FixPlan | None = None,
                 outside_check: OutsideCheck | None = None) -> None:
        """``plan``: one made already (the dialog then shows it instead of planning).
        ``outside_check``: the engine's re-probe from outside (default: the scan against the
        app's connected server, :func:`mailtui.core.join.outside_check_for`)."""
        super().__init__(classes="dialog")
        self.transport = transport
        self.outside_check = outside_check
        self.request = request
        self._given_plan = plan
        self.plan: FixPlan | None = None
        #: The last result (a dry run, or the real run); what the dialog returns.
        self.result: FixResult | None = None
        #: The steps seen during the run, the newest state of each (in the order they started).
        self.steps: dict[Step, StepEvent] = {}

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        request = self.request
        title = request.title or (f"Undo {request.undo_of}" if request.undo_of else f"Fix {request.fix_id}")
        with Vertical(id="dialog-box", classes="-fix"):
            yield Label(Content(title), id="fix-title", classes="dialog-title")
            yield Static(Content.assemble("Planning on ", (self.transport.label, "bold"),
                                          ": reading the current files, nothing is changed…"),
                         id="fix-intro", classes="dialog-text")
            yield LoadingIndicator(id="fix-loading")
            with VerticalScroll(id="fix-body"):
                yield Static("", id="fix-diff")
                yield Static("", id="fix-commands")
                yield Vertical(id="fix-warnings")
                yield Static("", id="fix-protocol", classes="dialog-text")
            yield Static("", id="fix-steps")
            yield Static("", id="fix-outcome")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="apply", variant="warning", disabled=True)
                yield Button("Dry run", id="dry-run", disabled=True)
                yield Button("Cancel", id="cancel", variant="default")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#fix-body").display = False
        steps = self.query_one("#fix-steps")
        steps.display = False
        steps.border_title = "Steps"
        self.query_one("#fix-outcome").display = False
        # The safe answer has the focus: a stray enter changes nothing.
        self.query_one("#cancel", Button).focus()
        if self._given_plan is not None:
            self.show_plan(self._given_plan)
        else:
            self._plan()

    # ------------------------------------------------------------------- plan
    @work(group="fix-plan", exclusive=True, exit_on_error=False, name="plan fix")
    async def _plan(self) -> FixPlan:
        if self.request.undo_of is not None:
            return await plan_undo(self.transport, self.request.undo_of)
        assert self.request.fix_id is not None
        return await plan_fix(self.transport, self.request.fix_id)

    def show_plan(self, plan: FixPlan) -> None:
        """Fill the dialog with ``plan`` (public so a test can show a plan without a server)."""
        self.plan = plan
        self.query_one("#fix-loading").display = False
        self.query_one("#fix-title", Label).update(Content(sanitize(plan.title)))
        nothing = not plan.diff.strip()
        where = Content.assemble(("on ", ""), (self.transport.label, "bold"))
        if nothing:
            intro = Content.assemble("The files on ", (self.transport.label, "bold"),
                                     " are already as this plan wants them: there is nothing to change.")
        else:
            intro = Content.assemble("mailtui will make these changes ", where, " (nothing has been changed yet):")
        self.query_one("#fix-intro", Static).update(intro)
        body = self.query_one("#fix-body")
        body.display = True
        diff = self.query_one("#fix-diff", Static)
        diff.display = not nothing
        diff.update(highlight_diff(plan.diff.rstrip("\n")))
        commands = self.query_one("#fix-commands", Static)
        commands.display = bool(plan.commands)
        commands.update(Content.assemble(
            ("Commands", "bold $text-secondary"),
            *[part for command in plan.commands for part in ("\n  $ ", (sanitize(command), "$text-accent"))],
        ))
        warnings = self.query_one("#fix-warnings", Vertical)
        warnings.remove_children()
        notes = list(plan.warnings)
        if plan.cuts_ssh:
            notes.insert(0, f"This changes the SSH server. A timed revert is armed on the server first: it puts the "
                            f"old configuration back after {REVERT_AFTER_SSH} s unless a fresh SSH login succeeds "
                            "after the change, so a mistake cannot lock you out.")
        warnings.mount_all(Static(Content.assemble(("Warning: ", "bold"), sanitize(note)), classes="fix-warning")
                           for note in notes)
        revert = REVERT_AFTER_SSH if plan.cuts_ssh else REVERT_AFTER
        services = ", ".join(s.value for s in plan.services) or "nothing"
        self.query_one("#fix-protocol", Static).update(Content.assemble(
            ("How it is applied  ", "bold $text-secondary"),
            f"backup of every file (and a timed revert after {revert} s) → apply → validate → reload {services} "
            "→ verify the rule passes and the services still listen → disarm the revert. "
            "Any failure puts the files back byte for byte and reloads. Written to the audit log here and on "
            "the server; undo it later from Fix history.",
        ))
        apply = self.query_one("#apply", Button)
        apply.disabled = nothing
        apply.label = "Undo it" if plan.undo_of else "Apply"
        apply.variant = "error" if plan.cuts_ssh else "warning"
        self.query_one("#dry-run", Button).disabled = nothing

    def show_problem(self, message: str) -> None:
        self.query_one("#fix-loading").display = False
        self.query_one("#fix-intro", Static).update(
            Content.assemble(("Cannot plan this fix: ", "bold $text-error"), sanitize(message),
                             ("\nNothing was changed.", _MUTED)))
        self.query_one("#cancel", Button).label = "Close"

    # ------------------------------------------------------------------ apply
    @property
    def applying(self) -> bool:
        return any(w.group == "fix-apply" and w.is_running for w in self.workers)

    @work(group="fix-apply", exclusive=True, exit_on_error=False, name="apply fix")
    async def _apply(self, plan: FixPlan, dry_run: bool) -> FixResult:
        if plan.undo_of is not None:  # exactly the undo plan shown
            return await apply_undo(self.transport, plan.undo_of, plan=plan, dry_run=dry_run, observer=self.observe)
        outside = self.outside_check
        if outside is None:
            session = getattr(self.app, "session", None)
            outside = outside_check_for(getattr(session, "target", None), transport=self.transport,
                                        off=None if session is not None else "no connected server to probe")
        engine = FixEngine(self.transport, observer=self.observe, outside_check=outside)
        return await engine.apply(plan, dry_run=dry_run)

    def observe(self, event: StepEvent) -> None:
        """The engine's observer: one line per step, updated as it goes (runs on the app's loop)."""
        self.steps[event.step] = event
        steps = self.query_one("#fix-steps", Static)
        steps.display = True
        lines = [step_line(e) for e in self.steps.values()]
        steps.update(Content("\n").join(lines))

    def _start(self, dry_run: bool) -> None:
        if self.plan is None or self.applying:
            return
        self.steps = {}
        for button_id in ("#apply", "#dry-run", "#cancel"):
            self.query_one(button_id, Button).disabled = True
        self.query_one("#fix-outcome").display = False
        self._apply(self.plan, dry_run)

    def show_result(self, result: FixResult) -> None:
        self.result = result
        if result.outcome in _INTRO_AFTER:
            before, after = _INTRO_AFTER[result.outcome]
            self.query_one("#fix-intro", Static).update(
                Content.assemble(before, (self.transport.label, "bold"), after))
        headline, cls = _OUTCOME[result.outcome]
        outcome = self.query_one("#fix-outcome", Static)
        outcome.display = True
        outcome.set_classes(cls)
        outcome.update(Content.assemble((headline, "bold"), "\n", sanitize(result.message)))
        cancel = self.query_one("#cancel", Button)
        cancel.disabled = False
        if result.outcome == Outcome.DRY_RUN:
            self.query_one("#apply", Button).disabled = False
            self.query_one("#dry-run", Button).disabled = False
        else:
            self.query_one("#apply").display = False
            self.query_one("#dry-run").display = False
            cancel.label = "Close"
            cancel.variant = "primary"
        cancel.focus()

    # ----------------------------------------------------------------- events
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "fix-plan":
            if event.state == WorkerState.SUCCESS:
                self.show_plan(worker.result)
            elif event.state == WorkerState.ERROR:
                self.show_problem(_describe(worker.error))
        elif worker.group == "fix-apply":
            if event.state == WorkerState.SUCCESS:
                self.show_result(worker.result)
            elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
                # The engine turns step failures into results; this is a bug or a dead loop.
                # The server's timed revert still restores whatever was half done.
                message = _describe(worker.error) if event.state == WorkerState.ERROR else "cancelled"
                # the engine rolled back (or not) before letting the error through: say what it did
                notes = getattr(worker.error, "__notes__", None) or ()
                message = " ".join([message, *(sanitize(str(n)) for n in notes)])
                self.log.error("applying a fix failed", worker.error)
                outcome = self.query_one("#fix-outcome", Static)
                outcome.display = True
                outcome.set_classes("-alarm")
                outcome.update(Content.assemble(
                    ("The fix stopped unexpectedly: ", "bold"), message,
                    "\nIf anything was changed, the server's timed revert puts the old files back by itself; "
                    "check Fix history."))
                cancel = self.query_one("#cancel", Button)
                cancel.disabled = False
                cancel.label = "Close"
                cancel.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self._start(dry_run=False)
        elif event.button.id == "dry-run":
            self._start(dry_run=True)
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if self.applying:
            # Closing would cancel the engine half way; the server would revert, but only later.
            self.notify("The fix is being applied; wait for it to finish.", severity="warning")
            return
        self.dismiss(self.result)


def _describe(error: BaseException | None) -> str:
    if isinstance(error, TransportError):
        return error.message
    if isinstance(error, FixError):
        return str(error)
    return f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"
