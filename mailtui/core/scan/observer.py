"""Progress of a running scan, for the panel (and anything else that wants to watch).

The runner calls these methods on the event loop's thread, in order: ``scan_started``,
then for each probe ``probe_started`` ... ``finding_produced`` (once per finding) ...
``probe_finished``, and at the end ``scan_finished``. Subclass :class:`ScanObserver` and
override what you need; the defaults do nothing. A Textual panel that runs the scan in an
async worker can ``post_message`` from here directly; one that runs :func:`run_scan` in a
thread worker should use ``call_from_thread``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailtui.core.findings import Finding
    from mailtui.core.scan.model import ProbeRecord, ScanReport
    from mailtui.core.scan.options import ScanOptions


class ScanObserver:
    """No-op base class: override the events you care about."""

    def scan_started(self, options: ScanOptions, addresses: tuple[str, ...], groups: tuple[str, ...]) -> None:
        """The host was resolved; ``groups`` will run."""

    def probe_started(self, group: str, target: str) -> None:
        """A probe group began against ``target`` (``127.0.0.1``, ``127.0.0.1:25``, a domain)."""

    def finding_produced(self, finding: Finding) -> None:
        """One finding, as soon as its probe group finished."""

    def probe_finished(self, record: ProbeRecord) -> None:
        """A probe group ended (finished, timed out, errored or ran out of budget)."""

    def scan_finished(self, report: ScanReport) -> None:
        """The whole scan ended; ``report`` is what :func:`run_scan` returns."""


class RecordingObserver(ScanObserver):
    """Keeps every event as a tuple, in order (tests; a simple log)."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def scan_started(self, options, addresses, groups) -> None:
        self.events.append(("scan_started", addresses, groups))

    def probe_started(self, group, target) -> None:
        self.events.append(("probe_started", group, target))

    def finding_produced(self, finding) -> None:
        self.events.append(("finding", finding))

    def probe_finished(self, record) -> None:
        self.events.append(("probe_finished", record))

    def scan_finished(self, report) -> None:
        self.events.append(("scan_finished", report))
