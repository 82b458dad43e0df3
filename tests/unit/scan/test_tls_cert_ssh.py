"""Cipher classes, TLS version verdicts per listener, certificate checks, SSH and IMAP/POP3 parsing."""

import datetime as dt
from dataclasses import replace
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from mailtui.core.findings import Status
from mailtui.core.scan.certs import certificate_findings, name_matches, parse_certificate
from mailtui.core.scan.imap_pop import judge_imap, parse_imap_capabilities, parse_pop3_capa, pop3_user_allowed
from mailtui.core.scan.model import LISTENERS
from mailtui.core.scan.net import ProtocolViolation
from mailtui.core.scan.ssh import judge_algorithms, parse_kexinit, parse_packet, parse_ssh_ident
from mailtui.core.scan.tls import CipherClass, VersionVerdict, cipher_finding, classify_cipher, version_finding


@pytest.mark.parametrize(
    "name, cls",
    [
        ("TLS_AES_256_GCM_SHA384", CipherClass.GOOD),
        ("ECDHE-RSA-AES256-GCM-SHA384", CipherClass.GOOD),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", CipherClass.GOOD),
        ("ECDHE-RSA-AES256-SHA", CipherClass.SUFFICIENT),
        ("ECDHE-RSA-AES128-SHA256", CipherClass.SUFFICIENT),
        ("DHE-RSA-AES256-GCM-SHA384", CipherClass.SUFFICIENT),
        ("DHE-RSA-AES128-SHA", CipherClass.SUFFICIENT),
        ("AES256-GCM-SHA384", CipherClass.PHASE_OUT),
        ("AES128-SHA", CipherClass.PHASE_OUT),
        ("DES-CBC3-SHA", CipherClass.PHASE_OUT),
        ("ECDHE-RSA-DES-CBC3-SHA", CipherClass.PHASE_OUT),
        ("ADH-AES256-GCM-SHA384", CipherClass.INSUFFICIENT),
        ("AECDH-AES128-SHA", CipherClass.INSUFFICIENT),
        ("NULL-SHA256", CipherClass.INSUFFICIENT),
        ("ECDHE-RSA-NULL-SHA", CipherClass.INSUFFICIENT),
        ("RC4-SHA", CipherClass.INSUFFICIENT),
        ("EXP-RC4-MD5", CipherClass.INSUFFICIENT),
        ("DES-CBC-SHA", CipherClass.INSUFFICIENT),
        ("PSK-AES128-GCM-SHA256", CipherClass.INSUFFICIENT),
    ],
)
def test_cipher_classes(name, cls):
    assert classify_cipher(name) == cls


def test_version_strictness_by_listener():
    weak = VersionVerdict(("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), ())
    hard = VersionVerdict(("TLSv1.2", "TLSv1.3"), ("TLSv1", "TLSv1.1"))
    f587 = version_finding(weak, LISTENERS[587], "127.0.0.1:587")
    assert f587.status == Status.FAIL and f587.fix == "tls.submission_protocols"
    assert "master.cf submission -o smtpd_tls_protocols" in f587.config
    f25 = version_finding(weak, LISTENERS[25], "127.0.0.1:25")
    assert f25.status == Status.WARN and f25.fix == "tls.smtp_protocols"
    assert version_finding(weak, LISTENERS[993], "t").fix == "tls.dovecot_protocols"
    assert version_finding(hard, LISTENERS[587], "t").status == Status.PASS
    assert version_finding(VersionVerdict((), ("TLSv1.2",)), LISTENERS[587], "t").status == Status.ERROR
    assert version_finding(VersionVerdict(("TLSv1",), ()), LISTENERS[587], "t").status == Status.FAIL


def test_cipher_findings():
    good = {"TLSv1.2": "ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.3": "TLS_AES_256_GCM_SHA384"}
    assert cipher_finding(good, {CipherClass.INSUFFICIENT: (False, ""), CipherClass.PHASE_OUT: (False, "")}, LISTENERS[587], "t").status == Status.PASS
    anon = cipher_finding(good, {CipherClass.INSUFFICIENT: (True, "ADH-AES256-GCM-SHA384")}, LISTENERS[587], "t")
    assert anon.status == Status.WARN and anon.fix == "tls.postfix_ciphers"
    null = cipher_finding(good, {CipherClass.INSUFFICIENT: (True, "NULL-SHA256")}, LISTENERS[587], "t")
    assert null.status == Status.FAIL
    assert cipher_finding(good, {CipherClass.PHASE_OUT: (True, "AES256-GCM-SHA384")}, LISTENERS[993], "t").status == Status.WARN
    assert "not testable" in cipher_finding(good, {CipherClass.INSUFFICIENT: (None, "")}, LISTENERS[25], "t").evidence


def _cert(name="mail.mailtui.test", *, bits=2048, days=(-1, 90), self_signed=True, algo=None):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer = subject if self_signed else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some CA")])
    now = dt.datetime.now(dt.timezone.utc)
    signer = key if self_signed else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(1).not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False))
    return b.sign(signer, algo or hashes.SHA256()).public_bytes(Encoding.DER)


def test_certificate_checks_strict_vs_opportunistic():
    facts = parse_certificate(_cert(days=(-100, 10)))
    assert facts.self_signed and facts.key_type == "RSA" and facts.key_bits == 2048
    strict = {f.id: f for f in certificate_findings(facts, LISTENERS[587], "t", expected_name="mail.mailtui.test", trusted=False, trust_error="self-signed certificate")}
    assert strict["cert.trust"].status == Status.FAIL and strict["cert.trust"].fix == "tls.cert_chain"
    assert strict["cert.expiry"].status == Status.WARN  # 10 days left: warn at 30
    assert strict["cert.name"].status == Status.PASS
    opp = {f.id: f for f in certificate_findings(facts, LISTENERS[25], "t", expected_name="other.example", trusted=False)}
    assert opp["cert.trust"].status == Status.INFO and opp["cert.name"].status == Status.INFO
    imap = {f.id: f for f in certificate_findings(facts, LISTENERS[993], "t", expected_name="x", trusted=False)}
    assert imap["cert.trust"].fix == "tls.cert_chain"


def test_expired_and_weak_certificates():
    expired = parse_certificate(_cert(days=(-400, -5), self_signed=False))
    fs = {f.id: f for f in certificate_findings(expired, LISTENERS[465], "t", expected_name=None, trusted=True)}
    assert fs["cert.expiry"].status == Status.FAIL and fs["cert.expiry"].severity.value == "critical"
    assert fs["cert.expiry"].id == "cert.expiry" and "cert.name" not in fs
    # OpenSSL 3 no longer signs with SHA-1: take a real 1024-bit cert and say it was SHA-1-signed.
    weak = replace(parse_certificate(_cert(bits=1024, self_signed=False)), signature_hash="sha1")
    fs = {f.id: f for f in certificate_findings(weak, LISTENERS[587], "t", expected_name=None, trusted=True)}
    assert fs["cert.key"].status == Status.FAIL and fs["cert.signature"].status == Status.FAIL
    fs25 = {f.id: f for f in certificate_findings(weak, LISTENERS[25], "t", expected_name=None, trusted=True)}
    assert fs25["cert.key"].status == Status.WARN


def test_name_matching():
    assert name_matches("mail.mailtui.test", ["mail.mailtui.test"])
    assert name_matches("MAIL.mailtui.test.", ["*.mailtui.test"])
    assert not name_matches("a.mail.mailtui.test", ["*.mailtui.test"])
    assert not name_matches("mailtui.test", ["*.mailtui.test"])


def _kexinit(host_keys, kex="curve25519-sha256,diffie-hellman-group14-sha256"):
    fields = [kex, host_keys, "aes256-gcm@openssh.com", "aes256-gcm@openssh.com", "hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""]
    payload = bytes([20]) + b"\0" * 16 + b"".join(struct.pack(">I", len(f)) + f.encode() for f in fields) + b"\0" + b"\0\0\0\0"
    pad = 8 - (len(payload) + 5) % 8 + 4
    return struct.pack(">I", len(payload) + pad + 1) + bytes([pad]) + payload + b"\0" * pad


def test_ssh_kexinit_and_ident():
    algs = parse_kexinit(parse_packet(_kexinit("ssh-ed25519")))
    assert algs["server_host_key_algorithms"] == ("ssh-ed25519",)
    assert judge_algorithms(algs) == ([], [])
    old = parse_kexinit(parse_packet(_kexinit("ssh-rsa,ssh-dss", kex="diffie-hellman-group1-sha1")))
    assert judge_algorithms(old) == (["ssh-rsa", "ssh-dss"], ["diffie-hellman-group1-sha1"])
    modern_rsa = parse_kexinit(parse_packet(_kexinit("rsa-sha2-512,rsa-sha2-256,ssh-rsa")))
    assert judge_algorithms(modern_rsa) == ([], [])
    ident = parse_ssh_ident("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10")
    assert (ident.proto, ident.software, ident.comments) == ("2.0", "OpenSSH_9.2p1", "Debian-2+deb12u10")
    with pytest.raises(ProtocolViolation):
        parse_kexinit(b"\x15" + b"\0" * 40)
    with pytest.raises(ProtocolViolation):
        parse_kexinit(bytes([20]) + b"\0" * 16 + struct.pack(">I", 10_000) + b"abc")


def test_imap_pop_plaintext_verdicts():
    hardened = parse_imap_capabilities(["* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] ready."])
    weak = parse_imap_capabilities(["* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN] Dovecot (Debian) ready."])
    assert not judge_imap(hardened).cleartext_login_allowed and judge_imap(hardened).starttls
    w = judge_imap(weak)
    assert w.cleartext_login_allowed and w.plaintext_mechs == ("LOGIN", "PLAIN")
    assert "STLS" in parse_pop3_capa(["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "USER", "SASL PLAIN LOGIN"])
    assert pop3_user_allowed("+OK")
    assert not pop3_user_allowed("-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")


def test_cipher_findings_follow_the_shared_policy_by_listener():
    good = {"TLSv1.2": "ECDHE-RSA-AES256-GCM-SHA384"}
    anon = {CipherClass.INSUFFICIENT: (True, "ADH-AES256-GCM-SHA384"), CipherClass.PHASE_OUT: (True, "AES256-GCM-SHA384")}
    on25 = cipher_finding(good, anon, LISTENERS[25], "127.0.0.1:25", (False, ""))
    assert on25.status == Status.INFO and on25.fix is None and "opportunistic" in on25.title
    on587 = cipher_finding(good, anon, LISTENERS[587], "127.0.0.1:587", (False, ""))
    assert on587.status == Status.WARN and on587.fix == "tls.postfix_ciphers" and on587.title.startswith("Anonymous")
    assert "smtpd_tls_mandatory_exclude_ciphers" in on587.config
    assert "without anonymous ones: refused" in on587.evidence
    # anonymous first, but authenticated insufficient suites accepted too: that is worse
    worse = cipher_finding(good, anon, LISTENERS[993], "127.0.0.1:993", (True, "NULL-SHA256"))
    assert worse.status == Status.FAIL and worse.fix == "tls.dovecot_ciphers"
    phase = cipher_finding(good, {CipherClass.PHASE_OUT: (True, "AES256-GCM-SHA384")}, LISTENERS[25], "127.0.0.1:25")
    assert phase.status == Status.INFO
