"""The outside-in scan: probe groups -> Findings (see registry, runner, observer)."""

from mailtui.core.scan.model import CHECKS, Check, Outcome, ProbeRecord, ScanReport, Transcript, TranscriptLine
from mailtui.core.scan.observer import RecordingObserver, ScanObserver
from mailtui.core.scan.options import ALL_GROUPS, ScanOptions, ScanOptionsError
from mailtui.core.scan.registry import ProbeGroup, probe_group, probe_groups
from mailtui.core.scan.runner import ScanSetupError, run_scan, scan

__all__ = [
    "ALL_GROUPS",
    "CHECKS",
    "Check",
    "Outcome",
    "ProbeGroup",
    "ProbeRecord",
    "RecordingObserver",
    "ScanObserver",
    "ScanOptions",
    "ScanOptionsError",
    "ScanReport",
    "ScanSetupError",
    "Transcript",
    "TranscriptLine",
    "probe_group",
    "probe_groups",
    "run_scan",
    "scan",
]
