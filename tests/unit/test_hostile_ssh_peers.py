"""Hostile SSH peers (in-process fakes): garbage, silence, a flood. Clear errors, fast."""

from __future__ import annotations

import asyncio
import time

import pytest

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import ConnectFailed, SshOptions, SshTransport


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _transport(port: int, tmp_path, timeout: float = 2.0) -> SshTransport:
    profile = ServerProfile("hostile", "127.0.0.1", port, "nobody", agent=False)
    return SshTransport(profile, SshOptions(known_hosts_files=(str(tmp_path / "kh"),), connect_timeout=timeout))


async def _garbage(reader, writer):
    writer.write(b"\x1b]52;c;aGk=\x07 this is not SSH at all\r\n" * 3 + b"SSH-1.0-\x1b[2J ancient\r\n")
    await writer.drain()
    await asyncio.sleep(5)
    writer.close()


async def _silent(reader, writer):
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        writer.close()


async def _flood(reader, writer):
    try:
        for _ in range(2000):
            writer.write(b"A" * 4096)
            await writer.drain()
    except ConnectionError:
        return


@pytest.mark.parametrize("handler", [_garbage, _flood], ids=["garbage", "flood"])
async def test_garbage_or_flood_is_a_clear_connect_error(handler, tmp_path):
    server, port = await _serve(handler)
    async with server:
        started = time.monotonic()
        with pytest.raises(ConnectFailed) as caught:
            await _transport(port, tmp_path).connect()
        assert time.monotonic() - started < 10
        assert "127.0.0.1 port" in caught.value.message
        assert "\x1b" not in caught.value.message  # hostile bytes never reach the message raw


async def test_a_server_that_never_answers_times_out(tmp_path):
    server, port = await _serve(_silent)
    async with server:
        started = time.monotonic()
        with pytest.raises(ConnectFailed, match="did not answer within 1 s"):
            await _transport(port, tmp_path, timeout=1.0).connect()
        assert time.monotonic() - started < 5
