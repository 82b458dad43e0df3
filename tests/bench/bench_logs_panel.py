"""The Logs panel under load: a live flood and a large backfill, in a headless app.

Usage: ``python tests/bench/bench_logs_panel.py [--rate 10000] [--seconds 30] [--backfill 1000000]``

1. Live: a thread appends ``--rate`` lines per second (realistic mixed mail log, see
   bench_classify.generate, stamped with the current time) to a file for ``--seconds``
   while the Logs screen follows it through LocalTransport (or, with --lab, over SSH from the lab). Every 100 ms a key (up/down)
   is sent to the app; its latency is the time from sending the key event until the log
   view has handled it, and until the view repainted after it. Reports p50/p99/max, the
   lines shown vs written, and the process RSS.
2. Backfill: a file of ``--backfill`` lines is opened with that many lines of backfill;
   reports the time until every line is counted (the feed's counter and the offenders'
   summary both complete) and a key-press latency right after.

Not collected by pytest (a measurement, not a pass/fail test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZE = (140, 45)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class KeyProbe:
    """Times key presses: sent -> handled by LogView -> repainted."""

    def __init__(self) -> None:
        from mailtui.ui.widgets.log_view import LogView

        self.handled: float | None = None
        self.painted: float | None = None
        probe = self
        original_action, original_render = LogView.action_cursor, LogView.render_line

        def action_cursor(view, delta):
            probe.handled = time.perf_counter()
            probe.painted = None
            return original_action(view, delta)

        def render_line(view, y):
            if probe.handled is not None and probe.painted is None:
                probe.painted = time.perf_counter()
            return original_render(view, y)

        LogView.action_cursor = action_cursor  # type: ignore[method-assign]
        LogView.render_line = render_line  # type: ignore[method-assign]
        self.handle_ms: list[float] = []
        self.paint_ms: list[float] = []

    async def press(self, app, key: str, timeout: float = 5.0) -> None:
        from textual import events

        self.handled = self.painted = None
        sent = time.perf_counter()
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)
        deadline = sent + timeout
        while self.painted is None and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        if self.handled is not None:
            self.handle_ms.append((self.handled - sent) * 1000)
        if self.painted is not None:
            self.paint_ms.append((self.painted - sent) * 1000)

    def report(self, title: str) -> None:
        for name, values in (("key handled", self.handle_ms), ("key -> repaint", self.paint_ms)):
            if values:
                print(f"  {title} {name}: n={len(values)} p50={statistics.median(values):.1f} ms "
                      f"p99={percentile(values, 99):.1f} ms max={max(values):.1f} ms")
        self.handle_ms, self.paint_ms = [], []


def flood_lines(count: int) -> list[str]:
    from bench_classify import generate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.log"
        generate(path, count, seed=7)
        # Drop the generated time and host ("Nov  1 00:00:00 mx "): the writer stamps each line.
        return [line[19:] for line in path.read_text().splitlines()]


def writer(path: Path, rate: int, seconds: float, body: list[str], written: list[int], stop: threading.Event) -> None:
    """Append ``rate`` lines a second, in 100 slices a second, stamped with the time."""
    tick = 0.01
    per_tick = max(1, rate // 100)
    index = 0
    start = time.perf_counter()
    with open(path, "a", buffering=1 << 20) as handle:
        n = 0
        while not stop.is_set():
            now = time.perf_counter()
            if now - start >= seconds:
                break
            stamp = time.strftime("%b %e %H:%M:%S") + " mx "
            chunk = []
            for _ in range(per_tick):
                chunk.append(stamp + body[index])
                index = (index + 1) % len(body)
            handle.write("\n".join(chunk) + "\n")
            handle.flush()
            n += per_tick
            written[0] = n
            target = start + (n / rate)
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)


LAB_DIR = Path("/var/lib/mailtui-lab")


async def open_transport(lab: bool):
    """This machine, or the lab's sshd as its admin user (``--lab``: the issue's setting)."""
    from mailtui.core.transport import LocalTransport

    if not lab:
        transport = LocalTransport()
    else:
        import json

        from mailtui.core.profiles import ServerProfile
        from mailtui.core.transport import SshOptions, SshTransport

        info = json.loads((LAB_DIR / "lab.json").read_text())
        ssh = info["ssh"]
        admin = ssh["users"]["admin"]
        profile = ServerProfile("lab", ssh["host"], ssh["port"], admin["name"], admin["key"], agent=False)
        transport = SshTransport(profile, SshOptions(known_hosts_files=(ssh["known_hosts_file"],)))
    await transport.connect()
    return transport


async def live(rate: int, seconds: float, tmp: Path, lab: bool = False) -> None:
    from mailtui.core.facts import LogSource
    from mailtui.core.profiles import ServerProfile, load_config, save_config
    from mailtui.core.transport import LocalTransport
    from mailtui.ui.app import MailtuiApp
    from mailtui.ui.screens.logs import LogsScreen
    from mailtui.ui.widgets.log_view import LogView

    save_config(load_config().with_server(ServerProfile("mail", "mail.example.org")))
    body = flood_lines(50_000)
    path = tmp / "flood.log"
    path.write_text("")
    probe = KeyProbe()
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        transport = await open_transport(lab)
        screen = LogsScreen(transport, [LogSource("file", str(path), "mail", "direct")], label=transport.label)
        app.push_screen(screen)
        await pilot.pause(0.5)
        view = screen.query_one(LogView)
        written = [0]
        stop = threading.Event()
        thread = threading.Thread(target=writer, args=(path, rate, seconds, body, written, stop), daemon=True)
        rss_max = rss_mb()
        start = time.perf_counter()
        thread.start()
        presses = 0
        lag_max = 0
        while thread.is_alive():
            await asyncio.sleep(0.1)
            await probe.press(app, "up" if presses % 2 else "down")
            presses += 1
            rss_max = max(rss_max, rss_mb())
            lag_max = max(lag_max, written[0] - screen.feed.lines)
        elapsed = time.perf_counter() - start
        # Let the follower catch up with the end of the file.
        deadline = time.perf_counter() + 30
        while screen.feed.lines < written[0] and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        caught_up = time.perf_counter() - start - elapsed
        await pilot.pause(0.3)
        print(f"live: {written[0]:,} lines written in {elapsed:.1f} s ({written[0] / elapsed:,.0f}/s); "
              f"counted {screen.feed.lines:,}; kept in view {view.total_count:,}; "
              f"caught up {caught_up:.2f} s after the writer stopped; max backlog {lag_max:,} lines")
        probe.report("live")
        print(f"  RSS max {rss_max:.0f} MB (now {rss_mb():.0f} MB)")


async def backfill(count: int, tmp: Path, lab: bool = False) -> None:
    from bench_classify import generate

    from mailtui.core.facts import LogSource
    from mailtui.core.profiles import load_config
    from mailtui.core.transport import LocalTransport
    from mailtui.ui.app import MailtuiApp
    from mailtui.ui.screens.logs import LogsScreen
    from mailtui.ui.widgets.log_view import LogView

    path = tmp / "big.log"
    generate(path, count, seed=3)
    with open(path, "rb") as handle:
        lines = sum(1 for _ in handle)
    probe = KeyProbe()
    app = MailtuiApp(config=load_config(), target=None)
    async with app.run_test(size=SIZE) as pilot:
        transport = await open_transport(lab)
        screen = LogsScreen(transport, [LogSource("file", str(path), "mail", "direct")], label=transport.label,
                            backfill_lines=lines)
        rss_before = rss_mb()
        start = time.perf_counter()
        app.push_screen(screen)
        counted = summarised = None
        rss_max = rss_before
        while time.perf_counter() - start < 120:
            await asyncio.sleep(0.02)
            rss_max = max(rss_max, rss_mb())
            if counted is None and screen.feed.lines >= lines:
                counted = time.perf_counter() - start
            if screen.summary is not None and screen.summary.lines >= lines:
                summarised = time.perf_counter() - start
                break
        view = screen.query_one(LogView)
        await probe.press(app, "up")
        await probe.press(app, "up")
        await probe.press(app, "down")
        print(f"backfill: {lines:,} lines ({path.stat().st_size / 1e6:.0f} MB) counted after "
              f"{counted if counted is not None else float('nan'):.2f} s, summary (offenders) complete after "
              f"{summarised if summarised is not None else float('nan'):.2f} s; view keeps {view.total_count:,}")
        probe.report("after backfill")
        print(f"  RSS max {rss_max:.0f} MB (before {rss_before:.0f} MB)")


async def main_async(args: argparse.Namespace) -> None:
    # Over SSH the files must be readable by the lab's admin user: keep them in the lab's dir.
    parent = str(LAB_DIR) if args.lab else None
    with tempfile.TemporaryDirectory(prefix="mailtui-bench-", dir=parent) as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        os.environ["HOME"] = str(tmp / "home")
        os.environ["MAILTUI_CONFIG"] = str(tmp / "home" / "config.toml")
        print(f"transport: {'the lab over SSH' if args.lab else 'this machine (LocalTransport)'}")
        if args.seconds > 0:
            await live(args.rate, args.seconds, tmp, args.lab)
        if args.backfill > 0:
            await backfill(args.backfill, tmp, args.lab)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="lines per second appended (default 10000)")
    parser.add_argument("--seconds", type=float, default=30, help="how long to flood (default 30; 0 skips)")
    parser.add_argument("--backfill", type=int, default=1_000_000, help="lines to backfill (default 1000000; 0 skips)")
    parser.add_argument("--lab", action="store_true", help="follow over SSH from the running lab (as root)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
