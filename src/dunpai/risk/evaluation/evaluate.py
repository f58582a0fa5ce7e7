"""Evaluate on any tenant's history: train on each fold's training window exactly as ``dunpai
train`` does, score its test window, and report what a bank reads before going live.

Per fold and as mean ± std: AUC ROC, average precision, recall at 1 % false-positive rate, card
precision top-100 (per day, each card's highest score; cards found on an earlier day leave later
days: the Handbook's measure, on the cards — or, for transfers, accounts — of the data), and the
alert budget's effect on the test window: legitimate payments interrupted, frauds stopped. Beside
the model, on the same test rows: the rules alone (the actions the history replay took) and the
cold-start score as ``dunpai import`` would have put it in place the day the test starts:
calibrated on the 30 days before, without any label.

Test rows exclude payments on cards already blocked after a confirmed fraud (the card lifecycle,
as the Handbook removes known-compromised cards); the count is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.evaluation import metrics
from dunpai.risk.evaluation.protocol import DAY, Fold
from dunpai.risk.history.dataset import Dataset
from dunpai.risk.models.coldstart import fit_cold_start
from dunpai.risk.models.policy import DEFAULT_BUDGET, interrupt_rates
from dunpai.risk.models.train import CANDIDATES, Fitted, train_model

Say = Callable[[str], None]
COLD_START_DAYS = 30
"""The cold-start score is calibrated on the tenant's last 30 days of payments."""
TOP_K = 100
KEYS = ("auc_roc", "average_precision", "recall_at_1pct_fpr", "card_precision_at_100")


def model_features(ds: Dataset, rows: np.ndarray) -> list[str]:
    """Every computed feature that varies over ``rows`` (a constant says nothing)."""
    names = ds.feature_columns()
    x = ds.matrix(names, rows)
    with np.errstate(all="ignore"):
        spread = np.nanmax(x, axis=0) - np.nanmin(x, axis=0)
    return [n for n, s in zip(names, spread, strict=True) if np.isfinite(s) and s > 0]


def cold_start_rows(ds: Dataset, end: float, days: int = COLD_START_DAYS) -> np.ndarray:
    """The payments the cold-start score is calibrated on when it is put in place at ``end``: the
    ``days`` before, less a blocked card's (its lifecycle refuses them, not a score)."""
    rows = ds.rows_between(end - days * DAY, end)
    kept: np.ndarray = rows[~ds.blocked()[rows]]
    return kept


def rule_alerts(ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """Whether the rules interrupted each row when the history was replayed (above ``allow``)."""
    return np.asarray(ds.frame["action"].to_numpy()[rows] > RANK["allow"], dtype=bool)


def figures(ds: Dataset, rows: np.ndarray, y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    days = ds.frame["day"].to_numpy()[rows]
    cards = ds.frame["subject"].to_numpy()[rows]
    both = 0 < y.sum() < len(y)
    cp = metrics.card_precision_top_k(days, cards, y, scores, TOP_K)
    return {
        "auc_roc": metrics.auc_roc(y, scores) if both else math.nan,
        "average_precision": metrics.average_precision(y, scores) if both else math.nan,
        "recall_at_1pct_fpr": metrics.recall_at_fpr(y, scores, 0.01) if both else math.nan,
        "card_precision_at_100": cp.mean,
        "test_rows": len(rows),
        "test_frauds": int(y.sum()),
    }


MIN_VALID_FRAUDS = 20
"""Fewer confirmed frauds than this in the validation window: it starts earlier (see below)."""


def with_frauds_to_validate(ds: Dataset, fold: Fold, y: np.ndarray) -> Fold:
    """``fold`` with its validation window moved back into training until it holds
    ``MIN_VALID_FRAUDS`` frauds, at most to the middle of the two windows: a bank with few frauds
    has days without any, and settings, calibration and thresholds cannot be chosen on those."""
    rows = ds.rows_between(fold.train[0], fold.valid[1])
    times = np.sort(ds.t[rows][y[rows] == 1])[::-1]
    if len(times) == 0 or int(np.sum(times >= fold.valid[0])) >= MIN_VALID_FRAUDS:
        return fold
    middle = (fold.train[0] + fold.valid[1]) / 2
    start = max(float(times[min(MIN_VALID_FRAUDS, len(times)) - 1]), middle)
    if start >= fold.valid[0]:
        return fold
    return replace(fold, train=(fold.train[0], start), valid=(start, fold.valid[1]))


def fit_fold(ds: Dataset, fold: Fold, budget: float = DEFAULT_BUDGET,
             candidates: Sequence[dict[str, Any]] = CANDIDATES, say: Say | None = None,
             names: list[str] | None = None) -> tuple[Fitted, list[str]]:
    """The model ``dunpai train`` would make at the fold's test start: trained on its training
    window, settings, trees, calibration and thresholds chosen on its validation window, labels as
    known then."""
    y = ds.labels(fold.labels_as_of)
    fold = with_frauds_to_validate(ds, fold, y)
    tr, va = ds.rows_between(*fold.train), ds.rows_between(*fold.valid)
    if len(tr) == 0 or len(va) == 0:
        raise InvalidInput("empty window", problems=[FieldProblem(
            "window", f"no payments in the training or validation window ({fold.describe()})")])
    names = names or model_features(ds, np.concatenate([tr, va]))
    # Thresholds are chosen on customers' payments: a blocked card's are refused by its lifecycle.
    blocked = ds.blocked()
    recent = ds.rows_between(fold.valid[1], fold.test[0])  # after validation, labels not all in: unread
    fitted = train_model(ds.matrix(names, tr), y[tr].astype(np.float64), ds.matrix(names, va),
                         y[va].astype(np.float64), names, budget, rule_alerts(ds, va), candidates, say,
                         policy_rows=~blocked[va], x_recent=ds.matrix(names, recent[~blocked[recent]]))
    return fitted, names


def evaluate(ds: Dataset, folds: Sequence[Fold], budget: float = DEFAULT_BUDGET, say: Say | None = None,
             candidates: Sequence[dict[str, Any]] = CANDIDATES) -> dict[str, Any]:
    truth = ds.labels()
    blocked = ds.blocked()
    out_folds: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for fold in folds:
        if say is not None:
            say(f"fold: train {fold.describe()['train_from'][:10]} .. test {fold.describe()['test_to'][:10]}")
        fitted, names = fit_fold(ds, fold, budget, candidates, say)
        test_all = ds.rows_between(*fold.test)
        te = test_all[~blocked[test_all]]
        y = truth[te]
        scores = fitted.scorer.predict_batch(ds.matrix(names, te))
        policy = fitted.scorer.policy
        assert policy is not None
        rules = rule_alerts(ds, te)
        # The cold-start score as the import would have put it in place when the test starts.
        calib = cold_start_rows(ds, fold.test[0])
        cold = fit_cold_start(ds.matrix(ds.feature_columns(), calib), ds.feature_columns(), budget,
                              rule_alerts(ds, calib))
        cold_scores = cold.predict_batch(ds.matrix(list(cold.features), te))
        fold_out = {
            **fold.describe(),
            **figures(ds, te, y, scores),
            "excluded_blocked_card_rows": int(len(test_all) - len(te)),
            "trees": fitted.best_iteration,
            "features": len(names),
            "candidates": fitted.metrics.get("candidates"),
            "thresholds": policy.to_dict(),
            "policy": interrupt_rates(scores, y, policy, rules),
            "rules_only": {"legit_interrupted": float(rules[y == 0].mean()) if (y == 0).any() else 0.0,
                           "fraud_stopped": float(rules[y == 1].mean()) if (y == 1).any() else 0.0},
            "cold_start": {**{k: v for k, v in figures(ds, te, y, cold_scores).items() if k in KEYS},
                           **interrupt_rates(cold_scores, y, cold.policy, rules),
                           # 1: the budget left the score no room (rules first): it interrupts nothing
                           "no_room": float(not math.isfinite(cold.policy.verify))},
        }
        out_folds.append(fold_out)
        last = {"y": y, "scores": {"dunpai model": scores, "cold start (no labels)": cold_scores},
                "rows": te, "importance": _importance(fitted, names)}
        if say is not None:
            say(f"  AUC {fold_out['auc_roc']:.4f}  AP {fold_out['average_precision']:.4f}  "
                f"recall@1%FPR {fold_out['recall_at_1pct_fpr']:.4f}  CP@100 {fold_out['card_precision_at_100']:.3f}  "
                f"interrupted {fold_out['policy']['legit_interrupted']:.4f}  "
                f"stopped {fold_out['policy']['fraud_stopped']:.3f}")
    result: dict[str, Any] = {
        "folds": out_folds,
        "mean": {k: _mean([f[k] for f in out_folds]) for k in KEYS},
        "std": {k: _mean([f[k] for f in out_folds], np.std) for k in KEYS},
        "policy": {k: _mean([f["policy"][k] for f in out_folds]) for k in out_folds[0]["policy"]},
        "cold_start": {k: _mean([f["cold_start"][k] for f in out_folds]) for k in out_folds[0]["cold_start"]},
        "budget": budget,
    }
    result["_last"] = last
    return result


def _mean(values: Sequence[float], how: Callable[[np.ndarray], Any] = np.mean) -> float:
    """Over the folds where the measure is defined (a test window without fraud has no AUC)."""
    known = np.array([v for v in values if not math.isnan(v)], dtype=np.float64)
    return float(how(known)) if len(known) else math.nan


def _importance(fitted: Fitted, names: list[str]) -> list[tuple[str, float]]:
    gain = fitted.scorer.booster.feature_importance("gain")
    total = float(gain.sum()) or 1.0
    order = np.argsort(-gain)[:20]
    return [(names[i], float(gain[i] / total)) for i in order]
