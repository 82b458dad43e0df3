"""SshTransport: commands on a server reached with asyncssh.

Host keys are always verified against known_hosts (mailtui's own file and the user's).
An unknown key raises HostKeyUnknown carrying the key so the UI can show its SHA256
fingerprint and ask; a changed key raises HostKeyChanged naming both fingerprints.
Network failures are retried with backoff; authentication and host-key failures never.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncssh

from mailtui.core.profiles import ServerProfile
from mailtui.core.target import parse_address
from mailtui.core.text import decode_remote, sanitize
from mailtui.core.transport.base import EXTRA_PATH, CommandResult, PortForward, RawProcess, Transport, shell_command
from mailtui.core.transport.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectFailed,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    TransportError,
)
from mailtui.core.transport.hostkeys import fingerprint, load_known_hosts

#: sshd's default MaxSessions is 10; keep headroom for streams and tunnels.
MAX_PARALLEL_COMMANDS = 6
#: OpenSSH's client preference: ask for the ed25519 key first when a host is new.
PREFERRED_HOST_KEY_ALGS = [
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
]
#: Seconds to wait before reconnect attempt n (then the last value repeats).
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


@dataclass(frozen=True)
class SshOptions:
    """Connection behaviour that is not part of a server profile."""

    #: Files whose keys we trust, in order; the first one is mailtui's own.
    known_hosts_files: tuple[str, ...]
    #: OpenSSH client config files; None means ~/.ssh/config when it exists.
    ssh_config: tuple[str, ...] | None = None
    connect_timeout: float = 10.0
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3
    #: Give up reconnecting after this many seconds.
    reconnect_deadline: float = 120.0


class _Client(asyncssh.SSHClient):
    def __init__(self, transport: SshTransport, generation: int) -> None:
        self._transport = transport
        self._generation = generation

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport._on_connection_lost(self._generation, exc)


class _SshProcess(RawProcess):
    def __init__(self, process: asyncssh.SSHClientProcess, transport: SshTransport) -> None:
        self._process = process
        self._transport = transport

    async def read(self) -> bytes:
        try:
            data = await self._process.stdout.read(65536)
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"connection to {self._transport.label} lost: {exc}") from None
        if not data and await self._transport._confirm_lost(wait=0.0):
            raise ConnectionLost(f"connection to {self._transport.label} lost")
        return data

    async def wait(self) -> tuple[int | None, bytes]:
        try:
            result = await self._process.wait()
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"connection to {self._transport.label} lost: {exc}") from None
        if result.exit_status is None and result.exit_signal is None:
            # The channel closed without an exit status: the connection is going
            # away. asyncssh reports that a moment later, so wait for the verdict.
            if await self._transport._confirm_lost():
                raise ConnectionLost(f"connection to {self._transport.label} lost")
        err = result.stderr if isinstance(result.stderr, bytes) else b""
        return result.exit_status, err

    def close(self) -> None:
        self._process.close()

    async def terminate(self) -> None:
        self._process.close()
        try:
            await asyncio.wait_for(self._process.wait_closed(), 5)
        except (asyncio.TimeoutError, asyncssh.Error, OSError):
            # The channel is gone with the connection; nothing left to wait for.
            return


class SshTransport(Transport):
    """One server over SSH; reconnects on network failures."""

    def __init__(self, profile: ServerProfile, options: SshOptions) -> None:
        super().__init__(sudo=profile.sudo)
        self.profile = profile
        self.options = options
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._lost = False
        self._closed = False
        self._generation = 0
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(MAX_PARALLEL_COMMANDS)
        #: Effective (after ~/.ssh/config) host, port and user; set on connect.
        self.host = profile.host
        self.port = profile.port or 22
        self.user = profile.user
        #: Called with a sentence whenever the connection drops or comes back.
        self.on_status: list = []

    @property
    def label(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{user}{host}:{self.port}"

    # ------------------------------------------------------------- connecting
    def _config_arg(self) -> Sequence[str] | tuple:
        return () if self.options.ssh_config is None else list(self.options.ssh_config)

    async def _connect(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._lost:
                return
            self._conn = await self._open()
            self._lost = False

    async def _open(self) -> asyncssh.SSHClientConnection:
        profile = self.profile
        self._generation += 1
        try:
            resolved = asyncssh.SSHClientConnectionOptions(
                host=profile.host,
                port=profile.port if profile.port else (),
                username=profile.user if profile.user else (),
                config=self._config_arg(),
            )
        except (ValueError, asyncssh.Error, OSError) as exc:
            raise ConnectFailed(f"Cannot use the SSH configuration for {profile.host}: {exc}") from None
        self.host = resolved.host or profile.host
        self.port = resolved.port or 22
        self.user = resolved.username
        tunnel: object = ()
        if profile.jump:
            self._jump = await self._open_jump(profile.jump)
            tunnel = self._jump
        return await self._connect_verified(
            host=profile.host,
            real_host=self.host,
            port=profile.port if profile.port else (),
            real_port=self.port,
            username=profile.user if profile.user else (),
            tunnel=tunnel,
            client_keys=[os.path.expanduser(profile.key)] if profile.key else (),
            agent=profile.agent,
        )

    async def _open_jump(self, jump: str) -> asyncssh.SSHClientConnection:
        try:
            user, host, port = parse_address(jump)
        except ValueError as exc:
            raise ConnectFailed(f"Jump host {jump!r} is not [user@]host[:port]: {exc}") from None
        return await self._connect_verified(
            host=host, real_host=host, port=port or (), real_port=port or 22,
            username=user or (), tunnel=(), client_keys=(), agent=True,
        )

    async def _connect_verified(
        self, *, host: str, real_host: str, port: object, real_port: int, username: object,
        tunnel: object, client_keys: object, agent: bool,
    ) -> asyncssh.SSHClientConnection:
        known, used_files = load_known_hosts(self.options.known_hosts_files)
        # asyncssh may look the host up more than once: keep each key once.
        matched: dict[str, dict[str, asyncssh.SSHKey]] = {"keys": {}, "ca": {}}

        def lookup(h: str, addr: str, p: int | None):
            result = asyncssh.match_known_hosts(known, h, addr, p)
            matched["keys"].update((fingerprint(k), k) for k in result[0])
            matched["ca"].update((fingerprint(k), k) for k in result[1])
            return result

        kwargs: dict = dict(
            host=host, port=port, username=username, tunnel=tunnel, config=self._config_arg(),
            known_hosts=lookup, connect_timeout=self.options.connect_timeout,
            keepalive_interval=self.options.keepalive_interval,
            keepalive_count_max=self.options.keepalive_count_max,
            client_factory=lambda: _Client(self, self._generation),
        )
        if client_keys:
            kwargs["client_keys"] = client_keys
        if not agent:
            kwargs["agent_path"] = None
        where = f"{real_host} port {real_port}"
        try:
            return await asyncssh.connect(**kwargs)
        except asyncssh.HostKeyNotVerifiable:
            if matched["keys"] or matched["ca"]:
                actual = await self._fetch_key(host, port, tunnel, list(matched["keys"].values()))
                raise HostKeyChanged(
                    real_host, real_port, list(matched["keys"]),
                    fingerprint(actual) if actual else None, used_files,
                ) from None
            actual = await self._fetch_key(host, port, tunnel, [])
            if actual is None:
                raise ConnectFailed(f"{where} did not present a host key.") from None
            raise HostKeyUnknown(
                real_host, real_port, actual.get_algorithm(), fingerprint(actual),
                actual.export_public_key("openssh").decode().strip(),
            ) from None
        except asyncssh.PermissionDenied:
            how = f"key {client_keys[0]}" if client_keys else "the SSH agent and default keys"
            raise AuthenticationFailed(
                f"{where} refused the login as {self.user or 'the default user'} (tried {how}). "
                f"Check the user name and that the public key is in ~/.ssh/authorized_keys there."
            ) from None
        except asyncssh.KeyImportError as exc:
            raise AuthenticationFailed(
                f"Cannot use the private key: {exc}. An encrypted key must be loaded into the agent (ssh-add)."
            ) from None
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise AuthenticationFailed(f"Cannot read the private key {exc.filename}: {exc.strerror}.") from None
        except socket.gaierror as exc:
            raise ConnectFailed(f"Cannot resolve {real_host}: {exc.strerror}.") from None
        except ConnectionRefusedError:
            raise ConnectFailed(f"{where} refused the connection: is sshd running on that port?") from None
        except (asyncio.TimeoutError, TimeoutError):
            raise ConnectFailed(
                f"{where} did not answer within {self.options.connect_timeout:g} s (host down or port filtered)."
            ) from None
        except asyncssh.ProtocolError as exc:
            raise ConnectFailed(f"{where} does not speak SSH properly ({exc.reason}). Is this the right port?") from None
        except asyncssh.DisconnectError as exc:
            raise ConnectFailed(f"{where} closed the connection: {exc.reason}") from None
        except ConnectionResetError:
            raise ConnectFailed(
                f"{where} reset the connection: not an SSH server, or a firewall or fail2ban is dropping us."
            ) from None
        except OSError as exc:
            raise ConnectFailed(f"Cannot connect to {where}: {exc.strerror or exc}") from None

    async def _fetch_key(self, host: str, port: object, tunnel: object, known: list) -> asyncssh.SSHKey | None:
        """The key the server presents now (restricted to the known key types if any)."""
        algs = sorted({k.get_algorithm() for k in known}) or PREFERRED_HOST_KEY_ALGS
        try:
            return await asyncssh.get_server_host_key(
                host, port, tunnel=tunnel, server_host_key_algs=algs, config=self._config_arg()
            )
        except (asyncssh.Error, OSError, asyncio.TimeoutError):
            # The server went away between the two handshakes; report without the key.
            return None

    async def _confirm_lost(self, wait: float = 1.0) -> bool:
        """True when the connection dropped (waiting up to ``wait`` s for the news)."""
        deadline = time.monotonic() + wait
        while not self._lost and not self._closed and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self._lost

    def _on_connection_lost(self, generation: int, exc: Exception | None) -> None:
        if self._closed or generation != self._generation:
            return
        self._lost = True
        reason = sanitize(str(exc)) if exc else "closed by the server"
        for callback in list(self.on_status):
            callback(f"Connection to {self.label} lost ({reason}); reconnecting")

    async def _recover(self, error: TransportError) -> int:
        """Reconnect with backoff; non-retryable failures end the attempts at once."""
        started = time.monotonic()
        attempt = 0
        while not self._closed:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    self._drop_connection()
                    self._conn = await self._open()
                    self._lost = False
            except TransportError as exc:
                if not exc.retryable or time.monotonic() - started > self.options.reconnect_deadline:
                    raise
                continue
            for callback in list(self.on_status):
                callback(f"Reconnected to {self.label} after {attempt} attempt(s)")
            return attempt
        raise error

    def _drop_connection(self) -> None:
        for conn in (self._conn, self._jump):
            if conn is not None:
                conn.abort()
        self._conn = None
        self._jump = None

    async def _connection(self) -> asyncssh.SSHClientConnection:
        """The live connection; reconnects first if it dropped while idle."""
        if self._closed:
            raise ConnectionLost(f"connection to {self.label} was closed")
        if self._conn is None or self._lost:
            await self._recover(ConnectionLost(f"connection to {self.label} lost"))
        assert self._conn is not None
        return self._conn

    async def close(self) -> None:
        self._closed = True
        conns = [c for c in (self._conn, self._jump) if c is not None]
        for conn in conns:
            conn.close()
        for conn in conns:
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except (asyncio.TimeoutError, asyncssh.Error, OSError):
                conn.abort()
        self._conn = None
        self._jump = None

    # ---------------------------------------------------------------- running
    @staticmethod
    def _remote_command(argv: tuple[str, ...]) -> str:
        # sbin directories for a non-root login; C locale so parsers see stable output.
        return f'export PATH="$PATH:{EXTRA_PATH}" LC_ALL=C; exec {shell_command(argv)}'

    async def _exec_bytes(
        self, argv: tuple[str, ...], stdin: bytes | None, timeout: float
    ) -> tuple[int | None, bytes, bytes]:
        conn = await self._connection()
        async with self._slots:
            try:
                result = await conn.run(
                    self._remote_command(argv), input=stdin or b"", encoding=None, timeout=timeout, check=False
                )
            except asyncssh.TimeoutError:
                raise CommandTimeout(f"`{argv[0]}` did not finish within {timeout:g} s and was stopped.") from None
            except asyncssh.ChannelOpenError as exc:
                if self._lost:
                    raise ConnectionLost(f"connection to {self.label} lost") from None
                raise TransportError(f"The server refused a new session: {exc.reason}") from None
            except (asyncssh.Error, OSError) as exc:
                raise ConnectionLost(f"connection to {self.label} lost while running {argv[0]}: {exc}") from None
        if result.exit_status is None and self._lost:
            raise ConnectionLost(f"connection to {self.label} lost while running {argv[0]}")
        out = result.stdout if isinstance(result.stdout, bytes) else b""
        err = result.stderr if isinstance(result.stderr, bytes) else b""
        return result.exit_status, out, err

    async def _exec(self, argv: tuple[str, ...], stdin: bytes | None, timeout: float) -> CommandResult:
        status, out, err = await self._exec_bytes(argv, stdin, timeout)
        return CommandResult(argv, status, decode_remote(out), decode_remote(err), None if status is not None else "signal")

    async def _spawn(self, argv: tuple[str, ...], stdin: bytes | None) -> RawProcess:
        conn = await self._connection()
        try:
            process = await conn.create_process(self._remote_command(argv), encoding=None)
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionLost(f"connection to {self.label} lost: {exc}") from None
        if stdin:
            process.stdin.write(stdin)
        process.stdin.write_eof()
        return _SshProcess(process, self)

    async def forward_port(self, remote_host: str, remote_port: int, local_port: int = 0) -> PortForward:
        conn = await self._connection()
        try:
            listener = await conn.forward_local_port("127.0.0.1", local_port, remote_host, remote_port)
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"Cannot forward a local port to {remote_host}:{remote_port}: {exc}") from None
        return PortForward("127.0.0.1", listener.get_port(), remote_host, remote_port, listener.close)
