"""DMARC (RFC 7489): parse the record, judge the policy and the report addresses (pure)."""

from __future__ import annotations

from dataclasses import dataclass


class DmarcError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    raw: str
    tags: dict[str, str]
    policy: str  # none / quarantine / reject
    subdomain_policy: str
    pct: int
    rua: tuple[str, ...]
    ruf: tuple[str, ...]

    @property
    def enforcing(self) -> bool:
        return self.policy in ("quarantine", "reject") and self.pct > 0


def is_dmarc(txt: str) -> bool:
    return txt.replace(" ", "").lower().startswith("v=dmarc1")


def select_dmarc(txts: tuple[str, ...] | list[str]) -> str:
    records = [t for t in txts if is_dmarc(t)]
    if len(records) > 1:
        raise DmarcError(f"{len(records)} DMARC records (receivers ignore all of them)")
    return records[0] if records else ""


def parse_dmarc(record: str) -> DmarcRecord:
    """Tags of ``v=DMARC1; p=...``. Raises DmarcError for what receivers reject."""
    parts = [p.strip() for p in record.split(";") if p.strip()]
    tags: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep:
            raise DmarcError(f"tag without '=': {part!r}")
        tags[key.strip().lower()] = value.strip()
    if tags.get("v", "").upper() != "DMARC1" or not parts[0].replace(" ", "").lower().startswith("v="):
        raise DmarcError("the record must start with v=DMARC1")
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        if "rua" in tags and not policy:
            policy = "none"  # RFC 7489 6.6.3: a record with rua but no valid p is treated as p=none
        else:
            raise DmarcError(f"invalid or missing p= ({tags.get('p', '')!r})")
    sp = tags.get("sp", policy).lower()
    try:
        pct = int(tags.get("pct", "100"))
    except ValueError:
        raise DmarcError(f"pct={tags['pct']!r} is not a number") from None
    return DmarcRecord(record, tags, policy, sp if sp in ("none", "quarantine", "reject") else policy,
                       max(0, min(100, pct)), _uris(tags.get("rua", "")), _uris(tags.get("ruf", "")))


def _uris(value: str) -> tuple[str, ...]:
    out = []
    for item in value.split(","):
        item = item.strip()
        if item:
            out.append(item.split("!", 1)[0])  # drop the size limit suffix
    return tuple(out)


def mailto_domain(uri: str) -> str | None:
    if not uri.lower().startswith("mailto:"):
        return None
    address = uri[7:]
    return address.rpartition("@")[2].lower().rstrip(".") or None


def organizational_domain(domain: str) -> str:
    """Approximation without the Public Suffix List: the last two labels."""
    labels = domain.rstrip(".").lower().split(".")
    return ".".join(labels[-2:])


def external_report_domains(record: DmarcRecord, domain: str) -> tuple[str, ...]:
    """Report destinations outside the domain's organisation (they must authorise it, RFC 7489 7.1)."""
    org = organizational_domain(domain)
    out = []
    for uri in record.rua + record.ruf:
        d = mailto_domain(uri)
        if d and organizational_domain(d) != org and d not in out:
            out.append(d)
    return tuple(out)


def report_authorisation_name(domain: str, report_domain: str) -> str:
    return f"{domain.rstrip('.')}._report._dmarc.{report_domain}"
