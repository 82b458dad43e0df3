"""Planning a ban: the address is validated, the backend chosen, warnings given."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailtui.core.ban import Action, Backend, BanError, choose_jail, plan_ban
from mailtui.core.facts import Fail2ban, Firewall, FirewallFrontend, Status, assemble_facts

BASE = assemble_facts("ssh://x", {}, None, sudo_allowed=True)
WITH_F2B = replace(BASE, fail2ban=Fail2ban(Status.FOUND, running=True, jails=("dovecot", "postfix", "postfix-sasl", "sshd")))
WITH_NFT = replace(BASE, firewall=Firewall(Status.FOUND, (FirewallFrontend("nftables", False, "0 tables, 0 rules"),)))
WITH_IPT = replace(BASE, firewall=Firewall(Status.FOUND, (FirewallFrontend("iptables", True, "3 rules"),)))
WITH_UFW = replace(BASE, firewall=Firewall(Status.FOUND, (FirewallFrontend("ufw", True, "Status: active"),
                                                          FirewallFrontend("iptables", True, "40 rules"))))


@pytest.mark.parametrize("bad", ["203.0.113.5; rm -rf /", "example.org", "203.0.113.0/24", "", "1.2.3.4.5", "--help"])
def test_only_single_ip_addresses(bad):
    with pytest.raises(BanError, match="not an IP address"):
        plan_ban(bad, WITH_F2B)


def test_fail2ban_is_preferred_and_the_jail_fits_the_service():
    plan = plan_ban("203.0.113.5", WITH_F2B, service="smtpd", guessing=True)
    assert (plan.backend, plan.jail) == (Backend.FAIL2BAN, "postfix-sasl")
    assert plan.shown() == ["sudo fail2ban-client set postfix-sasl banip 203.0.113.5"]
    assert plan_ban("203.0.113.5", WITH_F2B, service="smtpd").jail == "postfix"  # a relay probe, a scanner
    assert plan_ban("203.0.113.5", WITH_F2B, service="imap").jail == "dovecot"
    assert plan_ban("[2001:db8::7]", WITH_F2B, service="sshd", action=Action.UNBAN).shown(sudo=False) == [
        "fail2ban-client set sshd unbanip 2001:db8::7"]
    with pytest.raises(BanError, match="no jail 'nope'"):
        plan_ban("203.0.113.5", WITH_F2B, jail="nope")
    assert choose_jail(("recidive", "x"), "unknown-service") == "recidive"


def test_firewall_backends():
    nft = plan_ban("203.0.113.5", WITH_NFT)
    assert nft.backend == Backend.NFTABLES
    assert nft.commands[0].argv == ("nft", "-f", "-")
    assert "add element inet mailtui banned4 { 203.0.113.5 }" in nft.commands[0].input
    assert plan_ban("2001:db8::1", WITH_NFT, action=Action.UNBAN).commands[0].argv[-2:] == ("banned6", "{ 2001:db8::1 }")
    ipt = plan_ban("2001:db8::1", WITH_IPT)
    assert ipt.commands[0].argv[:4] == ("ip6tables", "-I", "INPUT", "-s")
    assert plan_ban("203.0.113.5", WITH_UFW).shown() == ["sudo ufw insert 1 deny from 203.0.113.5"]
    with pytest.raises(BanError, match="no way to ban here"):
        plan_ban("203.0.113.5", BASE)


def test_warnings_for_own_connection_and_private_ranges():
    own = plan_ban("198.51.100.20", WITH_F2B, own_addresses={"198.51.100.20"})
    assert any("the address you are connected from" in w for w in own.warnings)
    assert any("private range" in w for w in plan_ban("10.1.2.3", WITH_F2B).warnings)
    assert any("loopback" in w for w in plan_ban("::ffff:127.0.0.9", WITH_F2B).warnings)
    assert plan_ban("::ffff:127.0.0.9", WITH_F2B).ip == "127.0.0.9"
    assert plan_ban("203.0.113.5", WITH_F2B).warnings == ()
    assert plan_ban("10.1.2.3", WITH_F2B, action=Action.UNBAN).warnings == ()
