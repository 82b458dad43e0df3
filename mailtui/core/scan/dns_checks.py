"""DNS checks of the mail domain (group ``dns``): MX, PTR/FCrDNS, SPF, DKIM, DMARC,
MTA-STS, TLS-RPT, DANE, DNSSEC, CAA.

All queries go through the scan's resolver (``ctx.dns``, memoised). The parsing and the
verdicts live in :mod:`.spf`, :mod:`.dmarc`, :mod:`.dane` and :mod:`.mailauth`; this module
asks and turns answers into findings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

import dns.dnssec
import dns.exception
import dns.flags
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from mailtui.core.findings import Finding, Severity, Status
from mailtui.core.scan import dane, dmarc, mailauth, spf
from mailtui.core.scan.dnsq import DnsAnswer, reverse_name
from mailtui.core.scan.model import Check
from mailtui.core.scan.net import ProbeError, local_addr_for
from mailtui.core.scan.registry import register
from mailtui.core.text import decode_remote

A = "dns"

MX = Check("dns.mx", A, "MX records", "Senders look up the MX records to find your server. Without them mail "
           "falls back to the domain's A record (or cannot be delivered).", Severity.HIGH,
           config=("DNS zone: MX",))
MX_HOST = Check("dns.mx_host", A, "MX host resolves", "An MX host without A/AAAA records cannot receive mail.",
                Severity.HIGH, config=("DNS zone: A/AAAA of the MX host",))
PTR = Check("dns.ptr", A, "Reverse DNS (PTR) set and forward-confirmed",
            "Large providers reject or junk mail from an IP without a PTR record whose name resolves back to the "
            "same IP (forward-confirmed reverse DNS). The PTR is set by whoever owns the IP (your hosting provider).",
            Severity.MEDIUM, config=("provider panel: reverse DNS", "myhostname"))
HELO_PTR = Check("dns.helo_matches_ptr", A, "Banner/EHLO name matches the PTR",
                 "The name in the SMTP banner (and the one Postfix uses in EHLO when sending) should be the PTR name "
                 "of the server's IP; receivers compare them.", Severity.LOW,
                 config=("myhostname", "smtpd_banner", "smtp_helo_name"))
SPF_RECORD = Check("dns.spf_record", A, "SPF record present and valid",
                   "Without a valid SPF record receivers cannot tell which servers may send for your domain; a "
                   "record with a syntax error counts as none (permerror).", Severity.MEDIUM,
                   config=("DNS zone: TXT v=spf1",), reference="RFC 7208")
SPF_LOOKUPS = Check("dns.spf_lookups", A, "SPF within the DNS lookup limits",
                    "Receivers stop after 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) or 2 void "
                    "lookups and treat the record as broken (permerror): your SPF then protects nothing.",
                    Severity.MEDIUM, config=("DNS zone: TXT v=spf1 include:...",),
                    reference="RFC 7208 4.6.4")
SPF_ALL = Check("dns.spf_all", A, "SPF ends with -all or ~all",
                "'+all' authorises the whole Internet to send as you; '?all' or no 'all' says nothing.",
                Severity.HIGH, config=("DNS zone: TXT v=spf1 ... -all",))
SPF_SERVER = Check("dns.spf_authorises_server", A, "SPF authorises the mail server's IP",
                   "Your own server's address is not authorised by your SPF record: receivers checking SPF junk or "
                   "reject the mail it sends.", Severity.MEDIUM, config=("DNS zone: TXT v=spf1 ip4:/a/mx",))
DKIM = Check("dns.dkim", A, "DKIM key published and strong",
             "Receivers verify your DKIM signatures with this key; RSA below 1024 bits is ignored, 2048 is recommended.",
             Severity.MEDIUM, config=("DNS zone: SELECTOR._domainkey TXT", "opendkim KeyTable / rspamd dkim_signing"))
DKIM_SIGNER = Check("dns.dkim_signing_key", A, "DKIM DNS key equals the signing key",
                    "Receivers check your signatures with the key published in DNS. If the server signs with "
                    "another key (a rotated key never published, a stale record), every signature fails DKIM, "
                    "and with DMARC p=reject your own mail is refused.", Severity.HIGH,
                    config=("DNS zone: SELECTOR._domainkey TXT p=", "opendkim KeyTable / rspamd dkim_signing path"),
                    reference="RFC 6376 3.6")
DMARC_RECORD = Check("dns.dmarc_record", A, "DMARC record present and valid",
                     "Without DMARC, receivers have no instruction for mail that fails SPF/DKIM: spoofed mail "
                     "'from' your domain is delivered.", Severity.MEDIUM,
                     config=("DNS zone: _dmarc TXT",), reference="RFC 7489")
DMARC_POLICY = Check("dns.dmarc_policy", A, "DMARC policy enforces (quarantine/reject)",
                     "p=none only asks for reports: spoofed mail is still delivered. Move to quarantine, then reject, "
                     "once the reports show your legitimate mail passes.", Severity.MEDIUM,
                     config=("DNS zone: _dmarc TXT p=",))
DMARC_REPORTS = Check("dns.dmarc_reports", A, "DMARC reports are requested and can be delivered",
                      "Without rua= you never learn who sends as your domain; a report address in another domain "
                      "must authorise it (DOMAIN._report._dmarc.OTHER TXT v=DMARC1), or reports are not sent.",
                      Severity.LOW, config=("DNS zone: _dmarc TXT rua=",))
MTA_STS = Check("dns.mta_sts", A, "MTA-STS published", "MTA-STS tells senders to require valid TLS to your MX hosts "
                "(protection against TLS downgrade).", Severity.LOW, config=("DNS zone: _mta-sts TXT",),
                reference="RFC 8461")
MTA_STS_POLICY = Check("dns.mta_sts_policy", A, "MTA-STS policy fetchable and consistent with MX",
                       "The policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt must be reachable and list every MX "
                       "host, or senders enforcing it will not deliver.", Severity.MEDIUM,
                       config=("web server: mta-sts.DOMAIN", "policy mx: lines"))
TLSRPT = Check("dns.tlsrpt", A, "TLS-RPT published", "TLS reporting tells you when senders fail to reach you over TLS.",
               Severity.LOW, config=("DNS zone: _smtp._tls TXT",), reference="RFC 8460")
DANE = Check("dns.dane", A, "DANE TLSA matches the certificate on port 25",
             "A TLSA record that does not match the certificate actually presented makes DANE-validating senders "
             "(many large providers) refuse to deliver to you: worse than no TLSA at all. Update TLSA before "
             "rotating the key.", Severity.HIGH, config=("DNS zone: _25._tcp.MX TLSA", "smtpd_tls_chain_files"),
             reference="RFC 7672")
DNSSEC = Check("dns.dnssec", A, "DNSSEC signed and validated",
               "DNSSEC protects your MX, SPF and TLSA records from forgery; DANE requires it.", Severity.LOW, config=("DNS provider: DNSSEC signing", "registrar: DS record"))
CAA = Check("dns.caa", A, "CAA records", "CAA says which certificate authorities may issue for your domain.",
            Severity.LOW, config=("DNS zone: CAA",))
NO_DOMAIN = Check("dns.no_domain", A, "DNS checks skipped", "No mail domain is known (give --domain).", Severity.INFO)


# ---------------------------------------------------------------- MX / addresses / PTR


def mx_hosts_from(answer: DnsAnswer) -> tuple[list[tuple[int, str]], bool]:
    """[(preference, host)], null_mx (RFC 7505 ``0 .``)."""
    pairs = []
    for rec in answer.records:
        pref, _, host = rec.partition(" ")
        pairs.append((int(pref), host.strip().rstrip(".").lower()))
    null = len(pairs) == 1 and pairs[0][1] == ""
    return sorted(pairs), null


async def addresses_of(ctx, host: str) -> list[str]:
    a, aaaa = await asyncio.gather(ctx.dns(host, "A"), ctx.dns(host, "AAAA"))
    return list(a.records + aaaa.records)


async def check_mx(ctx, domain: str) -> tuple[list[Finding], list[str], dict[str, list[str]]]:
    answer = await ctx.dns(domain, "MX")
    out: list[Finding] = []
    if answer.failed:
        return [MX.finding(Status.ERROR, f"MX {domain}: {answer.rcode} {answer.error}", target=domain, detail=answer.render())], [], {}
    pairs, null = mx_hosts_from(answer)
    if null:
        return [MX.finding(Status.INFO, f"{domain} publishes a null MX (0 .): it accepts no mail", target=domain,
                           detail=answer.render(), title="Null MX: the domain receives no mail")], [], {}
    if not pairs:
        return [MX.finding(Status.FAIL, f"no MX record for {domain} ({answer.rcode})", target=domain, detail=answer.render(),
                           title="No MX record")], [], {}
    out.append(MX.finding(Status.PASS, ", ".join(f"{p} {h}" for p, h in pairs), target=domain, detail=answer.render()))
    hosts = [h for _, h in pairs]
    addrs = await asyncio.gather(*(addresses_of(ctx, h) for h in hosts))
    ips = dict(zip(hosts, addrs))
    for host, a in ips.items():
        if a:
            out.append(MX_HOST.finding(Status.PASS, f"{host} -> {', '.join(a)}", target=host))
        else:
            out.append(MX_HOST.finding(Status.FAIL, f"{host} has no A/AAAA record", target=host, title="MX host does not resolve"))
    return out, hosts, ips


async def ptr_name(ctx, ip: str) -> tuple[list[str], DnsAnswer]:
    answer = await ctx.dns(reverse_name(ip), "PTR")
    return [r.rstrip(".").lower() for r in answer.records], answer


async def check_ptr(ctx, ip: str) -> Finding:
    names, answer = await ptr_name(ctx, ip)
    if answer.failed:
        return PTR.finding(Status.ERROR, f"PTR {ip}: {answer.rcode} {answer.error}", target=ip, detail=answer.render())
    if not names:
        return PTR.finding(Status.FAIL, f"no PTR record for {ip} ({answer.rcode})", target=ip, detail=answer.render(),
                           title="No reverse DNS (PTR)")
    confirmed = []
    for name in names:
        if ip in await addresses_of(ctx, name):
            confirmed.append(name)
    if confirmed:
        return PTR.finding(Status.PASS, f"{ip} -> {confirmed[0]} -> {ip}", target=ip, detail=answer.render())
    return PTR.finding(Status.FAIL, f"{ip} -> {', '.join(names)}, which does not resolve back to {ip}", target=ip,
                       detail=answer.render(), title="Reverse DNS not forward-confirmed")


async def check_helo_vs_ptr(ctx) -> list[Finding]:
    from mailtui.core.scan.smtp import smtp_greeting

    if 25 not in ctx.options.ports:
        return []
    ip = ctx.primary
    greeting = await smtp_greeting(ctx, ip)
    if greeting is None:
        return []
    names, _ = await ptr_name(ctx, ip)
    target = ctx.target(25)
    shown = {greeting.banner_name.lower(), (greeting.ehlo_name or greeting.banner_name).lower()}
    if not names:
        return [HELO_PTR.finding(Status.WARN, f"banner name {greeting.banner_name}, but {ip} has no PTR", target=target)]
    if shown <= set(names):
        return [HELO_PTR.finding(Status.PASS, f"banner/EHLO {greeting.banner_name} = PTR of {ip}", target=target)]
    return [HELO_PTR.finding(Status.WARN, f"banner {greeting.banner_name} / EHLO {greeting.ehlo_name} vs PTR {', '.join(names)}",
                             target=target, title="Banner/EHLO name differs from the PTR")]


# ---------------------------------------------------------------- SPF


async def check_spf(ctx, domain: str) -> list[Finding]:
    answer = await ctx.dns(domain, "TXT")
    target = domain
    if answer.failed:
        return [SPF_RECORD.finding(Status.ERROR, f"TXT {domain}: {answer.rcode}", target=target, detail=answer.render())]
    try:
        record = spf.select_spf(answer.records)
        if record:
            spf.parse_spf(record)
    except spf.SpfPermError as exc:
        return [SPF_RECORD.finding(Status.FAIL, str(exc), target=target, detail=answer.render(), title="SPF record invalid")]
    if not record:
        return [SPF_RECORD.finding(Status.FAIL, f"no v=spf1 TXT record at {domain}", target=target, detail=answer.render(),
                                   title="No SPF record")]
    out = [SPF_RECORD.finding(Status.PASS, record, target=target, detail=answer.render())]
    evaluator = spf.SpfEvaluator(ctx.dns)
    walk = await evaluator.check_host(None, domain)
    walk_detail = "\n".join(walk.trail)
    if walk.result == "permerror":
        out.append(SPF_LOOKUPS.finding(Status.FAIL, f"permerror: {walk.error}", target=target, detail=walk_detail,
                                       title="SPF exceeds the DNS lookup limits"))
    elif walk.result == "temperror":
        out.append(SPF_LOOKUPS.finding(Status.ERROR, f"temperror: {walk.error}", target=target, detail=walk_detail))
    else:
        out.append(SPF_LOOKUPS.finding(Status.PASS, f"{walk.lookups} DNS-querying terms (max 10), {walk.void_lookups} void lookups (max 2)",
                                       target=target, detail=walk_detail))
    q = spf.all_qualifier(record)
    has_redirect = "redirect=" in record.lower()
    if q == "+":
        out.append(SPF_ALL.finding(Status.FAIL, f"'+all' in {record}", target=target, severity=Severity.CRITICAL,
                                   title="SPF +all: anyone may send as your domain"))
    elif q == "?":
        out.append(SPF_ALL.finding(Status.WARN, f"'?all' in {record}", target=target, severity=Severity.MEDIUM, title="SPF ?all (neutral)"))
    elif q is None and not has_redirect:
        out.append(SPF_ALL.finding(Status.WARN, f"no 'all' term: {record}", target=target, severity=Severity.MEDIUM,
                                   title="SPF without an 'all' term"))
    else:
        out.append(SPF_ALL.finding(Status.PASS, f"ends with {q or ''}all" if q else "redirect=", target=target))
    for ip in ctx.addresses:
        res = await evaluator.check_host(ip, domain)
        detail = "\n".join(res.trail)
        if res.result == "pass":
            out.append(SPF_SERVER.finding(Status.PASS, f"{ip}: pass ({res.mechanism})", target=ip, detail=detail))
        elif res.result in ("permerror", "temperror"):
            out.append(SPF_SERVER.finding(Status.FAIL if res.result == "permerror" else Status.ERROR,
                                          f"{ip}: {res.describe()}", target=ip, detail=detail,
                                          title="SPF cannot be evaluated for the server"))
        else:
            out.append(SPF_SERVER.finding(Status.FAIL, f"{ip}: {res.describe()}", target=ip, detail=detail,
                                          title="SPF does not authorise the mail server's IP"))
    return out


# ---------------------------------------------------------------- DKIM, DMARC, MTA-STS, TLS-RPT, CAA


async def check_dkim(ctx, domain: str) -> list[Finding]:
    """The given selector and every selector the server signs with (``dkim_keys``): key present
    and strong, and, when the signing key's hash is known, equal to the published key."""
    opts = ctx.options
    selectors = list(dict.fromkeys(([opts.dkim_selector] if opts.dkim_selector else []) + [s for s, _ in opts.dkim_keys]))
    if not selectors:
        return [DKIM.finding(Status.INFO, "no DKIM selector given (--dkim-selector); not checked", target=domain,
                             title="DKIM not checked")]
    parts = await asyncio.gather(*(check_dkim_selector(ctx, domain, s) for s in selectors))
    return [f for part in parts for f in part]


async def check_dkim_selector(ctx, domain: str, selector: str) -> list[Finding]:
    name = f"{selector}._domainkey.{domain}"
    answer = await ctx.dns(name, "TXT")
    if answer.failed:
        return [DKIM.finding(Status.ERROR, f"TXT {name}: {answer.rcode}", target=name, detail=answer.render())]
    records = [r for r in answer.records if "p=" in r]
    if not records:
        return [DKIM.finding(Status.FAIL, f"no DKIM key at {name} ({answer.rcode})", target=name, detail=answer.render(),
                             title="DKIM key missing")]
    key = mailauth.parse_dkim_key(records[0])
    if key.error:
        return [DKIM.finding(Status.FAIL, key.error, target=name, detail=answer.render(), title="DKIM key invalid")]
    if key.revoked:
        return [DKIM.finding(Status.FAIL, "key revoked (empty p=)", target=name, detail=answer.render(), title="DKIM key revoked")]
    if key.key_type == "rsa" and key.bits < 1024:
        out = [DKIM.finding(Status.FAIL, f"RSA {key.bits} bits (receivers ignore keys below 1024)", target=name,
                            detail=answer.render(), severity=Severity.HIGH, title="DKIM key too short")]
    elif key.key_type == "rsa" and key.bits < 2048:
        out = [DKIM.finding(Status.WARN, f"RSA {key.bits} bits (2048 recommended)", target=name, detail=answer.render(),
                            severity=Severity.LOW, title="DKIM key shorter than recommended")]
    else:
        out = [DKIM.finding(Status.PASS, f"{key.key_type} {key.bits} bits", target=name, detail=answer.render())]
    signing = {h.lower() for s, h in ctx.options.dkim_keys if s == selector}
    if signing:
        out.append(dkim_signer_finding(name, records[0], signing, answer.render()))
    return out


def dkim_signer_finding(name: str, record: str, signing: set[str], detail: str = "") -> Finding:
    """Compare the published key (SHA-256 of its SubjectPublicKeyInfo) with the signing key(s) (pure)."""
    published = mailauth.dkim_spki_sha256(record)
    want = ", ".join(sorted(h[:16] + "…" for h in signing))
    if published is not None and published in signing:
        return DKIM_SIGNER.finding(Status.PASS, f"DNS key equals the signing key (SHA-256 {published[:16]}…)",
                                   target=name, detail=detail)
    got = f"DNS key SHA-256 {published[:16]}…" if published else "the DNS key does not parse"
    return DKIM_SIGNER.finding(Status.FAIL, "the published key is not the one the server signs with — receivers will "
                               f"fail DKIM ({got}; signing key {want})", target=name, detail=detail,
                               title="DKIM DNS key differs from the signing key")


async def check_dmarc(ctx, domain: str) -> list[Finding]:
    name = f"_dmarc.{domain}"
    answer = await ctx.dns(name, "TXT")
    used = name
    if answer.failed:
        return [DMARC_RECORD.finding(Status.ERROR, f"TXT {name}: {answer.rcode}", target=name, detail=answer.render())]
    try:
        raw = dmarc.select_dmarc(answer.records)
        org = dmarc.organizational_domain(domain)
        if not raw and org != domain:
            org_answer = await ctx.dns(f"_dmarc.{org}", "TXT")
            raw = dmarc.select_dmarc(org_answer.records)
            if raw:
                used = f"_dmarc.{org}"
                answer = org_answer
        if not raw:
            return [DMARC_RECORD.finding(Status.FAIL, f"no DMARC record at {name}", target=name, detail=answer.render(),
                                         title="No DMARC record")]
        rec = dmarc.parse_dmarc(raw)
    except dmarc.DmarcError as exc:
        return [DMARC_RECORD.finding(Status.FAIL, str(exc), target=name, detail=answer.render(), title="DMARC record invalid")]
    out = [DMARC_RECORD.finding(Status.PASS, f"{used}: {raw}", target=used, detail=answer.render())]
    effective = rec.subdomain_policy if used != name else rec.policy
    if effective == "none":
        out.append(DMARC_POLICY.finding(Status.FAIL, f"p=none at {used}: monitoring only, spoofed mail is delivered",
                                        target=used, title="DMARC p=none is not protection"))
    elif rec.pct < 100:
        out.append(DMARC_POLICY.finding(Status.WARN, f"p={effective} but pct={rec.pct}", target=used, severity=Severity.LOW,
                                        title="DMARC applies to only part of the mail"))
    else:
        out.append(DMARC_POLICY.finding(Status.PASS, f"p={effective}" + (f", sp={rec.subdomain_policy}" if "sp" in rec.tags else ""),
                                        target=used))
    if not rec.rua:
        out.append(DMARC_REPORTS.finding(Status.WARN, "no rua= (no aggregate reports)", target=used, title="No DMARC reports requested"))
    else:
        missing = []
        for ext in dmarc.external_report_domains(rec, domain):
            auth_name = dmarc.report_authorisation_name(domain, ext)
            auth = await ctx.dns(auth_name, "TXT")
            if not any(dmarc.is_dmarc(t) for t in auth.records):
                missing.append(f"{ext} (no {auth_name} TXT v=DMARC1)")
        if missing:
            out.append(DMARC_REPORTS.finding(Status.FAIL, "external report destination not authorised: " + "; ".join(missing),
                                             target=used, title="DMARC reports cannot be delivered"))
        else:
            out.append(DMARC_REPORTS.finding(Status.PASS, "rua=" + ",".join(rec.rua) + (" ruf=" + ",".join(rec.ruf) if rec.ruf else ""),
                                             target=used))
    return out


def _all_loopback(ips: list[str]) -> bool:
    return bool(ips) and all(ipaddress.ip_address(ip).is_loopback for ip in ips)


async def fetch_sts_policy(ctx, host: str, ip: str) -> str:
    """GET https://HOST/.well-known/mta-sts.txt from ``ip`` (verified TLS, 64 KiB cap). Raises ProbeError."""
    from mailtui.core.scan.tls import verify_context

    sslctx = verify_context(ctx.options.ca_file)
    sslctx.check_hostname = True
    t = ctx.transcript(f"MTA-STS policy https://{host}/.well-known/mta-sts.txt via {ip}")
    t.note(f"connect {ip}:443 (TLS, SNI {host})")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, 443, ssl=sslctx, server_hostname=host, local_addr=local_addr_for(ctx.options.source, ip)),
            ctx.options.connect_timeout + ctx.options.io_timeout,
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        t.note(f"failed: {exc or exc.__class__.__name__}")
        raise ProbeError(f"policy not fetchable from {ip}:443: {exc or exc.__class__.__name__}") from None
    try:
        writer.write(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: mailtui\r\n\r\n".encode())
        data = b""
        while len(data) < 65536:
            chunk = await asyncio.wait_for(reader.read(65536 - len(data)), ctx.options.io_timeout)
            if not chunk:
                break
            data += chunk
    except (OSError, asyncio.TimeoutError) as exc:
        raise ProbeError(f"policy fetch failed: {exc or exc.__class__.__name__}") from None
    finally:
        writer.close()
    head, _, body = decode_remote(data).partition("\r\n\r\n")
    status = head.split("\r\n", 1)[0]
    t.received(status)
    if " 200 " not in status + " ":
        raise ProbeError(f"policy fetch: {status[:100]}")
    return body


async def check_mta_sts(ctx, domain: str, mx_hosts: list[str]) -> list[Finding]:
    name = f"_mta-sts.{domain}"
    answer = await ctx.dns(name, "TXT")
    records = [r for r in answer.records if r.replace(" ", "").startswith("v=STSv1")]
    if answer.failed:
        return [MTA_STS.finding(Status.ERROR, f"TXT {name}: {answer.rcode}", target=name)]
    if not records:
        return [MTA_STS.finding(Status.WARN, f"no MTA-STS record at {name}", target=name, detail=answer.render(),
                                title="No MTA-STS")]
    ok, info = mailauth.valid_sts_txt(records[0])
    if not ok:
        return [MTA_STS.finding(Status.FAIL, f"{records[0]}: {info}", target=name, title="MTA-STS record invalid")]
    out = [MTA_STS.finding(Status.PASS, records[0], target=name, detail=answer.render())]
    host = f"mta-sts.{domain}"
    ips = await addresses_of(ctx, host)
    if not ips:
        out.append(MTA_STS_POLICY.finding(Status.FAIL, f"{host} does not resolve: the policy cannot be fetched", target=host,
                                          title="MTA-STS policy host missing"))
        return out
    if not (_all_loopback(ips) or ctx.options.fetch_remote_https):
        out.append(MTA_STS_POLICY.finding(Status.ERROR, f"not fetchable: {host} ({', '.join(ips)}) is not on loopback and "
                                          "remote HTTPS fetching is off", target=host, title="MTA-STS policy not fetched"))
        return out
    try:
        body = await fetch_sts_policy(ctx, host, ips[0])
    except ProbeError as exc:
        out.append(MTA_STS_POLICY.finding(Status.ERROR, f"not fetchable: {exc.reason}", target=host,
                                          title="MTA-STS policy not fetchable"))
        return out
    policy = mailauth.parse_sts_policy(body)
    if policy.errors:
        out.append(MTA_STS_POLICY.finding(Status.FAIL, "; ".join(policy.errors), target=host, detail=body, title="MTA-STS policy invalid"))
        return out
    uncovered = mailauth.sts_uncovered_mx(mx_hosts, policy)
    if uncovered and policy.mode != "none":
        out.append(MTA_STS_POLICY.finding(Status.FAIL, f"MX not in the policy: {', '.join(uncovered)} (mode {policy.mode})",
                                          target=host, detail=body, title="MTA-STS policy does not cover every MX"))
    else:
        out.append(MTA_STS_POLICY.finding(Status.PASS, f"mode {policy.mode}, mx {', '.join(policy.mx)}", target=host, detail=body))
    return out


async def check_tlsrpt(ctx, domain: str) -> list[Finding]:
    name = f"_smtp._tls.{domain}"
    answer = await ctx.dns(name, "TXT")
    records = [r for r in answer.records if r.replace(" ", "").startswith("v=TLSRPTv1")]
    if answer.failed:
        return [TLSRPT.finding(Status.ERROR, f"TXT {name}: {answer.rcode}", target=name)]
    if not records:
        return [TLSRPT.finding(Status.WARN, f"no TLS-RPT record at {name}", target=name, title="No TLS-RPT")]
    ok, info = mailauth.valid_tlsrpt(records[0])
    if not ok:
        return [TLSRPT.finding(Status.FAIL, f"{records[0]}: {info}", target=name, title="TLS-RPT record invalid")]
    return [TLSRPT.finding(Status.PASS, records[0], target=name)]


async def check_caa(ctx, domain: str) -> list[Finding]:
    answer = await ctx.dns(domain, "CAA")
    used = domain
    org = dmarc.organizational_domain(domain)
    if not answer.records and org != domain:
        answer = await ctx.dns(org, "CAA")
        used = org
    if answer.failed:
        return [CAA.finding(Status.ERROR, f"CAA {used}: {answer.rcode}", target=used)]
    if not answer.records:
        return [CAA.finding(Status.INFO, f"no CAA record at {domain}: any CA may issue", target=domain, title="No CAA record")]
    return [CAA.finding(Status.PASS, "; ".join(answer.records), target=used)]


# ---------------------------------------------------------------- DANE, DNSSEC


async def check_dane(ctx, mx_hosts: list[str], ips: dict[str, list[str]]) -> list[Finding]:
    from mailtui.core.scan.tls import tls_certificate

    out: list[Finding] = []
    for host in mx_hosts:
        name = f"_25._tcp.{host}"
        answer = await ctx.dns(name, "TLSA")
        if answer.failed:
            out.append(DANE.finding(Status.ERROR, f"TLSA {name}: {answer.rcode}", target=name))
            continue
        if not answer.records:
            out.append(DANE.finding(Status.INFO, f"no TLSA record at {name}", target=name, title="No DANE TLSA"))
            continue
        records = [dane.parse_tlsa(r) for r in answer.records]
        if not (answer.signed or answer.ad):
            out.append(DANE.finding(Status.WARN, f"TLSA at {name} is not DNSSEC-signed: senders ignore it", target=name,
                                    severity=Severity.LOW, title="TLSA without DNSSEC"))
        for ip in ips.get(host, []):
            where = f"{name} @ {ip}"  # one finding per address the MX has
            try:
                h = await tls_certificate(ctx, ip, 25)
            except ProbeError as exc:
                out.append(DANE.finding(Status.ERROR, f"{host} ({ip}): no certificate to compare: {exc.reason}", target=where))
                continue
            chain = h.chain_der or ((h.cert_der,) if h.cert_der else ())
            matching = [r for r in records if dane.tlsa_matches(r, chain)]
            if matching:
                out.append(DANE.finding(Status.PASS, f"{host} ({ip}): certificate matches TLSA {matching[0]}", target=where,
                                        detail=answer.render()))
            else:
                want = dane.tlsa_for(chain[0]) if chain else None
                out.append(DANE.finding(Status.FAIL, f"{host} ({ip}): no TLSA record matches the certificate presented on port 25"
                                        + (f"; it would match: {want}" if want else ""), target=where, detail=answer.render(),
                                        title="DANE TLSA does not match the certificate"))
    return out


async def _zone_of(ctx, domain: str) -> str | None:
    labels = domain.rstrip(".").split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        ans = await ctx.dns(candidate, "DNSKEY")
        if ans.records:
            return candidate
        soa = await ctx.dns(candidate, "SOA")
        if soa.records:
            return candidate  # zone apex without DNSKEY: unsigned
    return None


async def _rrset_and_sigs(resolver, name: str, rdtype: str):
    answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
    response = answer.response
    qname = dns.name.from_text(name)
    rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
    sigs = response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.from_text(rdtype))
    return rrset, sigs


async def validate_with_anchor(ctx, zone: str, anchor: str) -> tuple[bool, str]:
    """Validate the zone's DNSKEY (against the DS anchor) and its MX RRset signatures ourselves."""
    parts = anchor.split()
    try:
        idx = [p.upper() for p in parts].index("DS")
    except ValueError:
        return False, "trust anchor is not a DS record"
    owner = parts[0].rstrip(".").lower() if idx > 0 else zone
    if owner != zone.lower():
        return False, f"trust anchor is for {owner}, not {zone}"
    ds = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, " ".join(parts[idx + 1 :]))
    try:
        keys, key_sigs = await _rrset_and_sigs(ctx.resolver, zone, "DNSKEY")
        mx, mx_sigs = await _rrset_and_sigs(ctx.resolver, zone, "MX")
    except (dns.exception.DNSException, OSError) as exc:
        return False, f"could not fetch DNSKEY/MX: {exc}"
    if keys is None or key_sigs is None:
        return False, "no signed DNSKEY RRset"
    zname = dns.name.from_text(zone)
    digest = {1: "SHA1", 2: "SHA256", 4: "SHA384"}.get(ds.digest_type, "SHA256")
    if not any(dns.dnssec.make_ds(zname, k, digest) == ds for k in keys):
        return False, "no DNSKEY matches the trust anchor DS"
    try:
        dns.dnssec.validate(keys, key_sigs, {zname: keys})
        if mx is not None:
            if mx_sigs is None:
                return False, "MX RRset is not signed"
            dns.dnssec.validate(mx, mx_sigs, {zname: keys})
    except dns.dnssec.ValidationFailure as exc:
        return False, f"signature does not validate: {exc}"
    return True, f"DNSKEY matches DS {ds.key_tag}, DNSKEY and MX signatures valid"


async def check_dnssec(ctx, domain: str) -> list[Finding]:
    answer = await ctx.dns(domain, "MX")
    if answer.ad:
        return [DNSSEC.finding(Status.PASS, "the resolver validated the answer (AD bit set)", target=domain)]
    if not answer.signed:
        soa = await ctx.dns(domain, "SOA")
        if soa.ad:
            return [DNSSEC.finding(Status.PASS, "the resolver validated the answer (AD bit set)", target=domain)]
        if not soa.signed:
            return [DNSSEC.finding(Status.WARN, f"{domain} answers carry no RRSIG: the zone is not signed", target=domain,
                                   title="DNSSEC not enabled")]
    zone = await _zone_of(ctx, domain)
    anchor = ctx.options.dnssec_trust_anchor
    if anchor and zone:
        ok, why = await validate_with_anchor(ctx, zone, anchor)
        if ok:
            return [DNSSEC.finding(Status.PASS, f"signed; validated against the given trust anchor: {why}", target=zone)]
        return [DNSSEC.finding(Status.FAIL, f"signed, but validation failed: {why}", target=zone, severity=Severity.HIGH,
                               title="DNSSEC validation failed")]
    return [DNSSEC.finding(Status.WARN, "signed (RRSIGs present) but the resolver did not validate (no AD bit): use a "
                           "validating resolver, or give a trust anchor", target=domain, severity=Severity.LOW,
                           title="DNSSEC signed, not validated by the resolver")]


# ---------------------------------------------------------------- group


@register("dns", "DNS", "MX, PTR, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, DANE, DNSSEC, CAA", aims_at="domain")
async def run(ctx) -> list[Finding]:
    domain = ctx.domain
    if not domain:
        return [NO_DOMAIN.finding(Status.INFO, "no mail domain known for an IP address; give --domain", target=ctx.options.host)]
    mx_findings, mx_hosts, mx_ips = await check_mx(ctx, domain)
    ips = list(dict.fromkeys(list(ctx.addresses) + [ip for a in mx_ips.values() for ip in a]))
    parts = await asyncio.gather(
        check_spf(ctx, domain),
        check_dkim(ctx, domain),
        check_dmarc(ctx, domain),
        check_mta_sts(ctx, domain, mx_hosts),
        check_tlsrpt(ctx, domain),
        check_caa(ctx, domain),
        check_dnssec(ctx, domain),
        check_dane(ctx, mx_hosts, mx_ips),
        check_helo_vs_ptr(ctx),
        asyncio.gather(*(check_ptr(ctx, ip) for ip in ips)),
    )
    return mx_findings + [f for part in parts for f in part]
