"""Found by the panel's property test: hostile program names and long tokens."""

from __future__ import annotations

import time

from mailtui.core.logs.classify import LogClassifier
from mailtui.core.text import is_clean


def test_service_of_an_unknown_program_is_sanitized():
    line = "Nov 29 15:06:00 mail evil\x1b]52;c;aGk=\x07[1]: something"
    (event,) = LogClassifier().classify_lines([line])
    assert is_clean(event.service)
    assert event.service.startswith("evil\\x1b]52")


def test_a_one_megabyte_token_is_classified_in_linear_time():
    # The name[address] pattern used to be retried at every position of a long token:
    # 20 000 characters took 2 s and a megabyte would have taken hours.
    line = "Nov 29 15:06:00 mail postfix/smtpd[1]: connect from " + "A" * 1_000_000
    started = time.perf_counter()
    (event,) = LogClassifier().classify_lines([line])
    assert time.perf_counter() - started < 10  # generous: it takes ~0.03 s here
    assert event.kind.value == "smtp.connect" and event.remote_ip is None
