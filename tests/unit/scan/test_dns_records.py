"""DMARC, DKIM, MTA-STS, TLS-RPT, TLSA and DNSBL parsing on real records."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from mailtui.core.scan import dane, dmarc, mailauth
from mailtui.core.scan.dnsbl import BlStatus, classify_dnsbl, dnsbl_query_name
from mailtui.core.scan.dnsq import DnsAnswer, Rcode

LAB_DKIM = (
    "v=DKIM1; h=sha256; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2PauYkFeFZB1DVC9HIdMUBrxmJKe/2ifDVXlhqL7MlR98yp1c4i26otse6"
    "SXQd1Fi+9+zzn8zF/B9L3i1H/FsbOJBQlFDFvwbQ/GK0M8vgZtyBc8NEpy1Z6nY3sUktuCgsDlUcva3MgUH/OWPpcJllibjedL4/zhCPKTPS05CL0+DgXrOaGanI5q1op1"
    "3cy7AgupNHEd8v3uknxVfKzQ5A+eOoCx8QTgVvNx79ZPiFp3mSEhq4ep7ai73riUsh5Lgxhwg7XiS6+znM84zLidBT0QgMC9aXY1pre9x11RpAtK7oBoKRf2xxNdi4pXZ9Ts"
    "ieVwgJttehOocGLdul7tCQIDAQAB"
)


def test_dmarc_lab_and_variants():
    rec = dmarc.parse_dmarc("v=DMARC1; p=reject; rua=mailto:dmarc@mailtui.test")
    assert rec.policy == "reject" and rec.enforcing and rec.rua == ("mailto:dmarc@mailtui.test",)
    none = dmarc.parse_dmarc("v=DMARC1; p=none")
    assert none.policy == "none" and not none.enforcing and none.rua == ()
    assert dmarc.parse_dmarc("v=DMARC1; p=quarantine; pct=20; sp=none").subdomain_policy == "none"
    assert dmarc.parse_dmarc("v=DMARC1; rua=mailto:a@b.c").policy == "none"  # rua without p: treated as none


@pytest.mark.parametrize("bad", ["p=reject; v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; p=reject; pct=x", "v=DMARC1 p=reject"])
def test_dmarc_invalid(bad):
    with pytest.raises(dmarc.DmarcError):
        dmarc.parse_dmarc(bad)


def test_dmarc_external_reports():
    rec = dmarc.parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@mailtui.test,mailto:x@reports.example.net!10m; ruf=mailto:f@sub.mailtui.test")
    assert dmarc.external_report_domains(rec, "mailtui.test") == ("reports.example.net",)
    assert dmarc.report_authorisation_name("mailtui.test", "reports.example.net") == "mailtui.test._report._dmarc.reports.example.net"
    with pytest.raises(dmarc.DmarcError):
        dmarc.select_dmarc(["v=DMARC1; p=none", "v=DMARC1; p=reject"])


def test_dkim_lab_key_is_2048_bits():
    key = mailauth.parse_dkim_key(LAB_DKIM)
    assert (key.key_type, key.bits, key.revoked, key.error) == ("rsa", 2048, False, "")
    assert mailauth.parse_dkim_key("v=DKIM1; p=").revoked
    assert mailauth.parse_dkim_key("v=DKIM1; k=rsa; p=AAAA!!").error


def test_mta_sts_policy_and_mx_coverage():
    policy = mailauth.parse_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: mail.mailtui.test\r\nmx: *.backup.example\r\nmax_age: 86400\r\n")
    assert policy.errors == () and policy.mode == "enforce"
    assert mailauth.sts_uncovered_mx(["mail.mailtui.test", "a.backup.example", "b.c.backup.example"], policy) == ("b.c.backup.example",)
    broken = mailauth.parse_sts_policy("version: STSv2\nmode: enforce\n")
    assert len(broken.errors) == 3
    assert mailauth.valid_sts_txt("v=STSv1; id=20240101T000000") == (True, "20240101T000000")
    assert not mailauth.valid_sts_txt("v=STSv1;")[0]
    assert mailauth.valid_tlsrpt("v=TLSRPTv1; rua=mailto:tlsrpt@mailtui.test") == (True, "mailto:tlsrpt@mailtui.test")


def _cert(key, name="mail.mailtui.test", issuer_key=None, issuer_name=None):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]) if issuer_name else subject
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    return builder.sign(issuer_key or key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_tlsa_matching():
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(leaf_key, issuer_key=ca_key, issuer_name="Test CA")
    ca = _cert(ca_key, name="Test CA")
    good = dane.tlsa_for(leaf)
    assert str(good).startswith("3 1 1 ")
    assert dane.tlsa_matches(good, [leaf, ca])
    assert dane.tlsa_matches(dane.parse_tlsa(str(good)), [leaf])
    assert not dane.tlsa_matches(dane.parse_tlsa("3 1 1 " + "00" * 32), [leaf, ca])  # the lab's badtlsa record
    assert dane.tlsa_matches(dane.tlsa_for(leaf, 3, 0, 2), [leaf])  # full cert, SHA-512
    ta = dane.tlsa_for(ca, 2, 1, 1)
    assert dane.tlsa_matches(ta, [leaf, ca]) and not dane.tlsa_matches(ta, [leaf, leaf])
    assert not dane.tlsa_matches(good, [])


def test_dnsbl_return_codes():
    def ans(rcode, *records):
        return DnsAnswer("2.0.0.127.zen.spamhaus.org", "A", rcode, tuple(records))

    assert dnsbl_query_name("192.0.2.1", "zen.spamhaus.org") == "1.2.0.192.zen.spamhaus.org"
    assert dnsbl_query_name("2001:db8::1", "zen.spamhaus.org").startswith("1.0.0.0.0.0.0.0")
    assert classify_dnsbl("zen.spamhaus.org", ans(Rcode.NXDOMAIN)).status == BlStatus.NOT_LISTED
    listed = classify_dnsbl("zen.spamhaus.org", ans(Rcode.NOERROR, "127.0.0.2", "127.0.0.10"))
    assert listed.status == BlStatus.LISTED and "SBL" in listed.meaning and "PBL" in listed.meaning
    for code in ("127.255.255.252", "127.255.255.254", "127.255.255.255"):
        v = classify_dnsbl("zen.spamhaus.org", ans(Rcode.NOERROR, code))
        assert v.status == BlStatus.ERROR, code
    assert "public" in classify_dnsbl("zen.spamhaus.org", ans(Rcode.NOERROR, "127.255.255.254")).meaning
    assert classify_dnsbl("zen.spamhaus.org", ans(Rcode.NOERROR, "198.51.100.7")).status == BlStatus.ERROR  # NXDOMAIN hijack
    assert classify_dnsbl("zen.spamhaus.org", ans(Rcode.SERVFAIL)).status == BlStatus.ERROR
    assert classify_dnsbl("dbl.spamhaus.org", ans(Rcode.NOERROR, "127.0.1.255")).status == BlStatus.ERROR
    assert classify_dnsbl("dbl.spamhaus.org", ans(Rcode.NOERROR, "127.0.1.2")).meaning == "spam domain"
