"""A tenant's history as a data set: one row per payment (features as the engine computed them when
it happened), its label and when that label became known.

Features only ever saw labels that had arrived by the payment's time (the replay applies label
events in log order); the *target* of a row is its label as known at ``as_of`` — a training run
cannot learn from a chargeback that arrived after it. Nothing here depends on which bank's data it
is: identifiers never become model inputs, only the features the pipeline computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import polars as pl

from dunpai.risk.history.build import META_COLUMNS
from dunpai.risk.history.store import HistoryStore
from dunpai.risk.storage import repository as repo

DAY = 86400.0


@dataclass
class Dataset:
    frame: pl.DataFrame
    """History rows in log order: meta columns (``seq``, ``event_id``, ``t``, ``day``, ``subject``,
    ``customer``, ``action``, ``score``, ``rules_hit``) and every feature column."""
    fraud_known_at: np.ndarray
    """Per row: when its fraud label became known (``inf``: never)."""

    @property
    def t(self) -> np.ndarray:
        return self.frame["t"].to_numpy()

    def labels(self, as_of: float = math.inf) -> np.ndarray:
        """1 for a payment confirmed as fraud by ``as_of``, else 0."""
        known = self.fraud_known_at
        out: np.ndarray = ((known <= as_of) & np.isfinite(known)).astype(np.int8)
        return out

    def feature_columns(self) -> list[str]:
        """Every feature the engine computed (sorted); the model chooses among them."""
        return sorted(c for c in self.frame.columns if c not in META_COLUMNS)

    def matrix(self, columns: list[str], rows: np.ndarray | None = None) -> np.ndarray:
        frame = self.frame if rows is None else self.frame[rows]
        present = [c for c in columns if c in frame.columns]
        out = np.full((len(frame), len(columns)), np.nan, dtype=np.float64)
        if present:
            block = frame.select(present).to_numpy().astype(np.float64, copy=False)
            index = {c: i for i, c in enumerate(columns)}
            out[:, [index[c] for c in present]] = block
        return out

    def blocked(self) -> np.ndarray:
        """Payments by a card the bank had already blocked after a confirmed fraud (the card
        lifecycle): evaluations leave them out, as the Handbook removes known-compromised cards."""
        if "card_blocked" not in self.frame.columns:
            return np.zeros(len(self.frame), dtype=bool)
        return self.frame["card_blocked"].fill_null(0.0).to_numpy() > 0

    def rows_between(self, start: float, end: float) -> np.ndarray:
        t = self.t
        return np.flatnonzero((t >= start) & (t < end))


def fraud_labels(db: Any, tenant: str) -> dict[str, float]:
    """Target event id -> when its (latest) label said fraud; a later "not fraud" label withdraws it."""
    out: dict[str, float] = {}
    for body in repo.label_bodies(db, tenant):
        label = orjson.loads(body)
        target = label["target_event_id"]
        when = datetime.fromisoformat(label["event_time"]).timestamp()
        if label.get("fraud"):
            out.setdefault(target, when)
        else:
            out.pop(target, None)
    return out


def load(db: Any, history: HistoryStore) -> Dataset:
    frame = history.scan()
    if frame.is_empty():
        raise ValueError(f"tenant {history.tenant!r} has no payments in its history")
    labels = fraud_labels(db, history.tenant)
    ids = frame["event_id"].to_list()
    known = np.array([labels.get(i, math.inf) for i in ids], dtype=np.float64)
    return Dataset(frame, known)
