"""DNS blocklists for the server's IPs and the mail domain, with return-code semantics.

An A answer in 127.0.0.0/8 means "listed" — except the error codes: Spamhaus answers
127.255.255.252 (typo in the zone name), .254 (query through a public/open resolver,
refused) and .255 (excessive queries, refused). Those mean "could not be checked", never
"listed"; treating them as a listing is the classic false alarm. An answer outside
127/8 means a resolver rewrote NXDOMAIN (ads/"search" pages): also "could not be checked".
The zone lists are configurable (``ScanOptions.dnsbl_zones`` / ``domain_blocklists``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, replace
from enum import StrEnum

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan.dnsq import DnsAnswer, Rcode
from mailtui.core.scan.model import Check
from mailtui.core.scan.registry import register


class BlStatus(StrEnum):
    NOT_LISTED = "not listed"
    LISTED = "listed"
    ERROR = "error"


SPAMHAUS_ERRORS = {
    "127.255.255.252": "typo in the DNSBL name (query refused)",
    "127.255.255.254": "query via a public/open resolver: refused by Spamhaus (use your own resolver or a DQS key)",
    "127.255.255.255": "excessive number of queries: refused",
}
ZEN_CODES = {
    "127.0.0.2": "SBL (spam source)",
    "127.0.0.3": "SBL CSS (snowshoe spam)",
    "127.0.0.4": "XBL (exploited/infected host)",
    "127.0.0.9": "SBL DROP (hijacked network)",
    "127.0.0.10": "PBL (ISP policy: dynamic/end-user range)",
    "127.0.0.11": "PBL (Spamhaus-maintained: should not send directly)",
}
DBL_CODES = {
    "127.0.1.2": "spam domain",
    "127.0.1.4": "phishing domain",
    "127.0.1.5": "malware domain",
    "127.0.1.6": "botnet C&C domain",
    "127.0.1.102": "abused legit spam",
    "127.0.1.103": "abused spammed redirector",
    "127.0.1.104": "abused legit phish",
    "127.0.1.105": "abused legit malware",
    "127.0.1.106": "abused legit botnet C&C",
    "127.0.1.255": "IP queries are not allowed on the DBL (query refused)",
}


@dataclass(frozen=True, slots=True)
class BlVerdict:
    zone: str
    query: str
    status: BlStatus
    codes: tuple[str, ...]
    meaning: str


def dnsbl_query_name(ip: str, zone: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        rev = ".".join(reversed(str(addr).split(".")))
    else:
        rev = ".".join(reversed(addr.exploded.replace(":", "")))
    return f"{rev}.{zone}"


def classify_dnsbl(zone: str, answer: DnsAnswer) -> BlVerdict:
    """Verdict from one blocklist answer (pure)."""
    if answer.rcode in (Rcode.NXDOMAIN, Rcode.NODATA):
        return BlVerdict(zone, answer.name, BlStatus.NOT_LISTED, (), "not listed")
    if answer.failed:
        return BlVerdict(zone, answer.name, BlStatus.ERROR, (), f"the blocklist did not answer ({answer.rcode}{' ' + answer.error if answer.error else ''})")
    codes = tuple(sorted(answer.records))
    errors = [SPAMHAUS_ERRORS[c] for c in codes if c in SPAMHAUS_ERRORS]
    if errors or any(c.startswith("127.255.255.") for c in codes):
        return BlVerdict(zone, answer.name, BlStatus.ERROR, codes, errors[0] if errors else "blocklist error code (query refused)")
    if "127.0.1.255" in codes and "dbl." in zone:
        return BlVerdict(zone, answer.name, BlStatus.ERROR, codes, DBL_CODES["127.0.1.255"])
    outside = [c for c in codes if not _in_loopback(c)]
    if outside:
        return BlVerdict(zone, answer.name, BlStatus.ERROR, codes,
                         f"answer {', '.join(outside)} is outside 127.0.0.0/8: the resolver rewrites NXDOMAIN, results are meaningless")
    table = DBL_CODES if "dbl." in zone else ZEN_CODES if "spamhaus" in zone else {}
    meaning = ", ".join(table.get(c, f"listed ({c})") for c in codes)
    return BlVerdict(zone, answer.name, BlStatus.LISTED, codes, meaning)


def _in_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


LISTED = Check("dnsbl.listed", "dnsbl", "Not on DNS blocklists",
               "A blocklist lists this address or domain: receivers using it reject or junk your mail. Find the cause "
               "(compromised account, open relay, infected host), fix it, then request delisting.", Severity.HIGH, config=("queue: postqueue -p", "logs: sasl_username of the spammer"))
BL_ERROR = Check("dnsbl.error", "dnsbl", "Blocklist query could not be answered",
                 "The blocklist refused or did not answer the query (for Spamhaus: public resolvers are refused); "
                 "this is not a listing.", Severity.INFO)


def dnsbl_findings(target: str, verdicts: list[BlVerdict]) -> list[Finding]:
    out: list[Finding] = []
    clean = [v.zone for v in verdicts if v.status == BlStatus.NOT_LISTED]
    for v in verdicts:
        if v.status == BlStatus.LISTED:
            out.append(LISTED.finding(Status.FAIL, f"{target} listed on {v.zone}: {v.meaning} ({', '.join(v.codes)})",
                                      target=f"{target}@{v.zone}", title=f"Listed on {v.zone}"))
        elif v.status == BlStatus.ERROR:
            out.append(BL_ERROR.finding(Status.ERROR, f"{v.zone}: {v.meaning}", target=f"{target}@{v.zone}"))
    if clean:
        out.append(LISTED.finding(Status.PASS, f"{target} not listed on {', '.join(clean)}", target=target))
    return out


@register("dnsbl", "Blocklists", "server IPs and mail domain against DNS blocklists", aims_at="domain")
async def run(ctx) -> list[Finding]:
    from mailtui.core.scan.dns_checks import addresses_of, mx_hosts_from

    ips = list(ctx.addresses)
    if ctx.domain:
        mx = await ctx.dns(ctx.domain, "MX")
        hosts = [h for _, h in mx_hosts_from(mx)[0] if h]
        for addrs in await asyncio.gather(*(addresses_of(ctx, h) for h in hosts)):
            ips += addrs
    ips = list(dict.fromkeys(ips))
    t = ctx.transcript("blocklist queries")

    async def with_reason(verdicts: list[BlVerdict]) -> list[BlVerdict]:
        """A listing's TXT record says why (and where to ask for delisting): add it to the meaning."""
        async def one(v: BlVerdict) -> BlVerdict:
            if v.status != BlStatus.LISTED:
                return v
            txt = await ctx.dns(v.query, "TXT")
            t.note(txt.render())
            return replace(v, meaning=f"{v.meaning}: {'; '.join(txt.records)}") if txt.records else v
        return list(await asyncio.gather(*(one(v) for v in verdicts)))

    async def ip_verdicts(ip: str) -> tuple[str, list[BlVerdict]]:
        answers = await asyncio.gather(*(ctx.dns(dnsbl_query_name(ip, z), "A") for z in ctx.options.dnsbl_zones))
        for a in answers:
            t.note(a.render())
        return ip, await with_reason([classify_dnsbl(z, a) for z, a in zip(ctx.options.dnsbl_zones, answers)])

    out: list[Finding] = []
    for ip, verdicts in await asyncio.gather(*(ip_verdicts(ip) for ip in ips)):
        out += dnsbl_findings(ip, verdicts)
    if ctx.domain and ctx.options.domain_blocklists:
        answers = await asyncio.gather(*(ctx.dns(f"{ctx.domain}.{z}", "A") for z in ctx.options.domain_blocklists))
        for a in answers:
            t.note(a.render())
        out += dnsbl_findings(ctx.domain, await with_reason(
            [classify_dnsbl(z, a) for z, a in zip(ctx.options.domain_blocklists, answers)]))
    return out
