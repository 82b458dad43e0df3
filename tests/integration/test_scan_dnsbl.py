"""DNS blocklists end to end through the lab's resolver (zone dnsbl.test, served by Knot).

The lab lists 127.0.0.2 (A 127.0.0.2 and a TXT reason), answers 127.0.0.3 with
127.255.255.254 (Spamhaus's "query refused" code: an error, never a listing), does not list
127.0.0.1, and lists the domain plusall.mailtui.test on the domain list. The scan's host is
given as an IP, so the addresses looked up are exactly that IP (ScanOptions derives no
domain from an IP literal) plus, when a domain is given, its MX hosts' addresses.
"""

from __future__ import annotations

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan import ScanOptions, run_scan

pytestmark = pytest.mark.lab

ZONE = "dnsbl.test"


def _scan(lab, host: str, **kw):
    options = ScanOptions(host=host, resolver=lab.dns, groups=("dnsbl",), dnsbl_zones=(ZONE,),
                          domain_blocklists=(ZONE,), budget=15, **kw)
    report = run_scan(options)
    assert report.addresses == (host,)
    return report


def _one(report, check_id: str, target: str):
    found = report.find(check_id, target)
    assert len(found) == 1, [f"{f.id} {f.target} {f.status}" for f in report.findings]
    return found[0]


def test_a_listed_address_fails_with_its_code_and_reason(lab):
    report = _scan(lab, "127.0.0.2")
    listed = _one(report, "dnsbl.listed", f"127.0.0.2@{ZONE}")
    assert listed.status == Status.FAIL and "127.0.0.2" in listed.evidence
    assert "Listed by the mailtui lab" in listed.evidence  # the TXT record says why
    assert listed.fix is None  # no checklist rule: the advice is in the explanation
    assert not report.find("dnsbl.error") and report.exit_code == 1
    assert "2.0.0.127.dnsbl.test" in report.probes[0].transcript_text()


def test_spamhaus_refused_code_is_an_error_not_a_listing(lab):
    report = _scan(lab, "127.0.0.3")
    error = _one(report, "dnsbl.error", f"127.0.0.3@{ZONE}")
    assert error.status == Status.ERROR and "refused" in error.evidence
    assert not [f for f in report.findings if f.id == "dnsbl.listed" and f.status == Status.FAIL]
    assert report.exit_code == 0  # could not be checked is not a failure


def test_an_unlisted_address_passes(lab):
    report = _scan(lab, "127.0.0.1")
    clean = _one(report, "dnsbl.listed", "127.0.0.1")
    assert clean.status == Status.PASS and ZONE in clean.evidence
    assert report.exit_code == 0 and not report.find("dnsbl.error")


def test_the_domain_list(lab):
    listed = _scan(lab, "127.0.0.1", domain="plusall.mailtui.test")
    domain = _one(listed, "dnsbl.listed", f"plusall.mailtui.test@{ZONE}")
    assert domain.status == Status.FAIL and "127.0.1.2" in domain.evidence
    # the MX host's addresses (mail.mailtui.test: 127.0.0.1, ::1) are looked up too, and are clean
    clean = {f.target for f in listed.findings if f.id == "dnsbl.listed" and f.status == Status.PASS}
    assert "127.0.0.1" in clean
    unlisted = _scan(lab, "127.0.0.1", domain="mailtui.test")
    assert _one(unlisted, "dnsbl.listed", "mailtui.test").status == Status.PASS
    assert unlisted.exit_code == 0
