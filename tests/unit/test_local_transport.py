"""LocalTransport: run, stream, read, atomic write that keeps mode and owner."""

import os
import stat

import pytest

from mailtui.core.transport import CommandTimeout, LineBatch, LocalTransport, StreamEnded, TransportError


@pytest.fixture
async def local():
    transport = LocalTransport()
    await transport.connect()
    yield transport
    await transport.close()


async def test_run_reports_status_and_output(local):
    result = await local.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert "exit status 3" in result.describe_failure()
    with pytest.raises(TransportError, match="exit status 3"):
        await local.run(["sh", "-c", "exit 3"], check=True)


async def test_missing_command_is_status_127(local):
    result = await local.run(["mailtui-no-such-command"])
    assert result.exit_status == 127


async def test_timeout_stops_the_command(local, tmp_path):
    marker = tmp_path / "still-running"
    with pytest.raises(CommandTimeout):
        await local.run(["sh", "-c", f"sleep 5; touch {marker}"], timeout=0.5)
    assert not marker.exists()


async def test_stream_yields_batches_and_end(local):
    events = [e async for e in local.stream(["sh", "-c", "printf 'a\\nb\\n'; sleep 0.2; printf 'c\\nno-newline'"])]
    lines = [line for e in events if isinstance(e, LineBatch) for line in e.lines]
    assert lines == ["a", "b", "c", "no-newline"]
    assert isinstance(events[-1], StreamEnded) and events[-1].exit_status == 0


async def test_stream_restart_factory_is_called_for_each_start(local):
    calls = []

    def command():
        calls.append(1)
        return ["echo", "x"]

    _ = [e async for e in local.stream(command)]
    assert calls == [1]


async def test_write_is_atomic_and_keeps_mode_and_owner(local, tmp_path):
    path = tmp_path / "main.cf"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    before = path.stat()
    await local.write_file(str(path), b"new content\n\x00\xff binary ok\n")
    after = path.stat()
    assert path.read_bytes() == b"new content\n\x00\xff binary ok\n"
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced by rename, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["main.cf"]  # no temp file left
    assert await local.read_file(str(path)) == b"new content\n\x00\xff binary ok\n"


async def test_write_new_file_uses_given_mode(local, tmp_path):
    path = tmp_path / "new.conf"
    await local.write_file(str(path), b"x", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_file_errors_name_the_file(local, tmp_path):
    with pytest.raises(TransportError, match="Cannot read /nonexistent/file"):
        await local.read_file("/nonexistent/file")
    with pytest.raises(TransportError, match="Cannot write /nonexistent/dir/file"):
        await local.write_file("/nonexistent/dir/file", b"x")
    with pytest.raises(TransportError, match="absolute file path"):
        await local.read_file("relative/path")


async def test_sudo_off_is_a_clear_error():
    transport = LocalTransport(sudo=False)
    transport.is_root = False
    with pytest.raises(TransportError, match="sudo is switched off"):
        await transport.run(["true"], sudo=True)
