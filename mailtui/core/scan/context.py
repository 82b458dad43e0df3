"""What a probe can use while it runs: options, addresses, resolver, polite connections.

One :class:`ScanContext` per scan. It bounds connections per host (a semaphore per
address), hands out transcripts that the runner attaches to the probe's record, and
memoises shared work (the certificate on port 25 is fetched once for TLS and DANE, a DNS
answer once for SPF, DMARC and the blocklists).
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from mailtui.core.scan.dnsq import DnsAnswer, query
from mailtui.core.scan.model import Transcript
from mailtui.core.scan.net import Limits, LineChannel, format_target, open_channel
from mailtui.core.scan.options import ScanOptions

#: The transcripts of the probe running in this task (set by the runner).
CURRENT_TRANSCRIPTS: contextvars.ContextVar[list[Transcript] | None] = contextvars.ContextVar("scan_transcripts", default=None)


class ScanContext:
    def __init__(
        self,
        options: ScanOptions,
        resolver: Any,  # dns.asyncresolver.Resolver
        addresses: tuple[str, ...],
        server_name: str | None,
    ) -> None:
        self.options = options
        self.resolver = resolver
        self.addresses = addresses
        self.server_name = server_name
        self.domain = options.mail_domain
        self.limits = Limits(options.connect_timeout, options.io_timeout, options.max_line, options.max_reply_lines)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._memo: dict[Any, asyncio.Future] = {}

    @property
    def primary(self) -> str:
        """The address dialogue probes talk to: the first of the source's family, else the first."""
        if self.options.source:
            family6 = ":" in self.options.source
            for ip in self.addresses:
                if (":" in ip) == family6:
                    return ip
        return self.addresses[0]

    def target(self, port: int, ip: str | None = None) -> str:
        return format_target(ip or self.primary, port)

    def semaphore(self, ip: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(ip)
        if sem is None:
            sem = self._semaphores[ip] = asyncio.Semaphore(self.options.max_connections_per_host)
        return sem

    def transcript(self, label: str) -> Transcript:
        """A new transcript, kept with the current probe's record."""
        t = Transcript(label)
        bucket = CURRENT_TRANSCRIPTS.get()
        if bucket is not None:
            bucket.append(t)
        return t

    async def connect(
        self,
        ip: str,
        port: int,
        transcript: Transcript,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> LineChannel:
        """Open a channel (call inside ``async with ctx.semaphore(ip)``)."""
        return await open_channel(
            ip,
            port,
            limits=self.limits,
            transcript=transcript,
            source=self.options.source,
            tls=tls,
            server_hostname=server_hostname,
        )

    async def once(self, key: Any, factory: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``factory`` once per key for the whole scan; later callers share the result."""
        fut = self._memo.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._memo[key] = fut
            try:
                fut.set_result(await factory())
            except BaseException as exc:  # shared: every waiter sees the same failure
                if isinstance(exc, asyncio.CancelledError):
                    del self._memo[key]
                    fut.cancel()
                    raise
                fut.set_exception(exc)
                fut.exception()  # mark retrieved; callers re-raise below
        return await asyncio.shield(fut)

    async def dns(self, name: str, rdtype: str) -> DnsAnswer:
        """A DNS answer through the scan's resolver (memoised for the scan)."""
        key = ("dns", name.lower().rstrip("."), rdtype)
        return await self.once(key, lambda: query(self.resolver, name, rdtype))
