"""Transports: how mailtui runs commands on a server (locally or over SSH)."""

from mailtui.core.transport.base import (
    ByteChunk,
    CommandResult,
    LineBatch,
    PortForward,
    StreamEnded,
    StreamEvent,
    StreamInterrupted,
    StreamResumed,
    Transport,
    shell_command,
)
from mailtui.core.transport.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectFailed,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    InvalidCommand,
    SudoPasswordRequired,
    SudoUnavailable,
    TransportError,
)
from mailtui.core.transport.local import LocalTransport
from mailtui.core.transport.ssh import SshOptions, SshTransport

__all__ = [
    "ByteChunk",
    "AuthenticationFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectFailed",
    "ConnectionLost",
    "HostKeyChanged",
    "HostKeyUnknown",
    "InvalidCommand",
    "LineBatch",
    "LocalTransport",
    "PortForward",
    "SshOptions",
    "SshTransport",
    "StreamEnded",
    "StreamEvent",
    "StreamInterrupted",
    "StreamResumed",
    "SudoPasswordRequired",
    "SudoUnavailable",
    "Transport",
    "TransportError",
    "shell_command",
]
