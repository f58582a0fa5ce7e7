"""The Scorer: calibrated probabilities, SHAP contributions from LightGBM, reason codes zh/en."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from dunpai.risk.models.reasons import REASONS, reason_for, reason_text
from dunpai.risk.models.train import MIN_ROUNDS, Fitted, blended, train_model

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


def test_a_blend_scores_the_mean_margin_of_its_members_and_survives_its_model_text(
        fitted: Fitted, fitted_other: Fitted) -> None:
    x, _ = synthetic(300, 13)
    x[::7, 1] = np.nan  # missing values take each tree's default branch, as in the members
    members = [fitted.scorer.booster, fitted_other.scorer.booster]
    booster = blended(members)
    mean = np.mean([b.predict(x, raw_score=True) for b in members], axis=0)
    np.testing.assert_allclose(booster.predict(x, raw_score=True), mean, rtol=1e-12, atol=1e-12)
    assert booster.num_trees() == sum(b.num_trees() for b in members)
    reread = lgb.Booster(model_str=booster.model_to_string())
    np.testing.assert_allclose(reread.predict(x, raw_score=True), mean, rtol=1e-12, atol=1e-12)
    contrib = np.mean([b.predict(x, pred_contrib=True) for b in members], axis=0)
    np.testing.assert_allclose(booster.predict(x, pred_contrib=True), contrib, rtol=1e-9, atol=1e-12)


def test_a_blend_that_validates_best_is_kept_and_each_member_refitted_with_its_own_settings() -> None:
    xt, yt = synthetic(4000, 21)
    xv, yv = synthetic(2000, 22)
    # Members differ in leaf size and bins: each is re-trained on a data set binned for it.
    candidates = ({"params": {"num_leaves": 4}, "max_rounds": 60},
                  {"params": {"num_leaves": 15, "min_child_samples": 10, "max_bin": 63}, "max_rounds": 60})
    final = train_model(xt, yt, xv, yv, FEATURES, candidates=candidates)
    tried = final.metrics["candidates"]
    assert [c["params"] for c in tried[:2]] == [c["params"] for c in candidates]
    assert tried[2]["params"] == "mean of the candidates' margins"
    assert tried[2]["valid_average_precision"] > max(c["valid_average_precision"] for c in tried[:2])
    assert [m["trees"] for m in final.params["blend"]] == [c["best_iteration"] for c in tried[:2]]
    assert final.scorer.booster.num_trees() == sum(c["best_iteration"] for c in tried[:2])
    assert final.metrics["refit_rows"] == len(yt) + len(yv)


def test_a_single_candidate_that_validates_best_is_kept_alone() -> None:
    xt, yt = synthetic(4000, 21)
    xv, yv = synthetic(2000, 22)
    # A wildly overfitting model beside a good one: their mean validates worse than the good one alone.
    overfit = {"num_leaves": 255, "min_child_samples": 1, "learning_rate": 1.0, "lambda_l2": 0.0,
               "bagging_fraction": 0.3}
    candidates = ({"params": {"num_leaves": 4}, "max_rounds": 60}, {"params": overfit, "max_rounds": 60})
    final = train_model(xt, yt, xv, yv, FEATURES, candidates=candidates)
    tried = final.metrics["candidates"]
    assert tried[0]["valid_average_precision"] > tried[2]["valid_average_precision"]
    assert "blend" not in final.params
    assert final.scorer.booster.num_trees() == max(tried[0]["best_iteration"], MIN_ROUNDS)
