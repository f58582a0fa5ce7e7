"""Fit the fraud model: LightGBM with early stopping on a later window, then Platt calibration.

Training reads feature matrices produced by replaying events through the engine (see
``dunpai.risk.backtest.replay``) — never a separate feature pipeline. Seeds are fixed and the
booster runs deterministically, so the same data gives the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from dunpai.risk.models.scorer import LightGBMScorer

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
MAX_ROUNDS = 1000
EARLY_STOPPING = 50


@dataclass(frozen=True)
class Fitted:
    scorer: LightGBMScorer
    best_iteration: int
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)


def fit(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
        features: Sequence[str], params: Mapping[str, Any] | None = None,
        max_rounds: int = MAX_ROUNDS, early_stopping: int = EARLY_STOPPING,
        version: str = "unregistered") -> Fitted:
    """Train on ``x_train``, stop when average precision on the later ``x_valid`` stops improving,
    and calibrate on ``x_valid`` (Platt: a logistic regression on the booster's margin)."""
    p = {**DEFAULT_PARAMS, **(params or {}), "metric": "average_precision"}
    names = list(features)
    train = lgb.Dataset(x_train, label=y_train, feature_name=names, free_raw_data=False)
    valid = lgb.Dataset(x_valid, label=y_valid, feature_name=names, reference=train, free_raw_data=False)
    booster = lgb.train(p, train, num_boost_round=max_rounds, valid_sets=[valid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(early_stopping, verbose=False)])
    best = int(booster.best_iteration or max_rounds)
    booster = _trimmed(booster, best)
    margin = np.asarray(booster.predict(x_valid, raw_score=True), dtype=np.float64)
    calibration = platt(margin, y_valid)
    scorer = LightGBMScorer(booster, names, calibration, version)
    prob = scorer.predict_batch(x_valid)
    metrics = {
        "valid_auc_roc": float(roc_auc_score(y_valid, prob)) if 0 < y_valid.sum() < len(y_valid) else float("nan"),
        "valid_average_precision": float(average_precision_score(y_valid, prob)),
        "valid_brier": float(np.mean((prob - y_valid) ** 2)),
        "train_rows": float(len(y_train)),
        "train_frauds": float(y_train.sum()),
        "valid_rows": float(len(y_valid)),
        "valid_frauds": float(y_valid.sum()),
    }
    return Fitted(scorer, best, {k: v for k, v in p.items()}, metrics)


def refit(fitted: Fitted, x: np.ndarray, y: np.ndarray) -> Fitted:
    """The same model re-trained on ``x`` (train plus validation rows) for the number of trees early
    stopping chose. The Platt calibration fitted on held-out data is kept (the margin's scale is
    that of a model with the same trees and parameters)."""
    p = {k: v for k, v in fitted.params.items() if k != "metric"}
    booster = lgb.train(p, lgb.Dataset(x, label=y, feature_name=list(fitted.scorer.features)),
                        num_boost_round=fitted.best_iteration)
    scorer = LightGBMScorer(booster, fitted.scorer.features, fitted.scorer.calibration, fitted.scorer.version)
    return Fitted(scorer, fitted.best_iteration, fitted.params, {**fitted.metrics, "refit_rows": float(len(y))})


def _trimmed(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """A booster holding only the first ``rounds`` trees (what the artefact stores)."""
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


def platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` with ``P(fraud) = sigmoid(a * margin + b)`` fitted on held-out data."""
    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])
