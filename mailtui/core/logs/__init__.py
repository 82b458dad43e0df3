"""Mail and auth logs: following files on the server, parsing and classifying lines.

Parsing and classification (this part): lines -> records -> explained events.
- :mod:`.records` — one raw line -> :class:`LogRecord` (syslog, RFC 3339/5424, journald JSON,
  TAI64N, Dovecot's own format);
- :mod:`.events` — the taxonomy (:class:`EventKind`, :class:`Severity`), one explanation per
  kind, and :class:`LogEvent`;
- :mod:`.classify` — :func:`classify` for one record, :class:`LogClassifier` /
  :func:`classify_lines` for a stream.
"""

from mailtui.core.logs.classify import LogClassifier, classify, classify_lines
from mailtui.core.logs.events import KIND_INFO, EventKind, Family, KindInfo, LogEvent, Severity, explain
from mailtui.core.logs.records import LogRecord, RecordParser, parse_line

__all__ = [
    "EventKind",
    "Family",
    "KIND_INFO",
    "KindInfo",
    "LogClassifier",
    "LogEvent",
    "LogRecord",
    "RecordParser",
    "Severity",
    "classify",
    "classify_lines",
    "explain",
    "parse_line",
]
