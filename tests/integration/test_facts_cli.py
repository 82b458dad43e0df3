"""`mailtui facts` on the lab, over SSH and locally, as a user would run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import asyncssh
import pytest

from mailtui.core.facts import SudoState, collect_facts
from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import SshOptions, SshTransport

pytestmark = pytest.mark.lab


def mailtui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailtui", *args], capture_output=True, text=True, timeout=120, env=env or os.environ
    )


@pytest.fixture
def ssh_home(lab, isolated_home):
    """A home whose default key is the lab admin's key and whose config trusts the lab."""
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(lab.admin_key, ssh_dir / "id_ed25519")
    os.chmod(ssh_dir / "id_ed25519", 0o600)
    (ssh_dir / "known_hosts").write_text(lab.known_hosts_line + "\n")
    return isolated_home


def target(lab) -> str:
    return f"{lab.admin_user}@{lab.ssh_host}:{lab.ssh_port}"


def test_facts_over_ssh_report_postfix_and_dovecot(lab, ssh_home):
    result = mailtui("facts", target(lab), "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["target"] == f"ssh://{target(lab)}"
    assert (facts["mta"]["name"], facts["mta"]["version"], facts["mta"]["running"]) == ("Postfix", lab.postfix_version, True)
    assert (facts["imap"]["name"], facts["imap"]["version"], facts["imap"]["running"]) == ("Dovecot", lab.dovecot_version, True)
    assert facts["privileges"]["sudo"] == "nopasswd"
    ports = {item["port"] for item in facts["listeners"]["items"]}
    assert {25, 465, 587, 143, 993, 110, 995, 2222} <= ports
    smtp = next(i for i in facts["listeners"]["items"] if i["port"] == 25)
    assert "master" in smtp["processes"]
    logs = {item["name"]: item for item in facts["log_sources"]["items"]}
    assert logs["/var/log/mail.log"]["category"] == "mail"
    assert logs["/var/log/dovecot.log"]["category"] == "imap"  # found through doveconf log_path
    assert facts["fqdn"] == "mail.mailtui.test"


def test_facts_locally_report_postfix_and_dovecot(lab):
    result = mailtui("facts", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["target"] == "this machine"
    assert facts["privileges"]["sudo"] == "root"
    assert (facts["mta"]["name"], facts["mta"]["version"]) == ("Postfix", lab.postfix_version)
    assert (facts["imap"]["name"], facts["imap"]["version"]) == ("Dovecot", lab.dovecot_version)


def test_facts_human_output(lab, ssh_home):
    result = mailtui("facts", target(lab))
    assert result.returncode == 0, result.stderr
    assert f"MTA:           Postfix {lab.postfix_version}" in result.stdout
    assert f"IMAP/POP3:     Dovecot {lab.dovecot_version}" in result.stdout


def test_unknown_host_key_exits_nonzero_with_fingerprint_then_trust(lab, ssh_home):
    (ssh_home / ".ssh" / "known_hosts").write_text("")
    result = mailtui("facts", target(lab), "--json")
    assert result.returncode == 3
    assert result.stdout == ""
    assert lab.host_key_fingerprint in result.stderr and "not known yet" in result.stderr
    wrong = mailtui("facts", target(lab), "--trust-host-key", "SHA256:not-the-right-one")
    assert wrong.returncode == 3 and "does not match" in wrong.stderr
    trusted = mailtui("facts", target(lab), "--json", "--trust-host-key", lab.host_key_fingerprint)
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["mta"]["name"] == "Postfix"
    assert "trusted ssh-ed25519" in trusted.stderr


def test_changed_host_key_is_refused_by_the_cli(lab, ssh_home):
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    (ssh_home / ".ssh" / "known_hosts").write_text(f"[{lab.ssh_host}]:{lab.ssh_port} {impostor}\n")
    result = mailtui("facts", target(lab), "--json", "--trust-host-key", lab.host_key_fingerprint)
    assert result.returncode == 3
    assert "CHANGED" in result.stderr and lab.host_key_fingerprint in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_target_and_bad_config_are_usage_errors(lab, isolated_home):
    result = mailtui("facts", "bad host!")
    assert result.returncode == 2 and "not a saved server" in result.stderr
    config = isolated_home / ".config" / "mailtui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[servers.x]\nhost = 'a.example'\nprot = 2\n")
    result = mailtui("facts")
    assert result.returncode == 2 and f"{config}: servers.x.prot: unknown setting" in result.stderr


async def test_facts_with_sudo_needing_a_password(lab, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile("lab", lab.ssh_host, lab.ssh_port, lab.limited_user, lab.limited_key, agent=False)
    async with SshTransport(profile, SshOptions(known_hosts_files=(str(known),))) as ssh:
        facts = await collect_facts(ssh)
        assert facts.privileges.sudo == SudoState.PASSWORD
        assert "password" in facts.privileges.detail
        assert facts.mta.name == "Postfix"  # what needs no root is still found
        assert facts.fail2ban.status.value == "unknown" and "needs root" in facts.fail2ban.reason
        assert facts.listeners.reason and "process names need root" in facts.listeners.reason
        ssh.set_sudo_password(lab.limited_password)
        facts = await collect_facts(ssh)
        assert facts.mta.running is True
        assert facts.listeners.reason is None
