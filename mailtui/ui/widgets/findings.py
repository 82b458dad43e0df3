"""A findings view for the Scan and the Checklist panels: a list grouped by area, and a detail.

:class:`FindingsView` shows any sequence of :class:`~mailtui.core.findings.Finding`: areas
ordered by their worst finding, findings worst first inside an area, each with a status
badge that is readable without colour (``✗ FAIL``, ``! WARN``, ``? ERR``, ``i INFO``,
``✓ PASS``) and its severity. The highlighted finding is explained in a detail pane: title,
status, severity, target, evidence, explanation, the config it names, its fix id, the long
evidence (transcript, certificate, DNS answer) highlighted, and whatever extra sections the
panel adds (:class:`DetailSection`, e.g. the server's config lines and log lines).

Every piece of text from a finding can hold remote text (a banner, a reply, a log line).
It is sanitized again and placed in ``Content`` as plain text with styles from theme
variables, never interpolated into markup.

Reuse::

    view = FindingsView(id="findings", empty_message="No scan yet")
    view.show(findings)                       # replace the list (keeps the selection)
    view.extras = lambda finding: [DetailSection("Server config", lines, "config")]
    view.selected                             # the highlighted Finding or None
    # messages: FindingsView.Highlighted(view, finding)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Comment, Generic, Name, Number, String, Text, Token, _TokenType
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from mailtui.core.findings import STATUS_ORDER, Finding, Severity, Status
from mailtui.core.text import sanitize
from mailtui.highlight import lexer as maillog

__all__ = [
    "DetailSection",
    "FindingDetail",
    "FindingList",
    "FindingsView",
    "TranscriptLexer",
    "highlight_evidence",
    "highlight_log_line",
    "severity_label",
    "status_badge",
    "summarize",
]

# ---------------------------------------------------------------------------- words
#: Symbol + word per status: readable without colour; colour from the theme.
_STATUS = {
    Status.FAIL: ("✗ FAIL", "bold $text-error"),
    Status.ERROR: ("? ERR ", "bold $text-warning"),
    Status.WARN: ("! WARN", "bold $text-warning"),
    Status.INFO: ("i INFO", "$text-accent"),
    Status.PASS: ("✓ PASS", "$text-success"),
}
_SEVERITY = {
    Severity.CRITICAL: ("crit", "bold $text-error"),
    Severity.HIGH: ("high", "$text-error"),
    Severity.MEDIUM: ("med ", "$text-warning"),
    Severity.LOW: ("low ", "$foreground-muted"),
    Severity.INFO: ("info", "$foreground-muted"),
}
_MUTED = "$foreground-muted"


def status_badge(status: Status) -> tuple[str, str]:
    """``("✗ FAIL", style)``: the badge text (6 cells) and its style."""
    return _STATUS[status]


def severity_label(severity: Severity) -> tuple[str, str]:
    """``("high", style)``: the severity word (4 cells) and its style."""
    return _SEVERITY[severity]


def summarize(findings: Iterable[Finding]) -> str:
    """``2 fail · 1 warn · 9 pass`` (worst first, zero counts left out)."""
    counts: dict[Status, int] = {}
    for f in findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    return " · ".join(f"{counts[s]} {s.value}" for s in sorted(counts, key=STATUS_ORDER.__getitem__))


def _clean(text: str, multiline: bool = False) -> str:
    # Findings should arrive sanitized; a view of hostile text checks again (it is cheap).
    return sanitize(text, multiline=multiline)


# ---------------------------------------------------------------------- highlighting
class TranscriptLexer(RegexLexer):
    """The scan's evidence: ``# label`` headings, ``C:`` sent, ``S:`` received, ``#:`` notes.

    Also reads the other shapes a finding's ``detail`` takes (``key: value`` lines of a
    certificate or DNS answer). Every character matches a rule, so no input raises.
    """

    name = "mailtui scan transcript"
    aliases = ["mailtui-transcript"]
    filenames: list[str] = []

    tokens = {
        "root": [
            (r"^# [^\n]*\n?", Generic.Heading),
            (r"^(#: ?)([^\n]*\n?)", bygroups(Comment.Special, Comment)),
            (r"^(C: )([^\n]*\n?)", bygroups(Generic.Prompt, String)),
            (r"^(S: )(2\d\d[ -]?)([^\n]*\n?)", bygroups(Generic.Prompt, Generic.Inserted, Generic.Output)),
            (r"^(S: )(3\d\d[ -]?)([^\n]*\n?)", bygroups(Generic.Prompt, Number, Generic.Output)),
            (r"^(S: )(4\d\d[ -]?)([^\n]*\n?)", bygroups(Generic.Prompt, Generic.Strong, Generic.Output)),
            (r"^(S: )(5\d\d[ -]?)([^\n]*\n?)", bygroups(Generic.Prompt, Generic.Error, Generic.Output)),
            (r"^(S: )((?:\+OK|\* OK|\S+ OK)\b)([^\n]*\n?)", bygroups(Generic.Prompt, Generic.Inserted, Generic.Output)),
            (r"^(S: )((?:-ERR|\* BAD|\* NO|\S+ NO|\S+ BAD)\b)([^\n]*\n?)",
             bygroups(Generic.Prompt, Generic.Error, Generic.Output)),
            (r"^(S: )([^\n]*\n?)", bygroups(Generic.Prompt, Generic.Output)),
            (r"^( *)([A-Za-z][\w .()/-]{0,40}?)(: )([^\n]*\n?)", bygroups(Text, Name.Attribute, Text, Text)),
            (r"[^\n]+\n?|\n", Text),
        ],
    }


#: Token type -> style (theme variables). Looked up from the most specific type up.
_STYLES: dict[_TokenType, str] = {
    Generic.Heading: "bold $text-primary",
    Comment.Special: _MUTED,
    Comment: "italic $foreground-muted",
    Generic.Prompt: "bold $text-secondary",
    String: "$text-accent",
    Generic.Inserted: "bold $text-success",
    Generic.Strong: "bold $text-warning",
    Generic.Error: "bold $text-error",
    Generic.Output: "",
    Number: "$text-accent",
    Name.Attribute: "$text-secondary",
    # the mail-log lexer's tokens
    maillog.TIMESTAMP: _MUTED,
    maillog.HOST: "$text-secondary",
    maillog.PROGRAM: "$text-primary",
    maillog.LEVEL: _MUTED,
    maillog.ADDRESS: "bold $text-accent",
    maillog.MESSAGE_ID: "underline $text-secondary",
    maillog.MAIL_ADDRESS: "$text-success",
    maillog.KEY: _MUTED,
    maillog.TROUBLE: "bold $text-error",
    maillog.GOOD: "bold $text-success",
}
_TRANSCRIPT = TranscriptLexer()
_MAILLOG = maillog.MailLogLexer()


def _style_of(token: _TokenType) -> str:
    while token is not Token:
        style = _STYLES.get(token)
        if style is not None:
            return style
        token = token.parent
    return ""


def _highlight(text: str, lexer: RegexLexer) -> Content:
    parts: list[tuple[str, str] | str] = []
    for _index, token, value in lexer.get_tokens_unprocessed(text):
        style = _style_of(token)
        parts.append((value, style) if style else value)
    return Content.assemble(*parts)


def highlight_evidence(text: str) -> Content:
    """A finding's long evidence (transcript, certificate, DNS answer) as highlighted Content."""
    return _highlight(_clean(text, multiline=True).rstrip("\n"), _TRANSCRIPT)


def highlight_log_line(line: str) -> Content:
    """One server log line, highlighted like the Logs panel highlights it."""
    return _highlight(_clean(line), _MAILLOG)


_SECTION_HEAD = re.compile(r"^# (.*)$", re.M)


def split_transcripts(detail: str) -> list[tuple[str, str]]:
    """``# label`` sections of a probe's evidence -> [(label, text)]; [("", detail)] if none."""
    heads = list(_SECTION_HEAD.finditer(detail))
    if not heads or heads[0].start() != 0:
        return [("", detail)]
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(detail)
        out.append((head.group(1), detail[head.start():end].strip("\n")))
    return out


def evidence_for(finding: Finding, show_all: bool = False) -> tuple[str, int]:
    """The part of ``finding.detail`` about its own target, and how many other sections were left out.

    A probe group's transcripts cover every listener it talked to; a finding about
    ``127.0.0.1:587`` is explained by the 587 conversation. With none matching, all is shown.
    """
    sections = split_transcripts(finding.detail)
    if show_all or not finding.target or len(sections) < 2:
        return finding.detail, 0
    target = finding.target
    mine = [text for label, text in sections if label.endswith(target) or f"{target} " in label + " "]
    if not mine:
        return finding.detail, 0
    return "\n\n".join(mine), len(sections) - len(mine)


# ------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class DetailSection:
    """Extra evidence a panel adds under a finding's detail.

    ``kind`` picks the highlighting: ``"config"`` (config lines), ``"log"`` (server log
    lines, mail-log lexer), ``"transcript"`` (scan evidence) or ``"text"`` (plain).
    ``lines`` may hold remote text: they are sanitized and shown as plain text.
    ``empty`` is said when ``lines`` is empty. ``first`` puts the section right under the
    evidence (before the explanation). A ``"config"`` section stands in for the plain list
    of setting names (it says more: their values on the server).
    """

    title: str
    lines: tuple[str, ...]
    kind: str = "text"
    empty: str = ""
    note: str = ""
    first: bool = False


def _area_order(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    groups: dict[str, list[Finding]] = {}
    first_seen: dict[str, int] = {}
    for index, f in enumerate(findings):
        groups.setdefault(f.area or "other", []).append(f)
        first_seen.setdefault(f.area or "other", index)
    for items in groups.values():
        items.sort(key=Finding.sort_key)
    # areas by their worst finding, then the order they came in
    return sorted(groups.items(), key=lambda kv: (kv[1][0].sort_key()[:2], first_seen[kv[0]]))


def finding_key(finding: Finding) -> str:
    return f"{finding.id}@{finding.target}"


# --------------------------------------------------------------------------- widgets
def short_targets(findings: Sequence[Finding]) -> dict[str, str]:
    """Targets as shown in the list: ``:587`` when every target is on the same host, else in full."""
    targets = {f.target for f in findings if f.target}
    hosts = {t.rsplit(":", 1)[0] if re.search(r":\d+$", t) else t for t in targets}
    if len(hosts) != 1:
        return {t: t for t in targets}
    host = hosts.pop()
    return {t: (t[len(host):] if t != host else "") for t in targets}


class FindingList(OptionList):
    """Findings grouped by area (area headers are disabled options). Option ids: ``id@target``.

    One line per finding (no wrapping): badge, severity, port (or target), title.
    """

    DEFAULT_CSS = """
    FindingList {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .option-list--option-disabled { color: $text-primary; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.findings: dict[str, Finding] = {}

    def show(self, findings: Sequence[Finding]) -> None:
        selected = self.highlighted_finding
        self.clear_options()
        self.findings = {}
        options: list[Option] = []
        for area, items in _area_order(findings):
            # per area: ":587" when the area's targets share a host; long targets go after the title
            shown = short_targets(items)
            width = max((len(v) for v in shown.values()), default=0)
            after = width > 16
            options.append(Option(
                Content.assemble((area.upper(), "bold $text-primary"), ("  " + summarize(items), _MUTED)),
                id=f"area:{area}", disabled=True))
            for f in items:
                key = finding_key(f)
                if key in self.findings:
                    twins = [k for k in self.findings if k == key or k.startswith(key + "#")]
                    if any(self.findings[k] == f for k in twins):
                        continue  # the very same finding twice: show it once
                    key = f"{key}#{len(twins)}"
                self.findings[key] = f
                badge, badge_style = status_badge(f.status)
                sev, sev_style = severity_label(f.severity)
                target = _clean(shown.get(f.target, ""))
                if after:
                    prompt = Content.assemble(" ", (badge, badge_style), " ", (sev, sev_style), " ",
                                              _clean(f.title), ("  " + target if target else "", _MUTED))
                else:
                    prompt = Content.assemble(" ", (badge, badge_style), " ", (sev, sev_style), " ",
                                              (target.ljust(width), _MUTED), " " if width else "", _clean(f.title))
                options.append(Option(prompt, id=key))
        self.add_options(options)
        if selected is not None and finding_key(selected) in self.findings:
            self.highlighted = self.get_option_index(finding_key(selected))
        else:
            first = next((i for i, o in enumerate(options) if not o.disabled), None)
            self.highlighted = first

    @property
    def highlighted_finding(self) -> Finding | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        option = self.get_option_at_index(self.highlighted)
        return self.findings.get(option.id or "")

    def select_finding(self, finding_id: str, target: str | None = None) -> bool:
        for key, f in self.findings.items():
            if f.id == finding_id and (target is None or f.target == target):
                self.highlighted = self.get_option_index(key)
                self.call_after_refresh(self.scroll_to_highlight)
                return True
        return False


class FindingDetail(VerticalScroll):
    """Everything about one finding. ``show(finding, extras)``; ``show(None)`` for nothing."""

    DEFAULT_CSS = """
    FindingDetail {
        #finding-extras, #finding-extras-first { height: auto; }
        Static { height: auto; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.finding: Finding | None = None
        self.show_all_evidence = False

    def compose(self) -> ComposeResult:
        yield Static("", id="finding-title", classes="finding-title")
        yield Static("", id="finding-facts", classes="finding-facts")
        yield Static("", id="finding-evidence", classes="finding-part")
        yield Vertical(id="finding-extras-first")
        yield Static("", id="finding-explanation", classes="finding-part")
        yield Static("", id="finding-config", classes="finding-part")
        yield Vertical(id="finding-extras")
        yield Static("", id="finding-detail", classes="finding-evidence")

    def show(self, finding: Finding | None, extras: Sequence[DetailSection] = (), empty: str = "") -> None:
        self.finding = finding
        title = self.query_one("#finding-title", Static)
        parts = ("#finding-facts", "#finding-evidence", "#finding-explanation", "#finding-config", "#finding-detail")
        extras_box = self.query_one("#finding-extras", Vertical)
        first_box = self.query_one("#finding-extras-first", Vertical)
        extras_box.remove_children()
        first_box.remove_children()
        if finding is None:
            title.update(Content(empty))
            for part in parts:
                self.query_one(part, Static).display = False
            return
        badge, badge_style = status_badge(finding.status)
        sev, sev_style = severity_label(finding.severity)
        title.update(Content.assemble((badge, badge_style), "  ", (_clean(finding.title), "bold")))
        facts: list[tuple[str, str] | str] = [
            ("status ", _MUTED), (finding.status.value, badge_style),
            ("   severity ", _MUTED), (sev.strip(), sev_style),
        ]
        if finding.target:
            facts += [("   target ", _MUTED), _clean(finding.target)]
        facts += [("\nid ", _MUTED), finding.id]
        if finding.fix:
            facts += [("   fix ", _MUTED), (_clean(finding.fix), "$text-accent")]
        if finding.reference:
            facts += [("\nreference ", _MUTED), _clean(finding.reference)]
        self._set("#finding-facts", Content.assemble(*facts))
        self._set("#finding-evidence", Content.assemble(("Evidence  ", "bold $text-secondary"), _clean(finding.evidence)))
        self._set("#finding-explanation", Content.assemble(("Why  ", "bold $text-secondary"),
                                                            _clean(finding.explanation)))
        if finding.config and not any(section.kind == "config" for section in extras):
            lines: list[tuple[str, str] | str] = [("Settings involved", "bold $text-secondary")]
            for name in finding.config:
                lines += ["\n  ", (_clean(name), "$text-accent")]
            self._set("#finding-config", Content.assemble(*lines))
        else:
            self._set("#finding-config", None)
        for section in extras:
            box = first_box if section.first else extras_box
            box.mount(Static(self._section(section), classes="finding-part finding-extra"))
        if finding.detail:
            text, hidden = evidence_for(finding, self.show_all_evidence)
            head: list[tuple[str, str] | str] = [("Evidence in full", "bold $text-secondary")]
            if hidden:
                head.append((f"  ({hidden} more conversations of this probe: press e to show all)", _MUTED))
            self._set("#finding-detail", Content.assemble(*head, "\n", highlight_evidence(text)))
        else:
            self._set("#finding-detail", None)

    def _set(self, selector: str, content: Content | None) -> None:
        widget = self.query_one(selector, Static)
        widget.display = content is not None
        if content is not None:
            widget.update(content)

    @staticmethod
    def _section(section: DetailSection) -> Content:
        parts: list[Content | tuple[str, str] | str] = [(section.title, "bold $text-secondary")]
        if section.note:
            parts.append((f"  {_clean(section.note)}", _MUTED))
        if not section.lines:
            parts += ["\n  ", (section.empty or "none", "italic $foreground-muted")]
        for line in section.lines:
            parts.append("\n")
            if section.kind == "log":
                parts.append(highlight_log_line(line))
            elif section.kind == "transcript":
                parts.append(highlight_evidence(line))
            elif section.kind == "config":
                parts += ["  ", (_clean(line), "$text-accent")]
            else:
                parts += ["  ", _clean(line)]
        return Content.assemble(*parts)


class FindingsView(Horizontal):
    """A :class:`FindingList` beside a :class:`FindingDetail` of the highlighted finding."""

    class Highlighted(Message):
        """The user moved to another finding (or the list changed under the cursor)."""

        def __init__(self, view: FindingsView, finding: Finding | None) -> None:
            super().__init__()
            self.view = view
            self.finding = finding

        @property
        def control(self) -> FindingsView:
            return self.view

    def __init__(self, *, empty_message: str = "Nothing to show yet.", id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty_message = empty_message
        #: Extra detail sections for a finding (the panel's join: config lines, log lines).
        self.extras: Callable[[Finding], Sequence[DetailSection]] | None = None
        self._findings: tuple[Finding, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical(id="findings-list-box", classes="findings-box") as box:
            box.border_title = "Findings"
            yield FindingList(id="findings-list")
        with Vertical(id="finding-detail-box", classes="findings-box") as box:
            box.border_title = "Detail"
            yield FindingDetail(id="finding-detail-scroll")

    def on_mount(self) -> None:
        self.refresh_detail()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self._findings

    @property
    def selected(self) -> Finding | None:
        return self.query_one(FindingList).highlighted_finding

    def show(self, findings: Sequence[Finding]) -> None:
        """Replace the findings (the highlighted one stays highlighted when still there)."""
        self._findings = tuple(findings)
        listing = self.query_one(FindingList)
        listing.show(self._findings)
        box = self.query_one("#findings-list-box")
        box.border_subtitle = summarize(self._findings)
        self.refresh_detail()

    def select(self, finding_id: str, target: str | None = None) -> bool:
        found = self.query_one(FindingList).select_finding(finding_id, target)
        self.refresh_detail()
        return found

    def toggle_all_evidence(self) -> None:
        detail = self.query_one(FindingDetail)
        detail.show_all_evidence = not detail.show_all_evidence
        self.refresh_detail()

    def refresh_detail(self) -> None:
        finding = self.selected
        extras = self.extras(finding) if finding is not None and self.extras is not None else ()
        detail = self.query_one(FindingDetail)
        detail.show(finding, extras, empty=self.empty_message if not self._findings else "Pick a finding.")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        detail = self.query_one(FindingDetail)
        previous = detail.finding
        self.refresh_detail()
        if detail.finding is not previous:
            detail.scroll_home(animate=False)
            self.post_message(self.Highlighted(self, detail.finding))
