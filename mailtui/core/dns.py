"""The one way mailtui makes a DNS resolver.

dnspython's default resolver reads /etc/resolv.conf and is shared process-wide; a
query through it could silently go to a resolver the user never chose (and, in our test
lab, off the machine). Every mailtui resolver is built here with ``configure=False`` and
explicit nameservers, and dnspython's module-level default resolver is never used.

Nameservers come from, in order: the caller (``--resolver``), ``MAILTUI_RESOLVER``
(``IP[:PORT][,IP[:PORT]...]``), and only when neither is given, the nameservers listed
in /etc/resolv.conf, parsed here so the choice is explicit and visible.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import dns.nameserver
import dns.resolver

ENV_RESOLVER = "MAILTUI_RESOLVER"


class ResolverConfigError(ValueError):
    """A resolver address could not be understood."""


@dataclass(frozen=True)
class Nameserver:
    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or bare IPv6 -> Nameserver (IP addresses only)."""
    value = text.strip()
    port = 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ResolverConfigError(f"{text!r}: expected [IPv6]:PORT")
            port = int(rest[1:])
        value = host
    elif value.count(":") == 1:
        value, port_text = value.split(":")
        if not port_text.isdigit():
            raise ResolverConfigError(f"{text!r}: port must be a number")
        port = int(port_text)
    try:
        address = str(ipaddress.ip_address(value))
    except ValueError:
        raise ResolverConfigError(f"{text!r} is not an IP address (a resolver must be given by address)") from None
    if not 1 <= port <= 65535:
        raise ResolverConfigError(f"{text!r}: port must be from 1 to 65535")
    return Nameserver(address, port)


def system_nameservers(path: str = "/etc/resolv.conf") -> list[Nameserver]:
    """The ``nameserver`` lines of resolv.conf (no other setting is honoured)."""
    servers: list[Nameserver] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver":
                    try:
                        servers.append(Nameserver(str(ipaddress.ip_address(fields[1].split("%")[0]))))
                    except ValueError:
                        continue
    except OSError:
        return []
    return servers


def choose_nameservers(explicit: str | None = None) -> list[Nameserver]:
    """Resolve the nameserver list from the argument, the environment, or resolv.conf."""
    spec = explicit or os.environ.get(ENV_RESOLVER)
    if spec:
        return [parse_nameserver(part) for part in spec.split(",") if part.strip()]
    servers = system_nameservers()
    if not servers:
        raise ResolverConfigError("no DNS resolver: give one with --resolver or MAILTUI_RESOLVER")
    return servers


def make_resolver(explicit: str | None = None, *, timeout: float = 3.0, lifetime: float = 8.0) -> dns.resolver.Resolver:
    """A dnspython resolver that asks exactly the chosen nameservers and nobody else."""
    servers = choose_nameservers(explicit)
    resolver = dns.resolver.Resolver(configure=False)
    # Nameserver objects carry their own port, so servers on different ports work.
    resolver.nameservers = [dns.nameserver.Do53Nameserver(s.address, s.port) for s in servers]
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    resolver.search = []
    resolver.use_search_by_default = False
    resolver.cache = None
    return resolver
