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
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from dunpai.risk.decisions.engine import Engine, known_variables
from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.ingest import parse_event
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent, CardPresent, MobileTransfer
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore, StateKey, StateStore
from dunpai.risk.history.store import HistoryMeta, HistoryStore
from dunpai.risk.rules.compiler import CompiledRuleset
from dunpai.risk.storage import repository as repo

Progress = Callable[[int], None]
PART_ROWS = 100_000
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


class _Rows:
    """Feature dicts of one part, grouped by their key sequence so each row is read with one C call."""

    def __init__(self) -> None:
        self.meta: list[tuple[Any, ...]] = []
        self.groups: dict[tuple[str, ...], tuple[Callable[[Any], Any], list[int], list[Any]]] = {}

    def add(self, meta: tuple[Any, ...], features: dict[str, float]) -> None:
        names = tuple(features)
        group = self.groups.get(names)
        if group is None:
            getter: Callable[[Any], Any] = (operator.itemgetter(*names) if len(names) > 1
                                            else (lambda d, n=names[0]: (d[n],)))
            group = self.groups[names] = (getter, [], [])
        group[1].append(len(self.meta))
        group[2].append(group[0](features))
        self.meta.append(meta)

    def frame(self) -> pl.DataFrame:
        names: dict[str, int] = {}
        for key in self.groups:
            for name in key:
                names.setdefault(name, len(names))
        ordered = sorted(names)
        pos = {name: i for i, name in enumerate(ordered)}
        matrix = np.full((len(self.meta), len(ordered)), np.nan, dtype=np.float64)
        for key, (_, rows, values) in self.groups.items():
            cols = np.array([pos[n] for n in key], dtype=np.int64)
            matrix[np.ix_(np.asarray(rows, dtype=np.int64), cols)] = np.asarray(values, dtype=np.float64)
        meta = list(zip(*self.meta, strict=True)) if self.meta else [[] for _ in META_COLUMNS]
        schema = [pl.Int64, pl.Utf8, pl.Utf8, pl.Float64, pl.Int32, pl.Utf8, pl.Utf8, pl.Int8, pl.Int16, pl.Utf8]
        columns = [pl.Series(n, list(v), dtype=d) for n, v, d in zip(META_COLUMNS, meta, schema, strict=True)]
        feats = pl.DataFrame(matrix, schema=ordered, orient="row") if ordered else pl.DataFrame()
        return pl.concat([pl.DataFrame(columns), feats], how="horizontal")


class _Tee:
    """Reads from the replay's own store; writes to it and to the live store too."""

    def __init__(self, own: StateStore, live: StateStore | None) -> None:
        self.own = own
        self.live = live

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        return self.own.get_many(keys)

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        items = list(items)
        self.own.put_many(items, applied_seq)
        if self.live is not None:
            self.live.put_many(items, applied_seq)


def _local_day(event: AnyEvent) -> int:
    when = event.event_time
    offset = when.utcoffset()
    return int((when.timestamp() + (offset.total_seconds() if offset else 0.0)) // 86400)


def extend(history: HistoryStore, batches: Iterable[list[tuple[int, str]]], engine: Engine,
           live: StateStore | None = None, progress: Progress | None = None) -> HistoryMeta:
    """Decide the ``(seq, body)`` batches (the tenant's events after the history's ``last_seq``) and
    append them to the history. ``live`` (a tenant view of the service's store) receives the same
    states when the history and the live state end at the same event."""
    signature = pipeline_signature(engine.pipeline)
    meta = history.meta()
    if meta is None or meta.signature != signature:
        meta = history.reset(signature)
    own = MemoryStore(history.snapshot_path)
    store = _Tee(own, live)
    decide = engine.decide
    rows = _Rows()
    first = last = meta.last_seq
    done = 0
    for batch in batches:
        for seq, body in batch:
            event, _ = parse_event(body)
            decision, new_states = decide(event, own)
            store.put_many(new_states, seq)
            last = seq
            if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)):
                subject = event.account_id if isinstance(event, MobileTransfer) else event.card_id
                hits = ",".join(r.rule_id for r in decision.rule_results if r.outcome == "hit")
                rows.add((seq, event.event_id, event.type, event.event_time.timestamp(), _local_day(event),
                          subject, event.customer_id, RANK[decision.action], decision.score, hits),
                         decision.features)
                if len(rows.meta) >= PART_ROWS:
                    meta = _flush(history, meta, rows, own, first, last)
                    first, rows = last, _Rows()
        done += len(batch)
        if progress is not None:
            progress(done)
    if last > meta.last_seq:
        meta = _flush(history, meta, rows, own, first, last)
    return meta


def _flush(history: HistoryStore, meta: HistoryMeta, rows: _Rows, own: MemoryStore, first: int,
           last: int) -> HistoryMeta:
    if rows.meta:
        meta.parts.append(history.write_part(rows.frame(), first + 1, last))
    own.snapshot()
    meta.last_seq = last
    history.save(meta)
    return meta


def update_history(service: Any, tenant: str, progress: Progress | None = None, live: bool = False) -> HistoryMeta:
    """Replay the tenant's logged events the history has not seen (all of them when the feature
    pipeline changed). ``live``: the new events are also folded into the service's online state
    (the caller knows the live state ends where the history ends)."""
    from dunpai.risk.service import TenantStore  # the service sits above: imported when called

    history = HistoryStore(service.data_dir, tenant)
    version = service.engine(tenant).ruleset.version
    engine = history_engine(service.pipeline, service.ruleset(tenant, version).source, service.known, version)
    meta = history.meta()
    after = meta.last_seq if meta is not None and meta.signature == pipeline_signature(service.pipeline) else 0
    batches = repo.tenant_events(service.db, tenant, after)
    return extend(history, batches, engine, TenantStore(service.store, tenant) if live else None, progress)


def history_is_current(service: Any, tenant: str, upto: int) -> bool:
    """Whether the tenant's history covers exactly its events up to log position ``upto``."""
    meta = HistoryStore(service.data_dir, tenant).meta()
    if meta is None or meta.signature != pipeline_signature(service.pipeline):
        return upto == 0
    return meta.last_seq == upto
