"""LocalTransport: mailtui runs on the mail server itself (asyncio subprocesses)."""

from __future__ import annotations

import asyncio
import os
import signal

from mailtui.core.text import decode_remote
from mailtui.core.transport.base import EXTRA_PATH, CommandResult, PortForward, RawProcess, Transport
from mailtui.core.transport.errors import CommandTimeout, TransportError


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PATH", "")
    missing = [d for d in EXTRA_PATH.split(":") if d not in path.split(":")]
    env["PATH"] = ":".join(p for p in [path, *missing] if p)
    # Parsers expect the C locale's messages and formats.
    env["LC_ALL"] = "C"
    return env


class _LocalProcess(RawProcess):
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    async def read(self) -> bytes:
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(65536)

    async def wait(self) -> tuple[int | None, bytes]:
        assert self._proc.stderr is not None
        err = await self._proc.stderr.read()
        status = await self._proc.wait()
        return (status if status >= 0 else None), err

    def close(self) -> None:
        if self._proc.returncode is None:
            _kill_group(self._proc)

    async def terminate(self) -> None:
        self.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 5)
        except asyncio.TimeoutError:
            os.killpg(self._proc.pid, signal.SIGKILL)
            await self._proc.wait()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        # Already gone: nothing left to stop.
        return


class LocalTransport(Transport):
    """Commands run on this machine, as the user who started mailtui."""

    @property
    def label(self) -> str:
        return "this machine"

    @property
    def is_local(self) -> bool:
        return True

    async def _connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def _start(self, argv: tuple[str, ...]) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_environment(),
                start_new_session=True,  # so a timeout can stop the whole group
            )
        except FileNotFoundError:
            # Same shape as a shell's answer, so callers treat both transports alike.
            raise _NotFound(argv) from None
        except PermissionError as exc:
            raise TransportError(f"Cannot run {argv[0]}: {exc.strerror}") from None

    async def _exec_bytes(
        self, argv: tuple[str, ...], stdin: bytes | None, timeout: float
    ) -> tuple[int | None, bytes, bytes]:
        try:
            proc = await self._start(argv)
        except _NotFound as missing:
            return 127, b"", missing.stderr
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout)
        except asyncio.TimeoutError:
            _kill_group(proc)
            await proc.wait()
            raise CommandTimeout(f"`{argv[0]}` did not finish within {timeout:g} s and was stopped.") from None
        status = proc.returncode
        return (status if status is not None and status >= 0 else None), out, err

    async def _exec(self, argv: tuple[str, ...], stdin: bytes | None, timeout: float) -> CommandResult:
        status, out, err = await self._exec_bytes(argv, stdin, timeout)
        sig = None
        if status is None:
            sig = "killed"
        return CommandResult(argv, status, decode_remote(out), decode_remote(err), sig)

    async def _spawn(self, argv: tuple[str, ...], stdin: bytes | None) -> RawProcess:
        try:
            proc = await self._start(argv)
        except _NotFound as missing:
            raise TransportError(decode_remote(missing.stderr).strip()) from None
        assert proc.stdin is not None
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.close()
        return _LocalProcess(proc)

    async def forward_port(self, remote_host: str, remote_port: int, local_port: int = 0) -> PortForward:
        """On the server itself no tunnel is needed: the port is reachable directly."""
        return PortForward(remote_host, remote_port, remote_host, remote_port)


class _NotFound(Exception):
    def __init__(self, argv: tuple[str, ...]) -> None:
        super().__init__(argv[0])
        self.stderr = f"{argv[0]}: command not found\n".encode()
