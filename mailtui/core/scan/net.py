"""Bounded, timed line I/O over TCP (and TLS) for the probes.

Every read has a timeout and a length cap, every reply a line-count cap, so a hostile or
defensive server (a tarpit, an endless multi-line reply, a line of megabytes, garbage)
costs us at most ``io_timeout`` seconds and ``max_line`` bytes per connection. Failures
become :class:`ProbeError` subclasses that say what the server did, so a probe can tell
"blocked by the server's defences" from "the feature is missing".
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass

from mailtui.core.scan.model import Transcript
from mailtui.core.text import decode_remote


class ProbeError(Exception):
    """A probe could not do its job. ``reason`` is a sentence for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectFailed(ProbeError):
    """No TCP connection: refused, unreachable, or no answer at all (filtered)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused


class Blocked(ProbeError):
    """The server's defences stopped the probe: a 421, a tarpit (no answer), a dropped line.

    Reported as ERROR ("blocked by the server's defences"), never as a missing feature.
    """


class ProtocolViolation(ProbeError):
    """The server sent something no conforming server sends (garbage, a huge line, ...)."""


class TlsFailed(ProbeError):
    """The TLS handshake failed (the version/ciphers were refused, or the line dropped)."""


def format_target(ip: str, port: int) -> str:
    """``127.0.0.1:25`` / ``[::1]:25``."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def local_addr_for(source: str | None, ip: str) -> tuple[str, int] | None:
    """Bind to ``source`` only when it is of the target's family (v4 source, v6 target: no bind)."""
    if source is None:
        return None
    if ipaddress.ip_address(source).version != ipaddress.ip_address(ip).version:
        return None
    return (source, 0)


@dataclass(frozen=True, slots=True)
class Limits:
    connect_timeout: float = 3.0
    io_timeout: float = 5.0
    max_line: int = 4096
    max_reply_lines: int = 100


class LineChannel:
    """One connection that speaks a CRLF line protocol, recording a transcript."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
        transcript: Transcript,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.limits = limits
        self.transcript = transcript
        self.bytes_read = 0

    @property
    def tls_object(self) -> ssl.SSLObject | None:
        return self.writer.get_extra_info("ssl_object")

    async def readline(self, what: str = "a reply") -> str:
        """One line without its CRLF. Raises Blocked on timeout/EOF, ProtocolViolation if too long."""
        try:
            raw = await asyncio.wait_for(self.reader.readuntil(b"\n"), self.limits.io_timeout)
        except asyncio.TimeoutError:
            self.transcript.note(f"no answer within {self.limits.io_timeout:g} s")
            raise Blocked(
                f"the server did not send {what} within {self.limits.io_timeout:g} s (tarpit or overload)"
            ) from None
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.transcript.received(decode_remote(exc.partial[: self.limits.max_line]))
            self.transcript.note("connection closed by the server")
            raise Blocked(f"the server closed the connection instead of sending {what}") from None
        except asyncio.LimitOverrunError:
            self.transcript.note(f"line longer than {self.limits.max_line} bytes: stopped reading")
            raise ProtocolViolation(f"the server sent a line longer than {self.limits.max_line} bytes") from None
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.transcript.note(f"connection lost: {exc}")
            raise Blocked(f"the connection was dropped while waiting for {what} ({exc.__class__.__name__})") from None
        self.bytes_read += len(raw)
        text = decode_remote(raw.rstrip(b"\r\n"))
        self.transcript.received(text)
        return text

    async def send(self, line: str, *, shown: str | None = None) -> None:
        self.transcript.sent(shown if shown is not None else line)
        try:
            self.writer.write(line.encode("utf-8", "surrogateescape") + b"\r\n")
            await asyncio.wait_for(self.writer.drain(), self.limits.io_timeout)
        except asyncio.TimeoutError:
            raise Blocked("the server stopped reading what we sent") from None
        except (ConnectionError, OSError) as exc:
            self.transcript.note(f"connection lost: {exc}")
            raise Blocked(f"the connection was dropped ({exc.__class__.__name__})") from None

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        """Upgrade in place (STARTTLS/STLS). Raises TlsFailed."""
        try:
            await asyncio.wait_for(
                self.writer.start_tls(context, server_hostname=server_hostname),
                self.limits.io_timeout,
            )
        except asyncio.TimeoutError:
            self.transcript.note("TLS handshake timed out")
            raise TlsFailed("the TLS handshake did not finish in time") from None
        except ssl.SSLCertVerificationError:
            raise
        except (ssl.SSLError, ConnectionError, OSError, EOFError) as exc:
            self.transcript.note(f"TLS handshake failed: {_ssl_reason(exc)}")
            raise TlsFailed(f"TLS handshake failed: {_ssl_reason(exc)}") from None
        self.note_tls()

    def note_tls(self) -> None:
        obj = self.tls_object
        if obj is not None:
            cipher = obj.cipher()
            self.transcript.note(f"TLS established: {obj.version()} {cipher[0] if cipher else '?'}")

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
            pass
        except Exception:  # noqa: BLE001 - closing a broken TLS stream can raise anything; we are done with it
            pass


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or exc.__class__.__name__


async def open_channel(
    ip: str,
    port: int,
    *,
    limits: Limits,
    transcript: Transcript,
    source: str | None = None,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> LineChannel:
    """Connect (optionally with implicit TLS). Raises ConnectFailed or TlsFailed."""
    transcript.note(f"connect to {format_target(ip, port)}" + (" with TLS" if tls else ""))
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                ip,
                port,
                local_addr=local_addr_for(source, ip),
                limit=limits.max_line,
                ssl=tls,
                server_hostname=server_hostname if tls else None,
                ssl_handshake_timeout=limits.io_timeout if tls else None,
            ),
            limits.connect_timeout + (limits.io_timeout if tls else 0),
        )
    except asyncio.TimeoutError:
        transcript.note("no answer (filtered, or a handshake that never finished)")
        if tls:
            raise TlsFailed("no answer to the connection or the TLS handshake") from None
        raise ConnectFailed(f"no answer from {format_target(ip, port)} within {limits.connect_timeout:g} s") from None
    except ConnectionRefusedError:
        transcript.note("connection refused")
        raise ConnectFailed(f"{format_target(ip, port)} refused the connection", refused=True) from None
    except ssl.SSLCertVerificationError:
        raise
    except ssl.SSLError as exc:
        transcript.note(f"TLS handshake failed: {_ssl_reason(exc)}")
        raise TlsFailed(f"TLS handshake failed: {_ssl_reason(exc)}") from None
    except (ConnectionError, EOFError) as exc:
        transcript.note(f"connection failed: {exc}")
        if tls:
            raise TlsFailed(f"the connection dropped during the TLS handshake ({exc.__class__.__name__})") from None
        raise ConnectFailed(f"{format_target(ip, port)}: {exc}") from None
    except OSError as exc:
        transcript.note(f"connection failed: {exc}")
        raise ConnectFailed(f"{format_target(ip, port)}: {exc.strerror or exc}") from None
    channel = LineChannel(reader, writer, limits, transcript)
    if tls:
        channel.note_tls()
    return channel


class PortState:
    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"


async def probe_port(ip: str, port: int, *, source: str | None, timeout: float) -> tuple[str, str]:
    """TCP connect and close at once: (state, note). Sends no payload."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, port, local_addr=local_addr_for(source, ip)), timeout
        )
    except asyncio.TimeoutError:
        return PortState.FILTERED, f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return PortState.CLOSED, "connection refused"
    except OSError as exc:
        return PortState.FILTERED, exc.strerror or str(exc)
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (asyncio.TimeoutError, OSError):
        pass
    return PortState.OPEN, "connection accepted"
