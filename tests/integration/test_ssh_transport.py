"""SshTransport against the lab's real OpenSSH sshd (127.0.0.1:2222)."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import asyncssh
import pytest

from mailtui.core.connect import trust_host_key
from mailtui.core.profiles import load_config
from mailtui.core.transport import (
    AuthenticationFailed,
    ConnectFailed,
    HostKeyChanged,
    HostKeyUnknown,
    LineBatch,
    SshOptions,
    SshTransport,
    StreamEnded,
    StreamInterrupted,
    StreamResumed,
    SudoPasswordRequired,
)
from mailtui.core.profiles import ServerProfile
from tests.conftest import free_port

pytestmark = pytest.mark.lab


def _known_hosts(tmp_path, line: str | None) -> str:
    path = tmp_path / "known_hosts"
    path.write_text(line + "\n" if line else "")
    return str(path)


def _transport(lab, tmp_path, *, user=None, key=None, known=True, port=None, sudo=True) -> SshTransport:
    profile = ServerProfile(
        name="lab", host=lab.ssh_host, port=port or lab.ssh_port, user=user or lab.admin_user,
        key=key or lab.admin_key, agent=False, sudo=sudo,
    )
    files = (_known_hosts(tmp_path, lab.known_hosts_line if known else None),)
    return SshTransport(profile, SshOptions(known_hosts_files=files, connect_timeout=5, reconnect_deadline=30))


async def test_connect_with_the_right_key_and_run(lab, tmp_path):
    async with _transport(lab, tmp_path) as ssh:
        assert ssh.remote_user == lab.admin_user
        assert not ssh.is_root
        result = await ssh.run(["sh", "-c", "echo out; echo err >&2; exit 4"])
        assert (result.exit_status, result.stdout, result.stderr) == (4, "out\n", "err\n")
        root = await ssh.run(["id", "-u"], sudo=True)
        assert root.stdout.strip() == "0"
        # sbin tools are found although a non-root login's PATH lacks /usr/sbin.
        version = await ssh.run(["postconf", "-h", "mail_version"])
        assert version.stdout.strip() == lab.postfix_version


async def test_changed_host_key_is_refused_naming_both_fingerprints(lab, tmp_path):
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    line = f"[{lab.ssh_host}]:{lab.ssh_port} " + impostor.export_public_key().decode().strip()
    ssh = _transport(lab, tmp_path)
    ssh.options = SshOptions(known_hosts_files=(_known_hosts(tmp_path, line),), connect_timeout=5)
    with pytest.raises(HostKeyChanged) as caught:
        await ssh.connect()
    error = caught.value
    assert error.expected == [impostor.get_fingerprint("sha256")]
    assert error.actual == lab.host_key_fingerprint
    assert "CHANGED" in error.message and "Refusing to connect" in error.message
    assert impostor.get_fingerprint("sha256") in error.message and lab.host_key_fingerprint in error.message


async def test_unknown_host_shows_fingerprint_and_can_be_trusted(lab, tmp_path):
    config = load_config()
    ssh = _transport(lab, tmp_path, known=False)
    ssh.options = SshOptions(known_hosts_files=(str(config.known_hosts_path),), connect_timeout=5)
    with pytest.raises(HostKeyUnknown) as caught:
        await ssh.connect()
    unknown = caught.value
    assert unknown.fingerprint == lab.host_key_fingerprint
    assert unknown.key_type == "ssh-ed25519"
    path = trust_host_key(config, unknown)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == f"[{lab.ssh_host}]:{lab.ssh_port} {unknown.public_key}"
    await ssh.connect()
    assert (await ssh.run(["true"])).ok
    await ssh.close()


async def test_wrong_key_fails_fast_without_retry(lab, tmp_path):
    wrong = tmp_path / "id_wrong"
    wrong.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    os.chmod(wrong, 0o600)
    ssh = _transport(lab, tmp_path, key=str(wrong))
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed, match="refused the login as mtadmin"):
        await ssh.connect()
    assert time.monotonic() - started < 5


async def test_unreachable_port_is_a_clear_error(lab, tmp_path):
    ssh = _transport(lab, tmp_path, port=free_port())
    with pytest.raises(ConnectFailed, match="refused the connection"):
        await ssh.connect()


async def test_sudo_needing_a_password_says_so_and_password_in_memory_works(lab, tmp_path):
    async with _transport(lab, tmp_path, user=lab.limited_user, key=lab.limited_key) as ssh:
        with pytest.raises(SudoPasswordRequired, match="sudo needs a password for user mtuser"):
            await ssh.run(["id", "-u"], sudo=True)
        ssh.set_sudo_password(lab.limited_password)
        result = await ssh.run(["id", "-u"], sudo=True)
        assert result.stdout.strip() == "0"


async def test_stream_delivers_every_line_in_order(lab, tmp_path):
    async with _transport(lab, tmp_path) as ssh:
        lines: list[str] = []
        batches = 0
        async for event in ssh.stream(["seq", "1", "20000"]):
            if isinstance(event, LineBatch):
                batches += 1
                lines.extend(event.lines)
            elif isinstance(event, StreamEnded):
                assert event.exit_status == 0
        assert lines == [str(i) for i in range(1, 20001)]
        assert batches < 2000  # lines arrive in batches, not one by one


async def test_stream_survives_sshd_restart_and_reports_it(lab, tmp_path):
    ssh = _transport(lab, tmp_path)
    messages: list[str] = []
    ssh.on_status.append(messages.append)
    await ssh.connect()
    starts: list[float] = []

    def command():
        starts.append(time.monotonic())
        return ["sh", "-c", "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick $i; sleep 0.05; done"]

    events = []
    restarted = False
    async for event in ssh.stream(command):
        events.append(event)
        ticks = sum(len(e.lines) for e in events if isinstance(e, LineBatch))
        if ticks >= 5 and not restarted:
            restarted = True
            await asyncio.to_thread(lab.lab, "sshd-restart", "--drop-sessions")
        if isinstance(event, StreamResumed):
            resumed_after = sum(len(e.lines) for e in events if isinstance(e, LineBatch))
        if any(isinstance(e, StreamResumed) for e in events) and ticks >= resumed_after + 5:
            break
    await ssh.close()
    kinds = [type(e) for e in events]
    assert StreamInterrupted in kinds and StreamResumed in kinds
    assert kinds.index(StreamInterrupted) < kinds.index(StreamResumed)
    assert len(starts) == 2  # the command factory was called again to resume
    assert any("lost" in m for m in messages) and any("Reconnected" in m for m in messages)


async def test_atomic_write_over_ssh_keeps_mode_and_owner(lab, tmp_path):
    path = "/var/lib/mailtui-lab/test-write.conf"
    with open(path, "wb") as handle:
        handle.write(b"before\n")
    os.chmod(path, 0o640)
    os.chown(path, 0, 0)
    try:
        async with _transport(lab, tmp_path) as ssh:
            await ssh.write_file(path, b"after \xff\n", sudo=True)
            assert await ssh.read_file(path, sudo=True) == b"after \xff\n"
        info = os.stat(path)
        assert stat.S_IMODE(info.st_mode) == 0o640 and (info.st_uid, info.st_gid) == (0, 0)
    finally:
        os.unlink(path)


async def test_forward_port_reaches_the_smtp_server(lab, tmp_path):
    async with _transport(lab, tmp_path) as ssh:
        forward = await ssh.forward_port("127.0.0.1", 25)
        try:
            reader, writer = await asyncio.open_connection(forward.local_host, forward.local_port)
            banner = await asyncio.wait_for(reader.readline(), 10)
            assert banner.startswith(b"220 ")
            writer.write(b"QUIT\r\n")
            await writer.drain()
            writer.close()
        finally:
            forward.close()


async def test_jump_host_is_verified_and_used(lab, tmp_path, isolated_home):
    # The lab's sshd serves as its own jump host: the second hop goes through a tunnel.
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    (ssh_dir / "id_ed25519").write_bytes(open(lab.admin_key, "rb").read())
    os.chmod(ssh_dir / "id_ed25519", 0o600)
    profile = ServerProfile(
        name="via-jump", host=lab.ssh_host, port=lab.ssh_port, user=lab.admin_user, key=lab.admin_key,
        agent=False, jump=f"{lab.admin_user}@{lab.ssh_host}:{lab.ssh_port}",
    )
    known = _known_hosts(tmp_path, lab.known_hosts_line)
    async with SshTransport(profile, SshOptions(known_hosts_files=(known,), connect_timeout=5)) as ssh:
        assert (await ssh.run(["sh", "-c", "echo $SSH_CONNECTION"])).stdout.split()[0] == "127.0.0.1"
        assert ssh._jump is not None
    # An unknown jump host is reported like any unknown host, never trusted silently.
    empty = _known_hosts(tmp_path, None)
    with pytest.raises(HostKeyUnknown):
        await SshTransport(profile, SshOptions(known_hosts_files=(empty,), connect_timeout=5)).connect()
