"""How a command is wrapped for sudo, and that a session password stays on stdin only.

With a session password the command runs as
``sudo -S -p '' -- sh -c SKIP mailtui-sudo MARKER CMD...`` and stdin starts with
``PASSWORD\\nMARKER\\n``: whether or not sudo reads the password line, the SKIP script
drops everything up to the marker and then becomes CMD, so CMD reads only its input.
The real sudo is exercised in tests/integration/test_sudo_stdin.py; here the argv, the
bytes sent, the messages, and the skip script itself (under the shells we can find).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import pytest

from mailtui.core.profiles import ServerProfile
from mailtui.core.transport import (
    ByteChunk,
    CommandResult,
    CommandTimeout,
    SshOptions,
    SshTransport,
    SudoUnavailable,
    Transport,
)
from mailtui.core.transport import base
from mailtui.core.transport.base import RawProcess, sudo_with_password

PASSWORDS = [
    "simple",
    "with space and 'quotes' \"double\" $HOME `id` ; rm -rf / \\ *",
    "unicode-\u00e9\u00df-\u2603",
    "-n",
    "looks\nlike two lines",
    "mailtui-0123456789abcdef0123456789abcdef",
]
MARKER = re.compile(r"mailtui-[0-9a-f]{32}")


class _Recorder(Transport):
    """A transport that records what it would run and answers with a canned result."""

    def __init__(self, status: int = 0, stdout: bytes = b"", stderr: bytes = b"") -> None:
        super().__init__(sudo=True)
        self.calls: list[tuple[tuple[str, ...], bytes | None]] = []
        self.answer = (status, stdout, stderr)

    @property
    def label(self) -> str:
        return "recorder"

    async def _connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def _exec(self, argv, stdin, timeout):
        status, out, err = await self._exec_bytes(argv, stdin, timeout)
        return CommandResult(argv, status, out.decode(), err.decode())

    async def _exec_bytes(self, argv, stdin, timeout):
        self.calls.append((argv, stdin))
        return self.answer

    async def _spawn(self, argv, stdin):
        self.calls.append((argv, stdin))
        status, out, err = self.answer

        class _Done(RawProcess):
            sent = False

            async def read(self):
                if self.sent:
                    return b""
                self.sent = True
                return out

            async def wait(self):
                return status, err

            def close(self):
                return None

        return _Done()

    async def forward_port(self, remote_host, remote_port, local_port=0):
        raise NotImplementedError


def _split(wrapped: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Check the wrapper's fixed part; return the marker and the wrapped command."""
    assert wrapped[:8] == ("sudo", "-S", "-p", "", "--", "sh", "-c", base._SUDO_SKIP_PASSWORD)
    assert wrapped[8] == "mailtui-sudo"
    assert MARKER.fullmatch(wrapped[9])
    return wrapped[9], wrapped[10:]


# ------------------------------------------------------------------------ argv shape
@pytest.mark.parametrize("password", PASSWORDS)
def test_password_goes_to_stdin_only_followed_by_the_marker(password):
    argv = ("cat", "--", "/etc/shadow")
    wrapped, prefix = sudo_with_password(argv, password)
    marker, command = _split(wrapped)
    assert command == argv
    assert prefix == f"{password}\n{marker}\n".encode()
    for arg in wrapped:
        assert password not in arg
    # The one string the SSH channel carries does not hold it either.
    remote = SshTransport._remote_command(wrapped)
    assert password not in remote and shlex.quote(password) not in remote


def test_marker_is_fresh_for_every_call():
    markers = {_split(sudo_with_password(("true",), "pw")[0])[0] for _ in range(50)}
    assert len(markers) == 50


def test_no_password_keeps_sudo_n_exactly():
    t = _Recorder()
    assert t._wrap(("id", "-u"), True) == (("sudo", "-n", "--", "id", "-u"), None)
    assert t._wrap(("id", "-u"), False) == (("id", "-u"), None)


def test_root_or_no_sudo_requested_is_not_wrapped_even_with_a_password():
    t = _Recorder()
    t.set_sudo_password("pw")
    assert t._wrap(("id",), False) == (("id",), None)
    t.is_root = True
    assert t._wrap(("id",), True) == (("id",), None)


def test_sudo_switched_off_is_refused_before_anything_runs():
    t = _Recorder()
    t.sudo_allowed = False
    t.set_sudo_password("pw")
    with pytest.raises(SudoUnavailable):
        t._wrap(("id",), True)


def test_ssh_remote_command_round_trips_the_wrapper():
    wrapped, _ = sudo_with_password(("sh", "-c", "echo 'a b' \"$1\"", "x", "it's"), "pw")
    remote = SshTransport._remote_command(wrapped)
    head, _, tail = remote.partition("; exec ")
    assert head.startswith("export PATH=")
    assert tuple(shlex.split(tail)) == wrapped


# ------------------------------------------------------- what each entry point sends
async def test_run_write_read_and_stream_send_password_then_marker_then_payload():
    t = _Recorder()
    t.set_sudo_password("s3cret")
    await t.run(["cat"], sudo=True, input=b"\x00payload")
    await t.run(["cat"], sudo=True, input="text")
    await t.run(["true"], sudo=True)
    await t.write_file("/etc/x.conf", b"content\xff", sudo=True)
    await t.read_file("/etc/x.conf", sudo=True)
    _ = [e async for e in t.stream_bytes(["cat"], sudo=True)]
    payloads = [b"\x00payload", b"text", b"", b"content\xff", b"", b""]
    assert len(t.calls) == len(payloads)
    for (argv, stdin), payload in zip(t.calls, payloads):
        marker, _command = _split(argv)
        assert stdin == b"s3cret\n" + marker.encode() + b"\n" + payload
        assert all("s3cret" not in arg for arg in argv)


async def test_failures_name_the_callers_command_not_the_marker_or_password():
    t = _Recorder(status=1, stderr=b"mailtui-sudo: 1: exec: nope: not found\n")
    t.set_sudo_password("s3cret")
    result = await t.run(["nope", "arg"], sudo=True)
    assert result.argv == ("nope", "arg")
    message = result.describe_failure()
    assert message.startswith("`nope arg` failed")
    assert not MARKER.search(message) and "s3cret" not in message
    with pytest.raises(Exception) as caught:
        await t.write_file("/etc/x.conf", b"data", sudo=True)
    assert not MARKER.search(str(caught.value)) and "s3cret" not in str(caught.value)
    events = [e async for e in t.stream_bytes(["nope"], sudo=True)]
    assert not any(isinstance(e, ByteChunk) for e in events)
    assert not any(MARKER.search(repr(e)) or "s3cret" in repr(e) for e in events)


async def test_timeouts_do_not_show_the_wrapper():
    class _Slow(_Recorder):
        async def _exec_bytes(self, argv, stdin, timeout):
            raise CommandTimeout(f"`{argv[0]}` did not finish within {timeout:g} s and was stopped.")

    t = _Slow()
    t.set_sudo_password("s3cret")
    with pytest.raises(CommandTimeout) as caught:
        await t.run(["sleep", "9"], sudo=True, timeout=1)
    assert not MARKER.search(str(caught.value)) and "s3cret" not in str(caught.value)


def test_ssh_transport_uses_the_same_wrapper(tmp_path):
    profile = ServerProfile("x", "127.0.0.1", 2222, "u", agent=False)
    ssh = SshTransport(profile, SshOptions(known_hosts_files=(str(tmp_path / "kh"),)))
    ssh.set_sudo_password("pw")
    wrapped, prefix = ssh._wrap(("id",), True)
    marker, command = _split(wrapped)
    assert command == ("id",) and prefix == f"pw\n{marker}\n".encode()


# ------------------------------------------------------- the skip script in real shells
SHELLS = [s for s in ("sh", "dash", "bash", "busybox") if shutil.which(s)]


def _shell(name: str) -> list[str]:
    return ["busybox", "sh"] if name == "busybox" else [name]


def _skip(shell: str, stdin: bytes, marker: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_shell(shell), "-c", base._SUDO_SKIP_PASSWORD, "mailtui-sudo", marker, *command],
        input=stdin, capture_output=True, timeout=60,
    )


PAYLOADS = {
    "empty": b"",
    "no newline": b"no newline at the end",
    "binary": bytes(range(256)) * 8,
    "NUL first": b"\x00\n\x00",
    "CR LF": b"\r\n\r\n",
    "marker-like": b"mailtui-0123456789abcdef0123456789abcdef\nafter\n",
    "large": os.urandom(2 * 1024 * 1024 + 3),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", PAYLOADS)
@pytest.mark.parametrize("sudo_read_password", [True, False])
def test_skip_script_passes_exactly_the_payload(shell, name, sudo_read_password):
    payload = PAYLOADS[name]
    wrapped, prefix = sudo_with_password(("cat",), "pw 'x' \\ $y")
    marker = _split(wrapped)[0]
    # sudo either took the password line already or it did not prompt at all.
    stdin = prefix[prefix.index(b"\n") + 1:] if sudo_read_password else prefix
    done = _skip(shell, stdin + payload, marker, "cat")
    assert done.returncode == 0, done.stderr
    assert done.stdout == payload


@pytest.mark.parametrize("shell", SHELLS)
def test_skip_script_keeps_arguments_and_exit_status(shell):
    marker = "mailtui-" + "ab" * 16
    done = _skip(shell, f"{marker}\n".encode(), marker, "sh", "-c", 'printf "%s|" "$@"; exit 7', "zero",
                 "a b", "'q'", "$HOME", "-n", "")
    assert done.returncode == 7
    assert done.stdout == b"a b|'q'|$HOME|-n||"


@pytest.mark.parametrize("shell", SHELLS)
def test_skip_script_without_marker_does_not_run_the_command(shell, tmp_path):
    flag = tmp_path / "ran"
    marker = "mailtui-" + "cd" * 16
    for stdin in (b"", b"password\n", b"password\nmailtui-other\npayload", marker.encode()):
        done = _skip(shell, stdin, marker, "touch", str(flag))
        assert done.returncode == 125
        assert b"cut short" in done.stderr and marker.encode() not in done.stderr
        assert not flag.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_skip_script_leaves_a_file_stdin_intact(shell, tmp_path):
    """stdin may be a regular file, not a pipe: bash then reads ahead and seeks back."""
    marker = "mailtui-" + "ef" * 16
    payload = bytes(range(256)) + b"tail without newline"
    source = tmp_path / "stdin.bin"
    source.write_bytes(f"pw\n{marker}\n".encode() + payload)
    with open(source, "rb") as handle:
        done = subprocess.run(
            [*_shell(shell), "-c", base._SUDO_SKIP_PASSWORD, "mailtui-sudo", marker, "cat"],
            stdin=handle, capture_output=True, timeout=60,
        )
    assert done.returncode == 0 and done.stdout == payload


def test_local_transport_has_no_other_stdin_path():
    """LocalTransport and SshTransport use base._wrap; neither adds a sudo of its own."""
    import inspect

    from mailtui.core.transport import local, ssh

    for module in (local, ssh):
        source = inspect.getsource(module)
        assert '"sudo"' not in source and "'sudo'" not in source and "-S" not in source

