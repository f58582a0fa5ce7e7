"""The card-present visits the job reads: which terminals a card used, which cards a terminal saw.

:class:`VisitHistory` is the port. :class:`ArrayVisitHistory` keeps the visits in two sorted numpy
indexes (by card, by terminal) for batch jobs and evaluations over millions of uses;
``compromise.sql.SqlVisitHistory`` reads the same from the ``compromise_visits`` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dunpai.risk.events.schemas import CardPresent

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class VisitHistory(Protocol):
    def card_visits(self, card_id: str, start: float, end: float) -> list[tuple[float, str]]:
        """(time, terminal) of the card's uses with ``start <= t < end``, in time order."""
        ...

    def terminal_cards(self, terminal_id: str, start: float, end: float) -> list[tuple[float, str]]:
        """(time, card) of the terminal's uses with ``start <= t <= end``, in time order."""
        ...

    def distinct_cards(self, terminal_id: str, start: float, end: float) -> int:
        """How many different cards used the terminal with ``start <= t <= end``."""
        ...

    def terminal_arrays(self, terminal_id: str, start: float, end: float) -> tuple[F64, I64]:
        """The terminal's uses with ``start <= t <= end`` as arrays (times in order, card codes): the
        job's scan counts different cards in many windows at once. Codes compare within one call only."""
        ...

    def active_cards(self, as_of: float) -> int:
        """How many different cards have any use up to ``as_of`` (the population at risk)."""
        ...


class ArrayVisitHistory:
    """Immutable in-memory history; build it with :meth:`from_arrays` or :meth:`from_events`."""

    def __init__(
        self, card_codes: Sequence[str], terminal_codes: Sequence[str], card: I64, terminal: I64, t: F64
    ) -> None:
        self.card_names = list(card_codes)
        self.terminal_names = list(terminal_codes)
        self._card_index = {c: i for i, c in enumerate(self.card_names)}
        self._term_index = {c: i for i, c in enumerate(self.terminal_names)}
        order = np.lexsort((t, card))
        self._c_t, self._c_term = t[order], terminal[order]
        self._c_ptr = np.searchsorted(card[order], np.arange(len(self.card_names) + 1))
        order = np.lexsort((t, terminal))
        self._t_t, self._t_card = t[order], card[order]
        self._t_ptr = np.searchsorted(terminal[order], np.arange(len(self.terminal_names) + 1))
        first = np.full(len(self.card_names), np.inf)
        np.minimum.at(first, card, t)
        self._first_seen = np.sort(first)

    @classmethod
    def from_arrays(
        cls,
        card: Sequence[str] | npt.NDArray[np.str_],
        terminal: Sequence[str] | npt.NDArray[np.str_],
        t: Sequence[float] | F64,
    ) -> ArrayVisitHistory:
        cards, card_codes = np.unique(np.asarray(card, dtype=str), return_inverse=True)
        terms, term_codes = np.unique(np.asarray(terminal, dtype=str), return_inverse=True)
        return cls(
            [str(c) for c in cards],
            [str(x) for x in terms],
            card_codes.astype(np.int64),
            term_codes.astype(np.int64),
            np.asarray(t, dtype=np.float64),
        )

    @classmethod
    def from_events(cls, events: Iterable[CardPresent]) -> ArrayVisitHistory:
        rows = [(e.card_id, e.terminal_id, e.event_time.timestamp()) for e in events if e.card_id]
        return cls.from_arrays([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def _card_slice(self, card_id: str, start: float, end: float) -> tuple[F64, I64]:
        i = self._card_index.get(card_id)
        if i is None:
            return np.empty(0), np.empty(0, dtype=np.int64)
        lo, hi = self._c_ptr[i], self._c_ptr[i + 1]
        ts = self._c_t[lo:hi]
        a, b = np.searchsorted(ts, start, "left"), np.searchsorted(ts, end, "left")
        return ts[a:b], self._c_term[lo + a : lo + b]

    def _terminal_slice(self, terminal_id: str, start: float, end: float) -> tuple[F64, I64]:
        i = self._term_index.get(terminal_id)
        if i is None:
            return np.empty(0), np.empty(0, dtype=np.int64)
        lo, hi = self._t_ptr[i], self._t_ptr[i + 1]
        ts = self._t_t[lo:hi]
        a, b = np.searchsorted(ts, start, "left"), np.searchsorted(ts, end, "right")
        return ts[a:b], self._t_card[lo + a : lo + b]

    def card_visits(self, card_id: str, start: float, end: float) -> list[tuple[float, str]]:
        ts, terms = self._card_slice(card_id, start, end)
        names = self.terminal_names
        return [(float(x), names[int(y)]) for x, y in zip(ts, terms, strict=True)]

    def terminal_cards(self, terminal_id: str, start: float, end: float) -> list[tuple[float, str]]:
        ts, cards = self._terminal_slice(terminal_id, start, end)
        names = self.card_names
        return [(float(x), names[int(y)]) for x, y in zip(ts, cards, strict=True)]

    def terminal_arrays(self, terminal_id: str, start: float, end: float) -> tuple[F64, I64]:
        return self._terminal_slice(terminal_id, start, end)

    def distinct_cards(self, terminal_id: str, start: float, end: float) -> int:
        _, cards = self._terminal_slice(terminal_id, start, end)
        return len(set(cards.tolist()))

    def active_cards(self, as_of: float) -> int:
        return int(np.searchsorted(self._first_seen, as_of, "right"))
