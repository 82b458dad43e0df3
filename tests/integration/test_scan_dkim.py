"""DKIM from both sides on the real lab: the checklist reads the signer's keys over SSH
(mtadmin, sudo), the scan compares them with the key published in the lab zone.

The lab's OpenDKIM signs mailtui.test with selector ``lab`` and the key whose public half
is in ``lab._domainkey.mailtui.test``.
"""

from __future__ import annotations

import pytest

from mailtui.core.checks.gather import gather
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import Status
from mailtui.core.scan import ScanOptions, scan
from tests.integration.test_checks_lab import lab_profile, ssh_transport

pytestmark = pytest.mark.lab


@pytest.fixture
async def facts(lab, tmp_path):
    lab_profile("hardened")
    async with ssh_transport(lab, tmp_path) as ssh:
        return await gather(ssh)


async def _scan(lab, **kw):
    return await scan(ScanOptions(host=lab.info["tls"]["hostname"], resolver=lab.dns, source="127.0.0.2",
                                groups=("dns",), ca_file=lab.info["ca"]["cert"],
                                dnssec_trust_anchor=lab.info["dns"]["ds"], budget=30, **kw))


async def test_gather_reads_the_signing_key_hash(lab, facts):
    entries = [k for k in facts.dkim_keys if k.signer == "opendkim"]
    assert [(k.domain, k.selector, k.key_path) for k in entries] == [
        (lab.zone, lab.info["dns"]["dkim_selector"], lab.info["dns"]["dkim_key"])]
    assert entries[0].pubkey_sha256 and len(entries[0].pubkey_sha256) == 64
    assert facts.dkim_selector_for(lab.zone) == "lab"


async def test_scan_with_the_servers_keys_passes(lab, facts):
    # what the panel does: selector and key hashes from the inside, no selector typed in
    report = await _scan(lab, dkim_keys=facts.dkim_key_pairs(lab.zone), dkim_selector=facts.dkim_selector_for(lab.zone))
    match = report.find("dns.dkim_signing_key")
    assert [(f.status, f.target) for f in match] == [(Status.PASS, f"lab._domainkey.{lab.zone}")]
    assert match[0].evidence.startswith("DNS key equals the signing key")
    assert [f.status for f in report.find("dns.dkim")] == [Status.PASS]


async def test_scan_with_a_wrong_hash_fails(lab, facts):
    (selector, digest), = facts.dkim_key_pairs(lab.zone)
    wrong = format(int(digest, 16) ^ 1, "064x")
    report = await _scan(lab, dkim_keys=((selector, wrong),))
    match = report.find("dns.dkim_signing_key")
    assert [f.status for f in match] == [Status.FAIL]
    assert "the published key is not the one the server signs with" in match[0].evidence
    assert report.exit_code == 1


async def test_checklist_dkim_rule_passes_on_the_hardened_lab(lab, facts):
    found = [f for f in evaluate(facts) if f.id == "system.dkim_signing"]
    assert [f.status for f in found] == [Status.PASS], [f.evidence for f in found]
    assert "opendkim signs mailtui.test with selector lab" in found[0].evidence
    assert "inet:127.0.0.1:8891" in found[0].evidence
