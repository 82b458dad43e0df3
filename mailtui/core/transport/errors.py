"""Errors a transport raises. Each message is a sentence a person can act on."""

from __future__ import annotations

from mailtui.core.text import sanitize


class TransportError(Exception):
    """Base class: something went wrong talking to the server."""

    #: Whether trying again later (reconnecting) can help.
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(sanitize(message, multiline=True))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConnectFailed(TransportError):
    """The server could not be reached: DNS, refused, timeout, network down."""

    retryable = True


class ConnectionLost(TransportError):
    """An established connection dropped."""

    retryable = True


class AuthenticationFailed(TransportError):
    """The server rejected our credentials. Never retried automatically."""


class HostKeyUnknown(TransportError):
    """The server's host key is in no known_hosts file: the user must decide."""

    def __init__(self, host: str, port: int, key_type: str, fingerprint: str, public_key: str) -> None:
        self.host = host
        self.port = port
        self.key_type = key_type
        self.fingerprint = fingerprint
        #: The key in OpenSSH public key format, to store once the user accepts it.
        self.public_key = public_key
        super().__init__(
            f"The host key of {host} port {port} is not known yet "
            f"({key_type} {fingerprint}). Compare it with the key on the server "
            f"(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) before trusting it."
        )


class HostKeyChanged(TransportError):
    """The server presented a different key than the one we know. Refuse loudly."""

    def __init__(self, host: str, port: int, expected: list[str], actual: str | None, known_in: list[str]) -> None:
        self.host = host
        self.port = port
        self.expected = expected
        self.actual = actual
        self.known_in = known_in
        expected_text = ", ".join(expected) or "none"
        actual_text = actual or "unknown"
        super().__init__(
            f"Host key for {host} port {port} CHANGED ({actual_text}, expected "
            f"{expected_text}). Refusing to connect: someone may be intercepting the "
            f"connection, or the server was reinstalled. If you know why the key changed, "
            f"remove the old entry from {', '.join(known_in) or 'your known_hosts'} and connect again."
        )


class SudoPasswordRequired(TransportError):
    """``sudo -n`` refused because sudo wants a password."""

    def __init__(self, user: str | None = None) -> None:
        who = f"user {user}" if user else "this user"
        super().__init__(
            f"sudo needs a password for {who}. Allow the needed commands with NOPASSWD in "
            f"/etc/sudoers.d/, use an account that may sudo without a password, or enter "
            f"the sudo password (kept in memory for this session only)."
        )


class SudoUnavailable(TransportError):
    """sudo is missing or this user may not use it."""


class CommandTimeout(TransportError):
    """A command did not finish in time; it was stopped."""

    retryable = True


class InvalidCommand(TransportError):
    """A command was built from a value that failed validation (never sent)."""
