"""Fix building and diff planning (pure), and the engine's rollback when even the restore
cannot reach the server (a sequence the lab cannot produce: the server refusing every
command after the change)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mailtui.core.checks import engine
from mailtui.core.checks.engine import FixEngine, FixPlan, Outcome, Step, StepState, postconf_commands, unified_diff
from mailtui.core.checks.fixes import FIXES, FileWrite, FixError, MasterSet, PostconfSet, Service, dovecot_includes_dropins, sshd_dropin_dir
from mailtui.core.transport.base import CommandResult, Transport
from mailtui.core.transport.errors import ConnectionLost
from tests.unit.checks.test_rules import facts

DATA = Path(__file__).parent / "data"


def test_values_are_validated():
    with pytest.raises(FixError):
        PostconfSet("smtpd_banner", "x\nmynetworks = 0.0.0.0/0")
    with pytest.raises(FixError):
        MasterSet("submission/inet", "smtpd_tls_security_level", "en crypt")
    with pytest.raises(FixError):
        MasterSet("sub;rm -rf/inet", "a", "b")


def test_postfix_fixes_on_the_weak_capture():
    f = facts("weak")
    spec = FIXES["submission.tls_required"].build(f, {}, "mtadmin")
    assert spec.edits == (MasterSet("submission/inet", "smtpd_tls_security_level", "encrypt"),)
    spec = FIXES["smtp.auth_after_tls"].build(f, {}, "mtadmin")
    assert PostconfSet("smtpd_tls_auth_only", "yes") in spec.edits
    assert MasterSet("submission/inet", "smtpd_tls_auth_only", "yes") in spec.edits
    spec = FIXES["tls.postfix_ciphers"].build(f, {}, "mtadmin")
    # the weakening overrides go; 465 (wrapper mode) gets the main.cf mandatory exclusions,
    # the weak 587 (level may) an -o smtpd_tls_exclude_ciphers of its own
    assert set(spec.edits) == {PostconfSet("tls_high_cipherlist", None), PostconfSet("tls_medium_cipherlist", None),
                               PostconfSet("smtpd_tls_mandatory_exclude_ciphers", "aNULL, kRSA, 3DES, DHE+CAMELLIA, DHE+ARIA"),
                               MasterSet("submission/inet", "smtpd_tls_exclude_ciphers", "aNULL,kRSA,3DES,DHE+CAMELLIA,DHE+ARIA")}
    assert ["postconf", "-X"] in [c[:2] for c in postconf_commands(spec.edits)]
    spec = FIXES["smtp.own_domain_spoofing"].build(f, {}, "mtadmin")
    table = next(e for e in spec.edits if isinstance(e, FileWrite))
    assert b"mailtui.test REJECT" in table.content
    with pytest.raises(FixError, match="nothing to change"):
        FIXES["smtp.vrfy"].build(facts("hardened"), {}, "mtadmin")


def test_dovecot_self_contained_conf_gets_an_include():
    f = facts("weak")
    conf = b"protocols = imap\n"
    spec = FIXES["imap.ssl_required"].build(f, {"/etc/dovecot/dovecot.conf": conf}, "mtadmin")
    paths = [e.path for e in spec.edits]
    assert paths == ["/etc/dovecot/conf.d/99-mailtui-imap.ssl_required.conf", "/etc/dovecot/dovecot.conf"]
    assert spec.edits[1].content.endswith(b"!include_try conf.d/99-mailtui-*.conf\n")
    assert dovecot_includes_dropins("!include conf.d/*.conf\n")
    debian = FIXES["imap.ssl_required"].build(f, {"/etc/dovecot/dovecot.conf": b"!include conf.d/*.conf\n"}, "u")
    assert len(debian.edits) == 1


def test_sshd_dropin_only_when_the_include_comes_first():
    assert sshd_dropin_dir("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n",
                           ("maxauthtries",)) == "/etc/ssh/sshd_config.d"
    assert sshd_dropin_dir("/etc/ssh/sshd_config", "MaxAuthTries 6\nInclude sshd_config.d/*.conf\n",
                           ("maxauthtries",)) is None
    f = facts("weak")
    spec = FIXES["ssh.max_auth_tries"].build(f, {f.own_sshd.config: b"# c\nPort 2222\n"}, "mtadmin")
    assert spec.edits[0].path == f.own_sshd.config
    assert spec.edits[0].content == b"# c\n# mailtui fix ssh.max_auth_tries\nMaxAuthTries 3\n\nPort 2222\n"
    root = FIXES["ssh.root_login"].build(f, {f.own_sshd.config: b"Include /x/*.conf\n"}, "root")
    assert b"PermitRootLogin prohibit-password" in root.edits[0].content


def test_unified_diff_of_new_and_changed_files():
    text = unified_diff({"/a": None, "/b": b"x = 1\n"}, {"/a": b"new\n", "/b": b"x = 2\n"})
    assert "--- /dev/null\n+++ /a" in text and "-x = 1\n+x = 2" in text


class DeadAfterApply(Transport):
    """Answers the backup, then every command fails with a lost connection."""

    def __init__(self):
        super().__init__(sudo=True)
        self.is_root = True
        self.calls = []

    @property
    def label(self):
        return "fake"

    async def _connect(self):
        pass

    async def close(self):
        pass

    async def _exec(self, argv, stdin, timeout):
        self.calls.append(argv)
        script = argv[2] if len(argv) > 2 else ""
        if "mailtui-backup" in argv:
            return CommandResult(argv, 0, "absent /etc/x.conf\n", "")
        if "meta.json" in script or "audit" in script or "mkdir -p /var/log/mailtui" in script:
            return CommandResult(argv, 0, "", "")
        if "ss -ltnpH" in script:
            return CommandResult(argv, 0, "", "")
        raise ConnectionLost("connection to fake lost")

    async def _exec_bytes(self, argv, stdin, timeout):
        self.calls.append(argv)
        raise ConnectionLost("connection to fake lost")

    async def _spawn(self, argv, stdin):
        raise NotImplementedError

    async def forward_port(self, *a):
        raise NotImplementedError


async def test_engine_reports_revert_pending_when_it_cannot_restore(monkeypatch, tmp_path):
    monkeypatch.setenv("MAILTUI_STATE_DIR", str(tmp_path))
    plan = FixPlan("imap.login_greeting", "t", ("imap.login_greeting",), (Service.DOVECOT,),
                   (FileWrite("/etc/x.conf", b"a\n"),), {"/etc/x.conf": None}, {"/etc/x.conf": b"a\n"}, "", (), (),
                   False)
    monkeypatch.setattr(engine.asyncio, "sleep", _no_sleep)
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(engine.time, "monotonic", lambda: next(clock))
    events = []
    result = await FixEngine(DeadAfterApply(), observer=events.append).apply(plan)
    assert result.outcome == Outcome.REVERT_PENDING
    assert "timed revert" in result.message
    assert (Step.APPLY, StepState.FAILED) in [(e.step, e.state) for e in events]
    assert (Step.RESTORE, StepState.FAILED) in [(e.step, e.state) for e in events]


async def test_dry_run_touches_nothing(monkeypatch, tmp_path):
    plan = FixPlan("x", "t", (), (Service.POSTFIX,), (), {}, {}, "", (), (), False)
    fake = DeadAfterApply()
    result = await FixEngine(fake).apply(plan, dry_run=True)
    assert result.outcome == Outcome.DRY_RUN and fake.calls == []


async def _no_sleep(_):
    return None


def test_tls_floor_syntax_follows_the_servers_postfix_version():
    """``>=TLSv1.2`` only exists since Postfix 3.6; on 3.5 (Debian 11, RHEL 8) it is an
    invalid list and Postfix turns TLS off -- which ``postfix check`` does not notice."""
    from mailtui.core.checks.fixes import tls12_floor
    from mailtui.core.checks.rules import _proto_floor

    assert tls12_floor("3.7.11") == ">=TLSv1.2"
    assert tls12_floor("3.6.0") == ">=TLSv1.2"
    for old in ("3.5.18", "3.4.13", "2.10.1", None, "unknown"):
        value = tls12_floor(old)
        assert not value.startswith(">=") and " " not in value  # fits a master.cf -o too
        assert _proto_floor(value) == "TLSv1.2"
