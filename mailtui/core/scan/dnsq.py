"""DNS queries for the scan: the user's resolver only, every answer kept as evidence.

Built on :func:`mailtui.core.dns.make_resolver` (``configure=False``, explicit servers), but
without its /etc/resolv.conf fallback: a scan asks the resolver given by ``--resolver`` or
``MAILTUI_RESOLVER`` and nobody else. Queries set the DO and AD bits so the answer tells
whether the resolver validated DNSSEC.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver

from mailtui.core.dns import ENV_RESOLVER, ResolverConfigError, make_resolver


class Rcode:
    NOERROR = "NOERROR"
    NODATA = "NODATA"  # the name exists, no record of that type
    NXDOMAIN = "NXDOMAIN"
    SERVFAIL = "SERVFAIL"  # also REFUSED and other server errors: the resolver could not answer
    TIMEOUT = "TIMEOUT"


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One query's result. ``records`` are the rdata in presentation form (TXT joined)."""

    name: str
    rdtype: str
    rcode: str
    records: tuple[str, ...] = ()
    ad: bool = False
    signed: bool = False  # RRSIGs came with the answer
    error: str = ""
    rdata: tuple = ()  # dnspython rdata objects (TLSA, MX ... need their fields)

    @property
    def answered(self) -> bool:
        return self.rcode == Rcode.NOERROR and bool(self.records)

    @property
    def void(self) -> bool:
        """RFC 7208 "void lookup": NXDOMAIN or no answer."""
        return self.rcode in (Rcode.NXDOMAIN, Rcode.NODATA)

    @property
    def failed(self) -> bool:
        return self.rcode in (Rcode.SERVFAIL, Rcode.TIMEOUT)

    def render(self) -> str:
        head = f"{self.name} {self.rdtype}: {self.rcode}" + (" (AD)" if self.ad else "") + (" signed" if self.signed else "")
        if self.error:
            head += f" — {self.error}"
        return "\n".join([head] + [f"  {r}" for r in self.records])


Lookup = Callable[[str, str], Awaitable[DnsAnswer]]


def scan_resolver_spec(explicit: str | None) -> str:
    """The resolver a scan uses: the argument, else MAILTUI_RESOLVER; never resolv.conf."""
    spec = explicit or os.environ.get(ENV_RESOLVER)
    if not spec:
        raise ResolverConfigError(
            "no resolver for the scan: give --resolver IP[:PORT] or set MAILTUI_RESOLVER "
            "(the scan does not fall back to /etc/resolv.conf)"
        )
    return spec


def make_async_resolver(spec: str, *, timeout: float = 2.0, lifetime: float = 4.0) -> dns.asyncresolver.Resolver:
    base = make_resolver(spec, timeout=timeout, lifetime=lifetime)
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = base.nameservers
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    resolver.search = []
    resolver.use_search_by_default = False
    resolver.cache = None
    resolver.use_edns(0, dns.flags.DO, 1232)
    resolver.flags = dns.flags.RD | dns.flags.AD
    return resolver


def _txt(rdata) -> str:
    return b"".join(rdata.strings).decode("utf-8", "replace")


async def query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> DnsAnswer:
    """One query; never raises for DNS outcomes (they are results, not exceptions)."""
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return DnsAnswer(name, rdtype, Rcode.NXDOMAIN)
    except (dns.resolver.LifetimeTimeout, dns.exception.Timeout):
        return DnsAnswer(name, rdtype, Rcode.TIMEOUT, error="the resolver did not answer in time")
    except dns.resolver.NoNameservers as exc:
        return DnsAnswer(name, rdtype, Rcode.SERVFAIL, error=_short(exc))
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return DnsAnswer(name, rdtype, Rcode.SERVFAIL, error=_short(exc))
    response = answer.response
    ad = bool(response.flags & dns.flags.AD)
    rrset = answer.rrset
    if rrset is None:
        return DnsAnswer(name, rdtype, Rcode.NODATA, ad=ad)
    if rdtype == "TXT":
        records = tuple(_txt(r) for r in rrset)
    else:
        records = tuple(r.to_text() for r in rrset)
    signed = any(rs.rdtype == dns.rdatatype.RRSIG for rs in response.answer)
    return DnsAnswer(name, rdtype, Rcode.NOERROR, records, ad=ad, signed=signed, rdata=tuple(rrset))


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"


def reverse_name(ip: str) -> str:
    import dns.reversename

    return dns.reversename.from_address(ip).to_text()
