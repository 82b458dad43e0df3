"""SPF evaluation against a zone held in a dict (the lab's records and its broken variants)."""

import pytest

from mailtui.core.scan.dnsq import DnsAnswer, Rcode
from mailtui.core.scan.spf import SpfEvaluator, SpfPermError, all_qualifier, expand_macros, parse_spf, select_spf

ZONE = {
    ("mailtui.test", "TXT"): ["v=spf1 ip4:127.0.0.1 -all"],
    ("plusall.mailtui.test", "TXT"): ["v=spf1 +all"],
    ("spf11.mailtui.test", "TXT"): [
        "v=spf1 " + " ".join(f"include:_s{i}.spf11.mailtui.test" for i in range(1, 12)) + " -all"
    ],
    **{(f"_s{i}.spf11.mailtui.test", "TXT"): [f"v=spf1 ip4:192.0.2.{i} -all"] for i in range(1, 12)},
    ("mx.example", "TXT"): ["v=spf1 mx a:relay.mx.example/24 ~all"],
    ("mx.example", "MX"): ["10 mail.mx.example.", "20 backup.mx.example."],
    ("mail.mx.example", "A"): ["198.51.100.10"],
    ("backup.mx.example", "A"): ["198.51.100.20"],
    ("relay.mx.example", "A"): ["203.0.113.9"],
    ("redir.example", "TXT"): ["v=spf1 redirect=mx.example"],
    ("void.example", "TXT"): ["v=spf1 a:nx1.void.example a:nx2.void.example a:nx3.void.example -all"],
    ("two.example", "TXT"): ["v=spf1 -all", "v=spf1 +all"],
    ("macro.example", "TXT"): ["v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all"],
    ("1.2.0.192.user._spf.macro.example", "A"): ["127.0.0.2"],
    ("incl-none.example", "TXT"): ["v=spf1 include:nospf.example -all"],
    ("nospf.example", "TXT"): ["hello"],
    ("v6.example", "TXT"): ["v=spf1 ip6:2001:db8::/32 -all"],
}


async def lookup(name, rdtype):
    key = (name.rstrip(".").lower(), rdtype)
    if key in ZONE:
        return DnsAnswer(name, rdtype, Rcode.NOERROR, tuple(ZONE[key]))
    if any(k[0] == key[0] for k in ZONE):
        return DnsAnswer(name, rdtype, Rcode.NODATA)
    return DnsAnswer(name, rdtype, Rcode.NXDOMAIN)


async def check(ip, domain, sender=None):
    return await SpfEvaluator(lookup).check_host(ip, domain, sender)


async def test_lab_record_authorises_the_lab_server():
    res = await check("127.0.0.1", "mailtui.test")
    assert res.result == "pass" and res.mechanism == "ip4:127.0.0.1"
    assert (await check("127.0.0.2", "mailtui.test")).result == "fail"


async def test_plus_all_passes_anyone():
    assert (await check("203.0.113.66", "plusall.mailtui.test")).result == "pass"
    assert all_qualifier("v=spf1 +all") == "+"
    assert all_qualifier("v=spf1 mx ~all") == "~"
    assert all_qualifier("v=spf1 mx") is None


async def test_eleven_includes_exceed_the_lookup_limit():
    res = await check(None, "spf11.mailtui.test")
    assert res.result == "permerror" and "10" in res.error
    assert res.lookups == 11
    # Even an IP matched by the first include is a permerror? No: evaluation stops at the match.
    early = await check("192.0.2.1", "spf11.mailtui.test")
    assert early.result == "pass" and early.lookups == 1
    late = await check("192.0.2.11", "spf11.mailtui.test")
    assert late.result == "permerror"


async def test_mx_a_cidr_and_redirect():
    assert (await check("198.51.100.20", "mx.example")).result == "pass"
    assert (await check("203.0.113.200", "mx.example")).result == "pass"  # a:relay/24
    assert (await check("192.0.2.99", "mx.example")).result == "softfail"
    res = await check("198.51.100.10", "redir.example")
    assert res.result == "pass" and res.lookups == 2  # redirect + mx


async def test_void_lookup_limit():
    res = await check("192.0.2.1", "void.example")
    assert res.result == "permerror" and "void" in res.error


async def test_two_records_and_missing_include_are_permerrors():
    assert (await check("192.0.2.1", "two.example")).result == "permerror"
    assert (await check("192.0.2.1", "incl-none.example")).result == "permerror"
    assert (await check("192.0.2.1", "nothing.example")).result == "none"


async def test_macros():
    assert expand_macros("%{ir}.%{v}._spf.%{d}", ip="192.0.2.1", domain="ex.org", sender="a@ex.org") == "1.2.0.192.in-addr._spf.ex.org"
    assert expand_macros("%{d2}", ip="192.0.2.1", domain="a.b.ex.org", sender="x@y") == "ex.org"
    res = await check("192.0.2.1", "macro.example", "user@macro.example")
    assert res.result == "pass"


async def test_ipv6():
    assert (await check("2001:db8::25", "v6.example")).result == "pass"
    assert (await check("127.0.0.1", "v6.example")).result == "fail"


@pytest.mark.parametrize("record", ["v=spf1 foo:bar -all", "v=spf1 -all=", "v=spf1 ip4", "v=spf1 redirect=a redirect=b", "v=spf1 ~exp=x"])
def test_syntax_errors(record):
    with pytest.raises(SpfPermError):
        parse_spf(record)


def test_select_spf():
    assert select_spf(["google-site-verification=x", "v=spf1 -all"]) == "v=spf1 -all"
    assert select_spf(["v=spf10 -all"]) == ""
    with pytest.raises(SpfPermError):
        select_spf(["v=spf1 -all", "v=spf1 ~all"])
