"""Match blocks in the sshd config text: ``sshd -T`` without ``-C`` never evaluates them."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mailtui.core.checks.fixes import FIXES
from mailtui.core.checks.gather import (_SSHD_CONF_FN, parse_sshd_instances, parse_sshd_matches,
                                        split_sshd_files)
from mailtui.core.checks.registry import evaluate
from mailtui.core.findings import Status

from .test_rules import facts

SSHD_T = "port 22\npasswordauthentication no\npermitrootlogin no\nmaxauthtries 3\npermitemptypasswords no\nusepam yes\n"

MAIN = """\
# Debian's default, trimmed
Include /etc/ssh/sshd_config.d/*.conf
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def dump(files: dict[str, str]) -> str:
    """What the probe prints after ``sshd -T``: each file's lines behind a ``|``."""
    out = []
    for path, text in files.items():
        out.append(f"### sshdfile {path}")
        out.extend("|" + line for line in (text + "\n").split("\n"))
    return "\n".join(out) + "\n"


def instance(files: dict[str, str], config: str = "/etc/ssh/sshd_config", sshd_t: str = SSHD_T):
    text = f"### sshd 42 {config}\n{sshd_t}" + dump(files)
    (inst,) = parse_sshd_instances(text, None)
    return inst


def run_rules(inst, rule_id: str):
    f = replace(facts("hardened"), sshd=(inst,), ssh_port=22)
    return [x for x in evaluate(f, only={rule_id})]


def test_match_address_in_a_dropin_warns_with_file_line_and_criteria():
    inst = instance({
        "/etc/ssh/sshd_config": MAIN,
        "/etc/ssh/sshd_config.d/50-backup.conf": "# backup host\n\nMatch Address 10.0.0.0/8\n"
                                                 "    PasswordAuthentication yes\n",
    })
    assert inst.get("passwordauthentication") == "no"  # what sshd -T shows
    (got,) = run_rules(inst, "ssh.password_auth")
    assert got.status == Status.WARN
    assert "/etc/ssh/sshd_config.d/50-backup.conf:4 Match Address 10.0.0.0/8 \u2192 PasswordAuthentication yes" \
        in got.evidence
    assert "still get password logins" in got.detail
    assert got.fix == "ssh.password_auth"


@pytest.mark.parametrize("criteria, status", [
    ("all", Status.FAIL),
    ("Address *", Status.FAIL),
    ("Address 0.0.0.0/0,::/0", Status.FAIL),
    ("User *", Status.FAIL),
    ("Host *", Status.FAIL),
    ("User backup", Status.WARN),
    ("Group sftponly", Status.WARN),
    ("Address 10.0.0.0/8 User *", Status.WARN),
    ("Address *,!10.0.0.1", Status.WARN),
    ("LocalPort 2222", Status.WARN),
])
def test_criteria_for_everyone_fail_others_warn(criteria, status):
    inst = instance({"/etc/ssh/sshd_config": MAIN + f"Match {criteria}\n\tPermitRootLogin yes\n"})
    (got,) = run_rules(inst, "ssh.root_login")
    assert got.status == status, got.evidence
    assert f"/etc/ssh/sshd_config:8 Match {criteria} \u2192 PermitRootLogin yes" in got.evidence


def test_every_ssh_rule_looks_at_its_keyword():
    inst = instance({"/etc/ssh/sshd_config": MAIN + "Match User backup\n  MaxAuthTries 10\n  PermitEmptyPasswords yes\n"
                                                    "  KbdInteractiveAuthentication yes\n"})
    assert run_rules(inst, "ssh.max_auth_tries")[0].status == Status.WARN
    assert run_rules(inst, "ssh.empty_passwords")[0].status == Status.WARN
    pw = run_rules(inst, "ssh.password_auth")[0]  # keyboard-interactive with UsePAM yes = passwords
    assert pw.status == Status.WARN and "KbdInteractiveAuthentication yes" in pw.evidence


def test_strong_values_in_match_blocks_pass():
    inst = instance({"/etc/ssh/sshd_config": MAIN + "Match User alice\n  MaxAuthTries 2\n  PasswordAuthentication no\n"
                                                    "  PermitRootLogin prohibit-password\n"})
    for rule_id in ("ssh.password_auth", "ssh.root_login", "ssh.max_auth_tries", "ssh.empty_passwords"):
        assert [x.status for x in run_rules(inst, rule_id)] == [Status.PASS], rule_id


def test_first_value_wins_within_a_block_keywords_case_insensitive_quotes_and_comments():
    text = MAIN + ("Match User backup\n"
                   "  passwordauthentication \"no\"   # keys only\n"
                   "  PasswordAuthentication yes\n"
                   "# Match all\n"
                   "#  PasswordAuthentication yes\n"
                   "MATCH Address 192.0.2.0/24\n"
                   "  PASSWORDAUTHENTICATION=\"yes\"\n"
                   "  PasswordAuthentication no\n")
    files = {"/etc/ssh/sshd_config": text}
    blocks = parse_sshd_matches(split_sshd_files(dump(files)), "/etc/ssh/sshd_config")
    assert [(b.criteria_text, b.settings["passwordauthentication"].value) for b in blocks] == [
        ("User backup", "no"), ("Address 192.0.2.0/24", "yes")]
    (got,) = run_rules(instance(files), "ssh.password_auth")
    assert got.status == Status.WARN
    assert "Match User backup" not in got.evidence
    assert "/etc/ssh/sshd_config:13 Match Address 192.0.2.0/24 \u2192 PASSWORDAUTHENTICATION yes" in got.evidence


def test_include_globs_relative_paths_nesting_and_match_scope():
    files = {
        "/etc/ssh/sshd_config": "Include sshd_config.d/*.conf\nPasswordAuthentication no\n"
                                "Match User ops\n  Include /etc/ssh/ops.conf\n",
        "/etc/ssh/sshd_config.d/10-a.conf": "Include sshd_config.d/nested/*.conf nested/*.conf\n",  # under /etc/ssh
        "/etc/ssh/sshd_config.d/nested/x.conf": "Match Address 10.1.0.0/16\nPermitRootLogin yes\n",
        "/etc/ssh/sshd_config.d/20-b.conf": "MaxAuthTries 3\n",  # global again: the Match ended with its file
        "/etc/ssh/sshd_config.d/sub/no.conf": "Match all\nPasswordAuthentication yes\n",  # '*' does not cross '/'
        "/etc/ssh/ops.conf": "PermitEmptyPasswords yes\nInclude /etc/ssh/sshd_config\n",  # loop: bounded
    }
    blocks = parse_sshd_matches(split_sshd_files(dump(files)), "/etc/ssh/sshd_config")
    got = [(b.file, b.line, b.criteria_text, {k: (s.value, s.file) for k, s in b.settings.items()}) for b in blocks]
    assert got[0] == ("/etc/ssh/sshd_config.d/nested/x.conf", 1, "Address 10.1.0.0/16",
                      {"permitrootlogin": ("yes", "/etc/ssh/sshd_config.d/nested/x.conf")})
    assert got[1] == ("/etc/ssh/sshd_config", 3, "User ops",
                      {"permitemptypasswords": ("yes", "/etc/ssh/ops.conf")})
    assert all(b.criteria_text != "all" for b in blocks[:2])
    assert "maxauthtries" not in blocks[0].settings


def test_a_file_line_cannot_pose_as_a_marker_and_missing_text_changes_nothing():
    inst = instance({"/etc/ssh/sshd_config": MAIN + "### sshd 7 /evil\nMatch all\n  PasswordAuthentication yes\n"})
    assert len(inst.matches) == 1 and inst.files == ("/etc/ssh/sshd_config",)
    assert run_rules(inst, "ssh.password_auth")[0].status == Status.FAIL
    bare = instance({})
    assert bare.matches == () and run_rules(bare, "ssh.password_auth")[0].status == Status.PASS


def test_the_probe_follows_includes_on_a_real_shell(tmp_path: Path):
    etc = tmp_path / "etc"
    (etc / "d").mkdir(parents=True)
    main = etc / "sshd_config"
    main.write_text(f"Include {etc}/d/*.conf # trailing comment\nInclude {etc}/none/*.conf\nPort 22\n")
    (etc / "d" / "50-backup.conf").write_text("Match Address 10.0.0.0/8\n    PasswordAuthentication yes")
    (etc / "d" / "60-loop.conf").write_text(f"Include {main}\n")
    script = _SSHD_CONF_FN + f'\n{{ SSHD_SEEN=; SSHD_N=0; sshdconf "{main}" 0; }} | head -c 524288\n'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10).stdout
    inst = parse_sshd_instances(f"### sshd 1 {main}\n{SSHD_T}{out}", None)[0]
    assert inst.files == (str(main), f"{etc}/d/50-backup.conf", f"{etc}/d/60-loop.conf")
    assert [(b.criteria_text, b.settings["passwordauthentication"].line) for b in inst.matches] == [
        ("Address 10.0.0.0/8", 2)]
    assert inst.get("passwordauthentication") == "no" and inst.get("port") == "22"


def test_the_fix_plan_warns_that_it_cannot_change_a_match_block():
    inst = instance({"/etc/ssh/sshd_config": MAIN,
                     "/etc/ssh/sshd_config.d/50-backup.conf": "Match Address 10.0.0.0/8\n PasswordAuthentication yes\n"})
    f = replace(facts("hardened"), sshd=(inst,), ssh_port=22)
    spec = FIXES["ssh.password_auth"].build(f, {"/etc/ssh/sshd_config": MAIN.encode()}, "admin")
    assert any("Match Address 10.0.0.0/8" in w and "global value only" in w for w in spec.warnings)
