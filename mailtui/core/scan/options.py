"""What to scan and how politely: :class:`ScanOptions`.

Defaults are the polite ones the issue asks for: a handful of connections per host, a
timeout on every step and a budget for the whole scan, EHLO naming mailtui.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

#: Mail ports first, then admin/exposure ports an attacker looks for.
MAIL_PORTS: tuple[int, ...] = (25, 465, 587, 110, 995, 143, 993, 4190)
ADMIN_PORTS: dict[int, str] = {
    22: "SSH",
    80: "HTTP",
    443: "HTTPS",
    8443: "Plesk (HTTPS)",
    8880: "Plesk (HTTP)",
    10000: "Webmin",
    2083: "cPanel (HTTPS)",
    2087: "WHM (HTTPS)",
    3306: "MySQL/MariaDB",
    5432: "PostgreSQL",
    6379: "Redis",
    11211: "memcached",
    27017: "MongoDB",
    8080: "HTTP alternative / admin UI",
}
DEFAULT_PORTS: tuple[int, ...] = MAIL_PORTS + tuple(ADMIN_PORTS)

#: Probe groups in the order they are shown. See :mod:`mailtui.core.scan.registry`.
ALL_GROUPS: tuple[str, ...] = ("ports", "smtp", "relay", "enum", "spoof", "tls", "imap_pop", "ssh", "dns", "dnsbl")

#: IP blocklists (queried as reversed-IP.zone) and domain blocklists (domain.zone).
DEFAULT_DNSBL_ZONES: tuple[str, ...] = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com")
DEFAULT_DOMAIN_BLOCKLISTS: tuple[str, ...] = ("dbl.spamhaus.org",)


class ScanOptionsError(ValueError):
    """The options cannot describe a scan (bad address, unknown group)."""


@dataclass(frozen=True)
class ScanOptions:
    """Everything a scan needs to know. Only ``host`` is required.

    ``resolver`` is ``IP[:PORT][,...]``; when None, ``MAILTUI_RESOLVER`` is used, and when
    that is unset the scan refuses to start rather than use /etc/resolv.conf (a scan must
    ask the resolver the user chose). ``source`` binds every probe connection to a local
    address (the lab's outsider 127.0.0.2; a second address of the admin's machine).
    """

    host: str
    domain: str | None = None
    resolver: str | None = None
    source: str | None = None
    ports: tuple[int, ...] = DEFAULT_PORTS
    groups: tuple[str, ...] = ALL_GROUPS
    #: Name the certificate should carry (default: HOST when it is a name, else the PTR name).
    server_name: str | None = None
    ca_file: str | None = None
    dkim_selector: str | None = None
    #: ``(selector, pubkey_sha256)`` pairs of the keys the server signs with (from the inside:
    #: ``CheckFacts.dkim_key_pairs(domain)``). Their selectors are checked too, and the DNS key
    #: (SHA-256 of its DER SubjectPublicKeyInfo) must equal the signing key.
    dkim_keys: tuple[tuple[str, str], ...] = ()
    ssh_ports: tuple[int, ...] = (22,)
    dnsbl_zones: tuple[str, ...] = DEFAULT_DNSBL_ZONES
    domain_blocklists: tuple[str, ...] = DEFAULT_DOMAIN_BLOCKLISTS
    #: DS record text (``zone. DS tag alg dt digest``) to validate DNSSEC ourselves when the
    #: resolver does not set the AD bit (an authoritative-only server, the lab).
    dnssec_trust_anchor: str | None = None
    #: Fetch the MTA-STS policy over HTTPS only when its host resolves to loopback, unless set.
    fetch_remote_https: bool = False
    #: The foreign domain used in relay tests (never receives anything: no DATA is sent).
    relay_domain: str = "example.org"
    #: Sender/recipient of the local-sender spoofing test (default: postmaster@DOMAIN both).
    spoof_sender: str | None = None
    spoof_recipient: str | None = None
    #: A mailbox that certainly exists, for the enumeration comparison (default postmaster@DOMAIN).
    known_user: str | None = None
    ehlo_name: str = "mailtui.invalid"
    connect_timeout: float = 3.0
    io_timeout: float = 5.0
    probe_timeout: float = 30.0
    budget: float = 90.0
    max_connections_per_host: int = 6
    #: Longest line we read from a server; a longer one is a protocol error, not a memory sink.
    max_line: int = 4096
    max_reply_lines: int = 100

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in ALL_GROUPS]
        if unknown:
            raise ScanOptionsError(f"unknown probe group(s): {', '.join(unknown)} (known: {', '.join(ALL_GROUPS)})")
        if self.source is not None:
            try:
                ipaddress.ip_address(self.source)
            except ValueError:
                raise ScanOptionsError(f"--source {self.source!r} is not an IP address") from None
        bad = [p for p in self.ports if not 1 <= p <= 65535]
        if bad:
            raise ScanOptionsError(f"port(s) out of range: {bad}")
        for pair in self.dkim_keys:
            if len(pair) != 2 or not pair[0] or not re.fullmatch(r"[0-9a-fA-F]{64}", pair[1] or ""):
                raise ScanOptionsError(f"dkim_keys entry {pair!r} is not (selector, sha256 hex)")
        if self.max_connections_per_host < 1:
            raise ScanOptionsError("max_connections_per_host must be at least 1")

    @property
    def mail_domain(self) -> str | None:
        """DOMAIN, or HOST minus its first label (mail.example.org -> example.org)."""
        if self.domain:
            return self.domain.rstrip(".").lower()
        return derive_domain(self.host)


def derive_domain(host: str) -> str | None:
    """The mail domain a host name most likely serves; None for an IP literal."""
    name = host.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
        return None
    except ValueError:
        pass
    labels = name.split(".")
    if len(labels) <= 2:
        return name
    return ".".join(labels[1:])

