"""SPF (RFC 7208): parse a record and evaluate it, with the DNS limits receivers enforce.

Pure except for the injected ``lookup`` (an async ``(name, rdtype) -> DnsAnswer``), so the
evaluator is unit-tested against a zone held in a dict, and run in a scan against the
scan's resolver. Limits: at most 10 DNS-querying terms (include, a, mx, ptr, exists,
redirect) and at most 2 void lookups (NXDOMAIN/empty), else permerror.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from mailtui.core.scan.dnsq import DnsAnswer, Lookup, reverse_name

MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX_PTR_NAMES = 10
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")


class SpfPermError(Exception):
    pass


class SpfTempError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str  # + - ~ ? ("" for modifiers)
    name: str  # mechanism or modifier name, lower case
    value: str  # after ':' or '=' (may be empty)
    modifier: bool = False

    def __str__(self) -> str:
        if self.modifier:
            return f"{self.name}={self.value}"
        q = "" if self.qualifier == "+" else self.qualifier
        return f"{q}{self.name}{':' + self.value if self.value else ''}"


_TERM = re.compile(r"^([+\-~?]?)([a-zA-Z][a-zA-Z0-9_.\-]*)(?:([:=])(.*)|(/.*))?$")


def is_spf(txt: str) -> bool:
    return txt.lower() == "v=spf1" or txt.lower().startswith("v=spf1 ")


def select_spf(txts: tuple[str, ...] | list[str]) -> str:
    """The domain's single SPF record. None -> SpfNone (empty string); several -> permerror."""
    records = [t for t in txts if is_spf(t)]
    if len(records) > 1:
        raise SpfPermError(f"{len(records)} SPF records (there must be exactly one)")
    return records[0] if records else ""


def parse_spf(record: str) -> list[Term]:
    """Terms of ``v=spf1 ...``. Raises SpfPermError on syntax errors."""
    if not is_spf(record):
        raise SpfPermError("not an SPF record (must start with v=spf1)")
    terms: list[Term] = []
    for token in record.split()[1:]:
        m = _TERM.match(token)
        if not m:
            raise SpfPermError(f"syntax error at {token!r}")
        qualifier, name, sep, value, cidr = m.group(1), m.group(2).lower(), m.group(3), m.group(4), m.group(5)
        if sep == "=":
            if qualifier:
                raise SpfPermError(f"a modifier cannot have a qualifier: {token!r}")
            terms.append(Term("", name, value or "", modifier=True))
            continue
        if name not in MECHANISMS:
            raise SpfPermError(f"unknown mechanism {name!r}")
        val = (value or "") if sep == ":" else (cidr or "")
        if name in ("include", "exists", "ip4", "ip6") and not val:
            raise SpfPermError(f"{name} needs a value: {token!r}")
        if name == "all" and val:
            raise SpfPermError(f"'all' takes no value: {token!r}")
        terms.append(Term(qualifier or "+", name, val))
    redirects = [t for t in terms if t.modifier and t.name == "redirect"]
    if len(redirects) > 1:
        raise SpfPermError("more than one redirect= modifier")
    return terms


def _split_cidr(value: str, default_domain: str) -> tuple[str, int | None, int | None]:
    """``domain/24//64`` -> (domain, 24, 64); the domain part may be empty."""
    domain, c4, c6 = value, None, None
    if "//" in domain:
        domain, c6s = domain.split("//", 1)
        c6 = int(c6s)
    if "/" in domain:
        domain, c4s = domain.split("/", 1)
        c4 = int(c4s)
    if (c4 is not None and not 0 <= c4 <= 32) or (c6 is not None and not 0 <= c6 <= 128):
        raise SpfPermError(f"bad CIDR length in {value!r}")
    return domain or default_domain, c4, c6


def expand_macros(spec: str, *, ip: str, domain: str, sender: str, helo: str = "unknown") -> str:
    """RFC 7208 section 7 macro expansion (enough for real-world records)."""
    if "%" not in spec:
        return spec
    local, _, sdomain = sender.rpartition("@")
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        i_val = str(addr)
    else:
        i_val = ".".join(addr.exploded.replace(":", ""))
    values = {
        "s": sender, "l": local or "postmaster", "o": sdomain or domain, "d": domain, "i": i_val,
        "p": "unknown", "v": "in-addr" if addr.version == 4 else "ip6", "h": helo,
    }
    out, i = [], 0
    while i < len(spec):
        c = spec[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        nxt = spec[i + 1 : i + 2]
        if nxt == "%":
            out.append("%")
            i += 2
        elif nxt == "_":
            out.append(" ")
            i += 2
        elif nxt == "-":
            out.append("%20")
            i += 2
        elif nxt == "{":
            end = spec.find("}", i)
            if end < 0:
                raise SpfPermError(f"unterminated macro in {spec!r}")
            m = re.fullmatch(r"([slodipvhcrtSLODIPVHCRT])(\d*)(r?)([.\-+,/_=]*)", spec[i + 2 : end])
            if not m:
                raise SpfPermError(f"bad macro {spec[i:end + 1]!r}")
            letter, digits, rev, delims = m.group(1).lower(), m.group(2), m.group(3), m.group(4) or "."
            value = values.get(letter, "")
            parts = re.split("[" + re.escape(delims) + "]", value)
            if rev:
                parts.reverse()
            if digits:
                n = int(digits)
                if n == 0:
                    raise SpfPermError("macro with 0 labels")
                parts = parts[-n:]
            out.append(".".join(parts))
            i = end + 1
        else:
            raise SpfPermError(f"bad '%' in {spec!r}")
    return "".join(out)


@dataclass
class _State:
    lookups: int = 0
    void: int = 0
    trail: list[str] = field(default_factory=list)
    count_only: bool = False

    def count(self, what: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise SpfPermError(f"more than {MAX_LOOKUPS} DNS-querying terms (at {what})")

    def note_void(self, answer: DnsAnswer) -> None:
        if answer.void:
            self.void += 1
            if self.void > MAX_VOID:
                raise SpfPermError(f"more than {MAX_VOID} void lookups (at {answer.name} {answer.rdtype})")


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: str  # pass fail softfail neutral none permerror temperror
    domain: str
    ip: str | None
    record: str = ""
    mechanism: str = ""  # the term that decided
    lookups: int = 0
    void_lookups: int = 0
    error: str = ""
    trail: tuple[str, ...] = ()

    def describe(self) -> str:
        head = f"{self.result}"
        if self.mechanism:
            head += f" (by {self.mechanism})"
        if self.error:
            head += f": {self.error}"
        return head


class SpfEvaluator:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    async def _txt(self, domain: str) -> str:
        answer = await self.lookup(domain, "TXT")
        if answer.failed:
            raise SpfTempError(f"TXT {domain}: {answer.rcode}")
        return select_spf(answer.records)

    async def _addresses(self, name: str, version: int, state: _State, *, void: bool) -> list[str]:
        answer = await self.lookup(name, "A" if version == 4 else "AAAA")
        if answer.failed:
            raise SpfTempError(f"{answer.rdtype} {name}: {answer.rcode}")
        if void:
            state.note_void(answer)
        return list(answer.records)

    async def check_host(self, ip: str | None, domain: str, sender: str | None = None) -> SpfResult:
        """Evaluate SPF for ``ip`` and ``domain``. ``ip=None`` only walks and counts lookups."""
        state = _State(count_only=ip is None)
        sender = sender or f"postmaster@{domain}"
        record = ""
        try:
            record = await self._txt(domain)
            if not record:
                return SpfResult("none", domain, ip, error="no SPF record")
            result, mech = await self._evaluate(ip, domain, sender, record, state, depth=0)
            return SpfResult(result, domain, ip, record, mech, state.lookups, state.void, trail=tuple(state.trail))
        except SpfPermError as exc:
            return SpfResult("permerror", domain, ip, record, "", state.lookups, state.void, str(exc), tuple(state.trail))
        except SpfTempError as exc:
            return SpfResult("temperror", domain, ip, record, "", state.lookups, state.void, str(exc), tuple(state.trail))

    async def _evaluate(self, ip, domain, sender, record, state: _State, depth: int) -> tuple[str, str]:
        if depth > 20:
            raise SpfPermError("include/redirect loop")
        state.trail.append(f"{'  ' * depth}{domain}: {record}")
        terms = parse_spf(record)
        addr = ipaddress.ip_address(ip) if ip else None
        version = addr.version if addr else 4

        def mx_name(value: str) -> str:
            return expand_macros(value, ip=ip or "192.0.2.1", domain=domain, sender=sender)

        for term in terms:
            if term.modifier:
                continue
            matched = False
            name = term.name
            if name == "all":
                matched = not state.count_only
            elif name in ("ip4", "ip6"):
                try:
                    net = ipaddress.ip_network(term.value, strict=False)
                except ValueError:
                    raise SpfPermError(f"bad network {term.value!r}") from None
                if (name == "ip4") != (net.version == 4):
                    raise SpfPermError(f"{term} has the wrong address family")
                matched = addr is not None and addr.version == net.version and addr in net
            elif name == "include":
                state.count(str(term))
                target = mx_name(term.value)
                sub_record = await self._txt(target)
                if not sub_record:
                    state.note_void(DnsAnswer(target, "TXT", "NODATA"))
                    raise SpfPermError(f"include:{target} has no SPF record")
                sub, _ = await self._evaluate(ip, target, sender, sub_record, state, depth + 1)
                if sub in ("permerror", "none"):
                    raise SpfPermError(f"include:{target} -> {sub}")
                if sub == "temperror":
                    raise SpfTempError(f"include:{target} -> temperror")
                matched = sub == "pass" and not state.count_only
            elif name == "a":
                state.count(str(term))
                target, c4, c6 = _split_cidr(term.value, domain)
                target = mx_name(target)
                for a in await self._addresses(target, version, state, void=True):
                    if addr and _in(addr, a, c4, c6):
                        matched = True
            elif name == "mx":
                state.count(str(term))
                target, c4, c6 = _split_cidr(term.value, domain)
                target = mx_name(target)
                answer = await self.lookup(target, "MX")
                if answer.failed:
                    raise SpfTempError(f"MX {target}: {answer.rcode}")
                state.note_void(answer)
                hosts = [r.split()[-1].rstrip(".") for r in answer.records]
                if len(hosts) > MAX_MX_PTR_NAMES:
                    raise SpfPermError(f"mx:{target} has more than {MAX_MX_PTR_NAMES} MX names")
                for host in hosts:
                    if not host:
                        continue
                    for a in await self._addresses(host, version, state, void=False):
                        if addr and _in(addr, a, c4, c6):
                            matched = True
            elif name == "ptr":
                state.count(str(term))
                if addr is not None:
                    target = mx_name(term.value) if term.value else domain
                    matched = await self._ptr_matches(addr, target, state)
            elif name == "exists":
                state.count(str(term))
                target = mx_name(term.value)
                answer = await self.lookup(target, "A")
                if answer.failed:
                    raise SpfTempError(f"A {target}: {answer.rcode}")
                state.note_void(answer)
                matched = bool(answer.records) and not state.count_only
            if matched:
                return QUALIFIERS[term.qualifier], str(term)
        redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
        if redirect is not None:
            state.count(str(redirect))
            target = mx_name(redirect.value)
            sub_record = await self._txt(target)
            if not sub_record:
                raise SpfPermError(f"redirect={target} has no SPF record")
            return await self._evaluate(ip, target, sender, sub_record, state, depth + 1)
        return "neutral", "(no match, no all: default neutral)"

    async def _ptr_matches(self, addr, target: str, state: _State) -> bool:
        answer = await self.lookup(reverse_name(str(addr)), "PTR")
        if answer.failed:
            return False
        for name in [r.rstrip(".") for r in answer.records][:MAX_MX_PTR_NAMES]:
            fwd = await self.lookup(name, "A" if addr.version == 4 else "AAAA")
            if str(addr) in fwd.records and (name.lower() == target.lower() or name.lower().endswith("." + target.lower())):
                return True
        return False


def _in(addr, a: str, c4: int | None, c6: int | None) -> bool:
    try:
        other = ipaddress.ip_address(a)
    except ValueError:
        return False
    if other.version != addr.version:
        return False
    prefix = (c4 if other.version == 4 else c6)
    if prefix is None:
        return other == addr
    return addr in ipaddress.ip_network(f"{other}/{prefix}", strict=False)


def all_qualifier(record: str) -> str | None:
    """The qualifier of the top-level ``all`` ("+", "-", "~", "?"), None if there is none."""
    try:
        terms = parse_spf(record)
    except SpfPermError:
        return None
    for t in terms:
        if not t.modifier and t.name == "all":
            return t.qualifier
    return None
