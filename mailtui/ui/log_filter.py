"""The Logs panel's filter: a small query language over classified events.

    ip:203.0.113.5 user:alice kind:reject sev:warning some text

- ``ip:`` an address or a network (``ip:203.0.113.0/24``);
- ``user:`` the event's user, case-insensitive;
- ``kind:`` a kind (``reject.relay``), a family (``reject``, ``sshd``) or a kind's last
  part (``sasl_failed``);
- ``sev:`` (or ``severity:``) the least severity shown: ``info``, ``notice``, ``warning``,
  ``critical``;
- ``qid:`` (or ``queue:``) a Postfix queue id: the message trace;
- ``attack`` (or ``attacks``): security-relevant events only;
- any other word: the line must contain it (case-insensitive); ``"two words"`` keeps a
  phrase together.

All terms must hold. Pure Python (no Textual): the screen compiles the query once and
calls :meth:`LogFilter.matches` on every event.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field, replace

from mailtui.core.logs.events import EventKind, LogEvent, Severity

__all__ = ["FilterError", "LogFilter", "SEVERITY_RANK", "parse_filter"]

SEVERITY_RANK = {Severity.INFO: 0, Severity.NOTICE: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}
_FAMILIES = sorted({kind.value.split(".")[0] for kind in EventKind})


class FilterError(ValueError):
    """The query cannot be understood; the message says which term and why."""


@dataclass(frozen=True)
class LogFilter:
    """A compiled query. The empty filter matches everything."""

    text: str = ""
    #: Single addresses (compared as strings: fast) and wider networks.
    addresses: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    users: tuple[str, ...] = ()
    kinds: frozenset[EventKind] | None = None
    min_severity: int = 0
    queue_ids: tuple[str, ...] = ()
    attacks_only: bool = False
    words: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not (self.addresses or self.networks or self.users or self.kinds is not None or self.min_severity
                    or self.queue_ids or self.attacks_only or self.words)

    def with_attacks_only(self, on: bool) -> LogFilter:
        return replace(self, attacks_only=on)

    def matches(self, event: LogEvent) -> bool:
        if self.attacks_only and not event.attack:
            return False
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.min_severity and SEVERITY_RANK[event.severity] < self.min_severity:
            return False
        if self.queue_ids and event.queue_id not in self.queue_ids:
            return False
        if self.addresses or self.networks:
            ip = event.remote_ip
            if not ip:
                return False
            if ip not in self.addresses and not (
                self.networks and any(ipaddress.ip_address(ip) in network for network in self.networks)
            ):
                return False
        if self.users and (event.user or "").casefold() not in self.users:
            return False
        if self.words:
            line = event.record.raw.casefold()
            if not all(word in line for word in self.words):
                return False
        return True


def _kinds(value: str) -> frozenset[EventKind]:
    v = value.casefold()
    kinds = frozenset(
        kind for kind in EventKind
        if kind.value == v or kind.value.startswith(v + ".") or kind.value.split(".")[-1] == v
    )
    if not kinds:
        raise FilterError(f"kind:{value} names no kind of event (families: {', '.join(_FAMILIES)})")
    return kinds


def parse_filter(query: str) -> LogFilter:
    """Compile ``query``; raise :class:`FilterError` naming the term that is wrong."""
    try:
        terms = shlex.split(query)
    except ValueError:
        terms = query.split()  # an unbalanced quote: take the words as they are
    addresses: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    users: list[str] = []
    kinds: frozenset[EventKind] | None = None
    min_severity = 0
    queue_ids: list[str] = []
    attacks_only = False
    words: list[str] = []
    for term in terms:
        key, sep, value = term.partition(":")
        key = key.casefold()
        if not sep or key not in ("ip", "user", "kind", "sev", "severity", "qid", "queue"):
            if term.casefold() in ("attack", "attacks"):
                attacks_only = True
            else:
                words.append(term.casefold())
            continue
        if not value:
            raise FilterError(f"{term} needs a value, e.g. {key}:{_EXAMPLES[key]}")
        if key == "ip":
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise FilterError(f"ip:{value} is not an IP address or network") from None
            if network.num_addresses == 1:
                address = network.network_address
                mapped = getattr(address, "ipv4_mapped", None)
                addresses.add(str(mapped or address))
            else:
                networks.append(network)
        elif key == "user":
            users.append(value.casefold())
        elif key == "kind":
            found = _kinds(value)
            kinds = found if kinds is None else kinds | found
        elif key in ("sev", "severity"):
            try:
                min_severity = SEVERITY_RANK[Severity(value.casefold())]
            except ValueError:
                raise FilterError(f"{term}: severity is one of info, notice, warning, critical") from None
        else:
            queue_ids.append(value)
    return LogFilter(query.strip(), frozenset(addresses), tuple(networks), tuple(users), kinds, min_severity, tuple(queue_ids),
                     attacks_only, tuple(words))


_EXAMPLES = {"ip": "203.0.113.5", "user": "alice", "kind": "reject", "sev": "warning", "severity": "warning",
             "qid": "53939160030", "queue": "53939160030"}
