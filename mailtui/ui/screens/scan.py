"""The Scan panel: the connected server probed from outside, tied back to its inside.

Pick probe groups (space), run them (``r``) or re-run only the highlighted finding's group
(``g``). The scan runs in a worker (group ``scan``, exclusive) that awaits
:func:`mailtui.core.scan.scan` with an observer posting :class:`ProbeStarted` /
:class:`ProbeFinished` messages, so each group's line shows its state and timing live.
After the probes the same worker reads the server's mail logs for the scan's window and
ties each line to the probe that caused it (:func:`mailtui.core.join.read_scan_logs`).

A second worker (group ``scan-config``) reads the server's configuration once with the
checklist's gatherer: it gives the mail domain (``mydomain``) and lets the detail pane show,
for each finding, the config lines behind it and its checklist rule
(:func:`mailtui.core.join.config_for`).

Scan options (source address, CA file, domain, DKIM selector) are remembered in the
server's profile (``[servers.NAME.scan]``) when a scan runs with changed values.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection
from textual.worker import Worker, WorkerState

from mailtui.core.checks.gather import CONFIG_PROBES, CheckFacts, gather
from mailtui.core.dns import ResolverConfigError, choose_nameservers
from mailtui.core.findings import Finding, Status
from mailtui.core.join import checklist_rule, config_for, read_scan_logs, scanner_addresses
from mailtui.core.logs.reading import pick_sources
from mailtui.core.profiles import ServerProfile, blocklist_zones
from mailtui.core.scan import (
    Outcome,
    ProbeRecord,
    ScanObserver,
    ScanOptions,
    ScanOptionsError,
    ScanReport,
    ScanSetupError,
    probe_groups,
    scan,
)
from mailtui.core.scan.options import DEFAULT_PORTS, derive_domain
from mailtui.core.text import sanitize
from mailtui.core.transport import TransportError
from mailtui.ui.dialogs.error import ErrorDialog
from mailtui.ui.session import Session
from mailtui.ui.widgets.findings import DetailSection, FindingList, FindingsView, finding_key, summarize

if TYPE_CHECKING:
    from mailtui.core.join import ProbeLogs
    from mailtui.ui.app import MailtuiApp

__all__ = ["ProbeFinished", "ProbeStarted", "ScanFinished", "ScanScreen", "ScanSettings"]

#: Seconds to wait after the probes before reading the logs (syslog/postlogd write behind).
LOG_SETTLE = 1.0
_MUTED = "$foreground-muted"


# --------------------------------------------------------------------------- messages
class ProbeStarted(Message):
    """A probe group began (posted by the scan worker's observer)."""

    def __init__(self, group: str, target: str) -> None:
        super().__init__()
        self.group = group
        self.target = target


class ProbeFinished(Message):
    """A probe group ended, with its record and its findings."""

    def __init__(self, record: ProbeRecord, findings: tuple[Finding, ...]) -> None:
        super().__init__()
        self.record = record
        self.findings = findings


class ScanFinished(Message):
    """The probes are done (the logs are read after this)."""

    def __init__(self, report: ScanReport) -> None:
        super().__init__()
        self.report = report


class _PanelObserver(ScanObserver):
    """Turns the runner's callbacks into messages (same event loop: post_message directly).

    The runner reports a group's findings and then its record synchronously, so the
    findings buffered since the last ``probe_finished`` are that group's.
    """

    def __init__(self, screen: ScanScreen) -> None:
        self.screen = screen
        self._pending: list[Finding] = []

    def probe_started(self, group: str, target: str) -> None:
        self.screen.post_message(ProbeStarted(group, target))

    def finding_produced(self, finding: Finding) -> None:
        self._pending.append(finding)

    def probe_finished(self, record: ProbeRecord) -> None:
        findings, self._pending = tuple(self._pending), []
        self.screen.post_message(ProbeFinished(record, findings))

    def scan_finished(self, report: ScanReport) -> None:
        self.screen.post_message(ScanFinished(report))


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ScanSettings:
    """What the options form holds (empty = default)."""

    source: str | None = None
    ca_file: str | None = None
    domain: str | None = None
    dkim_selector: str | None = None
    blocklists: str | None = None

    @classmethod
    def of(cls, target: object) -> ScanSettings:
        if isinstance(target, ServerProfile):
            return cls(target.scan_source, target.scan_ca_file, target.scan_domain, target.scan_dkim_selector,
                       target.scan_blocklists)
        return cls()

    def into(self, profile: ServerProfile) -> ServerProfile:
        return replace(profile, scan_source=self.source, scan_ca_file=self.ca_file, scan_domain=self.domain,
                       scan_dkim_selector=self.dkim_selector, scan_blocklists=self.blocklists)


@dataclass
class _GroupState:
    title: str
    description: str
    state: str = "idle"  # idle / running / done
    record: ProbeRecord | None = None
    findings: tuple[Finding, ...] = ()
    started: float = 0.0


_FIELDS = (("source", "Source", "address the probes come from (default: this machine's)"),
           ("ca_file", "CA file", "extra CA for the certificate check"),
           ("domain", "Domain", "mail domain for the DNS checks"),
           ("dkim_selector", "DKIM sel.", "DKIM selector to look up"),
           ("blocklists", "DNSBLs", "DNS blocklist zones (default: built-in list)"))


class ScanScreen(Screen[None]):
    """The outside-in scan of ``session``'s server."""

    BINDINGS = [
        Binding("r", "run_scan", "Run scan", id="scan.run",
                tooltip="Probe the server with the ticked groups (polite: few connections, never DATA)"),
        Binding("g", "rerun_group", "Re-run group", id="scan.rerun",
                tooltip="Run only the highlighted probe group again (or the highlighted finding's group)"),
        Binding("e", "all_evidence", "All evidence", id="scan.evidence",
                tooltip="Show every conversation of the finding's probe group, or only the finding's own"),
        Binding("escape", "back", "Server", id="scan.back", tooltip="Back to the Server screen"),
    ]

    app: MailtuiApp

    def __init__(self, session: Session, *, profile: ServerProfile | None = None, log_settle: float = LOG_SETTLE) -> None:
        """``profile`` is the newest saved version of the session's profile (its scan options)."""
        super().__init__()
        self.session = session
        self.label = session.transport.label
        self.log_settle = log_settle
        if profile is not None:
            self.session = replace(session, target=profile)
        self.settings = ScanSettings.of(self.session.target)
        self.groups: dict[str, _GroupState] = {
            g.id: _GroupState(g.title, g.description) for g in probe_groups()
        }
        #: finding key -> its probe group (findings of all groups run so far, newest run wins)
        self.finding_group: dict[str, str] = {}
        #: probe group -> the server's log lines it caused (from the run it last ran in)
        self.group_logs: dict[str, ProbeLogs] = {}
        self.check_facts: CheckFacts | None = None
        self.config_problem: str | None = None
        self.report: ScanReport | None = None
        self._started = 0.0
        self._timer: Timer | None = None
        self._last_options: ScanOptions | None = None
        self._status_text: Content = Content("")

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="scan-title", classes="screen-title")
        with Horizontal(id="scan-top"):
            with Vertical(id="scan-groups-box") as box:
                box.border_title = "Probe groups"
                box.border_subtitle = "space: tick · r: run · g: re-run one"
                yield SelectionList[str](
                    *(Selection(self._group_prompt(gid), gid, True, id=gid) for gid in self.groups),
                    id="scan-groups")
            with Vertical(id="scan-options-box") as box:
                box.border_title = "Options (remembered for this server)"
                for key, label, help_text in _FIELDS:
                    with Horizontal(classes="scan-option"):
                        yield Label(label, classes="scan-option-label")
                        yield Input(getattr(self.settings, key) or "", placeholder=help_text, id=f"scan-{key}",
                                    compact=True, classes="scan-option-input")
                yield Static("", id="scan-facts", classes="scan-facts")
        yield Static("", id="scan-status")
        yield FindingsView(id="scan-findings", empty_message="No scan yet: tick the probe groups and press r.")
        yield Footer()

    def _title(self) -> Content:
        return Content.assemble((self.label, "bold"), ("  ·  scan from outside: ", _MUTED), self.scan_host)

    def on_mount(self) -> None:
        self.sub_title = f"Scan · {self.label}"
        view = self.query_one(FindingsView)
        view.extras = self.extras_for
        self.query_one("#scan-groups", SelectionList).focus()
        self._read_config()
        self._show_facts_line()
        self._set_status(Content.assemble("Ready. ", ("r", "bold $text-accent"), " runs the ticked groups against ",
                                          (self.scan_host, "bold"), "."))

    # ------------------------------------------------------------------ target
    @property
    def profile(self) -> ServerProfile | None:
        target = self.session.target
        return target if isinstance(target, ServerProfile) else None

    @property
    def scan_host(self) -> str:
        """The SSH target's host (resolved by the scan through mailtui's resolver); 127.0.0.1 locally."""
        profile = self.profile
        return profile.host if profile is not None else "127.0.0.1"

    @property
    def ssh_port(self) -> int:
        profile = self.profile
        return (profile.port or 22) if profile is not None else 22

    def default_domain(self) -> str | None:
        """``mydomain`` from the server's Postfix when read, else derived from its name."""
        facts = self.check_facts
        if facts is not None and facts.postfix is not None:
            mydomain = facts.postfix.effective("mydomain")
            if mydomain and mydomain != "localdomain":
                return sanitize(mydomain)
        for name in (self.session.facts.fqdn, self.scan_host):
            if name and "." in name:
                domain = derive_domain(name)
                if domain:
                    return domain
        return None

    def form_settings(self) -> ScanSettings:
        values = {key: self.query_one(f"#scan-{key}", Input).value.strip() or None for key, _, _ in _FIELDS}
        return ScanSettings(**values)

    def build_options(self, groups: tuple[str, ...]) -> ScanOptions:
        """ScanOptions from the form; raises ScanOptionsError / ResolverConfigError when it cannot."""
        settings = self.form_settings()
        resolver = ",".join(str(ns) for ns in choose_nameservers())
        ports = DEFAULT_PORTS if self.ssh_port in DEFAULT_PORTS else DEFAULT_PORTS + (self.ssh_port,)
        domain = settings.domain or self.default_domain()
        # The inside view: the signer's selector and the hash of the key it signs with, so
        # the scan can say whether the published DKIM key is the one actually used.
        facts = self.check_facts
        selector = settings.dkim_selector or (facts.dkim_selector_for(domain) if facts and domain else None)
        dkim_keys = tuple(facts.dkim_key_pairs(domain)) if facts and domain else ()
        return ScanOptions(
            host=self.scan_host,
            domain=domain,
            resolver=resolver,
            source=settings.source,
            ca_file=settings.ca_file,
            dkim_selector=selector,
            dkim_keys=dkim_keys,
            **({"dnsbl_zones": blocklist_zones(settings.blocklists)} if settings.blocklists else {}),
            groups=groups,
            ports=ports,
            ssh_ports=(self.ssh_port,),
        )

    # ------------------------------------------------------------------ config
    @work(group="scan-config", exclusive=True, exit_on_error=False, name="read config for the scan")
    async def _read_config(self) -> CheckFacts:
        return await gather(self.session.transport, CONFIG_PROBES + ("fail2ban", "fail2ban-ports", "dkim-keys"))

    def _show_facts_line(self) -> None:
        line = self.query_one("#scan-facts", Static)
        domain = self.default_domain()
        parts: list[tuple[str, str] | str] = [("Host ", _MUTED), self.scan_host, ("  SSH port ", _MUTED),
                                              str(self.ssh_port)]
        parts += [("\nDomain ", _MUTED), domain or "unknown (type one)"]
        if self.check_facts is not None:
            parts.append(("  (mydomain)", _MUTED) if domain and self.check_facts.postfix else "")
            parts += [("\nConfig ", _MUTED), ("read", "$text-success"), (" — findings show their config lines", _MUTED)]
        elif self.config_problem:
            parts += [("\nConfig ", _MUTED), ("not read: ", "$text-warning"), self.config_problem]
        else:
            parts += [("\nConfig ", _MUTED), ("reading…", "$text-accent")]
        line.update(Content.assemble(*parts))
        self.query_one("#scan-domain", Input).placeholder = f"default: {domain}" if domain else _FIELDS[2][2]

    # -------------------------------------------------------------------- scan
    @property
    def scanning(self) -> bool:
        return any(w.group == "scan" and w.is_running for w in self.workers)

    def action_run_scan(self) -> None:
        groups = tuple(g for g in self.groups if g in self.query_one("#scan-groups", SelectionList).selected)
        if not groups:
            self.notify("Tick at least one probe group (space).", severity="warning")
            return
        self.start_scan(groups)

    def action_rerun_group(self) -> None:
        group: str | None = None
        listing = self.query_one("#scan-groups", SelectionList)
        if self.focused is listing and listing.highlighted is not None:
            group = listing.get_option_at_index(listing.highlighted).value
        else:
            finding = self.query_one(FindingsView).selected
            if finding is not None:
                group = self.finding_group.get(finding_key(finding))
            elif listing.highlighted is not None:
                group = listing.get_option_at_index(listing.highlighted).value
        if group is None:
            self.notify("Highlight a probe group or a finding first.", severity="warning")
            return
        self.start_scan((group,))

    def start_scan(self, groups: tuple[str, ...]) -> bool:
        """Run ``groups`` (replacing their earlier results). False when the options are wrong."""
        if self.scanning:
            self.notify("A scan is running; wait until it is done.", severity="warning")
            return False
        try:
            options = self.build_options(groups)
        except (ScanOptionsError, ResolverConfigError, ValueError) as exc:  # ValueError: a bad blocklist name
            self._set_status(Content.assemble(("Cannot scan: ", "bold"), str(exc)), "-error")
            return False
        self._remember(self.form_settings())
        self._last_options = options
        for gid in groups:
            state = self.groups[gid]
            state.state, state.record, state.started = "queued", None, 0.0
            self._refresh_group(gid)
        self._started = time.monotonic()
        self._timer = self.set_interval(0.25, self._tick)
        self._scan(options)
        self._tick()
        return True

    @work(group="scan", exclusive=True, exit_on_error=False, name="scan")
    async def _scan(self, options: ScanOptions) -> tuple[ScanReport, ProbeLogs | None]:
        report = await scan(options, _PanelObserver(self))
        logs = None
        sources = pick_sources(self.session.facts.log_sources.items)
        if sources:
            self._set_status(Content.assemble(f"Probes done in {report.duration:.1f} s. Reading the server's logs "
                                              "for the lines they caused…"))
            await asyncio.sleep(self.log_settle)
            own: frozenset[str] = frozenset()
            if not options.source:
                try:
                    own = await self.app.own_addresses(self.session.transport)
                except TransportError:
                    pass
            logs = await read_scan_logs(self.session.transport, sources, report,
                                        scanner_addresses(options.source, report.addresses, own),
                                        ssh_ports=options.ssh_ports)
        return report, logs

    def on_probe_started(self, message: ProbeStarted) -> None:
        state = self.groups.get(message.group)
        if state is not None:
            state.state, state.started = "running", time.monotonic()
            self._refresh_group(message.group)

    def on_probe_finished(self, message: ProbeFinished) -> None:
        record = message.record
        state = self.groups.get(record.group)
        if state is None:
            return
        state.state, state.record, state.findings = "done", record, message.findings
        for f in message.findings:
            self.finding_group[finding_key(f)] = record.group
        self._refresh_group(record.group)
        self._show_findings()

    def on_scan_finished(self, message: ScanFinished) -> None:
        self.report = message.report

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the screen's slow work ends: the scan and the config read."""
        worker = event.worker
        if worker.group == "scan-config":
            if event.state == WorkerState.SUCCESS:
                self.check_facts = worker.result
                problems = self.check_facts.problems
                self.config_problem = "; ".join(problems.values()) if problems and self.check_facts.postfix is None \
                    else None
            elif event.state == WorkerState.ERROR:
                error = worker.error
                self.config_problem = error.message if isinstance(error, TransportError) else \
                    f"{type(error).__name__}: {error}"
            self._show_facts_line()
            self.query_one(FindingsView).refresh_detail()
            return
        if worker.group != "scan" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                         WorkerState.CANCELLED):
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        for gid, state in self.groups.items():
            if state.state in ("queued", "running"):
                state.state = "idle"
                self._refresh_group(gid)
        if event.state == WorkerState.SUCCESS:
            report, logs = worker.result
            self.report = report
            if logs is not None:
                for gid in report.groups:
                    self.group_logs[gid] = logs
            self._show_findings()
            self._scan_done(report, logs)
            self.query_one(FindingList).focus()
        elif event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, ScanSetupError):
                message, title = str(error), "The scan could not start"
            elif isinstance(error, TransportError):
                message, title = error.message, "Reading the server's logs failed"
            else:
                self.log.error("scan failed", error)
                message, title = f"Unexpected error (a bug in mailtui): {type(error).__name__}: {error}", "Scan failed"
            self._set_status(Content.assemble((f"{title}: ", "bold"), message), "-error")
            self.app.push_screen(ErrorDialog(title, message))
        else:
            self._set_status(Content("Scan cancelled."), "-warning")

    def _scan_done(self, report: ScanReport, logs: ProbeLogs | None) -> None:
        counts = summarize(report.findings) or "no findings"
        parts: list[tuple[str, str] | str] = [
            ("Scan done", "bold $text-success"), f" in {report.duration:.1f} s: ", counts,
            ("  ·  ", _MUTED), sanitize(report.host),
            f" ({', '.join(report.addresses)})" if report.addresses != (report.host,) else "",
        ]
        if report.domain:
            parts += [("  ·  domain ", _MUTED), sanitize(report.domain)]
        if logs is not None:
            parts += [("  ·  ", _MUTED), f"{logs.total} server log lines tied to the probes"]
            if logs.problems:
                parts += [("  ·  ", _MUTED), ("log problems: " + "; ".join(logs.problems), "$text-warning")]
        elif not pick_sources(self.session.facts.log_sources.items):
            parts += [("  ·  ", _MUTED), ("no readable mail log on the server", "$text-warning")]
        if report.budget_exhausted:
            parts += [("  ·  ", _MUTED), ("budget spent: some groups were stopped", "$text-warning")]
        self._set_status(Content.assemble(*parts), "-done")

    def _tick(self) -> None:
        done = sum(1 for s in self.groups.values() if s.state == "done" and s.record is not None
                   and s.started >= self._started)
        running = [gid for gid, s in self.groups.items() if s.state in ("running", "queued")]
        if not running:
            return
        elapsed = time.monotonic() - self._started
        options = self._last_options
        source = f" from {options.source}" if options and options.source else ""
        self._set_status(Content.assemble(("Scanning ", "bold $text-accent"), self.scan_host, source,
                                          ("  ·  ", _MUTED), f"{elapsed:.1f} s", ("  ·  running: ", _MUTED),
                                          ", ".join(running), ("  ·  ", _MUTED), f"{done} done"), "-busy")
        for gid in running:
            self._refresh_group(gid)

    # ------------------------------------------------------------------ views
    def _group_prompt(self, gid: str) -> Content:
        state = self.groups[gid]
        parts: list[tuple[str, str] | str] = [(state.title.ljust(22), "bold" if state.state != "idle" else "")]
        if state.state == "queued":
            parts.append(("waiting…", "$text-accent"))
        elif state.state == "running":
            parts.append((f"running {time.monotonic() - state.started:4.1f} s", "bold $text-accent"))
        elif state.record is not None:
            record = state.record
            outcome = {Outcome.FINISHED: ("✓", "$text-success"), Outcome.SKIPPED: ("–", _MUTED)}.get(
                record.outcome, ("!", "bold $text-warning"))
            parts += [outcome, f" {record.duration:4.1f} s  "]
            worst = [f for f in state.findings if f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
            fails = sum(1 for f in state.findings if f.status == Status.FAIL)
            parts.append((f"{len(state.findings)} findings", _MUTED))
            if fails:
                parts.append((f" · {fails} fail", "bold $text-error"))
            elif worst:
                parts.append((f" · {len(worst)} to look at", "$text-warning"))
            if record.outcome not in (Outcome.FINISHED, Outcome.SKIPPED):
                parts.append((f" · {record.outcome.value}", "$text-warning"))
        else:
            parts.append((state.description[:40], _MUTED))
        return Content.assemble(*parts)

    def _refresh_group(self, gid: str) -> None:
        listing = self.query_one("#scan-groups", SelectionList)
        listing.replace_option_prompt(gid, self._group_prompt(gid))

    def _show_findings(self) -> None:
        findings = [f for state in self.groups.values() for f in state.findings]
        self.query_one(FindingsView).show(findings)

    def _set_status(self, text: Content, classes: str = "") -> None:
        status = self.query_one("#scan-status", Static)
        status.update(text)
        status.set_classes(classes)

    # ------------------------------------------------------------------ detail
    def extras_for(self, finding: Finding) -> list[DetailSection]:
        """The join for the detail pane: config lines and checklist rule, the probe's log lines, its transcript."""
        out: list[DetailSection] = []
        rule = checklist_rule(finding)
        config_lines = tuple(ref.render() for ref in config_for(finding, self.check_facts)) if finding.config else ()
        if rule:
            config_lines += (f"checklist rule: {rule}",)
        if config_lines:
            note = ""
            if self.check_facts is None:
                note = self.config_problem and f"config not read: {self.config_problem}" or "reading the config…"
            out.append(DetailSection("On the server", config_lines, "config", note=note, first=True))
        group = self.finding_group.get(finding_key(finding))
        if group is not None:
            logs = self.group_logs.get(group)
            if logs is None:
                note = "" if pick_sources(self.session.facts.log_sources.items) else "no readable mail log"
                out.append(DetailSection(f"Server log lines of the {group} probe", (), "log",
                                         empty="reading the logs after the scan…" if self.scanning else
                                         "not read", note=note))
            else:
                matches = logs.for_group(group)
                shared = sorted({g for m in matches for g in m.shared_with})
                note = f"{len(matches)} lines from {', '.join(logs.addresses)}"
                if shared:
                    note += f"; some may also come from: {', '.join(shared)} (same port and second)"
                out.append(DetailSection(f"Server log lines the {group} probe caused",
                                         tuple(m.line for m in matches[:200]), "log", note=note,
                                         empty="none found in the scan's time window"))
            record = self.groups[group].record if group in self.groups else None
            if record is not None and record.transcripts and not finding.detail.startswith("# "):
                out.append(DetailSection("Probe conversation", (record.transcript_text(),), "transcript"))
        return out

    # ----------------------------------------------------------------- actions
    def action_all_evidence(self) -> None:
        self.query_one(FindingsView).toggle_all_evidence()

    def action_back(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self.query_one(FindingList).focus()
            return
        self.dismiss()

    def _remember(self, settings: ScanSettings) -> None:
        """Save changed options in the server's profile (a local session keeps them in memory)."""
        if settings == self.settings:
            return
        self.settings = settings
        profile = self.profile
        if profile is None:
            return
        current = self.app.config.server(profile.name) or profile
        updated = settings.into(current)
        if self.app.save_profile(updated, replacing=profile.name):
            self.session = replace(self.session, target=updated)

    async def on_unmount(self) -> None:
        for worker in self.workers:
            worker.cancel()
