"""The lab's authoritative DNS (Knot on 127.0.0.1:5353) through mailtui's resolver."""

import pytest

from mailtui.core.dns import make_resolver

pytestmark = pytest.mark.lab


def test_lab_zone_answers_through_the_pinned_resolver(lab):
    resolver = make_resolver(lab.dns)
    mx = resolver.resolve(lab.zone, "MX")
    assert [str(r.exchange) for r in mx] == [f"mail.{lab.zone}."]
    assert [r.address for r in resolver.resolve(f"mail.{lab.zone}", "A")] == ["127.0.0.1"]
    ptr = resolver.resolve_address("127.0.0.1")
    assert str(ptr[0]) == f"mail.{lab.zone}."
    spf = [b"".join(r.strings).decode() for r in resolver.resolve(lab.zone, "TXT")]
    assert any(s.startswith("v=spf1") for s in spf)
