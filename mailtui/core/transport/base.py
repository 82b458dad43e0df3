"""The Transport interface shared by the local and the SSH implementation.

A transport runs commands on the server (this machine or one reached over SSH),
streams a command's output as batches of lines, reads and atomically writes files and
forwards ports. Commands are always argument lists: each element is validated and
quoted here (``shlex.join``), never pasted into a shell string by a caller.

The subclasses only provide the raw mechanics (``_exec``, ``_spawn``, ``forward_port``);
sudo handling, file I/O, line splitting and reconnect-aware streaming live here once.
"""

from __future__ import annotations

import abc
import contextlib
import secrets
import shlex
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from mailtui.core.text import decode_remote, sanitize
from mailtui.core.transport.errors import (
    ConnectionLost,
    InvalidCommand,
    SudoPasswordRequired,
    SudoUnavailable,
    TransportError,
)

#: Directories holding admin tools that a non-root login's PATH often lacks.
EXTRA_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Longest line a stream passes on; the rest is cut (a 1 MB log line must not hurt).
MAX_LINE_BYTES = 64 * 1024

Argv = Sequence[str]


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind. ``stdout``/``stderr`` are raw (unsanitized)."""

    argv: tuple[str, ...]
    exit_status: int | None
    stdout: str
    stderr: str
    #: Signal name when the process was killed by one (exit_status is then None).
    signal: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def describe_failure(self) -> str:
        """One sanitized sentence saying how the command failed."""
        cmd = sanitize(shlex.join(self.argv))
        how = f"signal {self.signal}" if self.signal else f"exit status {self.exit_status}"
        detail = sanitize(self.stderr.strip().splitlines()[-1]) if self.stderr.strip() else "no error output"
        return f"`{cmd}` failed ({how}): {detail}"


@dataclass(frozen=True)
class LineBatch:
    """Lines that arrived together (newline removed, decoded with surrogateescape)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class StreamInterrupted:
    """The connection under a stream dropped; the transport is reconnecting."""

    reason: str


@dataclass(frozen=True)
class StreamResumed:
    """The stream's command was started again after a reconnect."""

    attempts: int
    downtime: float


@dataclass(frozen=True)
class StreamEnded:
    """The streamed command exited by itself."""

    exit_status: int | None
    stderr: str


@dataclass(frozen=True)
class ByteChunk:
    """Raw stdout bytes, in order, as they arrived."""

    data: bytes


StreamEvent = LineBatch | StreamInterrupted | StreamResumed | StreamEnded
ByteStreamEvent = ByteChunk | StreamInterrupted | StreamResumed | StreamEnded


@dataclass(frozen=True)
class PortForward:
    """A local address that reaches a port on the server. ``close()`` ends it."""

    local_host: str
    local_port: int
    remote_host: str
    remote_port: int
    _closer: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


class RawProcess(abc.ABC):
    """A started command whose stdout is read in chunks (implementation detail)."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        """Next chunk of stdout, ``b""`` at end of file. Raises ConnectionLost."""

    @abc.abstractmethod
    async def wait(self) -> tuple[int | None, bytes]:
        """Exit status and stderr once the process ended."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the process (close the channel / kill the process group)."""

    async def terminate(self) -> None:
        """Stop the process and wait (briefly) until it is gone."""
        self.close()


def validate_argv(argv: Argv) -> tuple[str, ...]:
    """Check every argument is a string without NUL; return them as a tuple."""
    if isinstance(argv, str) or not argv:
        raise InvalidCommand("a command must be a non-empty list of arguments")
    for arg in argv:
        if not isinstance(arg, str):
            raise InvalidCommand(f"command argument {arg!r} is not a string")
        if "\x00" in arg:
            raise InvalidCommand("command argument contains a NUL byte")
    return tuple(argv)


def shell_command(argv: Argv) -> str:
    """Quote an argument list into one POSIX shell command string."""
    return shlex.join(validate_argv(argv))


# Atomic replacement on the server: a temp file in the same directory, the old file's
# mode and owner copied onto it, then rename(2). Arguments: $1 target, $2 mode for a new
# file. Content arrives on stdin.
_ATOMIC_WRITE = r"""set -eu
dst=$1
dir=$(dirname -- "$dst")
tmp=$(mktemp -- "$dir/.mailtui-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
if [ -e "$dst" ]; then
  chmod --reference="$dst" -- "$tmp"
  chown --reference="$dst" -- "$tmp"
else
  chmod "$2" -- "$tmp"
fi
mv -f -- "$tmp" "$dst"
trap - EXIT
"""

# What runs under ``sudo -S`` when a session password is set. stdin carries the password
# line, a marker line ($1, random per call), then the command's own input. sudo reads the
# password line only when it prompts (not under a NOPASSWD rule or a cached timestamp);
# this script then drops every line up to and including the marker, so the command sees
# exactly its own input either way and the password never reaches it (nor a file it
# writes). `read` takes one byte at a time from a pipe, so nothing after the marker's
# newline is consumed. No marker (input cut short): refuse rather than run the command.
_SUDO_SKIP_PASSWORD = (
    'm=$1; shift; '
    'while IFS= read -r l; do case $l in "$m") exec "$@";; esac; done; '
    'echo "mailtui: the input for sudo was cut short; the command was not run" >&2; exit 125'
)
#: $0 of that script (the name its own error messages carry).
_SUDO_SKIP_NAME = "mailtui-sudo"

_SUDO_PASSWORD_HINTS = ("a password is required", "a terminal is required", "no askpass program")
_SUDO_DENIED_HINTS = ("is not in the sudoers file", "is not allowed to execute", "may not run sudo")


class Transport(abc.ABC):
    """Run commands and move files on one server."""

    def __init__(self, *, sudo: bool = True) -> None:
        #: Whether commands marked ``sudo=True`` may use sudo (profile setting).
        self.sudo_allowed = sudo
        self._sudo_password: str | None = None
        self.is_root = False
        self.remote_user: str | None = None

    # ------------------------------------------------------------------ identity
    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Where commands run, for people: ``this machine`` or ``ssh://user@host:port``."""

    @property
    def is_local(self) -> bool:
        return False

    # --------------------------------------------------------------- lifecycle
    async def connect(self) -> None:
        """Open the connection (no-op locally) and learn who we are on the server."""
        await self._connect()
        result = await self._exec(("sh", "-c", "id -un; id -u"), None, 15.0)
        lines = result.stdout.split()
        self.remote_user = lines[0] if lines else None
        self.is_root = len(lines) > 1 and lines[1] == "0"

    @abc.abstractmethod
    async def _connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection and everything running over it."""

    async def __aenter__(self) -> Transport:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------- sudo
    def set_sudo_password(self, password: str | None) -> None:
        """Keep a sudo password in memory for this session (never written anywhere)."""
        self._sudo_password = password or None

    @property
    def has_sudo_password(self) -> bool:
        return self._sudo_password is not None

    def _wrap(self, argv: tuple[str, ...], sudo: bool) -> tuple[tuple[str, ...], bytes | None]:
        """Prefix sudo when needed; return the argv and bytes to send before stdin."""
        if not sudo or self.is_root:
            return argv, None
        if not self.sudo_allowed:
            raise SudoUnavailable(
                f"`{sanitize(shlex.join(argv))}` needs root, and sudo is switched off for this server."
            )
        if self._sudo_password is not None:
            return sudo_with_password(argv, self._sudo_password)
        return ("sudo", "-n", "--", *argv), None

    def _check_sudo(self, result: CommandResult, sudo: bool) -> None:
        if not sudo or self.is_root or result.ok:
            return
        err = result.stderr.lower()
        if "sudo:" not in err:
            return
        if any(hint in err for hint in _SUDO_PASSWORD_HINTS) or "incorrect password" in err:
            raise SudoPasswordRequired(self.remote_user)
        if any(hint in err for hint in _SUDO_DENIED_HINTS):
            raise SudoUnavailable(f"{self.remote_user or 'this user'} may not use sudo on this server.")
        if "command not found" in err and "sudo" in err.split("command not found")[0][-40:]:
            raise SudoUnavailable("sudo is not installed on this server.")

    # ---------------------------------------------------------------- running
    @abc.abstractmethod
    async def _exec(self, argv: tuple[str, ...], stdin: bytes | None, timeout: float) -> CommandResult:
        """Run argv (already wrapped) to completion."""

    async def run(
        self,
        argv: Argv,
        *,
        sudo: bool = False,
        timeout: float = 30.0,
        input: bytes | str | None = None,
        check: bool = False,
    ) -> CommandResult:
        """Run a command to completion and return its exit status and output.

        ``sudo=True`` runs it as root (``sudo -n``; ``sudo -S`` with the session password,
        see :func:`sudo_with_password`) unless we already are root. ``input`` reaches the
        command exactly as given either way.
        ``check=True`` raises TransportError when the exit status is not 0.
        Raises CommandTimeout after ``timeout`` seconds (the command is stopped).
        """
        clean = validate_argv(argv)
        wrapped, prefix = self._wrap(clean, sudo)
        data = input.encode() if isinstance(input, str) else input
        if prefix is not None:
            data = prefix + (data or b"")
        result = await self._exec(wrapped, data, timeout)
        result = CommandResult(clean, result.exit_status, result.stdout, result.stderr, result.signal)
        self._check_sudo(result, sudo)
        if check and not result.ok:
            raise TransportError(result.describe_failure())
        return result

    # ------------------------------------------------------------------ files
    async def read_file(self, path: str, *, sudo: bool = False, max_bytes: int | None = None) -> bytes:
        """Return a file's content as bytes. Raises TransportError naming the file."""
        _check_path(path)
        argv = ("head", "-c", str(max_bytes), "--", path) if max_bytes else ("cat", "--", path)
        clean = validate_argv(argv)
        wrapped, prefix = self._wrap(clean, sudo)
        raw = await self._exec_bytes(wrapped, prefix, 60.0)
        status, out, err = raw
        result = CommandResult(clean, status, "", decode_remote(err))
        self._check_sudo(result, sudo)
        if status != 0:
            raise TransportError(f"Cannot read {path}: {sanitize(decode_remote(err).strip()) or 'unknown error'}")
        return out

    async def write_file(self, path: str, data: bytes, *, sudo: bool = False, mode: int = 0o644) -> None:
        """Replace a file atomically (temp file + rename), keeping its mode and owner."""
        _check_path(path)
        argv = validate_argv(("sh", "-c", _ATOMIC_WRITE, "mailtui-write", path, f"{mode:o}"))
        wrapped, prefix = self._wrap(argv, sudo)
        status, _out, err = await self._exec_bytes(wrapped, (prefix or b"") + data, 60.0)
        result = CommandResult(argv, status, "", decode_remote(err))
        self._check_sudo(result, sudo)
        if status != 0:
            raise TransportError(f"Cannot write {path}: {sanitize(decode_remote(err).strip()) or 'unknown error'}")

    @abc.abstractmethod
    async def _exec_bytes(
        self, argv: tuple[str, ...], stdin: bytes | None, timeout: float
    ) -> tuple[int | None, bytes, bytes]:
        """Run argv (already wrapped) with binary stdin/stdout."""

    # -------------------------------------------------------------- streaming
    @abc.abstractmethod
    async def _spawn(self, argv: tuple[str, ...], stdin: bytes | None) -> RawProcess:
        """Start argv (already wrapped) with stdout readable in chunks."""

    async def _recover(self, error: TransportError) -> int:
        """Re-establish the connection after ``error``; return the attempts it took.

        Transports that cannot reconnect re-raise the error.
        """
        raise error

    async def stream_bytes(
        self,
        command: Argv | Callable[[], Argv],
        *,
        sudo: bool = False,
    ) -> AsyncIterator[ByteStreamEvent]:
        """Run a long-lived command and yield its stdout as raw chunks of bytes.

        ``command`` may be a callable returning the argv: it is called again each time
        the command has to be restarted after a reconnect, so a caller can resume from
        a cursor or offset instead of repeating or skipping data. When the connection
        drops the stream yields StreamInterrupted, reconnects with backoff, then yields
        StreamResumed and continues. Closing the generator stops the command.
        """
        while True:
            argv = validate_argv(command() if callable(command) else command)
            wrapped, prefix = self._wrap(argv, sudo)
            process = await self._spawn(wrapped, prefix)
            try:
                while True:
                    chunk = await process.read()
                    if not chunk:
                        break
                    yield ByteChunk(chunk)
                status, err = await process.wait()
            except ConnectionLost as lost:
                process.close()
                yield StreamInterrupted(lost.message)
                started = time.monotonic()
                attempts = await self._recover(lost)
                yield StreamResumed(attempts, time.monotonic() - started)
                continue
            finally:
                await process.terminate()
            result = CommandResult(argv, status, "", decode_remote(err))
            self._check_sudo(result, sudo)
            yield StreamEnded(status, decode_remote(err))
            return

    async def stream(
        self,
        command: Argv | Callable[[], Argv],
        *,
        sudo: bool = False,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> AsyncIterator[StreamEvent]:
        """Like :meth:`stream_bytes`, but yield batches of lines (see LineSplitter).

        A line cut in half by a dropped connection is discarded, not passed on: a
        command that resumes from a position (see ``command`` above) sends it again.
        """
        splitter = LineSplitter(max_line_bytes)
        async with contextlib.aclosing(self.stream_bytes(command, sudo=sudo)) as events:
            async for event in events:
                if isinstance(event, ByteChunk):
                    lines = splitter.feed(event.data)
                    if lines:
                        yield LineBatch(lines)
                    continue
                if isinstance(event, StreamEnded):
                    tail = splitter.flush()
                    if tail:
                        yield LineBatch(tail)
                elif isinstance(event, StreamInterrupted):
                    splitter = LineSplitter(max_line_bytes)
                yield event

    # ---------------------------------------------------------------- tunnels
    @abc.abstractmethod
    async def forward_port(self, remote_host: str, remote_port: int, local_port: int = 0) -> PortForward:
        """Make ``remote_host:remote_port`` (as seen from the server) reachable locally."""


class LineSplitter:
    """Turn byte chunks into lines; cut lines longer than ``max_bytes``.

    Memory stays bounded whatever the input: a line without a newline is kept only up
    to ``max_bytes`` and the rest is counted, not stored.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._dropped = 0

    def feed(self, chunk: bytes) -> tuple[str, ...]:
        lines: list[str] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                break
            self._keep(chunk[start:end])
            lines.append(self._take())
            start = end + 1
        return tuple(lines)

    def flush(self) -> tuple[str, ...]:
        if self._buffer or self._dropped:
            return (self._take(),)
        return ()

    def _keep(self, piece: bytes) -> None:
        room = self.max_bytes - len(self._buffer)
        if len(piece) <= room:
            self._buffer += piece
        else:
            self._buffer += piece[: max(room, 0)]
            self._dropped += len(piece) - max(room, 0)

    def _take(self) -> str:
        data = bytes(self._buffer)
        if data.endswith(b"\r"):
            data = data[:-1]
        line = decode_remote(data)
        if self._dropped:
            line += f" [… {self._dropped} more bytes cut by mailtui]"
        self._buffer.clear()
        self._dropped = 0
        return line


def sudo_with_password(argv: tuple[str, ...], password: str) -> tuple[tuple[str, ...], bytes]:
    """``sudo -S`` for ``argv`` and the bytes to send before its stdin.

    The password goes on stdin only, never into an argument. It is followed by a random
    marker line that the wrapper run by sudo skips to (see ``_SUDO_SKIP_PASSWORD``), so
    the command reads exactly its own input whether or not sudo asked for the password.
    The marker is in the argv (not secret); CommandResult keeps the caller's argv, so
    it never shows in a message.
    """
    marker = f"mailtui-{secrets.token_hex(16)}"
    wrapped = ("sudo", "-S", "-p", "", "--", "sh", "-c", _SUDO_SKIP_PASSWORD, _SUDO_SKIP_NAME, marker, *argv)
    return wrapped, f"{password}\n{marker}\n".encode()


def _check_path(path: str) -> None:
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path or "\n" in path:
        raise InvalidCommand(f"not an absolute file path: {sanitize(str(path))}")

