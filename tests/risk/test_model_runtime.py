"""A trained model in the live runtime: when a tenant's registry holds a champion, ``open_service``
deploys it for that tenant and every money decision carries the model's probability, its version
and SHAP-based reasons; a challenger scores in shadow beside it. One feature pipeline serves all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dunpai.core.config import Settings, load_settings
from dunpai.risk.models.reasons import REASONS
from dunpai.risk.models.registry import Registry
from dunpai.risk.models.shadow import ShadowScorer, ShadowTally
from dunpai.risk.models.train import Fitted, fit
from dunpai.risk.runtime import open_service

# Features the one pipeline computes for card payments.
FEATURES = ("amount", "card_amount_pctl", "term_fraud_run", "card_secs_since_fraud", "hour")


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 60.0, n)
    x = np.column_stack([amount, rng.gamma(4.0, 0.25, n), rng.poisson(0.05, n),
                         np.where(rng.random(n) < 0.05, rng.uniform(0, 30 * 86400, n), 1e9), rng.uniform(0, 24, n)])
    logit = -6 + 0.03 * x[:, 0] + 1.0 * x[:, 1] + 2.0 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


def _fit(seed: int, params: dict[str, object] | None = None) -> Fitted:
    xt, yt = _synthetic(5000, seed)
    xv, yv = _synthetic(2000, seed + 1)
    return fit(xt, yt, xv, yv, FEATURES, params, max_rounds=60, early_stopping=20)


def _event(i: int, amount_fen: int) -> dict[str, object]:
    return {"type": "card_present", "event_id": f"ev-{i}", "event_time": f"2026-03-01T10:{i:02d}:00+08:00",
            "txn": "pos_purchase", "card_id": "c1", "account_id": "a1", "customer_id": "u1", "terminal_id": "t1",
            "terminal_location": {"lat": 31.2, "lon": 121.4}, "pos_entry_mode": "05", "chip_card": True,
            "amount": amount_fen, "currency": "CNY"}


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "test-only")
    monkeypatch.delenv("DUNPAI_MODEL_REGISTRY", raising=False)
    return load_settings(overrides={"data_dir": str(tmp_path / "data"), "database_url": None})


def test_no_model_keeps_the_default_engine(settings: Settings) -> None:
    service = open_service(settings)
    try:
        decision = service.submit("default", _event(1, 10_000)).decision
        assert decision.model_version is None and decision.model_probability is None
        assert "card_amount_pctl" in decision.features and not service.models
    finally:
        service.close()


def test_champion_scores_live_decisions_with_shap_reasons(settings: Settings) -> None:
    registry = Registry(settings.data_dir / "models" / "default")
    champion = registry.register(_fit(1), {"train_from": "synthetic"})
    challenger = registry.register(_fit(3, {"num_leaves": 7}), {"train_from": "synthetic"}, role="challenger")
    service = open_service(settings)
    try:
        assert isinstance(service.models["default"], ShadowScorer) and "other-bank" not in service.models
        small = service.submit("default", _event(1, 5_000)).decision
        large = service.submit("default", _event(2, 5_000_000)).decision
        for d in (small, large):
            assert d.model_version == champion
            assert d.model_probability is not None
            assert "card_amount_pctl" in d.features and "card_secs_since_fraud" in d.features
        assert large.model_probability is not None and small.model_probability is not None
        assert large.model_probability > small.model_probability
        assert large.action != "allow"
        assert large.contributions, "a non-allow model decision is explained by SHAP contributions"
        assert {c.feature for c in large.contributions} <= set(FEATURES)
        codes = [r for r in large.reasons if r.startswith("model.")]
        assert codes and all(c in REASONS for c in codes)
        # The champion's probability is the registry model's own, on the live features.
        loaded = registry.load(champion)
        assert large.model_probability == pytest.approx(loaded.predict(large.features), rel=1e-12)
        # The challenger scored both events in shadow, without deciding anything.
        tally = service.models["default"].sink.__self__  # type: ignore[attr-defined]
        assert isinstance(tally, ShadowTally)
        assert tally.scored == 2 and tally.last is not None and tally.last[0] == challenger
    finally:
        service.close()


def test_explicit_registry_and_champion_only(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    version = Registry(folder / "default").register(_fit(5), {"train_from": "synthetic"})
    service = open_service(settings, model_registry=folder)
    try:
        assert not isinstance(service.models["default"], ShadowScorer)
        decision = service.submit("default", _event(1, 20_000)).decision
        assert decision.model_version == version and decision.model_probability is not None
    finally:
        service.close()
