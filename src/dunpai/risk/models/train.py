"""Fit the fraud model: LightGBM with early stopping on a later window, then Platt calibration.

Training reads feature matrices produced by replaying events through the engine (the tenant's
history store, ``dunpai.risk.history``) — never a separate feature pipeline. Seeds are fixed and
the booster runs deterministically, so the same data on the same machine gives the same model.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.models.policy import DEFAULT_BUDGET, Thresholds, thresholds
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
    "num_threads": min(os.cpu_count() or 1, 4),
    "verbose": -1,
}
MAX_ROUNDS = 1000
EARLY_STOPPING = 50
MIN_ROUNDS = 50
"""At least this many trees even when validation is perfect early: a model of a few trees scores in a
few steps, and a threshold between two steps cannot hold an alert budget."""
CANDIDATES: tuple[dict[str, Any], ...] = (
    {"params": {"max_bin": 1023}},
    {"params": {"num_leaves": 127, "min_child_samples": 20, "feature_fraction": 0.5, "max_bin": 1023}},
    {"params": {"learning_rate": 0.02, "num_leaves": 15, "min_child_samples": 100, "max_bin": 1023},
     "max_rounds": 3000, "early_stopping": 100},
)
"""LightGBM settings (beyond ``DEFAULT_PARAMS``) a training run chooses among by average precision
on its validation window — the same short list for every data set: a moderate tree, a wide tree
on half the features, a slow shallow one — and, as a fourth choice, the mean of the three
(trees that err in different places average out). Fine bins (1023) keep amounts just under a sharp
threshold apart from those above it."""


@dataclass(frozen=True)
class Fitted:
    scorer: LightGBMScorer
    best_iteration: int
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)


def fit(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
        features: Sequence[str], params: Mapping[str, Any] | None = None,
        max_rounds: int = MAX_ROUNDS, early_stopping: int = EARLY_STOPPING,
        version: str = "unregistered") -> Fitted:
    """Train on ``x_train``, stop when average precision on the later ``x_valid`` stops improving,
    and calibrate on ``x_valid`` (Platt: a logistic regression on the booster's margin)."""
    if not 0 < y_valid.sum() < len(y_valid) or not 0 < y_train.sum() < len(y_train):
        raise InvalidInput("cannot train on these windows", problems=[FieldProblem(
            "window", "the training and the validation window each need confirmed frauds and genuine payments: "
            "choose longer or later windows")])
    p = {**DEFAULT_PARAMS, **(params or {}), "metric": "average_precision"}
    names = list(features)
    train = lgb.Dataset(x_train, label=y_train, feature_name=names, free_raw_data=False)
    valid = lgb.Dataset(x_valid, label=y_valid, feature_name=names, reference=train, free_raw_data=False)
    booster = lgb.train(p, train, num_boost_round=max_rounds, valid_sets=[valid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(early_stopping, verbose=False)], keep_training_booster=True)
    best = max(int(booster.best_iteration or max_rounds), min(MIN_ROUNDS, booster.current_iteration()))
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


def train_model(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray, y_valid: np.ndarray,
                features: Sequence[str], budget: float = DEFAULT_BUDGET, valid_rule_alerts: np.ndarray | None = None,
                candidates: Sequence[dict[str, Any]] = CANDIDATES, say: Any = None,
                policy_rows: np.ndarray | None = None, x_recent: np.ndarray | None = None) -> Fitted:
    """Fit each candidate with early stopping on the later validation window, keep the one — or
    their blend (``blended``) — with the best validation average precision, choose the alert
    budget's thresholds on its validation scores of legitimate payments (``policy_rows`` of them;
    the rules' interruptions, ``valid_rule_alerts``, count first). Then re-train it on training and
    validation rows together (the latest frauds teach most) with that many trees. The re-trained
    model scores on a scale of its own, so each threshold is carried over by rank: the final
    threshold is reached by as many payments as the validated one was, among ``x_recent`` — the
    payments after validation whose labels have not all arrived, which neither model learnt from —
    or, with fewer than ``MIN_RECENT / budget`` of those, among the latest genuine training
    payments, which both learnt from alike (less exact: where a split left none of the former, later
    days were measured at about twice the budget, docs/detection-quality.md)."""
    best: Fitted | None = None
    fits: list[Fitted] = []
    tried: list[dict[str, Any]] = []
    for c in candidates:
        fitted = fit(x_train, y_train, x_valid, y_valid, features, c["params"],
                     max_rounds=c.get("max_rounds", MAX_ROUNDS), early_stopping=c.get("early_stopping", EARLY_STOPPING))
        ap = fitted.metrics["valid_average_precision"]
        tried.append({**c, "valid_average_precision": ap, "best_iteration": fitted.best_iteration})
        if say is not None:
            say(f"  candidate {c['params']}: validation AP {ap:.4f} ({fitted.best_iteration} trees)")
        fits.append(fitted)
        if best is None or ap > best.metrics["valid_average_precision"]:
            best = fitted
    assert best is not None
    if len(fits) > 1:
        blend = _blended_fit(fits, x_valid, y_valid)
        tried.append({"params": "mean of the candidates' margins", "best_iteration": blend.best_iteration,
                      "valid_average_precision": blend.metrics["valid_average_precision"]})
        if say is not None:
            say(f"  the candidates together: validation AP {blend.metrics['valid_average_precision']:.4f}")
        if blend.metrics["valid_average_precision"] > best.metrics["valid_average_precision"]:
            best = blend
    valid_scores = best.scorer.predict_batch(x_valid)
    legit = y_valid == 0
    if policy_rows is not None:
        legit &= policy_rows
    alerts = None if valid_rule_alerts is None else valid_rule_alerts[legit]
    best.scorer.policy = thresholds(valid_scores[legit], budget, alerts)
    best.metrics["candidates"] = tried
    final = refit(best, np.concatenate([x_train, x_valid]), np.concatenate([y_train, y_valid]))
    recent_enough = x_recent is not None and len(x_recent) >= MIN_RECENT / budget
    anchor = x_recent if recent_enough and x_recent is not None else x_train[y_train == 0][-ANCHOR_ROWS:]
    final.scorer.policy = carried_over(best.scorer.policy, best.scorer.predict_batch(anchor),
                                       final.scorer.predict_batch(anchor))
    return final


ANCHOR_ROWS = 200_000
"""The latest genuine training payments on which thresholds are carried over to the final model."""
MIN_RECENT = 20
"""Recent payments needed to carry thresholds over on them: this many per budget (4,000 at 0.5 %)."""


def carried_over(policy: Thresholds, old: np.ndarray, new: np.ndarray) -> Thresholds:
    """``policy``'s thresholds for scores ``old`` moved to scores ``new`` of the same payments: each
    new threshold is reached by at most as many of them as the old one was (ties stay below it)."""
    ordered = np.sort(new)[::-1]

    def move(level: float) -> float:
        if not math.isfinite(level):
            return level  # a step the budget has no room for stays closed
        k = int(np.sum(old >= level))
        return float(np.nextafter(ordered[k], math.inf)) if k < len(ordered) else float(ordered[-1])

    return Thresholds(move(policy.verify), move(policy.delay), move(policy.restrict), policy.budget)


def refit(fitted: Fitted, x: np.ndarray, y: np.ndarray) -> Fitted:
    """The same model re-trained on ``x`` (train plus validation rows) for the number of trees early
    stopping chose — each member of a blend for its own — keeping the Platt calibration fitted on
    held-out data."""
    members = fitted.params.get("blend", [fitted.params])
    # A data set of its own per member: LightGBM bins a data set with the first parameters it is
    # trained with (leaf sizes included) and refuses others.
    boosters = [lgb.train({k: v for k, v in m.items() if k not in ("metric", "trees")},
                          lgb.Dataset(x, label=y, feature_name=list(fitted.scorer.features)),
                          num_boost_round=int(m.get("trees", fitted.best_iteration))) for m in members]
    booster = boosters[0] if len(boosters) == 1 else blended(boosters)
    scorer = LightGBMScorer(booster, fitted.scorer.features, fitted.scorer.calibration, fitted.scorer.version)
    return Fitted(scorer, fitted.best_iteration, fitted.params, {**fitted.metrics, "refit_rows": float(len(y))})


def _blended_fit(fits: Sequence[Fitted], x_valid: np.ndarray, y_valid: np.ndarray) -> Fitted:
    """The candidates as one model scoring the mean of their margins, calibrated anew on the
    validation window (each member keeps the trees early stopping gave it)."""
    booster = blended([f.scorer.booster for f in fits])
    margin = np.asarray(booster.predict(x_valid, raw_score=True), dtype=np.float64)
    first = fits[0].scorer
    scorer = LightGBMScorer(booster, first.features, platt(margin, y_valid), first.version)
    prob = scorer.predict_batch(x_valid)
    metrics = {**fits[0].metrics,
               "valid_auc_roc": float(roc_auc_score(y_valid, prob)),
               "valid_average_precision": float(average_precision_score(y_valid, prob)),
               "valid_brier": float(np.mean((prob - y_valid) ** 2))}
    params = {"blend": [{**f.params, "trees": f.best_iteration} for f in fits]}
    return Fitted(scorer, sum(f.best_iteration for f in fits), params, metrics)


_TREE = re.compile(r"^Tree=\d+$", re.MULTILINE)


def blended(boosters: Sequence[lgb.Booster]) -> lgb.Booster:
    """One booster whose raw score is the mean of ``boosters``' raw scores (same features): their
    trees one after another, every leaf value divided by their number. One model file, and SHAP
    values that are the mean of the members' (they add up over trees)."""
    k = len(boosters)
    trees: list[str] = []
    head = tail = ""
    for booster in boosters:
        text = booster.model_to_string()
        start, end = _TREE.search(text), text.index("end of trees")
        assert start is not None
        if not head:
            # tree_sizes lets LightGBM parse trees in parallel; without it, it reads them in order.
            head = re.sub(r"^tree_sizes=.*\n", "", text[:start.start()], flags=re.MULTILINE)
            tail = text[end:]
        for block in _TREE.split(text[start.start():end])[1:]:
            trees.append(re.sub(r"^leaf_value=(.*)$", lambda m: "leaf_value=" + " ".join(
                repr(float(v) / k) for v in m.group(1).split()), block, count=1, flags=re.MULTILINE))
    body = "".join(f"Tree={i}{block}" for i, block in enumerate(trees))
    return lgb.Booster(model_str=head + body + tail)


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
