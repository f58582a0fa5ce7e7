"""The registered model scores inside the live engine exactly as in batch evaluation, and explains
its non-allow decisions with LightGBM SHAP contributions mapped to bilingual reason codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dunpai.risk.backtest.evaluate import model_features
from dunpai.risk.backtest.handbook import HandbookData, iter_events
from dunpai.risk.backtest.replay import build_engine, replay
from dunpai.risk.events.schemas import CardPresent
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.models.reasons import REASONS
from dunpai.risk.models.registry import Registry
from dunpai.risk.models.train import fit


def test_live_engine_scores_like_batch_and_explains(small: HandbookData, tmp_path: Path) -> None:
    feats = replay(small, build_engine()).features
    names = model_features(feats)
    y = small.transactions.TX_FRAUD.to_numpy().astype(float)
    half = len(y) // 2
    x = feats[names].to_numpy()
    fitted = fit(x[:half], y[:half], x[half:], y[half:], names, {"min_child_samples": 5}, max_rounds=30,
                 early_stopping=30)
    reg = Registry(tmp_path)
    version = reg.register(fitted, {"train_from": "2018-04-01"})
    model = reg.load(version)
    engine = build_engine()
    engine.model = model
    store = MemoryStore()
    live: list[float] = []
    explained = 0
    for seq, (row, event) in enumerate(iter_events(small), start=1):
        decision, states = engine.decide(event, store)
        store.put_many(states, seq)
        if isinstance(event, CardPresent):
            assert row == len(live)
            assert decision.model_version == version
            assert decision.model_probability is not None
            live.append(decision.model_probability)
            if decision.action != "allow":
                assert decision.contributions
                codes = [r for r in decision.reasons if r.startswith("model.")]
                assert all(c in REASONS for c in codes)
                explained += bool(codes)
    np.testing.assert_allclose(live, model.predict_batch(x), rtol=1e-9, atol=1e-12)
    assert explained > 0
