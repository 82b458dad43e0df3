"""Run a scan: resolve the host, run the probe groups concurrently, keep the budget.

Each group gets its own timeout (``probe_timeout``) and the whole scan a budget; a group
still running when the budget is spent is cancelled and reported as an ERROR finding, so a
scan always ends, and always says what it could not check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time

from mailtui.core.dns import ResolverConfigError
from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.context import CURRENT_TRANSCRIPTS, ScanContext
from mailtui.core.scan.dnsq import make_async_resolver, scan_resolver_spec
from mailtui.core.scan.model import Check, Outcome, ProbeRecord, ScanReport, Transcript
from mailtui.core.scan.net import Blocked, ProbeError
from mailtui.core.scan.observer import ScanObserver
from mailtui.core.scan.options import ScanOptions, ScanOptionsError
from mailtui.core.scan.registry import ProbeGroup, probe_group

PROBE_TIMEOUT = Check(
    "scan.probe_timeout",
    "scan",
    "Probe did not finish in time",
    "This probe group ran out of time, so part of the server was not checked. A server that "
    "answers slowly on purpose (a tarpit, postscreen's greet pause, a rate limit) causes this too.",
    Severity.INFO,
)
BUDGET = Check(
    "scan.budget",
    "scan",
    "Scan budget spent before this probe finished",
    "The whole scan has a time budget so it always ends; this probe group was still running and was "
    "stopped. Re-run it alone, or give the scan a larger budget.",
    Severity.INFO,
)
PROBE_BLOCKED = Check(
    "scan.blocked",
    "scan",
    "Blocked by the server's defences",
    "The server refused or stalled the probe (421 reply, tarpit, dropped connection): a rate limit, "
    "postscreen or fail2ban at work. That is a defence, not a missing feature; this part could not be checked.",
    Severity.INFO,
    config=("smtpd_client_connection_rate_limit", "postscreen_*", "fail2ban jail"),
)
PROBE_FAILED = Check(
    "scan.probe_error",
    "scan",
    "Probe could not run",
    "The probe failed before it could reach a verdict; the detail says why.",
    Severity.INFO,
)


class ScanSetupError(Exception):
    """The scan cannot start: no resolver, host not resolvable, bad options (CLI exit 2)."""


async def resolve_host(ctx_resolver, host: str) -> tuple[str, ...]:
    """HOST -> its addresses (A then AAAA) through the scan's resolver; IP literals as is."""
    from mailtui.core.scan.dnsq import query

    literal = host.strip("[]")
    try:
        return (str(ipaddress.ip_address(literal)),)
    except ValueError:
        pass
    a, aaaa = await asyncio.gather(query(ctx_resolver, host, "A"), query(ctx_resolver, host, "AAAA"))
    addresses = tuple(dict.fromkeys(a.records + aaaa.records))
    if not addresses:
        reasons = "; ".join(f"{x.rdtype} {x.rcode}{' ' + x.error if x.error else ''}" for x in (a, aaaa))
        raise ScanSetupError(f"{host} does not resolve through the chosen resolver ({reasons})")
    return addresses


def _target_of(group: ProbeGroup, ctx: ScanContext) -> str:
    if group.aims_at == "domain":
        return ctx.domain or ctx.options.host
    if group.aims_at == "smtp":
        return ctx.target(25)
    return ctx.primary


async def _run_group(group: ProbeGroup, ctx: ScanContext, t0: float, observer: ScanObserver, sink: list) -> None:
    target = _target_of(group, ctx)
    observer.probe_started(group.id, target)
    transcripts: list[Transcript] = []
    CURRENT_TRANSCRIPTS.set(transcripts)
    start = time.monotonic()
    outcome, error = Outcome.FINISHED, ""
    findings: list[Finding] = []
    try:
        findings = list(await asyncio.wait_for(group.run(ctx), ctx.options.probe_timeout))
    except asyncio.TimeoutError:
        outcome, error = Outcome.TIMEOUT, f"no verdict within {ctx.options.probe_timeout:g} s"
        findings = [PROBE_TIMEOUT.finding(Status.ERROR, f"{group.title}: {error}", target=target, title=f"{group.title}: probe timed out")]
    except asyncio.CancelledError:
        outcome, error = Outcome.BUDGET, "the scan's budget was spent"
        findings = [BUDGET.finding(Status.ERROR, f"{group.title}: stopped, the scan budget ({ctx.options.budget:g} s) was spent", target=target)]
        raise
    except Blocked as exc:
        outcome, error = Outcome.ERROR, exc.reason
        findings = [PROBE_BLOCKED.finding(Status.ERROR, f"{group.title}: {exc.reason}", target=target)]
    except ProbeError as exc:
        outcome, error = Outcome.ERROR, exc.reason
        findings = [PROBE_FAILED.finding(Status.ERROR, f"{group.title}: {exc.reason}", target=target)]
    except Exception as exc:  # noqa: BLE001 - one broken probe must not lose the others' results
        outcome, error = Outcome.ERROR, f"{exc.__class__.__name__}: {exc}"
        findings = [PROBE_FAILED.finding(Status.ERROR, f"{group.title}: internal error {error}", target=target)]
    finally:
        detail = "\n\n".join(t.render() for t in transcripts)
        findings = [_with_detail(f, detail) for f in findings]
        record = ProbeRecord(
            group=group.id,
            target=target,
            started=start - t0,
            duration=time.monotonic() - start,
            outcome=outcome,
            findings=len(findings),
            error=error,
            transcripts=tuple((t.label, t.freeze()) for t in transcripts),
        )
        sink.append((record, findings))
        for f in findings:
            observer.finding_produced(f)
        observer.probe_finished(record)


def _with_detail(f: Finding, detail: str) -> Finding:
    """Findings without their own detail get the probe's transcript (the evidence)."""
    if f.detail or not detail:
        return f
    from dataclasses import replace

    from mailtui.core.text import sanitize

    return replace(f, detail=sanitize(detail, multiline=True, max_length=20000))


async def scan(options: ScanOptions, observer: ScanObserver | None = None) -> ScanReport:
    """Run the scan described by ``options``; report progress to ``observer``.

    Raises :class:`ScanSetupError` only when the scan cannot start (no resolver, HOST does
    not resolve); everything that goes wrong later is an ERROR finding in the report.
    """
    observer = observer or ScanObserver()
    started_at = time.time()
    t0 = time.monotonic()
    try:
        spec = scan_resolver_spec(options.resolver)
        resolver = make_async_resolver(spec, timeout=min(2.0, options.io_timeout), lifetime=min(4.0, options.io_timeout * 2))
    except (ResolverConfigError, ScanOptionsError) as exc:
        raise ScanSetupError(str(exc)) from None
    addresses = await resolve_host(resolver, options.host)
    literal = _is_ip(options.host)
    server_name = options.server_name or (None if literal else options.host.rstrip(".").lower())
    ctx = ScanContext(options, resolver, addresses, server_name)
    groups = tuple(probe_group(g) for g in options.groups)
    observer.scan_started(options, addresses, tuple(g.id for g in groups))
    results: list[tuple[ProbeRecord, list[Finding]]] = []
    tasks = [asyncio.create_task(_run_group(g, ctx, t0, observer, results), name=f"scan:{g.id}") for g in groups]
    budget_exhausted = False
    if tasks:
        remaining = options.budget - (time.monotonic() - t0)
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, remaining))
        if pending:
            budget_exhausted = True
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
    order = {g: i for i, g in enumerate(options.groups)}
    results.sort(key=lambda r: order.get(r[0].group, 99))
    findings = tuple(f for _, fs in results for f in fs)
    report = ScanReport(
        host=options.host,
        addresses=addresses,
        domain=ctx.domain,
        groups=tuple(g.id for g in groups),
        started_at=started_at,
        duration=time.monotonic() - t0,
        findings=findings,
        probes=tuple(r for r, _ in results),
        budget_exhausted=budget_exhausted,
    )
    observer.scan_finished(report)
    return report


def run_scan(options: ScanOptions, observer: ScanObserver | None = None) -> ScanReport:
    """Blocking form of :func:`scan` (its own event loop): the CLI and thread workers."""
    return asyncio.run(scan(options, observer))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False
