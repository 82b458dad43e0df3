"""``mailtui scan HOST``: the outside-in scan, headless (same core as the Scan panel).

Exit status: 0 nothing failed, 1 a finding failed, 2 usage or connection errors (no
resolver, HOST does not resolve, nothing answers on any port).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_STATUS_WORD = {"fail": "FAIL", "error": "ERROR", "warn": "WARN", "info": "info", "pass": "ok"}


def add_scan_parser(sub) -> None:
    """Register the ``scan`` subcommand on ``mailtui``'s subparsers."""
    from mailtui.core.scan.options import ALL_GROUPS

    p = sub.add_parser(
        "scan",
        help="probe a mail server from outside (ports, SMTP, relay, TLS, IMAP/POP, SSH, DNS, blocklists)",
        description="Probe a mail server as an attacker and a peer MTA see it. Polite: a few connections, "
        "timeouts everywhere, never DATA. HOST is resolved through --resolver (or MAILTUI_RESOLVER), never "
        "through /etc/resolv.conf.",
    )
    p.add_argument("host", metavar="HOST", help="the server to scan (name or IP address)")
    p.add_argument("--domain", metavar="DOMAIN", help="mail domain whose DNS records are checked (default: HOST minus its first label)")
    p.add_argument("--resolver", metavar="IP[:PORT]", help="DNS resolver to use (default: $MAILTUI_RESOLVER)")
    p.add_argument("--source", metavar="ADDR", help="bind probe connections to this local address")
    p.add_argument("--ports", metavar="PORT", nargs="+", action="extend",
                   help="ports to check (space or comma separated; default: mail and admin ports)")
    p.add_argument("--only", metavar="GROUP", nargs="+", action="extend",
                   help=f"run only these probe groups: {', '.join(ALL_GROUPS)}")
    p.add_argument("--ca-file", metavar="PATH", help="CA certificates to verify the server's chain against (default: system store)")
    p.add_argument("--dkim-selector", metavar="S", help="DKIM selector to check (S._domainkey.DOMAIN)")
    p.add_argument("--ssh-port", metavar="PORT", type=int, action="append", help="SSH port(s) to check (default 22)")
    p.add_argument("--dnsbl-zone", metavar="ZONE", action="append", help="IP blocklist zone (repeatable; replaces the default list)")
    p.add_argument("--domain-blocklist", metavar="ZONE", action="append", help="domain blocklist zone (repeatable; replaces the default)")
    p.add_argument("--dnssec-anchor", metavar="DS", help="DS record ('zone. DS tag alg type digest') to validate DNSSEC with")
    p.add_argument("--budget", type=float, default=90.0, metavar="SECONDS", help="time budget for the whole scan (default 90)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="timeout per network step (default 5)")
    p.add_argument("--json", action="store_true", help="print a JSON list of findings")


def _ports(values: list[str] | None) -> tuple[int, ...] | None:
    if not values:
        return None
    out: list[int] = []
    for value in values:
        for part in value.replace(",", " ").split():
            if not part.isdigit():
                raise ValueError(f"--ports: {part!r} is not a port number")
            out.append(int(part))
    return tuple(dict.fromkeys(out))


def build_options(args: argparse.Namespace, config=None):
    """ScanOptions from the parsed arguments. Raises ScanOptionsError / ValueError."""
    from mailtui.core.scan.options import ALL_GROUPS, ScanOptions, ScanOptionsError

    resolver = args.resolver or os.environ.get("MAILTUI_RESOLVER")
    if not resolver and config is not None:
        resolver = getattr(getattr(config, "settings", None), "resolver", None)
    if not resolver:
        raise ScanOptionsError("no resolver: give --resolver IP[:PORT] or set MAILTUI_RESOLVER "
                               "(the scan never uses /etc/resolv.conf)")
    groups = tuple(dict.fromkeys(g for item in (args.only or ()) for g in item.replace(",", " ").split())) or ALL_GROUPS
    kwargs = dict(
        host=args.host,
        domain=args.domain,
        resolver=resolver,
        source=args.source,
        groups=groups,
        ca_file=args.ca_file,
        dkim_selector=args.dkim_selector,
        dnssec_trust_anchor=args.dnssec_anchor,
        budget=args.budget,
        io_timeout=args.timeout,
        connect_timeout=min(3.0, args.timeout),
    )
    ports = _ports(args.ports)
    if ports:
        kwargs["ports"] = ports
    if args.ssh_port:
        kwargs["ssh_ports"] = tuple(args.ssh_port)
    if args.dnsbl_zone:
        kwargs["dnsbl_zones"] = tuple(args.dnsbl_zone)
    if args.domain_blocklist:
        kwargs["domain_blocklists"] = tuple(args.domain_blocklist)
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise ScanOptionsError(f"--ca-file {args.ca_file}: no such file")
    return ScanOptions(**kwargs)


def format_report(report) -> str:
    """Human-readable report: grouped by area, worst first, the fix id under each problem."""
    lines = [
        f"Scan of {report.host} ({', '.join(report.addresses)})"
        + (f", mail domain {report.domain}" if report.domain else "")
        + f" — {report.duration:.2f} s"
    ]
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.status.value] = counts.get(f.status.value, 0) + 1
    lines.append("  " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("fail", "error", "warn", "info", "pass")))
    for area, findings in report.by_area().items():
        lines.append("")
        lines.append(f"== {area or 'other'}")
        for f in findings:
            word = _STATUS_WORD[f.status.value]
            sev = f" ({f.severity.value})" if f.status.value in ("fail", "warn") else ""
            where = f" [{f.target}]" if f.target else ""
            lines.append(f"  {word:<5} {f.title}{sev}{where}")
            if f.evidence:
                lines.append(f"        {f.evidence}")
            if f.status.value in ("fail", "warn"):
                if f.config:
                    lines.append(f"        config: {', '.join(f.config)}")
                if f.fix:
                    lines.append(f"        fix: {f.fix}")
    if report.budget_exhausted:
        lines.append("")
        lines.append("The scan's time budget ran out: some probes did not finish (see the scan area).")
    return "\n".join(lines)


def _nothing_answers(report) -> bool:
    """True when the ports group ran and no port answered on any address (a connection error)."""
    summaries = [f for f in report.findings if f.id == "ports.summary"]
    if not summaries or not report.probes:
        return False
    return all("open mail ports: none; open others: none" in f.evidence for f in summaries)


def run_scan_cli(args: argparse.Namespace, config=None) -> int:
    from mailtui.core.scan import ScanOptionsError, ScanSetupError, run_scan

    try:
        options = build_options(args, config)
    except (ScanOptionsError, ValueError) as exc:
        print(f"mailtui scan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run_scan(options)
    except ScanSetupError as exc:
        print(f"mailtui scan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps([f.to_json() for f in report.findings], indent=2, ensure_ascii=False))
    else:
        print(format_report(report))
    if report.exit_code:
        return EXIT_FAILED
    if _nothing_answers(report):
        print(f"mailtui scan: nothing answers on {report.host} ({', '.join(report.addresses)})", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
