"""The Plesk warning of a fix plan, on an in-memory server (the lab has no Plesk).

``PleskServer`` answers the real probe script from the weak lab capture (plus a ``plesk``
section when Plesk is "installed"), the ``postconf`` dry run and the file reads that
``plan_fix`` makes: so ``gather`` and ``plan_fix`` run unchanged. With Plesk the plan's first
warning names Plesk and says to use its own settings, whether the facts carry it or only the
extra probe finds it; without Plesk there is no such warning. The CLI prints the plan with the
warning on a dry run and changes nothing, and refuses to apply without ``--force-plesk``.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mailtui import check_cli
from mailtui.core.checks import engine as E
from mailtui.core.checks.fixes import FIXES
from mailtui.core.checks.gather import CONFIG_PROBES, gather
from mailtui.core.transport.base import CommandResult, Transport

DATA = Path(__file__).parent / "data"
MAIN_CF = b"myhostname = mail.example.org\ndisable_vrfy_command = no\n"
MASTER_CF = b"smtp      inet  n       -       y       -       -       smtpd\n"
PLESK_VERSION = "18.0.52 Ubuntu 22.04 1800230322.09"


class PleskServer(Transport):
    """A server in memory: probes from the weak capture, Postfix files in a dict, no writes."""

    def __init__(self, plesk: str | None):
        super().__init__(sudo=True)
        self.is_root = True
        self.remote_user = "root"
        self.plesk = plesk
        self.files = {"/etc/postfix/main.cf": MAIN_CF, "/etc/postfix/master.cf": MASTER_CF}
        self.sections = json.loads((DATA / "sections.weak.json").read_text())
        self.sections.pop("plesk", None)
        self.probed: list[tuple[str, ...]] = []
        self.closed = False

    @property
    def label(self):
        return "ssh://root@plesk.example.org"

    async def _connect(self):
        pass

    async def close(self):
        self.closed = True

    async def _exec(self, argv, stdin, timeout):
        if "mailtui-checks" in argv:  # run_probes: answer each probe the script asks for
            script, marker = argv[2], argv[-1]
            names = tuple(re.findall(r" begin ([\w.-]+)\\n", script))
            self.probed.append(names)
            out = []
            for name in names:
                if name == "plesk":
                    text, status = (self.plesk or ""), 0
                elif name in self.sections:
                    text, status = self.sections[name]["text"], self.sections[name]["status"]
                else:
                    continue
                out.append(f"{marker} begin {name}\n{text}\n{marker} end {name} {status}")
            return CommandResult(argv, 0, "\n".join(out) + "\n", "")
        if "mailtui-plan" in argv:  # the postconf dry run
            edits = argv[argv.index("mailtui-plan") + 2:]
            assert edits == ("e:disable_vrfy_command=yes",), edits
            main = MAIN_CF.decode().replace("disable_vrfy_command = no", "disable_vrfy_command = yes")
            return CommandResult(argv, 0, f"@@main\n{main}@@master\n{MASTER_CF.decode()}", "")
        if argv[:2] == ("sh", "-c") and "if [ -e" in argv[2]:  # _read_optional
            return CommandResult(argv, 0, "yes\n" if argv[-1] in self.files else "no\n", "")
        if argv[:2] == ("sh", "-c") and "SSH_CONNECTION" in argv[2]:
            return CommandResult(argv, 0, "", "")
        raise AssertionError(f"unexpected command on the fake server: {argv}")

    async def _exec_bytes(self, argv, stdin, timeout):
        if argv[:2] == ("cat", "--") and argv[2] in self.files:
            return 0, self.files[argv[2]], b""
        raise AssertionError(f"unexpected byte command on the fake server: {argv}")

    async def _spawn(self, argv, stdin):
        raise NotImplementedError

    async def forward_port(self, *a):
        raise NotImplementedError


def assert_plesk_first(plan: E.FixPlan) -> None:
    first = plan.warnings[0]
    assert first.startswith(E.PLESK_WARNING) and "Plesk" in first
    assert "use Plesk's own settings" in first and PLESK_VERSION in first
    assert E.plan_needs_plesk_consent(plan)
    assert sum(w.startswith(E.PLESK_WARNING) for w in plan.warnings) == 1


async def test_plesk_in_the_facts_puts_its_warning_first():
    server = PleskServer(PLESK_VERSION)
    facts = await gather(server, CONFIG_PROBES + ("plesk",))
    assert facts.plesk == PLESK_VERSION
    plan = await E.plan_fix(server, "smtp.vrfy", facts)
    assert_plesk_first(plan)
    assert plan.after["/etc/postfix/main.cf"].endswith(b"disable_vrfy_command = yes\n")
    assert len(server.probed) == 1  # the facts said it: no extra probe


async def test_the_plesk_warning_comes_before_the_fixs_own_warnings():
    vrfy = FIXES["smtp.vrfy"]
    own = replace(vrfy, build=lambda facts, files, user: replace(vrfy.build(facts, files, user),
                                                                  warnings=("the fix's own warning",)))
    server = PleskServer(PLESK_VERSION)
    plan = await E.plan_fix(server, "smtp.vrfy", await gather(server, CONFIG_PROBES), fix_def=own)
    assert_plesk_first(plan)
    assert plan.warnings[1:] == ("the fix's own warning",)


async def test_plesk_found_by_the_extra_probe_when_the_facts_do_not_read_it():
    server = PleskServer(PLESK_VERSION)
    facts = await gather(server, CONFIG_PROBES)  # what the CLI and the preview gather
    assert facts.plesk is None
    plan = await E.plan_fix(server, "smtp.vrfy", facts)
    assert_plesk_first(plan)
    assert server.probed[-1] == ("plesk",)


async def test_without_plesk_there_is_no_plesk_warning():
    server = PleskServer(None)
    facts = await gather(server, CONFIG_PROBES + ("plesk",))
    for given in (facts, replace(facts, plesk=None)):
        plan = await E.plan_fix(server, "smtp.vrfy", given)
        assert not any("Plesk" in w for w in plan.warnings), plan.warnings
        assert not E.plan_needs_plesk_consent(plan)
        assert plan.diff  # a real plan all the same


# ------------------------------------------------------------------------- the CLI
class Applied(Exception):
    """Raised by the stand-in engine: the CLI went as far as applying."""


@pytest.fixture
def cli(monkeypatch):
    """Run ``mailtui fix`` against a PleskServer; the engine's apply is replaced by a marker."""
    servers: list[PleskServer] = []

    def run(plesk: str | None, *flags: str) -> tuple[int, PleskServer]:
        server = PleskServer(plesk)
        servers.append(server)

        async def connect(config, target, trust):
            return server

        class Engine:
            def __init__(self, *a, **k):
                pass

            async def apply(self, plan):
                raise Applied(plan)

        monkeypatch.setattr(check_cli, "_connect", connect)
        monkeypatch.setattr(check_cli, "FixEngine", Engine)
        monkeypatch.setattr(check_cli, "_outside_check", lambda *a: None)
        monkeypatch.setattr(check_cli, "_confirm", lambda q: pytest.fail(f"asked {q!r} despite --yes/--dry-run"))
        args = argparse.Namespace(rule="smtp.vrfy", history=False, undo=None, trust_host_key=None,
                                  dry_run="--dry-run" in flags, yes="--yes" in flags,
                                  force_plesk="--force-plesk" in flags, no_outside_check=True)
        return check_cli.run_fix(None, None, args), server

    return run


def test_cli_dry_run_on_plesk_shows_the_warning_and_changes_nothing(cli, capsys):
    code, server = cli(PLESK_VERSION, "--dry-run")
    out, err = capsys.readouterr()
    assert code == 0 and "dry run: nothing changed" in out
    assert f"!!! {E.PLESK_WARNING}" in out and "use Plesk's own settings" in out
    assert server.closed


def test_cli_refuses_to_apply_on_plesk_without_force_plesk(cli, capsys):
    code, server = cli(PLESK_VERSION, "--yes")
    out, err = capsys.readouterr()
    assert code == check_cli.EXIT_FIX_FAILED
    assert "refused" in err and "--force-plesk" in err
    assert server.closed


def test_cli_applies_on_plesk_with_force_plesk_and_without_plesk(cli):
    with pytest.raises(Applied):
        cli(PLESK_VERSION, "--yes", "--force-plesk")
    with pytest.raises(Applied):
        cli(None, "--yes")
