"""Replay history through the live engine and keep what it computed, per transaction.

Every transaction and label event goes, in event-time order, through ``Engine.decide`` — the same
feature steps, detectors and rules that score live traffic — and its new states are written to a
:class:`MemoryStore` exactly as the service writes them. For each transaction the replay keeps the
decision's feature and signal values, each rule's hit and the action. Those matrices are what
training, evaluation and rule backtests read; they are cached as Parquet under a cache directory,
keyed by the engine's behaviour (a fingerprint of what it computes on a fixed probe) and the
data, so a change to either replays again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dunpai.risk.backtest.handbook import LABEL_DELAY, HandbookData, iter_events
from dunpai.risk.decisions.engine import Engine, known_variables
from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.features.layout import KeyedStep
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.models.pipeline import MODEL_STEPS, model_pipeline
from dunpai.risk.rules.compiler import CompiledRuleset

ENGINE_STEPS: tuple[KeyedStep, ...] = MODEL_STEPS
"""The default pipeline plus the book's and the model's steps: what the replay runs (and what the
live service runs when a model is deployed)."""

CACHE_ENV = "DUNPAI_CACHE"
DEFAULT_CACHE = Path(".dunpai-cache")

Progress = Callable[[int], None]


def default_ruleset_text() -> str:
    return resources.files("dunpai.risk.rules").joinpath("default.yaml").read_text(encoding="utf-8")


def engine_pipeline() -> FeaturePipeline:
    return model_pipeline()


def build_engine(ruleset_text: str | None = None) -> Engine:
    pipeline = engine_pipeline()
    known = known_variables(pipeline, DEFAULT_DETECTORS)
    ruleset = CompiledRuleset.from_yaml(ruleset_text or default_ruleset_text(), known)
    return Engine(ruleset, pipeline=pipeline, detectors=DEFAULT_DETECTORS)


_PROBE_END = datetime(2018, 4, 13)


@functools.lru_cache(maxsize=4)
def behaviour_fingerprint(data_dir: Path, ruleset_text: str) -> str:
    """What the engine *does*, not what its files say: the hash of every feature and signal the
    current engine computes on a fixed probe (12 days of one customer in ten, with their label
    events). Edits elsewhere in the code base leave it — and the cache — alone; any change to the
    card-present or label path shows on the probe and replays again. Rules feed no feature, so a
    ruleset edit does not invalidate features (rule backtests evaluate rules on them afresh)."""
    probe = HandbookData.load(data_dir, end=_PROBE_END)
    tx = probe.transactions
    probe = HandbookData(tx[tx.CUSTOMER_ID % 10 == 0].reset_index(drop=True), probe.customers, probe.terminals)
    result = replay(probe, build_engine(ruleset_text))
    h = hashlib.sha256()
    h.update("\x1f".join(result.feature_names).encode())
    h.update(np.ascontiguousarray(result.features.to_numpy()).tobytes())
    return h.hexdigest()[:12]


@dataclass
class Replayed:
    """Per transaction (rows of ``data.transactions``): the decision's features and signals; the rule
    hits and action of the replay's ruleset when freshly replayed (``None`` from the cache)."""

    features: pd.DataFrame
    rule_hits: pd.DataFrame | None
    action_rank: np.ndarray | None
    feature_names: list[str]


def replay(data: HandbookData, engine: Engine, progress: Progress | None = None,
           labels: pd.DataFrame | None = None, label_delay: timedelta = LABEL_DELAY) -> Replayed:
    """Run every event through ``engine.decide`` in event-time order (one sequential pass: card and
    terminal keys cross, so no partition of the stream keeps every keyed state local)."""
    n = len(data.transactions)
    store = MemoryStore()
    names: list[str] | None = None
    matrix: np.ndarray | None = None
    rule_ids = [c.rule.id for c in engine.ruleset.rules]
    rule_pos = {r: i for i, r in enumerate(rule_ids)}
    hits = np.zeros((n, len(rule_ids)), dtype=bool)
    actions = np.zeros(n, dtype=np.int8)
    # Feature rows are buffered and written to the matrix a block at a time (one numpy conversion
    # per block instead of one per row); every event of one shape has the same names, so a row is
    # read with one ``itemgetter`` call, falling back to ``get`` (0.0 when absent) otherwise.
    pick: Callable[[Mapping[str, float]], tuple[float, ...]] | None = None
    buf_rows: list[int] = []
    buf: list[tuple[float, ...]] = []
    seq = 0
    decide, put_many = engine.decide, store.put_many
    for row, event in iter_events(data, label_delay=label_delay, labels=labels):
        seq += 1
        decision, new_states = decide(event, store)
        put_many(new_states, seq)
        if row < 0:
            continue
        f = decision.features
        if names is None:
            names = sorted(f)
            matrix = np.zeros((n, len(names)), dtype=np.float64)
            pick = _row_reader(names)
        assert pick is not None
        try:
            values = pick(f)
        except KeyError:
            values = tuple(f.get(k, 0.0) for k in names)
        buf_rows.append(row)
        buf.append(values)
        if len(buf) >= _BLOCK:
            _flush(matrix, buf_rows, buf)
        for r in decision.rule_results:
            if r.outcome == "hit":
                hits[row, rule_pos[r.rule_id]] = True
        actions[row] = RANK[decision.action]
        if progress is not None and row % 10_000 == 0:
            progress(seq)
    if names is None or matrix is None:
        raise ValueError("no transactions to replay")
    _flush(matrix, buf_rows, buf)
    return Replayed(pd.DataFrame(matrix, columns=names), pd.DataFrame(hits, columns=rule_ids), actions, names)


_BLOCK = 4096


def _row_reader(names: list[str]) -> Callable[[Mapping[str, float]], tuple[float, ...]]:
    """The values of ``names`` in order, as one C call (a ``KeyError`` when one is absent)."""
    if len(names) == 1:
        only = names[0]
        return lambda m: (m[only],)
    getter: Callable[[Mapping[str, float]], tuple[float, ...]] = operator.itemgetter(*names)
    return getter


def _flush(matrix: np.ndarray | None, rows: list[int], values: list[tuple[float, ...]]) -> None:
    if matrix is not None and rows:
        matrix[np.asarray(rows, dtype=np.int64)] = np.asarray(values, dtype=np.float64)
    rows.clear()
    values.clear()


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, str(DEFAULT_CACHE)))


def data_fingerprint(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}".encode())
    return h.hexdigest()[:12]


def cached_replay(data: HandbookData, data_dir: Path, ruleset_text: str | None = None,
                  progress: Progress | None = None, cache: Path | None = None) -> tuple[Replayed, str]:
    """The replay's features of ``data``, from the cache when the engine's behaviour (including this
    package's import and steps, which the probe runs) and the data are unchanged."""
    text = ruleset_text or default_ruleset_text()
    first, last = data.transactions.TRANSACTION_ID.iloc[[0, -1]]
    key = (f"{behaviour_fingerprint(data_dir, text)}-{data_fingerprint(data_dir.glob('*.parquet'))}"
           f"-{first}-{last}-{len(data.transactions)}")
    folder = (cache or cache_dir()) / f"replay-{key}"
    feats, meta = folder / "features.parquet", folder / "meta.json"
    if meta.exists():
        f = pd.read_parquet(feats)
        return Replayed(f.drop(columns=["_row"]), None, None, [c for c in f.columns if c != "_row"]), key
    t0 = time.perf_counter()
    result = replay(data, build_engine(text), progress=progress)
    seconds = time.perf_counter() - t0
    folder.mkdir(parents=True, exist_ok=True)
    out = result.features.copy()
    out.insert(0, "_row", np.arange(len(out)))
    out.to_parquet(feats, compression="zstd")
    events = len(out) + int(data.transactions.TX_FRAUD.sum())
    meta.write_text(json.dumps({"key": key, "rows": len(out), "events": events, "replay_seconds": seconds,
                                "events_per_second": events / seconds if seconds > 0 else None}))
    return result, key


def replay_meta(key: str, cache: Path | None = None) -> dict[str, Any]:
    """What the cached replay ``key`` recorded when it was made (rows, events, its duration)."""
    meta = (cache or cache_dir()) / f"replay-{key}" / "meta.json"
    out: dict[str, Any] = json.loads(meta.read_text()) if meta.exists() else {}
    return out
