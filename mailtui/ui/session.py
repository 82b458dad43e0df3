"""The open connection the app works with: what it is, how to reach it, what it is like."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailtui.core.facts import ServerFacts
from mailtui.core.target import Target
from mailtui.core.transport import Transport


@dataclass(frozen=True)
class Session:
    """One connected server: the target it came from, its transport and its latest facts."""

    target: Target
    transport: Transport
    facts: ServerFacts

    def with_facts(self, facts: ServerFacts) -> Session:
        return replace(self, facts=facts)
