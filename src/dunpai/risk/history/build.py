"""Replay a tenant's event log through the live engine into its history store.

Every logged event of the tenant, in log order, goes through ``Engine.decide`` — the feature steps,
detectors and rules that decide live traffic — with the engine's states written exactly as the
service writes them. Payments become history rows (features, signals, rule hits, action, score).
The replay runs without look-ups outside online state (no mobile-shield nonces are consumed, no
current skimming flags leak into the past) and without the model (training reads these features;
evaluation scores them in batches).

The replay keeps its own state (``state.snapshot`` beside the parts), so an import or new live
events extend the history instead of replaying everything; when it extends history that ends
exactly where the live state ends (an import into the embedded default), it also writes the live
state, so a later ``dunpai serve`` starts with every imported card's habits.
"""

from __future__ import annotations

import hashlib
import operator
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import polars as pl

from dunpai.core.bulk import bulk_gc
from dunpai.risk.decisions.engine import Engine, known_variables
from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent, MobileTransfer
from dunpai.risk.features.layout import Features
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore, StateStore
from dunpai.risk.history.decode import decode_logged
from dunpai.risk.history.store import HistoryMeta, HistoryStore
from dunpai.risk.rules.compiler import CompiledRuleset
from dunpai.risk.storage import repository as repo

Progress = Callable[[int], None]
PART_ROWS = 100_000
SNAPSHOT_EVERY_S = 60.0
"""The replay's state is snapshotted at most this often (and at the end): a snapshot writes every
entity's state, so one per part would grow with the bank's cards and terminals, not with the part."""
META_COLUMNS = ("seq", "event_id", "event_type", "t", "day", "subject", "customer", "action", "score", "rules_hit")


def pipeline_signature(pipeline: FeaturePipeline) -> str:
    """Which steps with which state layouts and feature names: history made by another pipeline
    cannot be extended, only rebuilt."""
    spec = "|".join(f"{type(s).__qualname__}:{s.name}:{s.layout.size}" for s in pipeline.steps)
    spec += "|" + ",".join(pipeline.feature_names())
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def history_engine(pipeline: FeaturePipeline, ruleset_text: str, known: frozenset[str] | None = None,
                   version: str | None = None) -> Engine:
    """The engine a history replay runs: the published rules over the pipeline, no look-ups, no
    model. Rules reading a look-up's variables (``known`` lists them) never apply here."""
    ruleset = CompiledRuleset.from_yaml(ruleset_text, known or known_variables(pipeline, DEFAULT_DETECTORS), version)
    return Engine(ruleset, pipeline=pipeline)


def _one(name: str) -> Callable[[Any], tuple[Any]]:
    return lambda d: (d[name],)


class _Group:
    """Rows whose features have the same names in the same order, packed as doubles (one C call a
    row: ``struct`` converts a tuple of floats about twice as fast as a NumPy row assignment)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.get: Callable[[Any], Any] = (operator.itemgetter(*names) if len(names) > 1
                                          else _one(names[0]))
        self.pack = struct.Struct(f"{len(names)}d").pack
        self.rows: list[int] = []
        self.data = bytearray()

    def add(self, row: int, features: dict[str, float]) -> None:
        self.data += self.pack(*self.get(features))
        self.rows.append(row)

    def block(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.float64).reshape(len(self.rows), len(self.names))


class _Rows:
    """Feature dicts of one part, grouped by their names so each row is read with one C call into a
    block of doubles. Events without the bank's own attributes have names fixed by their shape (the
    event type and the steps that ran), a cheap key; the others are keyed by their names."""

    def __init__(self) -> None:
        self.meta: list[tuple[Any, ...]] = []
        self.groups: dict[Any, _Group] = {}

    def add(self, meta: tuple[Any, ...], features: Features, dynamic: bool) -> None:
        key: Any = tuple(features) if dynamic else (features.shape, len(features))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(tuple(features))
        group.add(len(self.meta), features)
        self.meta.append(meta)

    def frame(self) -> pl.DataFrame:
        size = len(self.meta)
        columns: dict[str, np.ndarray] = {}
        for group in self.groups.values():
            block = _column_major(group.block())
            if len(group.rows) == size:  # the only group: its columns as they are
                columns.update(zip(group.names, block.T, strict=True))
                continue
            rows = np.asarray(group.rows, dtype=np.int64)
            for j, name in enumerate(group.names):
                column = columns.get(name)
                if column is None:
                    column = columns[name] = np.full(size, np.nan)
                column[rows] = block[:, j]
        meta: list[tuple[Any, ...]] = list(zip(*self.meta, strict=True)) if self.meta else [() for _ in META_COLUMNS]
        schema = [pl.Int64, pl.Utf8, pl.Utf8, pl.Float64, pl.Int32, pl.Utf8, pl.Utf8, pl.Int8, pl.Int16, pl.Utf8]
        series = [pl.Series(n, list(v), dtype=d) for n, v, d in zip(META_COLUMNS, meta, schema, strict=True)]
        series += [pl.Series(name, columns[name]) for name in sorted(columns)]
        return pl.DataFrame(series)


def _column_major(block: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``block`` in Fortran order, copied a chunk of rows at a time (a chunk stays in the cache:
    about eight times faster than one whole transposing copy)."""
    out = np.empty(block.shape, dtype=np.float64, order="F")
    for start in range(0, len(block), chunk):
        out[start:start + chunk] = block[start:start + chunk]
    return out


def _local_day(event: AnyEvent) -> int:
    when = event.event_time
    offset = when.utcoffset()
    return int((when.timestamp() + (offset.total_seconds() if offset else 0.0)) // 86400)


def extend(history: HistoryStore, batches: Iterable[list[tuple[int, str]]], engine: Engine,
           live: StateStore | None = None, progress: Progress | None = None) -> HistoryMeta:
    """Decide the ``(seq, body)`` batches (the tenant's events after the history's ``last_seq``) and
    append them to the history. ``live`` (a tenant view of the service's store) receives the final
    states when the history and the live state end at the same event: one copy at the end, not a
    second write per event (a replay cut short leaves the live state behind, and the service's
    recovery folds the rest from the log)."""
    signature = pipeline_signature(engine.pipeline)
    meta = history.meta()
    if meta is None or meta.signature != signature:
        meta = history.reset(signature)
    own = MemoryStore(history.snapshot_path)
    compute, judge = engine.pipeline.compute, engine.judge
    rows = _Rows()
    start = first = last = meta.last_seq
    saved = time.monotonic()
    done = 0
    for batch in batches:
        for seq, body in batch:
            event = decode_logged(body)
            t, features, new_states = compute(event, own)
            own.put_many(new_states, seq)
            last = seq
            if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)):
                # What Engine.decide does for a payment without look-ups or a model: its rules.
                action, score, hits, _ = judge(event.type, features, [])
                subject = event.account_id if isinstance(event, MobileTransfer) else event.card_id
                rows.add((seq, event.event_id, event.type, t, _local_day(event), subject, event.customer_id,
                          RANK[action], round(score), ",".join(sorted(r.id for r in hits))), features,
                         event.attributes is not None)
                if len(rows.meta) >= PART_ROWS:
                    _write(history, meta, rows, first, last)
                    first, rows = last, _Rows()
                    if time.monotonic() - saved >= SNAPSHOT_EVERY_S:
                        _save(history, meta, own)
                        saved = time.monotonic()
        done += len(batch)
        if progress is not None:
            progress(done)
    if last > start:
        _write(history, meta, rows, first, last)
        _save(history, meta, own)
        if live is not None:
            live.put_many(own.items(), last)
    return meta


def _write(history: HistoryStore, meta: HistoryMeta, rows: _Rows, first: int, last: int) -> None:
    """A part of the rows after ``first`` up to ``last``, named in ``meta`` (not yet saved)."""
    if rows.meta:
        meta.parts.append(history.write_part(rows.frame(), first + 1, last))
    meta.last_seq = last


def _save(history: HistoryStore, meta: HistoryMeta, own: MemoryStore) -> None:
    """The replay's state and the meta naming the parts written so far, together: the state is
    that after ``meta.last_seq``. Until then a crash leaves parts nobody reads, and the next replay
    starts again from the last save."""
    own.snapshot()
    history.save(meta)


def update_history(service: Any, tenant: str, progress: Progress | None = None, live: bool = False,
                   until: Callable[[int], Iterable[tuple[int, list[tuple[int, str]]]]] | None = None) -> HistoryMeta:
    """Replay the tenant's logged events the history has not seen (all of them when the feature
    pipeline changed). ``live``: the new events are also folded into the service's online state
    (the caller knows the live state ends where the history ends). ``until``: given the position
    the replay starts after, the log positions it may read up to, as they become final (an import
    still writing), each with the events just logged up to it when the writer has them at hand;
    without it, everything logged now."""
    from dunpai.risk.service import TenantStore  # the service sits above: imported when called

    history = HistoryStore(service.data_dir, tenant)
    version = service.engine(tenant).ruleset.version
    engine = history_engine(service.pipeline, service.ruleset(tenant, version).source, service.known, version)
    with history.updating():
        meta = history.meta()
        after = meta.last_seq if meta is not None and meta.signature == pipeline_signature(service.pipeline) else 0
        batches = (repo.tenant_events(service.db, tenant, after) if until is None
                   else _following(service, tenant, after, until(after)))
        with bulk_gc():
            return extend(history, batches, engine, TenantStore(service.store, tenant) if live else None, progress)


def _following(service: Any, tenant: str, after: int,
               limits: Iterable[tuple[int, list[tuple[int, str]]]]) -> Iterator[list[tuple[int, str]]]:
    """The tenant's events after ``after``, up to each limit as it comes: the writer's own copy of
    the events it just logged when they follow on exactly (nothing of the log between them is
    missed), else read from the log."""
    cursor = after
    for limit, rows in limits:
        if rows and rows[0][0] == cursor + 1 and rows[-1][0] == limit:
            cursor = limit
            yield rows
            continue
        for batch in repo.tenant_events(service.db, tenant, cursor, until=limit):
            cursor = batch[-1][0]
            yield batch


def history_is_current(service: Any, tenant: str, upto: int) -> bool:
    """Whether the tenant's history covers exactly its events up to log position ``upto``."""
    meta = HistoryStore(service.data_dir, tenant).meta()
    if meta is None or meta.signature != pipeline_signature(service.pipeline):
        return upto == 0
    return meta.last_seq == upto
