"""Hostile SMTP servers in-process: the scan ends within its budget with ERROR findings.

Each server listens on its own loopback address on port 25 (127.0.0.1:25 is the lab's
Postfix; 127.0.0.6x are free), because the scan probes the well-known mail ports.
Slow banner (tarpit), endless multi-line reply, garbage, a multi-megabyte line, a drop
in the middle of the TLS handshake: none may hang the scan, crash it, or be reported as a
missing feature; memory stays bounded (line reads are capped).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tracemalloc

import pytest

from mailtui.core.findings import Status
from mailtui.core.scan import RecordingObserver, ScanOptions, probe_groups, scan

BUDGET = 4.0


class HostileServer:
    """An asyncio server on IP:25 in its own thread and event loop, like a real remote peer
    (a flooding handler in the scan's own loop would starve the scan, which no remote can)."""

    def __init__(self, ip: str, handler) -> None:
        self.ip, self.handler = ip, handler
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.start_server(handler, ip, 25), self.loop)
        try:
            self.server = future.result(5)
        except PermissionError:
            self.stop()
            pytest.skip("binding port 25 needs root (the test suite runs as root with the lab)")
        except OSError as exc:
            self.stop()
            pytest.skip(f"cannot listen on {ip}:25: {exc}")

    def close(self) -> None:
        async def shutdown():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.stop()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _serve(ip: str, handler) -> HostileServer:
    return HostileServer(ip, handler)


async def slow_banner(reader, writer):
    await asyncio.sleep(60)


async def endless_multiline(reader, writer):
    try:
        while True:
            writer.write(b"220-still greeting you\r\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def garbage(reader, writer):
    try:
        writer.write(os.urandom(300).replace(b"\n", b"") + b"\r\n\x00\xff\x1b[2J\r\n")
        await writer.drain()
        await asyncio.sleep(10)
    except (ConnectionError, OSError):
        pass


async def huge_line(reader, writer):
    chunk = b"220 " + b"A" * 65536
    try:
        for _ in range(128):  # 8 MiB, never a newline
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def drop_mid_tls(reader, writer):
    try:
        writer.write(b"220 hostile.example ESMTP\r\n")
        while True:
            line = await reader.readline()
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                writer.write(b"250-hostile.example\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
            elif cmd == b"STARTTLS":
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                await reader.read(20)  # part of the ClientHello, then hang up
                writer.transport.abort()
                return
            elif cmd == b"QUIT":
                writer.write(b"221 bye\r\n")
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass


CASES = [
    ("slow banner", "127.0.0.61", slow_banner),
    ("endless multiline", "127.0.0.62", endless_multiline),
    ("garbage", "127.0.0.63", garbage),
    ("huge line", "127.0.0.64", huge_line),
    ("drop mid-TLS", "127.0.0.65", drop_mid_tls),
]


@pytest.mark.parametrize("name, ip, handler", CASES, ids=[c[0] for c in CASES])
async def test_hostile_server_ends_in_budget_with_error(name, ip, handler):
    server = _serve(ip, handler)
    probe_groups()  # import every probe module before measuring memory
    options = ScanOptions(
        ip, domain="hostile.example", resolver="127.0.0.1:5353", ports=(25,),
        groups=("smtp", "relay", "enum", "spoof", "tls"), io_timeout=1.0, connect_timeout=1.0,
        probe_timeout=3.0, budget=BUDGET, max_line=4096,
    )
    observer = RecordingObserver()
    tracemalloc.start()
    start = time.monotonic()
    try:
        report = await scan(options, observer)
    finally:
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        server.close()
    assert elapsed < BUDGET + 1.0, f"{name}: scan took {elapsed:.1f} s"
    statuses = {f.id: f.status for f in report.findings}
    assert Status.ERROR in statuses.values(), f"{name}: no ERROR finding in {statuses}"
    # Defences/garbage are never reported as a missing feature or as a clean bill of health.
    assert statuses.get("smtp.starttls") != Status.FAIL
    assert statuses.get("relay.open_relay") != Status.PASS
    assert statuses.get("spoof.local_sender") != Status.PASS
    assert peak < 4 * 1024 * 1024, f"{name}: peak traced memory {peak / 1e6:.1f} MB"
    events = [e[0] for e in observer.events]
    assert events[0] == "scan_started" and events[-1] == "scan_finished"
    assert events.count("probe_started") == events.count("probe_finished") == 5


async def test_budget_cancels_and_reports_unfinished_probes():
    server = _serve("127.0.0.66", slow_banner)
    options = ScanOptions("127.0.0.66", domain="hostile.example", resolver="127.0.0.1:5353", ports=(25,),
                          groups=("smtp", "relay"), io_timeout=10.0, probe_timeout=10.0, budget=1.0)
    start = time.monotonic()
    try:
        report = await scan(options)
    finally:
        server.close()
    assert time.monotonic() - start < 2.5
    assert report.budget_exhausted
    assert {f.id for f in report.findings} == {"scan.budget"}
    assert all(f.status == Status.ERROR for f in report.findings)
    assert {p.outcome.value for p in report.probes} == {"budget"}
