"""The Checklist panel: the server's real configuration graded against the hardening rules.

A worker (group ``checklist``) reads the configuration with
:func:`mailtui.core.checks.gather.gather` and grades it with
:func:`mailtui.core.checks.registry.evaluate` - the same calls as ``mailtui check``. The
findings are shown in the shared :class:`~mailtui.ui.widgets.findings.FindingsView`
(grouped by area, worst first, the highlighted rule explained), with a summary line.

``f`` previews the fix of the highlighted failing rule in a
:class:`~mailtui.ui.dialogs.fix_preview.FixPreviewDialog` (the exact diff, the commands,
then Apply / Dry run / Cancel); after a fix ran, the checklist grades the server again.
``h`` opens the fix history, where an applied fix can be undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, LoadingIndicator, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from mailtui.core.checks.engine import FixResult, Outcome
from mailtui.core.checks.fixes import FIXES
from mailtui.core.checks.gather import CheckFacts, gather
from mailtui.core.checks.registry import RULES, Area, evaluate
from mailtui.core.findings import Finding, Status
from mailtui.core.text import sanitize
from mailtui.core.transport import Transport, TransportError
from mailtui.ui.dialogs.fix_preview import FixPreviewDialog, FixRequest
from mailtui.ui.screens.fix_history import FixHistoryScreen
from mailtui.ui.widgets.findings import (
    DetailSection,
    FindingDetail,
    FindingList,
    FindingsView,
    finding_key,
    severity_label,
    status_badge,
    summarize,
)

if TYPE_CHECKING:
    from mailtui.ui.app import MailtuiApp

__all__ = ["ChecklistScreen", "fixable", "summary_line"]

_MUTED = "$foreground-muted"
_COUNT_STYLE = {
    Status.FAIL: "bold $text-error",
    Status.ERROR: "bold $text-warning",
    Status.WARN: "bold $text-warning",
    Status.INFO: "$text-accent",
    Status.PASS: "bold $text-success",
}


def summary_line(findings: Sequence[Finding]) -> Content:
    """``2 fail · 3 warn · 58 pass`` (fail, warn and pass always; info and error when there are any)."""
    counts = {s: 0 for s in Status}
    for f in findings:
        counts[f.status] += 1
    shown = [s for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.INFO, Status.PASS)
             if counts[s] or s in (Status.FAIL, Status.WARN, Status.PASS)]
    parts: list[tuple[str, str] | str] = []
    for index, status in enumerate(shown):
        if index:
            parts.append((" · ", _MUTED))
        parts.append((f"{counts[status]} {status.value}", _COUNT_STYLE[status] if counts[status] else _MUTED))
    return Content.assemble(*parts)


def fixable(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per automatic fix among the failing ones (worst first), for the palette."""
    seen: set[str] = set()
    out = []
    for f in sorted(findings, key=Finding.sort_key):
        if f.fix and f.fix in FIXES and f.status in (Status.FAIL, Status.WARN) and f.fix not in seen:
            seen.add(f.fix)
            out.append(f)
    return out


_SHORT_TARGET = 9
_AREA_ORDER = {area.value: index for index, area in enumerate(Area)}


class RuleList(FindingList):
    """The shared finding list, laid out for rules: areas in the registry's order, the title
    first and the target after it (checklist targets are long: file paths, sshd instances)."""

    def show(self, findings: Sequence[Finding]) -> None:
        selected = self.highlighted_finding
        self.clear_options()
        self.findings = {}
        groups: dict[str, list[Finding]] = {}
        for f in findings:
            groups.setdefault(f.area or "other", []).append(f)
        options: list[Option] = []
        # Short targets (``port 587``) get a column before the title; long ones (a certificate
        # path, an sshd instance) follow the title, so no row wraps for them.
        column = max((len(f.target) for f in findings if len(f.target) <= _SHORT_TARGET), default=0)
        for area in sorted(groups, key=lambda a: (_AREA_ORDER.get(a, len(_AREA_ORDER)), a)):
            items = sorted(groups[area], key=Finding.sort_key)
            options.append(Option(Content.assemble((area.upper(), "bold $text-primary"),
                                                   ("  " + summarize(items), _MUTED)),
                                  id=f"area:{area}", disabled=True))
            for f in items:
                key = finding_key(f)
                self.findings[key] = f
                badge, badge_style = status_badge(f.status)
                sev, sev_style = severity_label(f.severity)
                short = f.target if len(f.target) <= _SHORT_TARGET else ""
                parts: list[tuple[str, str] | str] = [" ", (badge, badge_style), " ", (sev, sev_style), " "]
                if column:
                    parts.append((sanitize(short).ljust(column + 1), _MUTED))
                parts += [" ", sanitize(f.title)]
                if f.target and not short:
                    parts.append((f"  {sanitize(f.target)}", _MUTED))
                options.append(Option(Content.assemble(*parts), id=key))
        self.add_options(options)
        if selected is not None and finding_key(selected) in self.findings:
            self.highlighted = self.get_option_index(finding_key(selected))
        else:
            self.highlighted = next((i for i, o in enumerate(options) if not o.disabled), None)


class RulesView(FindingsView):
    """:class:`FindingsView` with a :class:`RuleList` (the detail pane is the shared one)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="findings-list-box", classes="findings-box") as box:
            box.border_title = "Rules"
            yield RuleList(id="findings-list")
        with Vertical(id="finding-detail-box", classes="findings-box") as box:
            box.border_title = "Detail"
            yield FindingDetail(id="finding-detail-scroll")


class ChecklistScreen(Screen[None]):
    """The checklist of the server behind ``transport`` (``label`` says which)."""

    BINDINGS = [
        Binding("f", "fix", "Fix", id="checklist.fix",
                tooltip="Preview the fix of the highlighted failing rule: the exact diff and commands, then "
                        "apply, dry run or cancel"),
        Binding("r", "recheck", "Re-check", id="checklist.recheck",
                tooltip="Read the server's configuration again and grade it"),
        Binding("a", "toggle_passing", "Hide passing", id="checklist.passing",
                tooltip="Show only the rules that fail, warn or could not be checked (or all of them again)"),
        Binding("h", "history", "Fix history", id="checklist.history",
                tooltip="The fixes applied on this server; undo one from there"),
        Binding("e", "all_evidence", "All evidence", show=False, id="checklist.evidence",
                tooltip="Show the full evidence of the highlighted rule"),
        Binding("escape", "back", "Server", id="checklist.back", tooltip="Back to the Server screen"),
        Binding("s", "back", "Server", show=False, id="checklist.server", tooltip="Back to the Server screen"),
    ]

    app: MailtuiApp

    def __init__(self, transport: Transport, *, label: str) -> None:
        super().__init__()
        self.transport = transport
        self.label = label
        self.facts: CheckFacts | None = None
        self.findings: tuple[Finding, ...] = ()
        #: Only the rules that need attention (``a`` toggles).
        self.hide_passing = False
        #: How many times the server was graded (tests wait on it).
        self.generation = 0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="checklist-title", classes="screen-title")
        yield Static("", id="checklist-summary")
        yield Static("", id="checklist-notes")
        yield LoadingIndicator(id="checklist-loading")
        yield RulesView(id="checklist-findings", empty_message="Reading the server's configuration…")
        yield Footer()

    def _title(self, facts: CheckFacts | None = None) -> Content:
        parts: list[tuple[str, str] | str] = [(self.label, "bold"), ("  ·  checklist", _MUTED)]
        if facts is not None:
            read_at = facts.collected_at[11:19] if len(facts.collected_at) >= 19 else facts.collected_at
            parts += [("  ·  read ", _MUTED), sanitize(read_at), (f" in {facts.seconds:.1f} s", _MUTED)]
        return Content.assemble(*parts)

    def on_mount(self) -> None:
        self.sub_title = f"Checklist · {self.label}"
        view = self.query_one(FindingsView)
        view.extras = self._extras
        view.display = False
        self.recheck()

    def _extras(self, finding: Finding) -> list[DetailSection]:
        if not finding.fix or finding.status not in (Status.FAIL, Status.WARN):
            return []
        fix = FIXES.get(finding.fix)
        if fix is None:
            return []
        return [DetailSection("Automatic fix", (f"{fix.title}: press f to see the exact change first",), "text")]

    # ---------------------------------------------------------------- grading
    @property
    def busy(self) -> bool:
        return any(w.group == "checklist" and w.is_running for w in self.workers)

    def recheck(self) -> None:
        """Read the configuration again and grade it (the list stays while it runs)."""
        summary = self.query_one("#checklist-summary", Static)
        summary.update(Content.assemble(("Reading the configuration of ", _MUTED), (self.label, "bold"),
                                        ("…", _MUTED)))
        summary.set_classes("-busy")
        self.query_one("#checklist-loading").display = not self.findings
        self._grade()
        self.refresh_bindings()

    @work(group="checklist", exclusive=True, exit_on_error=False, name="checklist")
    async def _grade(self) -> tuple[CheckFacts, list[Finding]]:
        facts = await gather(self.transport)
        return facts, evaluate(facts)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where grading ends: the list, or the reason it could not be read."""
        worker = event.worker
        if worker.group != "checklist":
            return
        if event.state == WorkerState.SUCCESS:
            facts, findings = worker.result
            self.show_findings(facts, findings)
        elif event.state == WorkerState.ERROR:
            error = worker.error
            message = error.message if isinstance(error, TransportError) else \
                f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}"
            if not isinstance(error, TransportError):
                self.log.error("grading the checklist failed", error)
            self.query_one("#checklist-loading").display = False
            summary = self.query_one("#checklist-summary", Static)
            summary.update(Content.assemble(("Cannot read the configuration: ", "bold"), message))
            summary.set_classes("-error")
            self.notify(message, title="Checklist", severity="error", markup=False)
        self.refresh_bindings()

    def show_findings(self, facts: CheckFacts, findings: Sequence[Finding]) -> None:
        self.facts = facts
        self.findings = tuple(findings)
        self.generation += 1
        self.query_one("#checklist-loading").display = False
        self.query_one("#checklist-title", Static).update(self._title(facts))
        fixes = len(fixable(self.findings))
        summary = self.query_one("#checklist-summary", Static)
        parts: list[Content | tuple[str, str] | str] = [summary_line(self.findings)]
        if fixes:
            parts += [("   ", ""), (f"{fixes} with an automatic fix: ", _MUTED), ("f", "bold $text-accent"),
                      (" previews it", _MUTED)]
        summary.update(Content.assemble(*parts))
        summary.set_classes("")
        notes = self.query_one("#checklist-notes", Static)
        notes.display = bool(facts.problems)
        notes.update(Content("\n".join(f"Note: {sanitize(p)}" for p in facts.problems.values())))
        self._show_list()
        if self.generation == 1 and self.findings:
            # The areas keep the registry's order; the cursor starts on the worst rule.
            worst = min(self.findings, key=Finding.sort_key)
            self.query_one(RulesView).select(worst.id, worst.target)

    def _show_list(self) -> None:
        view = self.query_one(FindingsView)
        shown = [f for f in self.findings if not (self.hide_passing and f.status == Status.PASS)]
        view.display = True
        view.show(shown)

    # ---------------------------------------------------------------- actions
    @property
    def selected(self) -> Finding | None:
        return self.query_one(FindingsView).selected

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "recheck":
            return None if self.busy else True
        if action == "fix":
            finding = self.selected
            return True if finding is not None and finding.fix in FIXES else None
        return True

    def on_findings_view_highlighted(self, event: FindingsView.Highlighted) -> None:
        self.refresh_bindings()

    def action_recheck(self) -> None:
        if not self.busy:
            self.recheck()

    def action_toggle_passing(self) -> None:
        self.hide_passing = not self.hide_passing
        self._show_list()

    def action_all_evidence(self) -> None:
        self.query_one(FindingsView).toggle_all_evidence()

    def action_fix(self) -> None:
        finding = self.selected
        if finding is None or not finding.fix or finding.fix not in FIXES:
            self.notify("The highlighted rule has no automatic fix; its detail says how to fix it by hand.",
                        severity="warning")
            return
        self.request_fix(finding.fix)

    def request_fix(self, fix_id: str) -> None:
        """Preview fix ``fix_id`` (it runs only when the admin presses Apply), then grade again."""
        fix = FIXES.get(fix_id)
        rule = RULES.get(fix_id)
        title = fix.title if fix is not None else (rule.title if rule is not None else fix_id)

        def done(result: FixResult | None) -> None:
            if result is not None and result.outcome != Outcome.DRY_RUN:
                self.recheck()

        self.app.push_screen(FixPreviewDialog(self.transport, FixRequest(fix_id=fix_id, title=title)), done)

    def action_history(self) -> None:
        def done(changed: bool | None) -> None:
            if changed:
                self.recheck()

        self.app.push_screen(FixHistoryScreen(self.transport, label=self.label), done)

    def action_back(self) -> None:
        self.dismiss(None)
