"""What the server is, on screen: a summary column and tables of sockets and log sources.

Every string inside ServerFacts came from the server. It is already sanitized by the
core, and here it only ever becomes ``Content``/``Text`` built from plain strings, never
markup, so a ``[/b]`` in a host name is shown as typed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Label, Static

from mailtui.core.facts import (
    Fail2ban,
    Firewall,
    LogSource,
    OsInfo,
    Privileges,
    ServerFacts,
    Software,
    Status,
    SudoState,
)

__all__ = ["FactLine", "FactRow", "FactsView", "Tone", "describe_facts", "format_size", "format_read_time",
           "stack_summary"]


class Tone(StrEnum):
    """How a fact looks: the CSS class of its row (``-good``, ``-unknown`` ...)."""

    PLAIN = "plain"
    GOOD = "good"
    MUTED = "muted"
    UNKNOWN = "unknown"
    BAD = "bad"


@dataclass(frozen=True)
class FactLine:
    """One labelled line of the summary."""

    key: str
    label: str
    value: Content
    tone: Tone = Tone.PLAIN


def _unknown(reason: str | None) -> Content:
    return Content.assemble("unknown — ", reason or "no reason given")


def describe_os(info: OsInfo) -> FactLine:
    if info.status != Status.FOUND:
        return FactLine("os", "System", _unknown(info.reason), Tone.UNKNOWN)
    parts: list[str | tuple[str, str]] = [(info.name or "", "bold")]
    if info.kernel:
        parts.append((f"\nkernel {info.kernel}", "$foreground-muted"))
    return FactLine("os", "System", Content.assemble(*parts))


def describe_host(facts: ServerFacts) -> FactLine:
    if not facts.hostname and not facts.fqdn:
        return FactLine("host", "Host name", _unknown("hostname gave no answer"), Tone.UNKNOWN)
    if facts.fqdn and facts.hostname and facts.fqdn != facts.hostname:
        value = Content.assemble((facts.fqdn, "bold"), (f"  ({facts.hostname})", "$foreground-muted"))
    else:
        value = Content.assemble((facts.fqdn or facts.hostname or "", "bold"))
    return FactLine("host", "Host name", value)


def describe_login(privileges: Privileges) -> FactLine:
    if privileges.user is None:
        return FactLine("login", "Logged in as", _unknown("id gave no answer"), Tone.UNKNOWN)
    uid = f"  (uid {privileges.uid})" if privileges.uid is not None else ""
    return FactLine("login", "Logged in as", Content.assemble((privileges.user, "bold"), (uid, "$foreground-muted")))


_SUDO_TONE = {
    SudoState.ROOT: Tone.GOOD,
    SudoState.NOPASSWD: Tone.GOOD,
    SudoState.PASSWORD: Tone.UNKNOWN,
    SudoState.DENIED: Tone.UNKNOWN,
    SudoState.ABSENT: Tone.UNKNOWN,
    SudoState.OFF: Tone.MUTED,
}


def describe_sudo(privileges: Privileges) -> FactLine:
    return FactLine("sudo", "Root access", Content(privileges.detail), _SUDO_TONE[privileges.sudo])


def describe_software(key: str, label: str, software: Software, *, none_found: str) -> FactLine:
    """An MTA or IMAP server: name and version, and whether it listens."""
    if software.status == Status.UNKNOWN:
        return FactLine(key, label, _unknown(software.reason), Tone.UNKNOWN)
    if software.status == Status.ABSENT:
        return FactLine(key, label, Content(none_found), Tone.MUTED)
    parts: list[str | tuple[str, str]] = [(software.name or "?", "bold"), " ",
                                          software.version or "(version unknown)"]
    tone = Tone.PLAIN
    if software.running is True:
        parts.append(("  · listening", "$text-success"))
        tone = Tone.GOOD
    elif software.running is False:
        parts.append(("  · installed, not listening", "$text-warning"))
    else:
        parts.append(("  · listening: unknown (process names need root)", "$foreground-muted"))
    if software.evidence:
        parts.append((f"\nfrom {software.evidence}", "$foreground-muted"))
    return FactLine(key, label, Content.assemble(*parts), tone)


def describe_panel(panel: Software) -> FactLine:
    if panel.status == Status.UNKNOWN:
        return FactLine("panel", "Control panel", _unknown(panel.reason), Tone.UNKNOWN)
    if panel.status == Status.ABSENT:
        return FactLine("panel", "Control panel", Content("none found"), Tone.MUTED)
    parts: list[str | tuple[str, str]] = [(panel.name or "?", "bold")]
    if panel.version:
        parts.append(f" {panel.version}")
    if panel.evidence:
        parts.append((f"  ({panel.evidence})", "$foreground-muted"))
    return FactLine("panel", "Control panel", Content.assemble(*parts))


def describe_firewall(firewall: Firewall) -> FactLine:
    lines: list[Content] = []
    for frontend in firewall.frontends:
        if frontend.active is True:
            state = ("active", "$text-success")
        elif frontend.active is False:
            state = ("inactive", "$text-warning")
        else:
            state = ("state unknown", "$foreground-muted")
        lines.append(Content.assemble((frontend.name, "bold"), ": ", state, (f" ({frontend.detail})", "$foreground-muted")))
    if firewall.status == Status.UNKNOWN:
        lines.insert(0, _unknown(firewall.reason))
        return FactLine("firewall", "Firewall", Content("\n").join(lines), Tone.UNKNOWN)
    if firewall.status == Status.ABSENT:
        return FactLine("firewall", "Firewall", Content.assemble("none found — ", firewall.reason or ""), Tone.MUTED)
    return FactLine("firewall", "Firewall", Content("\n").join(lines))


def describe_fail2ban(fail2ban: Fail2ban) -> FactLine:
    version = f" {fail2ban.version}" if fail2ban.version else ""
    if fail2ban.status == Status.UNKNOWN:
        return FactLine("fail2ban", "fail2ban", _unknown(fail2ban.reason), Tone.UNKNOWN)
    if fail2ban.status == Status.ABSENT:
        return FactLine("fail2ban", "fail2ban", Content("not installed"), Tone.MUTED)
    if not fail2ban.running:
        return FactLine("fail2ban", "fail2ban",
                        Content.assemble(f"installed{version}, ", ("not running", "$text-warning")), Tone.PLAIN)
    jails = ", ".join(fail2ban.jails) if fail2ban.jails else "none"
    return FactLine("fail2ban", "fail2ban",
                    Content.assemble(("running", "$text-success"), version, "  · jails: ", (jails, "bold")), Tone.GOOD)


def describe_facts(facts: ServerFacts) -> list[FactLine]:
    """The summary lines, in the order the screen shows them."""
    return [
        describe_os(facts.os),
        describe_host(facts),
        describe_login(facts.privileges),
        describe_sudo(facts.privileges),
        describe_software("mta", "MTA", facts.mta, none_found="none found (no Postfix, Exim, OpenSMTPD, Sendmail, qmail)"),
        describe_software("imap", "IMAP/POP3", facts.imap, none_found="none found (no Dovecot, Courier)"),
        describe_panel(facts.panel),
        describe_firewall(facts.firewall),
        describe_fail2ban(facts.fail2ban),
    ]


def stack_summary(facts: ServerFacts) -> str:
    """``Postfix 3.7.11, Dovecot 2.3.19.1``: the mail software in one phrase."""
    parts = []
    for software, what in ((facts.mta, "MTA"), (facts.imap, "IMAP server")):
        if software.status == Status.FOUND:
            parts.append(f"{software.name} {software.version or '(version unknown)'}")
        elif software.status == Status.ABSENT:
            parts.append(f"no {what} found")
        else:
            parts.append(f"{what} unknown")
    return ", ".join(parts)


def format_size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover  (the loop always returns)


def format_read_time(collected_at: str) -> str:
    """The facts' UTC timestamp in the local time zone, for people."""
    try:
        moment = dt.datetime.fromisoformat(collected_at)
    except ValueError:
        return collected_at
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


class FactRow(Horizontal):
    """``label  value`` with the tone as CSS class."""

    def __init__(self, line: FactLine) -> None:
        super().__init__(id=f"fact-{line.key}", classes=f"fact-row -{line.tone.value}")
        self.line = line

    def compose(self) -> ComposeResult:
        yield Label(self.line.label, classes="fact-label")
        yield Static(self.line.value, classes="fact-value")


_ACCESS_STYLE = {"direct": "", "sudo": "", "none": "bold"}


def _log_row(source: LogSource) -> tuple[Text, Text, Text, Text]:
    # A path says it is a file; a journald unit gets its kind in front.
    name = source.name if source.kind == "file" else f"{source.kind}: {source.name}"
    return (
        Text(name),
        Text(source.category),
        Text(source.access, style=_ACCESS_STYLE.get(source.access, "")),
        Text(format_size(source.size), justify="right"),
    )


#: Below this width the two columns are stacked and the view scrolls as a whole.
NARROW_WIDTH = 100


class FactsView(VerticalScroll):
    """All facts of one reading. Built once per reading (re-reading mounts a new one)."""

    def __init__(self, facts: ServerFacts, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facts = facts

    def compose(self) -> ComposeResult:
        facts = self.facts
        with Horizontal(id="facts-columns"):
            with Vertical(id="facts-left"):
                with VerticalScroll(id="summary") as summary:
                    summary.border_title = "Server"
                    for line in describe_facts(facts):
                        yield FactRow(line)
                if facts.problems:
                    with VerticalScroll(id="problems-box") as box:
                        box.border_title = f"Probes that failed ({len(facts.problems)})"
                        for problem in facts.problems:
                            yield Static(Content(problem), classes="problem")
            with Vertical(id="facts-right"):
                with Vertical(id="listeners-box", classes="facts-box") as box:
                    box.border_title = f"Listening sockets ({len(facts.listeners.items)})"
                    if facts.listeners.status == Status.FOUND:
                        yield DataTable(id="listeners", cursor_type="row", zebra_stripes=True)
                        if facts.listeners.reason:
                            yield Static(Content(facts.listeners.reason), classes="note -unknown")
                    else:
                        yield Static(_unknown(facts.listeners.reason), classes="note -unknown")
                with Vertical(id="logs-box", classes="facts-box") as box:
                    box.border_title = f"Log sources ({len(facts.log_sources.items)})"
                    if facts.log_sources.items:
                        yield DataTable(id="log-sources", cursor_type="row", zebra_stripes=True)
                    elif facts.log_sources.status == Status.ABSENT:
                        yield Static(Content.assemble("none found — ", facts.log_sources.reason or ""),
                                     classes="note -muted")
                    else:
                        yield Static(_unknown(facts.log_sources.reason), classes="note -unknown")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def on_mount(self) -> None:
        facts = self.facts
        if facts.listeners.status == Status.FOUND:
            table = self.query_one("#listeners", DataTable)
            table.add_column("Address", key="address")
            table.add_column("Port", key="port")
            table.add_column("Process", key="process")
            for item in facts.listeners.items:
                process = f"{item.process} ({item.pid})" if item.process and item.pid else item.process or "—"
                table.add_row(Text(item.address), Text(str(item.port), justify="right"), Text(process))
        if facts.log_sources.items:
            table = self.query_one("#log-sources", DataTable)
            for label, key in (("Path / unit", "name"), ("Category", "category"),
                               ("Access", "access"), ("Size", "size")):
                table.add_column(label, key=key)
            for source in facts.log_sources.items:
                table.add_row(*_log_row(source))
