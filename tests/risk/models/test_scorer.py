"""The Scorer: calibrated probabilities, SHAP contributions from LightGBM, reason codes zh/en."""

from __future__ import annotations

import numpy as np

from dunpai.risk.models.reasons import REASONS, reason_for, reason_text
from dunpai.risk.models.train import Fitted

from .conftest import FEATURES, synthetic


def test_single_and_batch_predictions_agree(fitted: Fitted) -> None:
    x, _ = synthetic(50, 9)
    batch = fitted.scorer.predict_batch(x)
    single = [fitted.scorer.predict(dict(zip(FEATURES, row, strict=True))) for row in x]
    np.testing.assert_allclose(batch, single, rtol=1e-12)
    assert ((batch > 0) & (batch < 1)).all()


def test_calibration_is_monotone_in_the_margin(fitted: Fitted) -> None:
    x, _ = synthetic(500, 10)
    m = fitted.scorer.margin(x)
    p = fitted.scorer.predict_batch(x)
    order = np.argsort(m)
    assert (np.diff(p[order]) >= -1e-15).all()


def test_calibrated_probabilities_are_roughly_right(fitted: Fitted) -> None:
    x, y = synthetic(20000, 11)
    p = fitted.scorer.predict_batch(x)
    assert abs(p.mean() - y.mean()) < 0.02


def test_contributions_are_lightgbm_shap_and_sum_to_the_margin(fitted: Fitted) -> None:
    x, _ = synthetic(20, 12)
    contrib = np.asarray(fitted.scorer.booster.predict(x, pred_contrib=True))
    np.testing.assert_allclose(contrib.sum(axis=1), fitted.scorer.margin(x), rtol=1e-9, atol=1e-9)
    row = dict(zip(FEATURES, x[0], strict=True))
    top = fitted.scorer.contributions(row, 2)
    assert len(top) == 2
    assert abs(top[0][1]) >= abs(top[1][1])
    assert {name for name, _ in top} <= set(FEATURES)


def test_every_feature_maps_to_a_bilingual_reason() -> None:
    assert reason_for("hab_ratio_median_30d") == "model.amount_above_habit"
    assert reason_for("tl_run_len") == "model.terminal_known_fraud"
    assert reason_for("amount") == "model.amount_high"
    assert reason_for("something_new") == "model.other"
    for code, text in REASONS.items():
        assert text.zh and text.en and code.startswith("model.")
        assert reason_text(code) is text
