"""Helpers shared by the checklist/fix lab tests: the lab's weak sshd and SSH transports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import SshOptions, SshTransport

LAB_DIR = Path(os.environ.get("MAILTUI_LAB_DIR", "/var/lib/mailtui-lab"))
SSHD_DROPINS = LAB_DIR / "sshd_config.d"
SSHD_PID = LAB_DIR / "run" / "sshd.pid"
REPO = Path(__file__).resolve().parent.parent.parent
LAB = [sys.executable, str(REPO / "tests" / "lab" / "lab.py")]

#: The weak sshd state: a drop-in read before the lab's hardened main config.
WEAK_SSHD = SSHD_DROPINS / "50-lab-weak.conf"
WEAK_SSHD_TEXT = "# weak state for the checklist tests\nPasswordAuthentication yes\nPermitRootLogin yes\nMaxAuthTries 6\n"


def hup_sshd(timeout: float = 10) -> None:
    """Make the lab sshd re-read its config (SIGHUP re-executes it) and wait until it answers."""
    deadline = time.monotonic() + timeout
    while not SSHD_PID.exists():  # sshd rewrites it while re-executing after a HUP
        if time.monotonic() > deadline:
            raise TimeoutError(f"{SSHD_PID} missing")
        time.sleep(0.05)
    pid = int(SSHD_PID.read_text().split()[0])
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.2)
    wait_ssh(timeout)


def wait_ssh(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", 2222), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("lab sshd does not answer")
        time.sleep(0.05)


@contextlib.contextmanager
def weak_sshd(active: bool = True):
    """Put the lab sshd in its weak state for the duration (no-op when not ``active``)."""
    if not active:
        yield
        return
    SSHD_DROPINS.mkdir(exist_ok=True)
    WEAK_SSHD.write_text(WEAK_SSHD_TEXT)
    hup_sshd()
    try:
        yield
    finally:
        WEAK_SSHD.unlink(missing_ok=True)
        hup_sshd()


def lab_profile(name: str) -> None:
    subprocess.run([*LAB, "profile", name], check=True, capture_output=True, timeout=120)


def ssh_transport(lab, tmp_path, **options) -> SshTransport:
    """An SshTransport to the lab as mtadmin (sudo NOPASSWD), host key pinned."""
    known = tmp_path / "known_hosts_checks"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile(name="lab", host=lab.ssh_host, port=lab.ssh_port, user=lab.admin_user,
                            key=lab.admin_key, agent=False, sudo=True)
    opts = dict(known_hosts_files=(str(known),), connect_timeout=5, reconnect_deadline=20)
    opts.update(options)
    return SshTransport(profile, SshOptions(**opts))


# ------------------------------------------------------------------------ tests
import pytest  # noqa: E402

from mailtui.core.checks.gather import gather  # noqa: E402
from mailtui.core.checks.registry import RULES, evaluate  # noqa: E402
from mailtui.core.findings import Status  # noqa: E402

pytestmark = pytest.mark.lab

#: Rules that cannot pass on a loopback lab machine (its packages, no firewall policy of
#: its own, no DKIM signer, no certbot): WARN/INFO/FAIL in both profiles, said so.
LAB_CANNOT_PASS = {"system.security_updates", "system.unattended_upgrades", "smtp.rbl", "exposure.firewall",
                   "system.dkim_signing", "tls.renewal_reload", "smtp.auth_on_port_25"}

#: What the weak lab must fail, with a word the evidence must contain.
WEAK_FAILS = {
    "smtp.open_relay": "mailtui-lab-relay-clients", "smtp.vrfy": "disable_vrfy_command = no",
    "smtp.banner": "Postfix 3.7", "smtp.helo_required": "= no", "smtp.own_domain_spoofing": "nothing checks",
    "smtp.connection_limits": "unlimited", "smtp.auth_after_tls": "before STARTTLS",
    "submission.tls_required": "= may", "submission.sender_login_mismatch": "reject_sender_login_mismatch",
    "tls.submission_protocols": ">=TLSv1", "tls.postfix_ciphers": "SECLEVEL=0",
    "tls.dovecot_protocols": "TLSv1", "tls.dovecot_ciphers": "SECLEVEL=0", "imap.ssl_required": "ssl = yes",
    "imap.plaintext_auth": "disable_plaintext_auth = no", "imap.plaintext_listeners": "without TLS",
    "imap.login_greeting": "Dovecot", "ssh.password_auth": "passwordauthentication yes",
    "ssh.root_login": "permitrootlogin yes", "ssh.max_auth_tries": "maxauthtries 6",
}


@pytest.fixture
def restore_hardened(lab):
    yield
    lab_profile("hardened")


async def test_weak_state_fails_the_intended_rules_with_evidence(lab, tmp_path, restore_hardened):
    lab_profile("weak")
    with weak_sshd():
        async with ssh_transport(lab, tmp_path) as ssh:
            facts = await gather(ssh)
    findings = evaluate(facts)
    assert facts.ssh_port == 2222 and facts.own_sshd.config.endswith("sshd_config")
    failed = {}
    for f in findings:
        if f.status == Status.FAIL:
            failed.setdefault(f.id, []).append(f)
    for rule_id, word in WEAK_FAILS.items():
        assert rule_id in failed, f"{rule_id} should fail on the weak lab"
        assert any(word in f.evidence for f in failed[rule_id]), (rule_id, [f.evidence for f in failed[rule_id]])
        assert all(f.fix == rule_id or rule_id == "imap.plaintext_listeners" for f in failed[rule_id])
    # port 25 stays lenient about TLS 1.0 (stated as INFO), submission does not
    tls25 = [f for f in findings if f.id == "tls.smtp_protocols"]
    assert [f.status for f in tls25] == [Status.INFO] and "tolerated" in tls25[0].evidence
    assert {f.target for f in failed["tls.submission_protocols"]} == {"port 587", "port 465"}
    unexpected = set(failed) - set(WEAK_FAILS) - LAB_CANNOT_PASS
    assert not unexpected, unexpected


async def test_hardened_state_has_no_false_positives(lab, tmp_path):
    lab_profile("hardened")
    async with ssh_transport(lab, tmp_path) as ssh:
        facts = await gather(ssh)
    findings = evaluate(facts)
    assert len(RULES) >= 40
    bad = [f"{f.id} {f.target}: {f.evidence}" for f in findings
           if f.status in (Status.FAIL, Status.WARN, Status.ERROR) and f.id not in LAB_CANNOT_PASS]
    assert not bad, bad
    # the cipher rules grade the suites the server's openssl expands, by the scan's policy
    ciphers = {f.target: f for f in findings if f.id == "tls.postfix_ciphers"}
    assert ciphers["port 465"].status == ciphers["port 587"].status == Status.PASS, ciphers
    assert "aNULL, kRSA" in ciphers["port 587"].evidence
    assert ciphers["port 25"].status == Status.INFO and "opportunistic" in ciphers["port 25"].evidence
    assert "ADH-" in ciphers["port 25"].evidence
    dovecot = [f for f in findings if f.id == "tls.dovecot_ciphers"]
    assert [f.status for f in dovecot] == [Status.PASS] and "9 TLS<=1.2 suites" in dovecot[0].evidence
    assert not any("loopback-only" in f.explanation + f.evidence + (f.detail or "") for f in findings)
    # every rule produced a verdict
    assert {f.id for f in findings} == set(RULES)
