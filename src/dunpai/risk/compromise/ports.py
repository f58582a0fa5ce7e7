"""Where flags, exposed cards and reissues live: the port and its in-memory implementation.

The SQL implementation (``compromise.sql``) passes the same contract tests (``tests/risk/compromise``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol

from dunpai.core.errors import NotFound
from dunpai.risk.compromise.model import ExposedCard, TerminalFlag


class ExposureRepository(Protocol):
    def save_flag(self, flag: TerminalFlag) -> None:
        """Insert or update the terminal's flag (a re-evaluation keeps the first ``flagged_at``)."""
        ...

    def flag_of(self, terminal_id: str) -> TerminalFlag | None: ...

    def flags(self) -> list[TerminalFlag]: ...

    def clear_flag(self, terminal_id: str, t: float) -> TerminalFlag:
        """The terminal was inspected (skimmer removed, or nothing found): no longer flagged from ``t``."""
        ...

    def add_exposed(self, items: Iterable[ExposedCard]) -> list[ExposedCard]:
        """Record exposures; returns those that are new or raise the card's exposure at the terminal
        (one per card and terminal: the highest exposure, the earliest time it was reached)."""
        ...

    def exposures_of(self, card_id: str) -> list[ExposedCard]: ...

    def exposed_cards(self) -> list[ExposedCard]: ...

    def mark_reissued(self, card_id: str, t: float) -> None:
        """The card was replaced at ``t``: its exposures no longer raise risk from then on."""
        ...

    def reissued_at(self, card_id: str) -> float | None: ...


def merge_flag(old: TerminalFlag | None, new: TerminalFlag) -> TerminalFlag:
    if old is None:
        return new
    return dataclasses.replace(new, flagged_at=min(old.flagged_at, new.flagged_at), cleared_at=old.cleared_at)


class MemoryExposureRepository:
    def __init__(self) -> None:
        self._flags: dict[str, TerminalFlag] = {}
        self._exposed: dict[tuple[str, str], ExposedCard] = {}
        self._by_card: dict[str, list[tuple[str, str]]] = {}
        self._reissued: dict[str, float] = {}

    def save_flag(self, flag: TerminalFlag) -> None:
        self._flags[flag.terminal_id] = merge_flag(self._flags.get(flag.terminal_id), flag)

    def flag_of(self, terminal_id: str) -> TerminalFlag | None:
        return self._flags.get(terminal_id)

    def flags(self) -> list[TerminalFlag]:
        return sorted(self._flags.values(), key=lambda f: (f.flagged_at, f.terminal_id))

    def clear_flag(self, terminal_id: str, t: float) -> TerminalFlag:
        flag = self._flags.get(terminal_id)
        if flag is None:
            raise NotFound("terminal is not flagged", terminal_id=terminal_id)
        flag = dataclasses.replace(flag, cleared_at=t)
        self._flags[terminal_id] = flag
        return flag

    def add_exposed(self, items: Iterable[ExposedCard]) -> list[ExposedCard]:
        new = []
        for item in items:
            key = (item.card_id, item.terminal_id)
            old = self._exposed.get(key)
            if old is None:
                self._by_card.setdefault(item.card_id, []).append(key)
            if old is None or item.exposure > old.exposure:
                self._exposed[key] = item
                new.append(item)
            elif item.exposure == old.exposure and item.exposed_at < old.exposed_at:
                self._exposed[key] = item
        return new

    def exposures_of(self, card_id: str) -> list[ExposedCard]:
        return [self._exposed[k] for k in self._by_card.get(card_id, [])]

    def exposed_cards(self) -> list[ExposedCard]:
        return sorted(self._exposed.values(), key=lambda e: (e.exposed_at, e.card_id, e.terminal_id))

    def mark_reissued(self, card_id: str, t: float) -> None:
        self._reissued[card_id] = max(self._reissued.get(card_id, t), t)

    def reissued_at(self, card_id: str) -> float | None:
        return self._reissued.get(card_id)
