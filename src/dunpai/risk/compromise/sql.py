"""SQLAlchemy implementations of the compromise ports: exposures (flags, exposed cards, reissues)
and the card-present history the job reads."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dunpai.core.errors import NotFound
from dunpai.risk.compromise.model import EvidenceCard, ExposedCard, TerminalFlag
from dunpai.risk.compromise.ports import merge_flag
from dunpai.risk.compromise.tables import (
    compromise_exposed,
    compromise_flags,
    compromise_reissued,
    compromise_visits,
)
from dunpai.risk.compromise.visits import F64, I64


def _flag(row: Any) -> TerminalFlag:
    evidence = tuple(EvidenceCard(**e) for e in json.loads(row.evidence))
    return TerminalFlag(
        terminal_id=row.terminal_id,
        flagged_at=row.flagged_at,
        score=row.score,
        p_value=row.p_value,
        window_start=row.window_start,
        window_end=row.window_end,
        fraud_cards=row.fraud_cards,
        window_cards=row.window_cards,
        base_rate=row.base_rate,
        tests=row.tests,
        evidence=evidence,
        cleared_at=row.cleared_at,
    )


def _flag_values(flag: TerminalFlag) -> dict[str, Any]:
    values = {f.name: getattr(flag, f.name) for f in dataclasses.fields(flag) if f.name != "evidence"}
    values["evidence"] = json.dumps([dataclasses.asdict(e) for e in flag.evidence], sort_keys=True)
    return values


class SqlExposureRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save_flag(self, flag: TerminalFlag) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(compromise_flags).where(compromise_flags.c.terminal_id == flag.terminal_id)
            ).first()
            merged = merge_flag(None if row is None else _flag(row), flag)
            if row is None:
                conn.execute(insert(compromise_flags).values(**_flag_values(merged)))
            else:
                conn.execute(
                    update(compromise_flags)
                    .where(compromise_flags.c.terminal_id == flag.terminal_id)
                    .values(**_flag_values(merged))
                )

    def flag_of(self, terminal_id: str) -> TerminalFlag | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(compromise_flags).where(compromise_flags.c.terminal_id == terminal_id)).first()
        return None if row is None else _flag(row)

    def flags(self) -> list[TerminalFlag]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(compromise_flags).order_by(compromise_flags.c.flagged_at, compromise_flags.c.terminal_id)
            ).all()
        return [_flag(r) for r in rows]

    def clear_flag(self, terminal_id: str, t: float) -> TerminalFlag:
        with self.engine.begin() as conn:
            conn.execute(
                update(compromise_flags).where(compromise_flags.c.terminal_id == terminal_id).values(cleared_at=t)
            )
        flag = self.flag_of(terminal_id)
        if flag is None:
            raise NotFound("terminal is not flagged", terminal_id=terminal_id)
        return flag

    def add_exposed(self, items: Iterable[ExposedCard]) -> list[ExposedCard]:
        c = compromise_exposed.c
        new: list[ExposedCard] = []
        with self.engine.begin() as conn:
            for item in items:
                row = conn.execute(
                    select(c.exposed_at, c.exposure).where(c.card_id == item.card_id, c.terminal_id == item.terminal_id)
                ).first()
                if row is None:
                    conn.execute(insert(compromise_exposed).values(**dataclasses.asdict(item)))
                    new.append(item)
                elif item.exposure > row.exposure or (
                    item.exposure == row.exposure and item.exposed_at < row.exposed_at
                ):
                    conn.execute(
                        update(compromise_exposed)
                        .where(c.card_id == item.card_id, c.terminal_id == item.terminal_id)
                        .values(visit_t=item.visit_t, exposed_at=item.exposed_at, exposure=item.exposure)
                    )
                    if item.exposure > row.exposure:
                        new.append(item)
        return new

    def exposures_of(self, card_id: str) -> list[ExposedCard]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(compromise_exposed)
                .where(compromise_exposed.c.card_id == card_id)
                .order_by(compromise_exposed.c.exposed_at)
            ).all()
        return [ExposedCard(r.card_id, r.terminal_id, r.visit_t, r.exposed_at, r.exposure) for r in rows]

    def exposed_cards(self) -> list[ExposedCard]:
        c = compromise_exposed.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(compromise_exposed).order_by(c.exposed_at, c.card_id, c.terminal_id)).all()
        return [ExposedCard(r.card_id, r.terminal_id, r.visit_t, r.exposed_at, r.exposure) for r in rows]

    def mark_reissued(self, card_id: str, t: float) -> None:
        c = compromise_reissued.c
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(compromise_reissued).values(card_id=card_id, reissued_at=t))
        except IntegrityError:
            with self.engine.begin() as conn:
                conn.execute(
                    update(compromise_reissued).where(c.card_id == card_id, c.reissued_at < t).values(reissued_at=t)
                )

    def reissued_at(self, card_id: str) -> float | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(compromise_reissued.c.reissued_at).where(compromise_reissued.c.card_id == card_id)
            ).scalar()
        return None if value is None else float(value)


class SqlVisitHistory:
    """The job's history in the ``compromise_visits`` table (fed by :meth:`record`, e.g. from the
    accepted card-present events)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, visits: Iterable[tuple[str, str, float]]) -> int:
        rows = [{"card_id": c, "terminal_id": term, "t": t} for c, term, t in visits]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(compromise_visits), rows)
        return len(rows)

    def card_visits(self, card_id: str, start: float, end: float) -> list[tuple[float, str]]:
        c = compromise_visits.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.t, c.terminal_id).where(c.card_id == card_id, c.t >= start, c.t < end).order_by(c.t, c.id)
            ).all()
        return [(float(r[0]), str(r[1])) for r in rows]

    def terminal_cards(self, terminal_id: str, start: float, end: float) -> list[tuple[float, str]]:
        c = compromise_visits.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.t, c.card_id).where(c.terminal_id == terminal_id, c.t >= start, c.t <= end).order_by(c.t, c.id)
            ).all()
        return [(float(r[0]), str(r[1])) for r in rows]

    def terminal_arrays(self, terminal_id: str, start: float, end: float) -> tuple[F64, I64]:
        rows = self.terminal_cards(terminal_id, start, end)
        codes: dict[str, int] = {}
        cards = np.array([codes.setdefault(c, len(codes)) for _, c in rows], dtype=np.int64)
        return np.array([t for t, _ in rows], dtype=np.float64), cards

    def distinct_cards(self, terminal_id: str, start: float, end: float) -> int:
        c = compromise_visits.c
        with self.engine.connect() as conn:
            n = conn.execute(
                select(func.count(func.distinct(c.card_id))).where(
                    c.terminal_id == terminal_id, c.t >= start, c.t <= end
                )
            ).scalar_one()
        return int(n)

    def active_cards(self, as_of: float) -> int:
        c = compromise_visits.c
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count(func.distinct(c.card_id))).where(c.t <= as_of)).scalar_one()
        return int(n)


class CachedExposureRepository:
    """The exposure list held in memory for the live decision path (the engine asks on every card
    event; the list changes only when the job flags a terminal). Reads are served from a snapshot
    reloaded at least every ``refresh_seconds`` and at once after a write through this object;
    writes go straight to the wrapped repository."""

    def __init__(self, inner: SqlExposureRepository, refresh_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._loaded_at = -math.inf
        self._flags: dict[str, TerminalFlag] = {}
        self._exposed: dict[str, list[ExposedCard]] = {}

    def _fresh(self) -> None:
        now = self.clock()
        if now - self._loaded_at <= self.refresh_seconds:
            return
        self._flags = {f.terminal_id: f for f in self.inner.flags()}
        exposed: dict[str, list[ExposedCard]] = {}
        for e in self.inner.exposed_cards():
            exposed.setdefault(e.card_id, []).append(e)
        self._exposed = exposed
        self._loaded_at = now

    def flag_of(self, terminal_id: str) -> TerminalFlag | None:
        self._fresh()
        return self._flags.get(terminal_id)

    def flags(self) -> list[TerminalFlag]:
        self._fresh()
        return list(self._flags.values())

    def exposures_of(self, card_id: str) -> list[ExposedCard]:
        self._fresh()
        return self._exposed.get(card_id, [])

    def exposed_cards(self) -> list[ExposedCard]:
        self._fresh()
        return [e for items in self._exposed.values() for e in items]

    def reissued_at(self, card_id: str) -> float | None:
        # Asked only for cards with exposures: rare, so read through.
        return self.inner.reissued_at(card_id) if card_id in self._exposed else None

    def save_flag(self, flag: TerminalFlag) -> None:
        self.inner.save_flag(flag)
        self._loaded_at = -math.inf

    def clear_flag(self, terminal_id: str, t: float) -> TerminalFlag:
        self._loaded_at = -math.inf
        return self.inner.clear_flag(terminal_id, t)

    def add_exposed(self, items: Iterable[ExposedCard]) -> list[ExposedCard]:
        self._loaded_at = -math.inf
        return self.inner.add_exposed(items)

    def mark_reissued(self, card_id: str, t: float) -> None:
        self.inner.mark_reissued(card_id, t)
        self._loaded_at = -math.inf
