"""The Scan panel on the real lab: connected over SSH as mtadmin, probing from 127.0.0.2.

The lab stays in its ``hardened`` profile (no test here switches it). The scan options come
from the server's profile (``[servers.lab.scan]``: source 127.0.0.2, the lab CA), as a
user would have saved them.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, SelectionList

from mailtui.core.findings import Status
from mailtui.core.profiles import load_config
from mailtui.ui.commands import palette_commands
from mailtui.ui.screens.scan import ScanScreen
from mailtui.ui.screens.server import ServerScreen
from mailtui.ui.widgets.findings import FindingDetail, FindingList, FindingsView
from tests.ui.conftest import footer_keys, lab_app, saved_config, svg_screen_text, wait_for, wait_for_lab_facts

SIZE = (160, 50)
GROUPS = ("smtp", "relay", "enum", "spoof", "tls", "ssh")


def scan_app(lab, **scan):
    """The lab app, with the lab profile's scan options saved like the user would."""
    app = lab_app(lab)
    profile = app.config.server("lab")
    options = {"scan_source": lab.info["outsider_ip"], "scan_ca_file": lab.info["ca"]["cert"], **scan}
    app.config = saved_config(replace(profile, **options))
    return app


async def open_scan(pilot, app) -> ScanScreen:
    await wait_for_lab_facts(pilot, app)
    assert "Scan" in footer_keys(app) and footer_keys(app)["Scan"] == "o"
    await pilot.press("o")
    await wait_for(pilot, lambda: isinstance(app.screen, ScanScreen), what="scan screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.check_facts is not None or screen.config_problem, timeout=60,
                   what="config read")
    return screen


async def tick_only(pilot, screen: ScanScreen, groups) -> None:
    listing = screen.query_one("#scan-groups", SelectionList)
    listing.deselect_all()
    for group in groups:
        listing.select(group)
    await pilot.pause()


async def run(pilot, screen: ScanScreen, key: str = "r") -> None:
    before = screen.report
    await pilot.press(key)
    # (a quick scan -- DNS alone -- may be over before the first look: wait for its report)
    await wait_for(pilot, lambda: screen.scanning or screen.report is not before, timeout=5, what="scan start")
    await wait_for(pilot, lambda: not screen.scanning and screen.report is not before, timeout=120,
                   what="scan end")


def by_id(screen: ScanScreen, check_id: str, target: str | None = None):
    view = screen.query_one(FindingsView)
    return [f for f in view.findings if f.id == check_id and (target is None or f.target == target)]


async def test_scan_of_the_hardened_lab_with_config_and_log_lines(lab):
    app = scan_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scan(pilot, app)
        assert screen.check_facts is not None and screen.check_facts.postfix is not None
        # the form shows the remembered options; the domain defaults to Postfix's mydomain
        assert screen.query_one("#scan-source", Input).value == lab.info["outsider_ip"]
        assert screen.default_domain() == "mailtui.test"
        await tick_only(pilot, screen, GROUPS)
        await run(pilot, screen)
        assert screen.report is not None and set(screen.report.groups) == set(GROUPS)
        # the hardened lab: no relay, no spoofing, VRFY off, submission needs TLS and a login, TLS >= 1.2
        assert [f.status for f in by_id(screen, "relay.open_relay")] == [Status.PASS]
        assert [f.status for f in by_id(screen, "spoof.local_sender")] == [Status.PASS]
        assert [f.status for f in by_id(screen, "enum.vrfy")] == [Status.PASS]
        assert [f.status for f in by_id(screen, "smtp.submission_tls_required")] == [Status.PASS]
        assert {f.status for f in by_id(screen, "tls.versions")} == {Status.PASS}
        assert not [f for f in screen.query_one(FindingsView).findings if f.status == Status.FAIL]
        # every group shows its timing and count
        for group in GROUPS:
            state = screen.groups[group]
            assert state.state == "done" and state.record is not None
            assert "findings" in str(screen._group_prompt(group))
        # log lines were tied to the probes (the lab logs to /var/log/mail.log)
        logs = screen.group_logs["spoof"]
        assert logs.for_group("spoof"), "no log line tied to the spoofing probe"
        assert any("Sender address rejected" in m.line for m in logs.for_group("spoof"))

        # ciphers: strict on submission (the hardened lab excludes anonymous and phase-out suites
        # there), opportunistic on 25, where anonymous suites are information with its config lines
        assert [f.status for f in by_id(screen, "tls.ciphers", "127.0.0.1:587")] == [Status.PASS]
        assert [f.status for f in by_id(screen, "tls.ciphers", "127.0.0.1:25")] == [Status.INFO]
        view = screen.query_one(FindingsView)
        assert view.select("tls.ciphers", "127.0.0.1:25")
        await pilot.pause()
        detail = screen.query_one(FindingDetail)
        text = "\n".join(str(w.content) for w in detail.query("Static"))
        assert "On the server" in text and "checklist rule: tls.postfix_ciphers" in text

        # a WARN with its config line read from the running sshd (sshd -T): the Debian banner
        assert view.select("ssh.banner")
        await pilot.pause()
        text = "\n".join(str(w.content) for w in detail.query("Static"))
        assert "On the server" in text and "debianbanner" in text.lower()

        # the spoofing finding: its transcript and the server's log lines of that probe
        assert view.select("spoof.local_sender")
        await pilot.pause()
        text = "\n".join(str(w.content) for w in detail.query("Static"))
        assert "C: MAIL FROM:<postmaster@mailtui.test>" in text
        assert "Server log lines the spoof probe caused" in text
        assert "Sender address rejected" in text and "127.0.0.2" in text
        svg = svg_screen_text(app.export_screenshot())
        assert "Server log lines the spoof probe caused" in svg or "C: MAIL FROM" in svg

        # the submission TLS finding names the master.cf override
        assert view.select("smtp.submission_tls_required", "127.0.0.1:587")
        await pilot.pause()
        text = "\n".join(str(w.content) for w in detail.query("Static"))
        assert "master.cf submission -o smtpd_tls_security_level=encrypt" not in text  # a PASS names no config
        assert "checklist rule: submission.tls_required" in text


async def test_dns_scan_checks_the_key_the_server_really_signs_with(lab):
    """The panel passes the inside view (the OpenDKIM signer's selector and the hash of its
    key's public half) to the scan, which compares it with the key published in DNS."""
    app = scan_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scan(pilot, app)
        options = screen.build_options(("dns",))
        assert options.dkim_selector == "lab"
        assert [selector for selector, _ in options.dkim_keys] == ["lab"]
        await tick_only(pilot, screen, ("dns",))
        await run(pilot, screen)
        assert [f.status for f in by_id(screen, "dns.dkim_signing_key")] == [Status.PASS]

        # The lab's own blocklist, typed into the form: the MX (127.0.0.1) is not on it.
        screen.query_one("#scan-blocklists", Input).value = "dnsbl.test"
        await tick_only(pilot, screen, ("dnsbl",))
        await run(pilot, screen)
        listed = by_id(screen, "dnsbl.listed")
        assert listed and all(f.status == Status.PASS for f in listed), [(f.status, f.evidence) for f in listed]
        assert app.config.server("lab").scan_blocklists == "dnsbl.test"


async def test_rerun_one_group_keeps_the_others_and_options_are_remembered(lab):
    app = scan_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scan(pilot, app)
        await tick_only(pilot, screen, ("smtp", "enum"))
        await run(pilot, screen)
        before = {f.id for f in screen.query_one(FindingsView).findings}
        first_smtp = screen.groups["smtp"].record
        assert "enum.vrfy" in before and "smtp.banner_disclosure" in before
        # re-run the highlighted finding's group only
        view = screen.query_one(FindingsView)
        assert view.select("enum.vrfy")
        screen.query_one(FindingList).focus()
        await run(pilot, screen, "g")
        assert screen.report.groups == ("enum",)
        assert screen.groups["smtp"].record is first_smtp  # untouched
        assert {f.id for f in view.findings} == before
        # a changed option is saved in the profile when the scan runs
        screen.query_one("#scan-dkim_selector", Input).value = "lab"
        await tick_only(pilot, screen, ("enum",))
        await run(pilot, screen)
        assert load_config().server("lab").scan_dkim_selector == "lab"
        assert load_config().server("lab").scan_source == lab.info["outsider_ip"]


async def test_palette_offers_scan_and_escape_goes_back(lab):
    app = scan_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_lab_facts(pilot, app)
        titles = {c.title: c for c in palette_commands(app)}
        assert "Scan" in titles
        titles["Scan"].run()
        await wait_for(pilot, lambda: isinstance(app.screen, ScanScreen), what="scan screen")
        keys = footer_keys(app)
        assert keys.get("Run scan") == "r" and keys.get("Re-run group") == "g"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ServerScreen), what="server screen")


async def test_a_wrong_source_address_is_said_not_raised(lab):
    app = scan_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_scan(pilot, app)
        screen.query_one("#scan-source", Input).value = "not-an-address"
        await pilot.press("r")
        await pilot.pause()
        assert not screen.scanning
        assert "is not an IP address" in str(screen.query_one("#scan-status").content)
