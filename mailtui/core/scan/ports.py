"""Ports: which mail and admin ports answer, on every address of the host (IPv4 and IPv6).

A plain TCP connect, closed at once (no payload). Open = accepted, closed = refused
(RST), filtered = no answer within the timeout (a firewall drops it).
"""

from __future__ import annotations

import asyncio

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import PortState, format_target, probe_port
from mailtui.core.scan.options import ADMIN_PORTS, MAIL_PORTS
from mailtui.core.scan.registry import register

_DATABASES = {3306, 5432, 6379, 11211, 27017}
_PANELS = {8443, 8880, 10000, 2083, 2087, 8080}

SUMMARY = Check("ports.summary", "ports", "Port states", "Which ports answer from outside.", Severity.INFO)
ADMIN = Check(
    "ports.admin_exposed", "ports", "Admin port reachable from outside",
    "An administration interface (control panel, Webmin, SSH) answers from the outside: it is brute-forced "
    "all day and every vulnerability in it is exposed. Restrict it to your own addresses (firewall) or a VPN.",
    Severity.HIGH, config=("firewall (nftables/iptables/ufw)", "Plesk: Tools & Settings > IP Address Banning"))
DATABASE = Check(
    "ports.database_exposed", "ports", "Database port reachable from outside",
    "A database or cache answers from the outside. They should listen on localhost or a private "
    "network only (bind-address / listen_addresses / bind).", Severity.CRITICAL, config=("bind-address (MySQL)", "listen_addresses (PostgreSQL)", "bind (Redis)"))
SSH = Check("ports.ssh_exposed", "ports", "SSH reachable from outside",
            "SSH answers from outside. Common and fine with keys only and fail2ban; see the ssh checks.",
            Severity.LOW, config=("PasswordAuthentication", "firewall"))
IPV6 = Check("ports.ipv6", "ports", "IPv6 checked", "The host has no IPv6 address, so IPv6 was not checked.", Severity.INFO)


def port_findings(states: dict[tuple[str, int], tuple[str, str]]) -> list[Finding]:
    """Findings from {(ip, port): (state, note)} (pure)."""
    out: list[Finding] = []
    by_ip: dict[str, dict[int, str]] = {}
    for (ip, port), (state, _note) in states.items():
        by_ip.setdefault(ip, {})[port] = state
    for ip, ports in by_ip.items():
        open_mail = [p for p in MAIL_PORTS if ports.get(p) == PortState.OPEN]
        lines = [f"{p}/tcp {ports[p]}{' (' + ADMIN_PORTS[p] + ')' if p in ADMIN_PORTS else ''}" for p in sorted(ports)]
        out.append(SUMMARY.finding(Status.INFO, f"open mail ports: {', '.join(map(str, open_mail)) or 'none'}; "
                                   f"open others: {', '.join(str(p) for p in sorted(ports) if ports[p] == PortState.OPEN and p not in MAIL_PORTS) or 'none'}",
                                   target=ip, detail="\n".join(lines)))
        for port, state in sorted(ports.items()):
            if state != PortState.OPEN or port in MAIL_PORTS:
                continue
            target = format_target(ip, port)
            name = ADMIN_PORTS.get(port, f"port {port}")
            if port in _DATABASES:
                out.append(DATABASE.finding(Status.FAIL, f"{name} ({port}/tcp) accepts connections", target=target))
            elif port in _PANELS:
                out.append(ADMIN.finding(Status.WARN, f"{name} ({port}/tcp) accepts connections", target=target))
            elif port == 22:
                out.append(SSH.finding(Status.INFO, f"SSH ({port}/tcp) accepts connections", target=target))
            else:
                out.append(ADMIN.finding(Status.INFO, f"{name} ({port}/tcp) accepts connections", target=target,
                                         title=f"{name} reachable"))
    return out


@register("ports", "Ports", "mail and admin ports, open/closed/filtered, IPv4 and IPv6")
async def run(ctx) -> list[Finding]:
    timeout = min(ctx.options.connect_timeout, 2.0)

    async def one(ip: str, port: int):
        async with ctx.semaphore(ip):
            return (ip, port), await probe_port(ip, port, source=ctx.options.source, timeout=timeout)

    results = await asyncio.gather(*(one(ip, p) for ip in ctx.addresses for p in ctx.options.ports))
    t = ctx.transcript("port states")
    for (ip, port), (state, note) in results:
        t.note(f"{format_target(ip, port)} {state} ({note})")
    out = port_findings(dict(results))
    if not any(":" in ip for ip in ctx.addresses):
        out.append(IPV6.finding(Status.INFO, "no AAAA record: IPv6 not checked", target=ctx.options.host, title="No IPv6 address"))
    return out
