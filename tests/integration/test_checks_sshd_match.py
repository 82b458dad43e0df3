"""A Match block in the lab sshd's drop-ins: ``sshd -T`` hides it, the checklist must not."""

from __future__ import annotations

import subprocess

import pytest

from mailtui.core.checks.gather import gather
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import Status

from .test_checks_lab import LAB, LAB_DIR, SSHD_DROPINS, ssh_transport

pytestmark = pytest.mark.lab

MATCH_DROPIN = SSHD_DROPINS / "50-mailtui-test-match.conf"
MATCH_TEXT = "Match Address 127.0.0.3\n    PasswordAuthentication yes\n"


@pytest.fixture
def match_dropin(lab):
    """The drop-in, checked with ``sshd -t``; no reload: the checklist reads the config text
    (``sshd -T`` and the files), not the running daemon's memory."""
    SSHD_DROPINS.mkdir(exist_ok=True)
    MATCH_DROPIN.write_text(MATCH_TEXT)
    try:
        check = subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(LAB_DIR / "sshd_config")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        yield MATCH_DROPIN
    finally:
        MATCH_DROPIN.unlink(missing_ok=True)
        status = subprocess.run([*LAB, "status"], capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stdout + status.stderr


async def test_match_block_password_auth_warns_with_file_line_and_criteria(lab, tmp_path, match_dropin):
    async with ssh_transport(lab, tmp_path) as ssh:
        facts = await gather(ssh)
    inst = facts.own_sshd
    assert inst.get("passwordauthentication") == "no"  # what sshd -T alone says
    assert str(match_dropin) in inst.files
    findings = {f.id: f for f in evaluate(facts, only={"ssh.password_auth", "ssh.root_login"})}
    pw = findings["ssh.password_auth"]
    assert pw.status == Status.WARN, pw.evidence
    assert f"{match_dropin}:2 Match Address 127.0.0.3 \u2192 PasswordAuthentication yes" in pw.evidence
    assert "still get password logins" in pw.detail and pw.fix == "ssh.password_auth"
    assert findings["ssh.root_login"].status == Status.PASS


async def test_without_the_dropin_the_rule_passes_again(lab, tmp_path):
    assert not MATCH_DROPIN.exists()
    async with ssh_transport(lab, tmp_path) as ssh:
        facts = await gather(ssh, ("listeners", "sshd"))
    (pw,) = evaluate(facts, only={"ssh.password_auth"})
    assert pw.status == Status.PASS, pw.evidence
