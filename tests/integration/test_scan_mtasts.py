"""MTA-STS on the real lab: the scan fetches each policy over HTTPS from the lab's policy
server (127.0.0.1:443, certificate by the lab CA) and compares it with the MX set.

``mailtui.test``'s policy lists its MX (consistent); ``stsbad.mailtui.test``'s lists
``other.example.test`` only (inconsistent). The scan fetches only from loopback unless
``fetch_remote_https`` is set; the lab's policy hosts are on loopback.
"""

from __future__ import annotations

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan import ScanOptions, run_scan

pytestmark = pytest.mark.lab


def _scan(lab, domain: str, **kw):
    options = dict(host=lab.info["tls"]["hostname"], domain=domain, resolver=lab.dns, source="127.0.0.2",
                   groups=("dns",), ca_file=lab.info["ca"]["cert"], budget=30)
    options.update(kw)
    return run_scan(ScanOptions(**options))


def _policy_transcript(report) -> str:
    dns = next(p for p in report.probes if p.group == "dns")
    return dns.transcript_text()


def test_policy_is_fetched_and_consistent_with_the_mx(lab):
    report = _scan(lab, lab.zone)
    assert [f.status for f in report.find("dns.mta_sts")] == [Status.PASS]
    policy = report.find("dns.mta_sts_policy")
    assert [(f.status, f.target) for f in policy] == [(Status.PASS, f"mta-sts.{lab.zone}")], [f.evidence for f in policy]
    assert policy[0].evidence == "mode enforce, mx mail.mailtui.test"
    assert "max_age: 86400" in policy[0].detail
    assert "GET" not in policy[0].evidence and "200" in _policy_transcript(report)


def test_variant_policy_misses_its_mx(lab):
    domain = lab.info["mta_sts"]["bad_domain"]
    report = _scan(lab, domain)
    policy = report.find("dns.mta_sts_policy")
    assert [f.status for f in policy] == [Status.FAIL], [f.evidence for f in policy]
    assert "MX not in the policy: mail.mailtui.test" in policy[0].evidence
    assert "other.example.test" in policy[0].detail


def test_untrusted_certificate_is_not_a_policy(lab):
    # without the lab CA the certificate chain does not verify: the policy is not used
    report = _scan(lab, lab.zone, ca_file=None)
    policy = report.find("dns.mta_sts_policy")
    assert [f.status for f in policy] == [Status.ERROR] and "not fetchable" in policy[0].evidence
