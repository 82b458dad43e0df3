"""A fix verified from outside: after the VRFY fix on the weak lab, the engine re-runs the
scan's enumeration probe from the outsider address 127.0.0.2 and requires it to agree.

The fault test points the outside check at a second, stale "MX" (an in-process SMTP server
on 127.0.0.67:25 that still answers VRFY like the old configuration): the scan disagrees,
so the fix is rolled back and the configuration is byte-identical to before.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from mailtui.core.checks.engine import FixEngine, Outcome, Step, StepState, plan_fix
from mailtui.core.checks.gather import CONFIG_PROBES, gather
from mailtui.core.join import mynetworks, outside_scan_options, outside_verifier
from tests.integration.test_checks_lab import lab_profile, ssh_transport, wait_ssh
from tests.integration.test_fixes_lab import services_up, snapshot

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("fix_backups_removed")]

OUTSIDER = "127.0.0.2"
STALE_MX = "127.0.0.67"


@pytest.fixture
def weak_lab(lab, monkeypatch, tmp_path):
    """The weak profile for one test; hardened again whatever happens."""
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path / "state"))
    try:
        lab_profile("weak")
        yield lab
    finally:
        lab_profile("hardened")
        wait_ssh()


def _options(lab, facts, host: str = "127.0.0.1"):
    return outside_scan_options(host, ssh_port=lab.ssh_port, source=OUTSIDER, ca_file=lab.info["ca"]["cert"],
                                resolver=lab.dns, facts=facts)


async def test_vrfy_fix_is_verified_from_outside(weak_lab, tmp_path):
    async with ssh_transport(weak_lab, tmp_path) as ssh:
        facts = await gather(ssh, CONFIG_PROBES)
        assert "127.0.0.2" not in " ".join(mynetworks(facts))  # the scan is a stranger to Postfix
        verifier = outside_verifier(_options(weak_lab, facts), trusted_networks=mynetworks(facts))
        before = await verifier("smtp.vrfy")
        assert before[0] is False and "enum.vrfy" in before[1], before  # the weak lab answers VRFY
        steps = []
        plan = await plan_fix(ssh, "smtp.vrfy", facts)
        result = await FixEngine(ssh, observer=steps.append, outside_check=verifier).apply(plan)
        assert result.outcome == Outcome.APPLIED, result.message
        outside = [e for e in steps if e.step == Step.OUTSIDE]
        assert [e.state for e in outside] == [StepState.STARTED, StepState.OK], outside
        assert "enum.vrfy 127.0.0.1:25 pass" in outside[-1].message
        order = [e.step for e in steps if e.state == StepState.OK]
        assert order.index(Step.VERIFY) < order.index(Step.OUTSIDE) < order.index(Step.DISARM)
        # a rule no probe sees is a skipped step that says so, not silence
        assert (await verifier("smtp.mynetworks"))[0] is None
    services_up()


async def test_outside_check_from_a_trusted_address_skips_relay_but_says_so(weak_lab, tmp_path):
    async with ssh_transport(weak_lab, tmp_path) as ssh:
        facts = await gather(ssh, CONFIG_PROBES)
    options = outside_scan_options("127.0.0.1", ssh_port=weak_lab.ssh_port, resolver=weak_lab.dns, facts=facts)
    verifier = outside_verifier(options, trusted_networks=mynetworks(facts))  # no source: 127.0.0.1, trusted
    ok, detail = await verifier("smtp.open_relay")
    assert ok is None and "mynetworks" in detail
    unreachable = outside_verifier(outside_scan_options("127.0.0.1", source=OUTSIDER, resolver=weak_lab.dns,
                                                        facts=facts, ssh_port=1))
    ok, detail = await unreachable("ssh.password_auth")  # nothing listens on port 1: skipped, with the reason
    assert ok is None and "not reachable" in detail, detail


class StaleMx:
    """An SMTP server on STALE_MX:25 that still enumerates users (the old state), in its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.start_server(self.handle, STALE_MX, 25), self.loop)
        try:
            self.server = future.result(5)
        except OSError as exc:
            self.stop()
            pytest.skip(f"cannot listen on {STALE_MX}:25: {exc}")

    @staticmethod
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 stale.mailtui.test ESMTP\r\n")
        try:
            while line := await asyncio.wait_for(reader.readline(), 10):
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb in (b"EHLO", b"HELO"):
                    reply = b"250-stale.mailtui.test\r\n250 8BITMIME\r\n"
                elif verb == b"VRFY":
                    reply = b"550 5.1.1 unknown user\r\n" if b"mailtui-nouser" in line else b"252 2.0.0 postmaster\r\n"
                elif verb == b"EXPN":
                    reply = b"502 5.5.1 EXPN not implemented\r\n"
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    reply = b"250 2.0.0 Ok\r\n"
                writer.write(reply)
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        async def shutdown():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.stop()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def test_outside_disagreement_rolls_back_byte_identical(weak_lab, tmp_path):
    stale = StaleMx()
    try:
        async with ssh_transport(weak_lab, tmp_path) as ssh:
            facts = await gather(ssh, CONFIG_PROBES)
            # The probes reach a server that still shows the old state (a second MX nobody reloaded).
            verifier = outside_verifier(_options(weak_lab, facts, host=STALE_MX), trusted_networks=mynetworks(facts))
            first = snapshot()
            steps = []
            plan = await plan_fix(ssh, "smtp.vrfy", facts)
            result = await FixEngine(ssh, observer=steps.append, outside_check=verifier,
                                     outside_timeout=2).apply(plan)
            assert result.outcome == Outcome.ROLLED_BACK, result.message
            failed = [e for e in steps if e.state == StepState.FAILED]
            assert failed and failed[0].step == Step.OUTSIDE and "enum.vrfy" in failed[0].message, failed
            assert "verify from outside" in result.message
            assert snapshot() == first
            # the rule itself passed inside: only the outside view caught it
            assert any(e.step == Step.VERIFY and e.state == StepState.OK for e in steps)
    finally:
        stale.close()
    services_up()


STRICT_TLS_PORTS = (465, 587, 143, 993, 110, 995)


async def test_cipher_fixes_flip_the_scan_on_strict_listeners(weak_lab, tmp_path):
    """tls.postfix_ciphers and tls.dovecot_ciphers: the weak lab's strict listeners WARN from
    outside (phase-out on 465/587, anonymous on IMAP/POP); after both fixes the rules pass,
    the outside step agrees and the scan shows no cipher WARN there (port 25 stays INFO)."""
    import glob
    import os
    from dataclasses import replace

    from mailtui.core.checks.registry import evaluate
    from mailtui.core.findings import Status
    from mailtui.core.scan import run_scan

    async with ssh_transport(weak_lab, tmp_path) as ssh:
        facts = await gather(ssh, CONFIG_PROBES)
        options = _options(weak_lab, facts)
        tls_only = replace(options, groups=("tls",))
        before = await asyncio.to_thread(run_scan, tls_only)
        warned = {int(f.target.rsplit(":", 1)[1]) for f in before.find("tls.ciphers") if f.status == Status.WARN}
        assert set(STRICT_TLS_PORTS) <= warned, warned
        verifier = outside_verifier(options, trusted_networks=mynetworks(facts))
        try:
            for fix_id in ("tls.postfix_ciphers", "tls.dovecot_ciphers"):
                steps = []
                plan = await plan_fix(ssh, fix_id, await gather(ssh, CONFIG_PROBES))
                result = await FixEngine(ssh, observer=steps.append, outside_check=verifier).apply(plan)
                assert result.outcome == Outcome.APPLIED, (fix_id, result.message)
                outside = [e for e in steps if e.step == Step.OUTSIDE]
                assert [e.state for e in outside] == [StepState.STARTED, StepState.OK], (fix_id, outside)
                assert "tls.ciphers" in outside[-1].message
            findings = evaluate(await gather(ssh, CONFIG_PROBES))
            for f in findings:
                if f.id in ("tls.postfix_ciphers", "tls.dovecot_ciphers"):
                    assert f.status == (Status.INFO if f.target == "port 25" else Status.PASS), (f.id, f.target, f.evidence)
            after = await asyncio.to_thread(run_scan, tls_only)
            got = {int(f.target.rsplit(":", 1)[1]): f for f in after.find("tls.ciphers")}
            for port in STRICT_TLS_PORTS:
                assert got[port].status == Status.PASS, (port, got[port].evidence)
            assert got[25].status in (Status.INFO, Status.PASS)
        finally:
            for path in glob.glob("/etc/dovecot/conf.d/99-mailtui-*"):
                os.unlink(path)
    services_up()
