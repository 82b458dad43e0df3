"""Banning and unbanning one remote IP address on the server.

Through fail2ban when it runs (``fail2ban-client set JAIL banip IP``: the ban then
expires like fail2ban's own and shows in its status), otherwise through the firewall
that is there: nftables (a table of mailtui's own with one set per address family, so
a ban never touches the admin's rules), iptables, or ufw.

Safety: the address is parsed with :mod:`ipaddress` before anything else; the plan holds
the exact commands, which the UI shows before asking; warnings say when the address is
the admin's own connection or a private/loopback range; every change is verified and
written to the audit log (:mod:`mailtui.core.audit`).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mailtui.core import audit
from mailtui.core.facts import ServerFacts, Status
from mailtui.core.transport.base import Transport
from mailtui.core.transport.errors import TransportError

NFT_TABLE = "mailtui"


class BanError(ValueError):
    """The ban cannot be planned (bad address, no way to ban on this server)."""


class Action(StrEnum):
    BAN = "ban"
    UNBAN = "unban"


class Backend(StrEnum):
    FAIL2BAN = "fail2ban"
    NFTABLES = "nftables"
    IPTABLES = "iptables"
    UFW = "ufw"


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    #: Text fed to the command's standard input (nft -f -), if any.
    input: str | None = None

    def shown(self, sudo: bool) -> str:
        """The command as a person would type it."""
        text = ("sudo " if sudo else "") + shlex.join(self.argv)
        if self.input is not None:
            text += " <<'EOF'\n" + self.input + "EOF"
        return text


@dataclass(frozen=True)
class BanPlan:
    action: Action
    ip: str
    backend: Backend
    jail: str | None
    commands: tuple[Command, ...]
    #: Things the admin must read before saying yes (own address, private range).
    warnings: tuple[str, ...]

    def shown(self, sudo: bool = True) -> list[str]:
        return [command.shown(sudo) for command in self.commands]

    @property
    def title(self) -> str:
        where = f"fail2ban jail {self.jail}" if self.jail else self.backend.value
        return f"{self.action.value.capitalize()} {self.ip} ({where})"


@dataclass(frozen=True)
class BanResult:
    ok: bool
    message: str
    audit: audit.AuditEntry


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """One IPv4/IPv6 address (brackets allowed); IPv4-mapped IPv6 becomes IPv4."""
    value = text.strip().strip("[]")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise BanError(f"{text!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


#: Ranges of one's own networks (RFC 1918, carrier-grade NAT, IPv6 unique local). Not
#: ``ipaddress.is_private``, which also flags the documentation ranges.
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                          "100.64.0.0/10", "fc00::/7"))


def ip_warnings(address, own_addresses: Iterable[str] = ()) -> tuple[str, ...]:
    """Why banning ``address`` might hurt the admin."""
    warnings: list[str] = []
    own = set()
    for item in own_addresses:
        try:
            own.add(parse_ip(item))
        except BanError:
            continue
    if address in own:
        warnings.append(
            f"{address} is the address you are connected from: banning it can cut off your own SSH "
            "session and your mail client."
        )
    if address.is_loopback:
        warnings.append(f"{address} is a loopback address: the server itself (its own services talk from it).")
    elif address.is_link_local or any(address in net for net in _LOCAL_NETWORKS if net.version == address.version):
        warnings.append(f"{address} is in a private range: probably your own network, not an attacker on the internet.")
    elif address.is_reserved or address.is_multicast or address.is_unspecified:
        warnings.append(f"{address} is not an ordinary internet address (reserved/multicast).")
    return tuple(warnings)


#: Which fail2ban jail fits an event's service, best first.
_SMTP_GUESSING = ("postfix-sasl", "sasl", "postfix")
_SMTP_OTHER = ("postfix", "postfix-sasl", "sasl")
_JAILS_FOR_SERVICE = {
    "smtpd": _SMTP_OTHER,
    "submission": _SMTP_OTHER,
    "smtps": _SMTP_OTHER,
    "postscreen": ("postfix", "postfix-sasl"),
    "imap": ("dovecot",),
    "pop3": ("dovecot",),
    "managesieve": ("dovecot", "sieve"),
    "sshd": ("sshd",),
}
_FALLBACK_JAILS = ("recidive", "postfix", "postfix-sasl", "dovecot", "sshd")


def choose_jail(jails: tuple[str, ...], service: str | None, guessing: bool = False) -> str:
    """The jail for an address seen on ``service``; password guessing on SMTP goes to
    postfix-sasl, every other SMTP misdeed (relay probes, scanners) to postfix."""
    preferred = _JAILS_FOR_SERVICE.get(service or "", ())
    if guessing and preferred is _SMTP_OTHER:
        preferred = _SMTP_GUESSING
    for name in preferred + _FALLBACK_JAILS:
        if name in jails:
            return name
    return jails[0]


def _backend(facts: ServerFacts) -> Backend:
    f2b = facts.fail2ban
    if f2b.status == Status.FOUND and f2b.running and f2b.jails:
        return Backend.FAIL2BAN
    frontends = {f.name: f for f in facts.firewall.frontends}
    if "ufw" in frontends and frontends["ufw"].active:
        return Backend.UFW
    if "firewalld" in frontends and frontends["firewalld"].active:
        raise BanError("firewalld manages this server's firewall; mailtui does not change it. Use fail2ban or "
                       "firewall-cmd yourself.")
    if "nftables" in frontends:
        return Backend.NFTABLES
    if "iptables" in frontends:
        return Backend.IPTABLES
    raise BanError("no way to ban here: fail2ban is not running and no nftables, iptables or ufw was found "
                   f"({facts.fail2ban.reason or 'fail2ban: no jails'}; {facts.firewall.reason or 'no firewall'})")


def _nft_ruleset(family_set: str, address: str) -> str:
    # Idempotent and atomic (nft -f is one transaction): the table, both sets and the two
    # drop rules are (re)declared, then the address is added to its set.
    return (
        f"add table inet {NFT_TABLE}\n"
        f"add set inet {NFT_TABLE} banned4 {{ type ipv4_addr; }}\n"
        f"add set inet {NFT_TABLE} banned6 {{ type ipv6_addr; }}\n"
        f"add chain inet {NFT_TABLE} input {{ type filter hook input priority -10; policy accept; }}\n"
        f"flush chain inet {NFT_TABLE} input\n"
        f"add rule inet {NFT_TABLE} input ip saddr @banned4 drop\n"
        f"add rule inet {NFT_TABLE} input ip6 saddr @banned6 drop\n"
        f"add element inet {NFT_TABLE} {family_set} {{ {address} }}\n"
    )


def plan_ban(
    ip_text: str,
    facts: ServerFacts,
    *,
    action: Action = Action.BAN,
    jail: str | None = None,
    service: str | None = None,
    guessing: bool = False,
    own_addresses: Iterable[str] = (),
) -> BanPlan:
    """The exact commands that ban (or unban) one address on this server.

    ``service`` (where the address was seen) and ``guessing`` (it failed logins) pick the
    fail2ban jail.
    """
    address = parse_ip(ip_text)
    ip = str(address)
    backend = _backend(facts)
    warnings = ip_warnings(address, own_addresses) if action == Action.BAN else ()
    v6 = address.version == 6
    if backend == Backend.FAIL2BAN:
        jails = facts.fail2ban.jails
        if jail is not None and jail not in jails:
            raise BanError(f"fail2ban has no jail {jail!r} (jails: {', '.join(jails)})")
        jail = jail or choose_jail(jails, service, guessing)
        verb = "banip" if action == Action.BAN else "unbanip"
        commands = (Command(("fail2ban-client", "set", jail, verb, ip)),)
    elif backend == Backend.NFTABLES:
        family_set = "banned6" if v6 else "banned4"
        if action == Action.BAN:
            commands = (Command(("nft", "-f", "-"), _nft_ruleset(family_set, ip)),)
        else:
            commands = (Command(("nft", "delete", "element", "inet", NFT_TABLE, family_set, f"{{ {ip} }}")),)
    elif backend == Backend.IPTABLES:
        tool = "ip6tables" if v6 else "iptables"
        flag = "-I" if action == Action.BAN else "-D"
        commands = (Command((tool, flag, "INPUT", "-s", ip, "-m", "comment", "--comment", "mailtui ban", "-j", "DROP")),)
    else:
        if action == Action.BAN:
            commands = (Command(("ufw", "insert", "1", "deny", "from", ip)),)
        else:
            commands = (Command(("ufw", "delete", "deny", "from", ip)),)
    return BanPlan(action, ip, backend, jail if backend == Backend.FAIL2BAN else None, commands, warnings)


async def connection_addresses(transport: Transport) -> set[str]:
    """Addresses the admin is connected from (SSH_CONNECTION on the server), to warn on."""
    result = await transport.run(["sh", "-c", 'printf "%s\\n" "${SSH_CONNECTION:-}" "${SSH_CLIENT:-}"'], timeout=15)
    addresses = set()
    for line in result.stdout.splitlines():
        first = line.split(" ", 1)[0]
        if first:
            addresses.add(first)
    return addresses


_F2B_BANNED = re.compile(r"Banned IP list:\s*(.*)$", re.M)


async def is_banned(transport: Transport, plan: BanPlan) -> bool:
    """Ask the backend whether ``plan.ip`` is banned now."""
    if plan.backend == Backend.FAIL2BAN:
        result = await transport.run(["fail2ban-client", "status", plan.jail or ""], sudo=True, timeout=30)
        match = _F2B_BANNED.search(result.stdout)
        return bool(match) and plan.ip in match.group(1).split()
    if plan.backend == Backend.NFTABLES:
        family_set = "banned6" if ":" in plan.ip else "banned4"
        result = await transport.run(["nft", "list", "set", "inet", NFT_TABLE, family_set], sudo=True, timeout=30)
        return result.ok and re.search(rf"(?<![\w:.]){re.escape(plan.ip)}(?![\w:.])", result.stdout) is not None
    if plan.backend == Backend.IPTABLES:
        tool = "ip6tables" if ":" in plan.ip else "iptables"
        result = await transport.run(
            [tool, "-C", "INPUT", "-s", plan.ip, "-m", "comment", "--comment", "mailtui ban", "-j", "DROP"],
            sudo=True, timeout=30,
        )
        return result.ok
    result = await transport.run(["ufw", "status"], sudo=True, timeout=30)
    return any(line.split()[-1:] == [plan.ip] and "DENY" in line for line in result.stdout.splitlines())


async def apply_ban(transport: Transport, plan: BanPlan) -> BanResult:
    """Run the plan (the user said yes), verify it took effect, and audit it."""
    sudo = not transport.is_root
    shown = tuple(plan.shown(sudo))
    want_banned = plan.action == Action.BAN
    try:
        if await is_banned(transport, plan) == want_banned:
            message = f"{plan.ip} is already {'banned' if want_banned else 'not banned'} ({plan.title}); nothing changed."
            entry = audit.AuditEntry(plan.action.value, transport.label, plan.ip, (), "unchanged", message)
            return BanResult(True, message, await audit.record(transport, entry))
        for command in plan.commands:
            result = await transport.run(list(command.argv), sudo=True, input=command.input, timeout=60)
            if not result.ok:
                raise TransportError(result.describe_failure())
        if await is_banned(transport, plan) != want_banned:
            raise TransportError(f"the command ran, but {plan.ip} is still {'not ' if want_banned else ''}banned")
    except TransportError as exc:
        message = f"{plan.title} failed: {exc.message}"
        entry = audit.AuditEntry(plan.action.value, transport.label, plan.ip, shown, "failed", message)
        return BanResult(False, message, await audit.record(transport, entry))
    message = f"{plan.title}: done and verified."
    entry = audit.AuditEntry(plan.action.value, transport.label, plan.ip, shown, "done", message)
    return BanResult(True, message, await audit.record(transport, entry))
