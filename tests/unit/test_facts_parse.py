"""Facts parsers on real command outputs (captured from Debian 12 and the lab)."""

from __future__ import annotations

from pathlib import Path

from mailtui.core.facts import (
    Section,
    SudoState,
    Status,
    assemble_facts,
    build_script,
    count_iptables_rules,
    count_nft_rules,
    parse_dovecot,
    parse_doveconf_paths,
    parse_exim,
    parse_fail2ban,
    parse_firewall,
    parse_os,
    parse_panel,
    parse_postfix,
    parse_ss,
    parse_units,
    split_sections,
)

DATA = Path(__file__).parent / "data"
MARKER = "@@mailtui-0123456789abcdef"


def real(name: str, status: int = 0) -> Section:
    return Section((DATA / name).read_text(), status)


def lab_sections(name: str) -> dict[str, Section]:
    return split_sections((DATA / f"facts-lab-{name}.txt").read_text(), MARKER)


def test_ss_with_processes_keeps_postfix_master_and_ipv6():
    listeners = parse_ss(real("ss-ltnpH-lab.txt").text)
    smtp = [l for l in listeners if l.port == 25]
    assert {l.address for l in smtp} == {"127.0.0.1", "::1"}
    assert smtp[0].processes == ("smtpd", "master")
    assert next(l for l in listeners if l.port == 993).processes == ("dovecot",)
    assert next(l for l in listeners if l.port == 5353).process == "knotd"


def test_ss_without_processes_and_with_header():
    listeners = parse_ss(real("ss-ltn-header.txt").text)
    assert [(l.address, l.port, l.processes) for l in listeners][:1] == [("127.0.0.1", 25, ())]
    assert {l.port for l in listeners} >= {25, 143, 2222}
    assert all(l.process is None for l in listeners)


def test_versions():
    assert parse_postfix(real("postconf-h.txt")).version == "3.7.11"
    assert parse_dovecot(real("dovecot-version.txt")).version == "2.3.19.1"
    assert parse_dovecot(Section("2.4.1-4 (7d8c0e5759)", 0)).version == "2.4.1-4"
    exim = parse_exim(Section("Exim version 4.96 #2 built 02-Jan-2023 23:45:20\n", 0))
    assert (exim.name, exim.version) == ("Exim", "4.96")
    assert parse_postfix(Section("postconf: command not found", 127)) is None


def test_os_release():
    info = parse_os(real("os-release-debian12.txt"), Section("Linux 6.1.0-28-amd64 x86_64", 0))
    assert (info.name, info.id, info.version, info.kernel) == (
        "Debian GNU/Linux 12 (bookworm)", "debian", "12", "Linux 6.1.0-28-amd64 x86_64")
    missing = parse_os(Section("cat: /usr/lib/os-release: No such file or directory", 1), None)
    assert missing.status == Status.UNKNOWN and missing.reason


def test_fail2ban_running_and_stopped():
    running = parse_fail2ban(real("fail2ban-running.txt"), installed=True)
    assert (running.running, running.jails, running.version) == (True, ("postfix", "sshd"), "1.0.2")
    stopped = parse_fail2ban(real("fail2ban-stopped.txt", 255), installed=True)
    assert stopped.running is False and stopped.reason == "installed but not running"
    assert parse_fail2ban(None, installed=False).status == Status.ABSENT


def test_firewall_counts():
    assert count_nft_rules(real("nft-ruleset.txt").text) == (1, 2)
    assert count_iptables_rules(real("iptables-rules.txt").text) == 2
    assert count_iptables_rules(real("iptables.txt").text) == 0
    firewall = parse_firewall(
        {"nft": real("nft-ruleset.txt"), "iptables": real("iptables-rules.txt")}, {"nft", "iptables"}, root=True
    )
    assert [(f.name, f.active, f.detail) for f in firewall.frontends] == [
        ("nftables", True, "1 tables, 2 rules"),
        ("iptables", True, "2 rules (nf_tables backend)"),
    ]
    unknown = parse_firewall({}, {"nft"}, root=False)
    assert unknown.status == Status.UNKNOWN and "needs root" in unknown.reason


def test_doveconf_log_paths_skip_empty_values():
    assert parse_doveconf_paths(real("doveconf-logpaths.txt")) == ["/var/log/dovecot.log"]


def test_panels():
    plesk = parse_panel(Section("present /usr/local/psa/version\npsa 18.0.58 Debian 12.0 1800240119.19", 0))
    assert (plesk.name, plesk.version) == ("Plesk", "18.0.58")
    assert parse_panel(Section("present /etc/mailinabox.conf", 0)).name == "Mail-in-a-Box"
    assert parse_panel(Section("", 0)).status == Status.ABSENT


def test_units_only_enabled_mail_and_auth():
    text = (
        "postfix.service                enabled enabled\n"
        "postfix@.service               indirect enabled\n"
        "dovecot.service                enabled enabled\n"
        "ssh.service                    enabled enabled\n"
        "sshd@.service                  static -\n"
        "exim4.service                  masked enabled\n"
    )
    assert parse_units(Section(text, 0)) == [
        ("postfix.service", "mail"), ("postfix@.service", "mail"), ("dovecot.service", "imap"), ("ssh.service", "auth")]


def test_sections_cannot_be_faked_by_output_without_the_nonce():
    output = build_script(MARKER, (("a", "echo hi"),))
    assert f'printf \'%s begin a\\n\' "$M"' in output
    text = f"{MARKER} begin a\n@@mailtui- end a 0\nfake\n{MARKER} end a 0\n"
    assert split_sections(text, MARKER)["a"].text == "@@mailtui- end a 0\nfake"


def test_section_text_is_sanitized():
    sections = split_sections(f"{MARKER} begin hostname\nevil\x1b]52;c;x\x07\n{MARKER} end hostname 0\n", MARKER)
    assert sections["hostname"].text == "evil\\x1b]52;c;x\\x07"


def test_whole_lab_sample_as_admin_with_sudo():
    facts = assemble_facts("ssh://lab", lab_sections("user"), lab_sections("root"), sudo_allowed=True)
    assert (facts.privileges.user, facts.privileges.uid, facts.privileges.sudo) == ("mtadmin", 1001, SudoState.NOPASSWD)
    assert (facts.mta.name, facts.mta.version, facts.mta.running) == ("Postfix", "3.7.11", True)
    assert (facts.imap.name, facts.imap.version, facts.imap.running) == ("Dovecot", "2.3.19.1", True)
    assert facts.fqdn == "mail.mailtui.test"
    logs = {s.name: s for s in facts.log_sources.items}
    assert logs["/var/log/dovecot.log"].access == "sudo"
    assert facts.firewall.status == Status.FOUND
    assert facts.to_json()["mta"]["status"] == "found"


def test_whole_lab_sample_as_user_whose_sudo_wants_a_password():
    facts = assemble_facts("ssh://lab", lab_sections("limited"), None, sudo_allowed=True)
    assert facts.privileges.sudo == SudoState.PASSWORD
    assert facts.mta.name == "Postfix" and facts.mta.running is None  # processes unknown without root
    assert facts.firewall.status == Status.UNKNOWN
    assert facts.fail2ban.status == Status.UNKNOWN and "needs root" in facts.fail2ban.reason
    assert "process names need root" in facts.listeners.reason


def test_nothing_found_is_unknown_not_a_crash():
    facts = assemble_facts("ssh://empty", {}, None, sudo_allowed=False)
    assert facts.mta.status == Status.ABSENT
    assert facts.os.status == Status.UNKNOWN
    assert facts.listeners.status == Status.UNKNOWN
    assert facts.privileges.sudo == SudoState.OFF
