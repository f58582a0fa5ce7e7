"""Evaluate under the Handbook's protocol: the book's own baseline (to prove the harness) and
Dunpai's engine model, per fold and mean ± std, with per-scenario recall.

Scores come from the replayed engine features (``replay.py``). ``TX_FRAUD_SCENARIO`` is read
only here, after scoring, to break recall down by scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from dunpai.risk.backtest import metrics
from dunpai.risk.backtest.book_steps import BOOK_FEATURES
from dunpai.risk.backtest.protocol import Fold, holdout_rows, rows_between, train_rows
from dunpai.risk.models.train import Fitted, fit

TOP_K = 100
CP_CURVE_K = (10, 25, 50, 100, 200, 400)
SCENARIOS = {1: "amount_over_220", 2: "compromised_terminal", 3: "compromised_card"}
VALID_DAYS = 2
"""Early stopping and calibration use the last two days of the training week (a later window)."""

EXCLUDED = frozenset({"book_amount", "book_weekend"})
"""Exact duplicates of engine features (``amount``, ``weekend``): the model reads the engine's own."""


def book_models() -> dict[str, Callable[[], Any]]:
    """The book's baseline classifiers with its defaults (ch. 3)."""
    return {
        "logistic_regression": lambda: LogisticRegression(random_state=0),
        "random_forest": lambda: RandomForestClassifier(random_state=0, n_jobs=-1),
    }


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    test_rows: np.ndarray
    scores: np.ndarray
    figures: dict[str, Any]


def fold_figures(tx: pd.DataFrame, rows: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    y = tx.TX_FRAUD.to_numpy()[rows]
    days = tx.TX_TIME_DAYS.to_numpy()[rows]
    cards = tx.CUSTOMER_ID.to_numpy()[rows]
    cp = metrics.card_precision_top_k(days, cards, y, scores, TOP_K)
    return {
        "auc_roc": metrics.auc_roc(y, scores),
        "average_precision": metrics.average_precision(y, scores),
        "card_precision_at_100": cp.mean,
        "card_precision_at_100_per_day": list(cp.per_day),
        "compromised_cards_per_day": list(cp.compromised_per_day),
        "test_transactions": len(rows),
        "test_frauds": int(y.sum()),
    }


def book_baseline(tx: pd.DataFrame, features: pd.DataFrame, fold: Fold,
                  models: Sequence[str] = ("logistic_regression", "random_forest")) -> dict[str, FoldResult]:
    """The book's protocol with its 15 features and default models (scaled as the book does)."""
    tr, te = train_rows(tx, fold), holdout_rows(tx, fold)
    x = features[list(BOOK_FEATURES)].to_numpy()
    y = tx.TX_FRAUD.to_numpy()
    scaler = StandardScaler().fit(x[tr])
    out = {}
    factories = book_models()
    for name in models:
        clf = factories[name]()
        clf.fit(scaler.transform(x[tr]), y[tr])
        scores = clf.predict_proba(scaler.transform(x[te]))[:, 1]
        out[name] = FoldResult(fold, te, scores, fold_figures(tx, te, scores))
    return out


def model_features(features: pd.DataFrame) -> list[str]:
    """Engine features the model reads: every replayed feature and signal that varies, minus exact
    duplicates. Nothing derived from the scenario column exists in the replay."""
    varying = features.columns[features.std(numeric_only=True).to_numpy() > 0]
    return sorted(c for c in varying if c not in EXCLUDED)


def fit_fold(tx: pd.DataFrame, features: pd.DataFrame, fold: Fold, names: Sequence[str],
             params: dict[str, Any] | None = None) -> Fitted:
    """Fit on the fold's training week: first 5 days train, last 2 days early stopping + calibration."""
    split = fold.train_end - timedelta(days=VALID_DAYS)
    fit_rows = rows_between(tx, fold.train_start, split)
    valid_rows = rows_between(tx, split, fold.train_end)
    x = features[list(names)].to_numpy()
    y = tx.TX_FRAUD.to_numpy().astype(np.float64)
    return fit(x[fit_rows], y[fit_rows], x[valid_rows], y[valid_rows], names, params)


def engine_fold(tx: pd.DataFrame, features: pd.DataFrame, fold: Fold, names: Sequence[str],
                params: dict[str, Any] | None = None) -> tuple[FoldResult, Fitted]:
    fitted = fit_fold(tx, features, fold, names, params)
    te = holdout_rows(tx, fold)
    scores = fitted.scorer.predict_batch(features[list(names)].to_numpy()[te])
    result = FoldResult(fold, te, scores, fold_figures(tx, te, scores))
    result.figures["best_iteration"] = fitted.best_iteration
    result.figures["per_scenario_recall"] = scenario_recall(tx, te, scores)
    return result, fitted


def scenario_recall(tx: pd.DataFrame, rows: np.ndarray, scores: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of each scenario's frauds that an analyst would see: the card was among the day's 100
    most suspicious cards (``top100_cards``), or the transaction scored above the 1 % FPR threshold."""
    y = tx.TX_FRAUD.to_numpy()[rows]
    scen = tx.TX_FRAUD_SCENARIO.to_numpy()[rows]
    days = tx.TX_TIME_DAYS.to_numpy()[rows]
    cards = tx.CUSTOMER_ID.to_numpy()[rows]
    df = pd.DataFrame({"day": days, "card": cards, "p": scores})
    per_card = df.groupby(["day", "card"]).p.max().reset_index()
    per_card["rank"] = per_card.groupby("day").p.rank(ascending=False, method="first")
    top = set(zip(per_card.day[per_card["rank"] <= TOP_K], per_card.card[per_card["rank"] <= TOP_K], strict=True))
    in_top = np.array([(d, c) in top for d, c in zip(days, cards, strict=True)])
    genuine = np.sort(scores[y == 0])
    threshold = genuine[int(np.ceil(0.99 * len(genuine))) - 1] if len(genuine) else 1.0
    out: dict[str, dict[str, float]] = {}
    for code, name in SCENARIOS.items():
        mask = scen == code
        if mask.sum() == 0:
            continue
        out[name] = {"frauds": int(mask.sum()), "recall_top100_cards": float(in_top[mask].mean()),
                     "recall_at_1pct_fpr": float((scores[mask] > threshold).mean())}
    return out


def summarise(results: Sequence[dict[str, Any]],
              keys: tuple[str, ...] = ("auc_roc", "average_precision", "card_precision_at_100")) -> dict[str, Any]:
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    std = {k: float(np.std([r[k] for r in results])) for k in keys}
    return {"mean": mean, "std": std}
