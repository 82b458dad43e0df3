"""The probe plugins: a registry from group id (``smtp``, ``tls``, ``dns`` ...) to its code.

Like sslyze's plugins: each group is one async function ``run(ctx) -> list[Finding]`` that
does its I/O through the :class:`~mailtui.core.scan.context.ScanContext` and keeps its
parsing in pure ``parse_*``/``evaluate_*`` functions next to it. The panel lists
:func:`probe_groups` to offer choices; the runner runs the selected ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailtui.core.scan.options import ALL_GROUPS

if TYPE_CHECKING:
    from mailtui.core.findings import Finding
    from mailtui.core.scan.context import ScanContext

ProbeFunction = Callable[["ScanContext"], Awaitable[list["Finding"]]]


@dataclass(frozen=True, slots=True)
class ProbeGroup:
    id: str
    title: str
    description: str
    run: ProbeFunction
    #: What the probe is aimed at, for progress display: "address", "smtp" (IP:25) or "domain".
    aims_at: str = "address"


_REGISTRY: dict[str, ProbeGroup] = {}

# One module per group (the module registers itself when imported).
_MODULES = {
    "ports": "mailtui.core.scan.ports",
    "smtp": "mailtui.core.scan.smtp",
    "relay": "mailtui.core.scan.relay",
    "enum": "mailtui.core.scan.enum",
    "spoof": "mailtui.core.scan.spoof",
    "tls": "mailtui.core.scan.tls",
    "imap_pop": "mailtui.core.scan.imap_pop",
    "ssh": "mailtui.core.scan.ssh",
    "dns": "mailtui.core.scan.dns_checks",
    "dnsbl": "mailtui.core.scan.dnsbl",
}


def register(group_id: str, title: str, description: str, *, aims_at: str = "address") -> Callable[[ProbeFunction], ProbeFunction]:
    """Decorator: make ``fn`` the implementation of probe group ``group_id``."""
    if group_id not in ALL_GROUPS:
        raise ValueError(f"unknown probe group {group_id!r}")

    def wrap(fn: ProbeFunction) -> ProbeFunction:
        _REGISTRY[group_id] = ProbeGroup(group_id, title, description, fn, aims_at)
        return fn

    return wrap


def load_all() -> None:
    for module in _MODULES.values():
        importlib.import_module(module)


def probe_groups() -> tuple[ProbeGroup, ...]:
    """All probe groups, in display order."""
    load_all()
    return tuple(_REGISTRY[g] for g in ALL_GROUPS if g in _REGISTRY)


def probe_group(group_id: str) -> ProbeGroup:
    load_all()
    return _REGISTRY[group_id]
