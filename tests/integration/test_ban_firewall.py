"""Banning for real with the nftables backend (this machine, as root): a kernel set
element appears, is verified, is audited locally and on the server, and is undone."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest

from mailtui.core import audit
from mailtui.core.ban import Action, Backend, apply_ban, plan_ban
from mailtui.core.facts import Firewall, FirewallFrontend, Status, collect_facts
from mailtui.core.transport import LocalTransport

pytestmark = pytest.mark.lab

# A documentation address (TEST-NET-2): dropping packets from it changes nothing here.
ADDRESS = "198.51.100.77"


@pytest.fixture
def nft_clean():
    subprocess.run(["nft", "delete", "table", "inet", "mailtui"], capture_output=True)
    yield
    subprocess.run(["nft", "delete", "table", "inet", "mailtui"], capture_output=True)


async def test_nftables_ban_verify_audit_unban(lab, nft_clean, monkeypatch, tmp_path):
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))
    local = LocalTransport()
    await local.connect()
    facts = await collect_facts(local)
    # Force the firewall backend even when the lab's fail2ban runs.
    facts = replace(facts, fail2ban=replace(facts.fail2ban, running=False),
                    firewall=Firewall(Status.FOUND, (FirewallFrontend("nftables", False, "test"),)))
    plan = plan_ban(ADDRESS, facts)
    assert plan.backend == Backend.NFTABLES
    result = await apply_ban(local, plan)
    assert result.ok, result.message
    assert "verified" in result.message
    ruleset = subprocess.run(["nft", "list", "table", "inet", "mailtui"], capture_output=True, text=True).stdout
    assert ADDRESS in ruleset and "ip saddr @banned4 drop" in ruleset
    again = await apply_ban(local, plan)
    assert again.ok and "already banned" in again.message
    undo = await apply_ban(local, plan_ban(ADDRESS, facts, action=Action.UNBAN))
    assert undo.ok, undo.message
    ruleset = subprocess.run(["nft", "list", "table", "inet", "mailtui"], capture_output=True, text=True).stdout
    assert ADDRESS not in ruleset
    entries = audit.read_local()
    assert [(e.action, e.outcome) for e in entries] == [("ban", "done"), ("ban", "unchanged"), ("unban", "done")]
    assert entries[0].commands[0].startswith("nft -f - <<'EOF'")
    assert entries[0].server_log == audit.SERVER_AUDIT_LOG
    with open(audit.SERVER_AUDIT_LOG) as handle:
        server_lines = [json.loads(line) for line in handle if ADDRESS in line]
    assert server_lines[-1]["action"] == "unban"


async def test_fail2ban_ban_over_ssh_with_audit(lab, tmp_path, monkeypatch):
    """Through the lab's real fail2ban, over SSH as the admin user (sudo -n)."""
    from mailtui.core.ban import connection_addresses
    from mailtui.core.profiles import ServerProfile
    from mailtui.core.transport import SshOptions, SshTransport

    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.admin_user, lab.admin_key, agent=False)
    async with SshTransport(profile, SshOptions(known_hosts_files=(str(known),))) as ssh:
        facts = await collect_facts(ssh)
        assert facts.fail2ban.running and "postfix-sasl" in facts.fail2ban.jails
        own = await connection_addresses(ssh)
        assert own == {"127.0.0.1"}
        warned = plan_ban("127.0.0.1", facts, own_addresses=own)
        assert any("connected from" in w for w in warned.warnings)
        plan = plan_ban("127.0.0.9", facts, service="smtpd", guessing=True, own_addresses=own)
        assert (plan.backend, plan.jail) == (Backend.FAIL2BAN, "postfix-sasl")
        assert plan.shown() == ["sudo fail2ban-client set postfix-sasl banip 127.0.0.9"]
        try:
            result = await apply_ban(ssh, plan)
            assert result.ok, result.message
            status = await ssh.run(["fail2ban-client", "status", "postfix-sasl"], sudo=True)
            assert "127.0.0.9" in status.stdout
        finally:
            undo = await apply_ban(ssh, plan_ban("127.0.0.9", facts, action=Action.UNBAN, service="smtpd", guessing=True))
        assert undo.ok, undo.message
        status = await ssh.run(["fail2ban-client", "status", "postfix-sasl"], sudo=True)
        assert "127.0.0.9" not in status.stdout
    entries = audit.read_local()
    assert [(e.action, e.outcome, e.subject) for e in entries] == [("ban", "done", "127.0.0.9"), ("unban", "done", "127.0.0.9")]
    assert entries[0].commands == ("sudo fail2ban-client set postfix-sasl banip 127.0.0.9",)
