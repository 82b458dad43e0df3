"""The scan against the real lab: weak profile -> every weakness reported, hardened -> none;
the DNS variants of the lab zone; ``mailtui scan`` --json and exit codes.

Probes come from 127.0.0.2 (the lab's outsider: not in mynetworks, not trusted by Dovecot).
The profile is switched with ``lab.py profile`` and ALWAYS restored to hardened afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan import ScanOptions, run_scan

pytestmark = pytest.mark.lab

OUTSIDER = "127.0.0.2"
WEAK_FAILS = {
    # (check id, target port): what the weak profile must trigger
    ("relay.open_relay", 25),
    ("enum.vrfy", 25),
    ("smtp.auth_before_tls", 25),
    ("smtp.auth_before_tls", 587),
    ("tls.versions", 587),
    ("imap_pop.plaintext_login", 143),
    ("imap_pop.plaintext_login", 110),
    ("spoof.local_sender", 25),
}
WEAK_WARNS = {("smtp.banner_disclosure", 25), ("smtp.helo_required", 25)}


def _options(lab, **kw) -> ScanOptions:
    base = dict(
        host=lab.info["tls"]["hostname"],
        resolver=lab.dns,
        source=OUTSIDER,
        ca_file=lab.info["ca"]["cert"],
        ssh_ports=(lab.ssh_port,),
        dkim_selector=lab.info["dns"]["dkim_selector"],
        dnssec_trust_anchor=lab.info["dns"]["ds"],
        dnsbl_zones=("bl.mailtui.test",),
        domain_blocklists=("dbl.mailtui.test",),
        budget=30,
    )
    base.update(kw)
    return ScanOptions(**base)


def _port(target: str) -> int | None:
    tail = target.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


@pytest.fixture(scope="module")
def profile(lab):
    """Switch profiles; the finalizer restores hardened whatever happens."""
    def switch(name: str) -> None:
        lab.lab("profile", name)

    yield switch
    lab.lab("profile", "hardened")


@pytest.fixture(scope="module")
def weak_report(lab, profile):
    profile("weak")
    try:
        return run_scan(_options(lab))
    finally:
        profile("hardened")


@pytest.fixture(scope="module")
def hardened_report(lab, profile):
    profile("hardened")
    return run_scan(_options(lab))


def test_weak_profile_reports_every_weakness(weak_report):
    got = {(f.id, _port(f.target)): f.status for f in weak_report.findings}
    for key in WEAK_FAILS:
        assert got.get(key) == Status.FAIL, f"{key}: {got.get(key)}"
    for key in WEAK_WARNS:
        assert got.get(key) == Status.WARN, f"{key}: {got.get(key)}"
    relay = weak_report.find("relay.open_relay")[0]
    assert "16/16" in relay.evidence and relay.fix == "smtp.open_relay"
    tls587 = weak_report.find("tls.versions", "127.0.0.1:587")[0]
    assert "accepted: TLSv1 " in tls587.evidence
    assert "master.cf submission -o smtpd_tls_protocols" in tls587.config
    assert weak_report.exit_code == 1


def test_hardened_profile_reports_none_of_them(hardened_report):
    got = {(f.id, _port(f.target)): f.status for f in hardened_report.findings}
    for key in WEAK_FAILS | WEAK_WARNS:
        assert got.get(key) == Status.PASS, f"{key}: {got.get(key)}"
    assert not [f for f in hardened_report.findings if f.status == Status.FAIL], [
        (f.id, f.target, f.evidence) for f in hardened_report.findings if f.status == Status.FAIL
    ]
    # The lab's DNS is complete and signed: DKIM, DMARC, DANE, DNSSEC (with the DS anchor) pass.
    for check in ("dns.spf_authorises_server", "dns.dkim", "dns.dmarc_policy", "dns.dane", "dns.dnssec", "dns.ptr", "cert.trust"):
        assert all(f.status == Status.PASS for f in hardened_report.find(check)), check
    # MTA-STS: the TXT record is there and the lab's HTTPS server serves a policy naming the MX.
    assert hardened_report.find("dns.mta_sts_policy")[0].status == Status.PASS
    assert hardened_report.exit_code == 0


STRICT_TLS_PORTS = (465, 587, 143, 993, 110, 995)


def test_cipher_policy_weak_warns_on_strict_listeners_hardened_passes(weak_report, hardened_report):
    """The shared policy (mailtui.core.tlsclass): anonymous and phase-out suites are WARN where
    passwords travel, INFO on port 25 (opportunistic TLS), never a WARN there."""
    weak = {_port(f.target): f for f in weak_report.find("tls.ciphers")}
    hard = {_port(f.target): f for f in hardened_report.find("tls.ciphers")}
    assert set(STRICT_TLS_PORTS) | {25} <= set(weak) and set(STRICT_TLS_PORTS) | {25} <= set(hard)
    for port in STRICT_TLS_PORTS:
        assert weak[port].status == Status.WARN, (port, weak[port].evidence)
        assert weak[port].fix == ("tls.postfix_ciphers" if port in (465, 587) else "tls.dovecot_ciphers")
        assert hard[port].status == Status.PASS, (port, hard[port].title, hard[port].evidence)
    # weak Postfix: static-RSA suites (phase-out); weak Dovecot: anonymous suites
    assert weak[587].title == "Phase-out cipher suites accepted" and "AES256-GCM-SHA384" in weak[587].evidence
    assert weak[993].title.startswith("Anonymous") and "ADH-" in weak[993].evidence
    assert "smtpd_tls_mandatory_exclude_ciphers" in weak[465].config
    # port 25: information at most, with and without the hardening
    assert weak[25].status in (Status.INFO, Status.PASS) and hard[25].status in (Status.INFO, Status.PASS)
    assert hard[25].status == Status.INFO and "opportunistic" in hard[25].title and hard[25].fix is None


def test_full_scan_is_fast_and_every_probe_finished(hardened_report):
    assert hardened_report.duration < 5.0, hardened_report.duration
    assert {p.outcome.value for p in hardened_report.probes} == {"finished"}
    relay_probe = next(p for p in hardened_report.probes if p.group == "relay")
    assert "C: RSET" in relay_probe.transcript_text()
    assert not any(line.text.startswith("DATA") for _, lines in relay_probe.transcripts for line in lines if line.direction.value == "C")


@pytest.mark.parametrize(
    "domain, check, status",
    [
        ("spf11.mailtui.test", "dns.spf_lookups", Status.FAIL),
        ("plusall.mailtui.test", "dns.spf_all", Status.FAIL),
        ("dmarcnone.mailtui.test", "dns.dmarc_policy", Status.FAIL),
        ("badtlsa.mailtui.test", "dns.dane", Status.FAIL),
        ("noptr.mailtui.test", "dns.ptr", Status.FAIL),
    ],
)
def test_dns_variants(lab, domain, check, status):
    report = run_scan(_options(lab, domain=domain, groups=("dns",), dkim_selector=None))
    found = report.find(check)
    assert found and any(f.status == status for f in found), [(f.status, f.evidence) for f in found]
    if domain == "noptr.mailtui.test":
        assert any(f.target == "127.0.0.3" and f.status == Status.FAIL for f in found)
    if domain == "plusall.mailtui.test":
        assert report.find("dns.spf_authorises_server")[0].status == Status.PASS  # +all authorises everyone


def _cli(lab, *args, env_resolver=True):
    env = dict(os.environ)
    if env_resolver:
        env["MAILTUI_RESOLVER"] = lab.dns
    else:
        env.pop("MAILTUI_RESOLVER", None)
    return subprocess.run([sys.executable, "-m", "mailtui", "scan", *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_json_and_exit_codes(lab, profile):
    common = ["--source", OUTSIDER, "--ca-file", lab.info["ca"]["cert"], "--ssh-port", str(lab.ssh_port),
              "--dnsbl-zone", "bl.mailtui.test", "--domain-blocklist", "dbl.mailtui.test"]
    ok = _cli(lab, "mail.mailtui.test", *common, "--only", "smtp", "relay", "--json")
    assert ok.returncode == 0, ok.stderr
    findings = json.loads(ok.stdout)
    assert findings and all({"id", "status", "severity", "title", "evidence", "explanation"} <= set(f) for f in findings)
    failing = _cli(lab, "mail.mailtui.test", *common, "--domain", "plusall.mailtui.test", "--only", "dns")
    # A DNS record has no checklist rule: no fix id, the advice is in the explanation.
    assert failing.returncode == 1 and "SPF +all" in failing.stdout and "fix:" not in failing.stdout
    assert _cli(lab, "mail.mailtui.test", "--only", "smtp", env_resolver=False).returncode == 2
    assert _cli(lab, "nothere.mailtui.test", "--only", "smtp").returncode == 2
    assert _cli(lab, "mail.mailtui.test", "--only", "nosuchgroup").returncode == 2
    # Nothing listens on 127.0.0.1:1 (only that port asked): a connection error.
    closed = _cli(lab, "127.0.0.1", "--ports", "1", "--only", "ports")
    assert closed.returncode == 2 and "nothing answers" in closed.stderr
