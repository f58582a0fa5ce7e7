"""Leakage: labels not yet known at time t cannot change anything the engine computed before t.

Every label whose arrival (transaction time + 7 days) is after ``t`` is removed, and false fraud
labels are added for genuine transactions whose labels would arrive after ``t``. Every feature,
score, model probability and action of every transaction before ``t`` must stay identical — and
something after ``t`` must change (so the test can fail).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from dunpai.risk.backtest.evaluate import model_features
from dunpai.risk.backtest.handbook import LABEL_DELAY, HandbookData, iter_events
from dunpai.risk.backtest.replay import build_engine, replay
from dunpai.risk.events.schemas import CardPresent
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.models.scorer import LightGBMScorer
from dunpai.risk.models.train import fit


@pytest.fixture(scope="module")
def scorer(small: HandbookData) -> LightGBMScorer:
    tx = small.transactions
    feats = replay(small, build_engine()).features
    names = model_features(feats)
    y = tx.TX_FRAUD.to_numpy().astype(float)
    half = len(tx) // 2
    fitted = fit(feats[names].to_numpy()[:half], y[:half], feats[names].to_numpy()[half:], y[half:], names,
                 {"min_child_samples": 5}, max_rounds=30, early_stopping=30)
    return fitted.scorer


def _decide_all(data: HandbookData, scorer: LightGBMScorer, labels: pd.DataFrame) -> list[dict[str, Any]]:
    engine = build_engine()
    engine.model = scorer
    store = MemoryStore()
    out: list[dict[str, Any]] = []
    for seq, (_, event) in enumerate(iter_events(data, labels=labels), start=1):
        decision, states = engine.decide(event, store)
        store.put_many(states, seq)
        if isinstance(event, CardPresent):
            out.append({"time": event.event_time, "id": event.event_id, "features": dict(decision.features),
                        "score": decision.score, "p": decision.model_probability, "action": decision.action,
                        "reasons": decision.reasons})
    return out


@pytest.mark.parametrize("cut_day", [9, 15])
def test_future_labels_change_nothing_before_t(small: HandbookData, scorer: LightGBMScorer, cut_day: int) -> None:
    tx = small.transactions
    t = tx.TX_DATETIME.min().normalize() + pd.Timedelta(days=cut_day, hours=13)
    arrival = tx.TX_DATETIME + pd.Timedelta(LABEL_DELAY)
    unknown = (arrival > t).to_numpy()
    edited = tx[["TRANSACTION_ID", "TX_FRAUD"]].copy()
    fraud = edited.TX_FRAUD.to_numpy().copy()
    # Remove every not-yet-known fraud label and invent fraud labels for not-yet-known genuine ones.
    rng = np.random.default_rng(0)
    flip = unknown & ((fraud == 1) | (rng.random(len(fraud)) < 0.05))
    fraud[flip] = 1 - fraud[flip]
    edited["TX_FRAUD"] = fraud
    assert flip.sum() > 0
    a = _decide_all(small, scorer, tx[["TRANSACTION_ID", "TX_FRAUD"]])
    b = _decide_all(small, scorer, edited)
    cut = t.to_pydatetime().replace(tzinfo=a[0]["time"].tzinfo)
    before = [i for i, d in enumerate(a) if d["time"] < cut]
    assert len(before) > 100
    for i in before:
        assert a[i] == b[i], f"{a[i]['id']} changed although only labels after {cut} were edited"
    after = [i for i in range(len(a)) if a[i]["time"] >= cut]
    assert any(a[i]["features"] != b[i]["features"] for i in after), "the edit must reach later events"
    # Every label-driven feature family is compared above and reached by the edit after t: the
    # terminal's (book, ``tl_``) and the card's known-fraud age (``cl_``).
    for family in LABEL_FEATURES:
        assert all(family in a[i]["features"] for i in before), family
        assert any(a[i]["features"][family] != b[i]["features"][family] for i in after), family


LABEL_FEATURES = ("book_term_risk_7d", "tl_run_len", "tl_known_frauds_14d", "tl_run_max_amount", "cl_secs_since_fraud",
                  "cl_secs_since_label", "cl_secs_since_first_recent_fraud", "cl_known_frauds_28d")
