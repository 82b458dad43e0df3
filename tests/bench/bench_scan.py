"""Benchmark: full lab scan wall time, and the TLS-version subset on 587 vs testssl.sh.

    flock /tmp/mailtui-lab-tests.lock .venv/bin/python tests/bench/bench_scan.py [--runs N]

Needs the lab up (hardened profile) and testssl.sh. Prints the full-scan wall time (target
< 5 s), the wall time of our TLS-version probe of 127.0.0.1:587 (STARTTLS) and of
``testssl --starttls smtp -p`` on the same port, their ratio (target >= 20x) and whether
the protocol verdicts are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mailtui.core.scan import ScanOptions, run_scan  # noqa: E402

LAB = json.loads(Path(os.environ.get("MAILTUI_LAB_DIR", "/var/lib/mailtui-lab"), "lab.json").read_text())
DNS = f"{LAB['dns']['server']}:{LAB['dns']['port']}"


def full_scan() -> tuple[float, int]:
    opts = ScanOptions(
        LAB["tls"]["hostname"], resolver=DNS, source="127.0.0.2", ca_file=LAB["ca"]["cert"],
        ssh_ports=(LAB["ssh"]["port"],), dkim_selector=LAB["dns"]["dkim_selector"], dnssec_trust_anchor=LAB["dns"]["ds"],
        dnsbl_zones=("bl.mailtui.test",), domain_blocklists=("dbl.mailtui.test",),
    )
    start = time.perf_counter()
    report = run_scan(opts)
    return time.perf_counter() - start, len(report.findings)


def our_tls_versions() -> tuple[float, dict[str, bool]]:
    import asyncio

    from mailtui.core.scan.context import ScanContext
    from mailtui.core.scan.dnsq import make_async_resolver
    from mailtui.core.scan.model import LISTENERS
    from mailtui.core.scan.tls import accepted_versions

    async def run():
        opts = ScanOptions("127.0.0.1", resolver=DNS, source="127.0.0.2")
        ctx = ScanContext(opts, make_async_resolver(DNS), ("127.0.0.1",), None)
        verdict, _ = await accepted_versions(ctx, "127.0.0.1", LISTENERS[587])
        return verdict

    start = time.perf_counter()
    verdict = asyncio.run(run())
    elapsed = time.perf_counter() - start
    return elapsed, {v: v in verdict.accepted for v in ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")}


def testssl_versions() -> tuple[float, dict[str, bool]]:
    ids = {"TLS1": "TLSv1", "TLS1_1": "TLSv1.1", "TLS1_2": "TLSv1.2", "TLS1_3": "TLSv1.3"}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "t.json")
        start = time.perf_counter()
        subprocess.run(["testssl", "--starttls", "smtp", "-p", "--nodns", "none", "--warnings", "off", "--color", "0",
                        "--jsonfile", str(report), "127.0.0.1:587"],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, NXCONNECT="127.0.0.1:0"))
        elapsed = time.perf_counter() - start
        items = json.loads(report.read_text())
    out = {}
    for item in items:
        if item.get("id") in ids:
            text = item.get("finding", "").lower()
            out[ids[item["id"]]] = "offered" in text and "not offered" not in text
    return elapsed, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        t, n = full_scan()
        times.append(t)
    print(f"full lab scan: median {statistics.median(times):.2f} s over {args.runs} runs (min {min(times):.2f}, max {max(times):.2f}), {n} findings; target < 5 s")
    ours = [our_tls_versions() for _ in range(args.runs)]
    our_t = statistics.median(t for t, _ in ours)
    t_time, t_versions = testssl_versions()
    same = all(v == t_versions for _, v in ours)
    print(f"TLS versions on 587: mailtui {our_t * 1000:.0f} ms, testssl.sh {t_time:.1f} s, ratio {t_time / our_t:.0f}x; "
          f"verdicts {'identical' if same else 'DIFFERENT'}: {ours[0][1]} vs {t_versions}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
