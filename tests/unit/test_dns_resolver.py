"""mailtui's resolver asks exactly the chosen nameservers and never the system's."""

from __future__ import annotations

import socket

import dns.exception
import dns.resolver
import pytest

from mailtui.core.dns import ResolverConfigError, choose_nameservers, make_resolver, parse_nameserver, system_nameservers


@pytest.fixture
def no_system_resolver(monkeypatch):
    """Any attempt to use the system's resolver configuration fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the system resolver configuration was consulted")

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", forbidden)
    monkeypatch.setattr(dns.resolver, "get_default_resolver", forbidden)
    monkeypatch.setattr(dns.resolver, "default_resolver", None)


def test_parse_nameserver_forms():
    assert str(parse_nameserver("127.0.0.1")) == "127.0.0.1:53"
    assert str(parse_nameserver("127.0.0.1:5353")) == "127.0.0.1:5353"
    assert str(parse_nameserver("[::1]:5353")) == "[::1]:5353"
    assert str(parse_nameserver("::1")) == "[::1]:53"
    for bad in ("dns.example", "127.0.0.1:x", "127.0.0.1:0", "[::1]x"):
        with pytest.raises(ResolverConfigError):
            parse_nameserver(bad)


def test_environment_wins_over_resolv_conf(monkeypatch, no_system_resolver):
    monkeypatch.setenv("MAILTUI_RESOLVER", "127.0.0.1:5353,[::1]:5300")
    assert [str(s) for s in choose_nameservers()] == ["127.0.0.1:5353", "[::1]:5300"]
    resolver = make_resolver()
    assert [(n.address, n.port) for n in resolver.nameservers] == [("127.0.0.1", 5353), ("::1", 5300)]
    assert resolver.search == [] and resolver.cache is None


def test_system_nameservers_parsed_not_delegated(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example.org\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\n")
    assert [str(s) for s in system_nameservers(str(conf))] == ["10.0.0.53:53", "[fe80::1]:53"]


def test_a_dead_resolver_fails_instead_of_falling_back(monkeypatch, no_system_resolver):
    # A loopback UDP port nobody listens on: the query must fail, not go elsewhere.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sent_to: list[tuple] = []
    real_sendto = socket.socket.sendto

    def spy(self, data, *args):
        sent_to.append(args[-1])
        return real_sendto(self, data, *args)

    monkeypatch.setattr(socket.socket, "sendto", spy)
    resolver = make_resolver(f"127.0.0.1:{port}", timeout=0.5, lifetime=1.5)
    with pytest.raises(dns.exception.DNSException):
        resolver.resolve("mailtui.test", "MX")
    assert sent_to and all(addr[:2] == ("127.0.0.1", port) for addr in sent_to)
