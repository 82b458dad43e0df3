"""A session sudo password never reaches the command's stdin (and so never a file).

With a session password, mailtui sends the password on stdin for ``sudo -S``. When
sudo does not prompt (a NOPASSWD rule, a cached timestamp, or we are root), the line
used to stay in stdin and the command read it: ``write_file`` put it into the file.
These tests use a real sudo:

- over SSH as the lab's ``mtuser`` (its sudo wants its password), once as the lab
  configures it (sudo prompts) and once with a temporary sudoers drop-in giving mtuser
  NOPASSWD for ``sh`` only, and once with a global cached timestamp (sudo prompts on
  the first call only);
- locally as root with ``is_root`` cleared (root's sudo never prompts), and locally as
  mtuser (sudo prompts) through a child Python process.

Every payload must arrive byte for byte: binary, NUL bytes, no trailing newline, lines
that look like the password or a marker, several megabytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import (
    ByteChunk,
    LocalTransport,
    SshOptions,
    SshTransport,
    StreamEnded,
    SudoPasswordRequired,
)
from tests.conftest import REPO, _unavailable

pytestmark = pytest.mark.lab

DROP_IN = Path("/etc/sudoers.d/mailtui-test-sudo-stdin")
TIMESTAMP_DIR = Path("/run/sudo/ts")


def _payloads(password: str) -> dict[str, bytes]:
    pw = password.encode()
    return {
        "empty": b"",
        "one byte": b"x",
        "no trailing newline": b"first line\nlast line without newline",
        "binary": bytes(range(256)) * 4 + b"\x00\x00\xff",
        "starts with newlines": b"\n\n\r\nbody\n",
        "password-like lines": pw + b"\n" + pw + b"\nmailtui-0123456789abcdef0123456789abcdef\n",
        "large": os.urandom(3 * 1024 * 1024 + 7),
    }


def _require_root_and_sudo() -> None:
    if os.geteuid() != 0:
        _unavailable("needs root (sudoers drop-in, root-owned target directory)")
    for tool in ("sudo", "visudo"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed")


@pytest.fixture
def root_dir():
    """A directory only root may write to (so writing there really needs sudo)."""
    _require_root_and_sudo()
    base = "/var/lib/mailtui-lab" if os.path.isdir("/var/lib/mailtui-lab") else None
    path = Path(tempfile.mkdtemp(prefix="sudo-stdin-", dir=base))
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _sudoers_drop_in(text: str):
    """Install /etc/sudoers.d/mailtui-test-sudo-stdin (checked by visudo); remove it after."""
    _require_root_and_sudo()
    assert not DROP_IN.exists(), f"{DROP_IN} left over from an earlier run"
    with tempfile.NamedTemporaryFile("w", dir="/etc/sudoers.d", prefix=".mailtui-test.", delete=False) as tmp:
        tmp.write("# temporary: tests/integration/test_sudo_stdin.py\n" + text)
    try:
        subprocess.run(["visudo", "-cqf", tmp.name], check=True, capture_output=True)
        os.chmod(tmp.name, 0o440)
        os.replace(tmp.name, DROP_IN)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp.name)
        with contextlib.suppress(FileNotFoundError):
            DROP_IN.unlink()


def _forget_timestamps(user: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (TIMESTAMP_DIR / user).unlink()


def _ssh(lab, tmp_path) -> SshTransport:
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts_line + "\n")
    profile = ServerProfile(
        name="lab", host=lab.ssh_host, port=lab.ssh_port, user=lab.limited_user, key=lab.limited_key,
        agent=False, sudo=True,
    )
    return SshTransport(profile, SshOptions(known_hosts_files=(str(known),), connect_timeout=5, reconnect_deadline=30))


async def _check_payloads(transport, directory: Path, password: str) -> None:
    """write_file, run(input=...) and read_file through sudo carry exactly the payload."""
    for name, payload in _payloads(password).items():
        target = directory / "payload.bin"
        await transport.write_file(str(target), payload, sudo=True, mode=0o600)
        written = target.read_bytes()
        if name != "password-like lines":
            assert password.encode() not in written, f"write_file {name}: the sudo password reached the file"
        assert written == payload, f"write_file {name}: {len(written)} bytes written, {len(payload)} sent"
        assert await transport.read_file(str(target), sudo=True) == payload, name
        # run(): `cat` under sudo echoes its stdin; `tee` writes it to a root-only file.
        echoed = await transport.run(["cat"], sudo=True, input=payload, timeout=60)
        assert echoed.ok, echoed.describe_failure()
        assert echoed.stdout.encode("utf-8", "surrogateescape") == payload, f"run cat {name}"
        copy = directory / "tee.bin"
        teed = await transport.run(["sh", "-c", 'cat > "$1"', "sh", str(copy)], sudo=True, input=payload, timeout=60)
        assert teed.ok, teed.describe_failure()
        assert copy.read_bytes() == payload, f"run cat > file {name}"
    # A stream under sudo starts with an empty stdin, not the password.
    chunks = [e.data async for e in transport.stream_bytes(["cat"], sudo=True) if isinstance(e, ByteChunk)]
    assert b"".join(chunks) == b""


async def _sudo_prompts(transport, password: str) -> bool:
    """Whether sudo asks mtuser for a password right now (asked with `sudo -n`)."""
    saved = transport._sudo_password
    transport.set_sudo_password(None)
    try:
        await transport.run(["sh", "-c", "true"], sudo=True)
        return False
    except SudoPasswordRequired:
        return True
    finally:
        transport.set_sudo_password(saved)


# ----------------------------------------------------------------------------- over SSH
async def test_ssh_password_prompted_payload_is_exact(lab, tmp_path, root_dir):
    """The lab as configured: sudo reads the password line; the command sees only its input."""
    _forget_timestamps(lab.limited_user)
    async with _ssh(lab, tmp_path) as ssh:
        assert await _sudo_prompts(ssh, lab.limited_password)
        ssh.set_sudo_password(lab.limited_password)
        await _check_payloads(ssh, root_dir, lab.limited_password)
        assert (await ssh.run(["id", "-u"], sudo=True)).stdout.strip() == "0"


async def test_ssh_nopasswd_rule_payload_is_exact(lab, tmp_path, root_dir):
    """NOPASSWD for `sh` only: sudo does not read the password; it must not reach the command."""
    user, password = lab.limited_user, lab.limited_password
    _forget_timestamps(user)
    with _sudoers_drop_in(f"{user} ALL=(root) NOPASSWD: /usr/bin/sh, /bin/sh\n"):
        async with _ssh(lab, tmp_path) as ssh:
            # The drop-in covers sh only: any other command still wants the password.
            assert not await _sudo_prompts(ssh, password)
            with pytest.raises(SudoPasswordRequired):
                await ssh.run(["id", "-u"], sudo=True)
            # The condition is real: the old form (password then payload on stdin) leaks.
            leaked = root_dir / "old-form.bin"
            old = await ssh._exec_bytes(
                ("sudo", "-S", "-p", "", "--", "sh", "-c", 'cat > "$1"', "sh", str(leaked)),
                f"{password}\n".encode() + b"payload", 30.0,
            )
            assert old[0] == 0 and leaked.read_bytes() == f"{password}\npayload".encode()
            leaked.unlink()

            ssh.set_sudo_password(password)
            await _check_payloads(ssh, root_dir, password)
            assert (await ssh.run(["id", "-u"], sudo=True)).stdout.strip() == "0"


async def test_ssh_cached_timestamp_payload_is_exact(lab, tmp_path, root_dir):
    """A global timestamp: sudo prompts once, then not; both kinds of call stay exact."""
    user, password = lab.limited_user, lab.limited_password
    _forget_timestamps(user)
    with _sudoers_drop_in(f"Defaults:{user} timestamp_type=global, timestamp_timeout=5\n"):
        try:
            async with _ssh(lab, tmp_path) as ssh:
                assert await _sudo_prompts(ssh, password)
                ssh.set_sudo_password(password)
                first = root_dir / "first.bin"
                await ssh.write_file(str(first), b"\x00first\xff", sudo=True)  # sudo prompts here
                assert first.read_bytes() == b"\x00first\xff"
                assert not await _sudo_prompts(ssh, password)  # now cached for every session
                await _check_payloads(ssh, root_dir, password)
        finally:
            _forget_timestamps(user)


async def test_ssh_wrong_password_is_reported_and_writes_nothing(lab, tmp_path, root_dir):
    _forget_timestamps(lab.limited_user)
    async with _ssh(lab, tmp_path) as ssh:
        ssh.set_sudo_password("not-the-password")
        target = root_dir / "never.bin"
        with pytest.raises(SudoPasswordRequired):
            await ssh.write_file(str(target), b"data\n", sudo=True)
        assert not target.exists()


# -------------------------------------------------------------------------------- local
async def test_local_sudo_that_does_not_prompt_payload_is_exact(root_dir):
    """Root's sudo never asks for a password: the no-prompt path, through LocalTransport."""
    local = LocalTransport()
    await local.connect()
    assert local.is_root
    local.is_root = False  # make it go through `sudo -S` like a non-root login would
    password = "local-secret-\u00e9\\n 'quoted' $HOME"
    local.set_sudo_password(password)
    await _check_payloads(local, root_dir, password)


_CHILD = r"""
import asyncio, json, sys
from mailtui.core.transport import LocalTransport

async def main():
    args = json.loads(sys.stdin.readline())
    local = LocalTransport()
    await local.connect()
    assert not local.is_root
    local.set_sudo_password(args["password"])
    payload = bytes.fromhex(args["payload"])
    await local.write_file(args["path"], payload, sudo=True, mode=0o600)
    result = await local.run(["cat"], sudo=True, input=payload)
    print(json.dumps({"cat": result.stdout.encode("utf-8", "surrogateescape").hex(),
                      "status": result.exit_status, "stderr": result.stderr}))

asyncio.run(main())
"""


def _child_python(user: str) -> tuple[list[str], dict[str, str]]:
    """A Python that ``user`` may run and that imports mailtui (this venv's packages)."""
    runuser = shutil.which("runuser")
    if runuser is None:
        _unavailable("runuser is not installed")
    env = {
        "PATH": "/usr/bin:/bin", "HOME": "/tmp", "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]),
    }
    # The venv's interpreter may live under /root, out of the user's reach.
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            [runuser, "-u", user, "--", python, "-c", "import mailtui.core.transport"],
            env=env, capture_output=True, cwd="/", timeout=60,
        )
        if probe.returncode == 0:
            return [runuser, "-u", user, "--", python], env
    _unavailable(f"no Python that {user} may run imports mailtui: {probe.stderr.decode()[-500:]}")


async def test_local_sudo_that_prompts_payload_is_exact(lab, root_dir):
    """LocalTransport as mtuser (sudo wants its password), started with runuser."""
    command, env = _child_python(lab.limited_user)
    _forget_timestamps(lab.limited_user)
    payload = bytes(range(256)) + b"no newline at the end"
    target = root_dir / "local.bin"
    request = json.dumps({"password": lab.limited_password, "payload": payload.hex(), "path": str(target)})
    child = await asyncio.to_thread(
        subprocess.run,
        [*command, "-c", _CHILD],
        input=request + "\n", capture_output=True, text=True, timeout=120, cwd="/", env=env,
        start_new_session=True,  # no controlling terminal: sudo must read stdin
    )
    assert child.returncode == 0, child.stderr
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    assert answer["status"] == 0, answer["stderr"]
    assert bytes.fromhex(answer["cat"]) == payload
    assert target.read_bytes() == payload
