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
from dunpai.risk.backtest.protocol import VALIDATION_SHIFT, Fold, holdout_rows, rows_between, train_rows
from dunpai.risk.models.train import EARLY_STOPPING, MAX_ROUNDS, Fitted, fit, refit

TOP_K = 100
CP_CURVE_K = (10, 25, 50, 100, 200, 400)
SCENARIOS = {1: "amount_over_220", 2: "compromised_terminal", 3: "compromised_card"}
VALID_DAYS = 2
"""Early stopping and calibration use the last two days of the training week (a later window)."""

FINE_BINS: dict[str, Any] = {"max_bin": 4095, "min_data_in_bin": 1}
"""Fine feature bins: with LightGBM's default 255 quantile bins, amounts just under a sharp
threshold share a bin with those above it."""

ENGINE_CANDIDATES: tuple[dict[str, Any], ...] = (
    {"params": {**FINE_BINS}, "early_stopping": 50},
    {"params": {**FINE_BINS, "learning_rate": 0.02, "num_leaves": 15, "min_child_samples": 100},
     "early_stopping": 100, "max_rounds": 3000},
)
"""LightGBM settings (beyond ``train.DEFAULT_PARAMS``) the evaluation chooses among on the
validation folds only — the test folds shifted back 14 days (book ch. 5) — by mean validation
average precision (:data:`SELECTION_METRIC`)."""

SELECTION_METRIC = "average_precision"

ENGINE_PARAMS: dict[str, Any] = ENGINE_CANDIDATES[0]["params"]
"""What ``dunpai train`` uses (the evaluation selects among :data:`ENGINE_CANDIDATES` itself)."""

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
             candidate: dict[str, Any] | None = None, whole_week: bool = True) -> Fitted:
    """Fit on the fold's training week: the first 5 days train, the last 2 days choose the number of
    trees (early stopping) and the Platt calibration; then (``whole_week``) the same model is
    re-trained on all 7 days with that many trees, keeping the held-out calibration."""
    split = fold.train_end - timedelta(days=VALID_DAYS)
    fit_rows = rows_between(tx, fold.train_start, split)
    valid_rows = rows_between(tx, split, fold.train_end)
    x = features[list(names)].to_numpy()
    y = tx.TX_FRAUD.to_numpy().astype(np.float64)
    c = candidate or ENGINE_CANDIDATES[0]
    fitted = fit(x[fit_rows], y[fit_rows], x[valid_rows], y[valid_rows], names, c["params"],
                 max_rounds=c.get("max_rounds", MAX_ROUNDS), early_stopping=c.get("early_stopping", EARLY_STOPPING))
    if not whole_week:
        return fitted
    week = train_rows(tx, fold)
    return refit(fitted, x[week], y[week])


def engine_fold(tx: pd.DataFrame, features: pd.DataFrame, fold: Fold, names: Sequence[str],
                candidate: dict[str, Any] | None = None) -> tuple[FoldResult, Fitted]:
    fitted = fit_fold(tx, features, fold, names, candidate)
    te = holdout_rows(tx, fold)
    scores = fitted.scorer.predict_batch(features[list(names)].to_numpy()[te])
    result = FoldResult(fold, te, scores, fold_figures(tx, te, scores))
    result.figures["best_iteration"] = fitted.best_iteration
    result.figures["per_scenario_recall"] = scenario_recall(tx, te, scores)
    return result, fitted


def select_candidate(tx: pd.DataFrame, features: pd.DataFrame, test_folds: Sequence[Fold], names: Sequence[str],
                     say: Callable[[str], None] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The candidate with the best mean :data:`SELECTION_METRIC` on the validation folds (each test
    fold shifted back by ``VALIDATION_SHIFT``); no test row is read. Returns it and every
    candidate's validation means."""
    tried: list[dict[str, Any]] = []
    for candidate in ENGINE_CANDIDATES:
        figures = [engine_fold(tx, features, f.shifted(VALIDATION_SHIFT), names, candidate)[0].figures
                   for f in test_folds]
        means = summarise(figures)["mean"]
        tried.append({**candidate, "validation": means,
                      "validation_folds": [f.shifted(VALIDATION_SHIFT).describe() for f in test_folds]})
        if say is not None:
            say(f"  candidate {candidate['params']}: validation " +
                " ".join(f"{k} {v:.4f}" for k, v in means.items()))
    best = max(range(len(tried)), key=lambda i: tried[i]["validation"][SELECTION_METRIC])
    return ENGINE_CANDIDATES[best], tried


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
    threshold = fpr_threshold(y, scores)
    out: dict[str, dict[str, float]] = {}
    for code, name in SCENARIOS.items():
        mask = scen == code
        if mask.sum() == 0:
            continue
        out[name] = {"frauds": int(mask.sum()), "recall_top100_cards": float(in_top[mask].mean()),
                     "recall_at_1pct_fpr": float((scores[mask] > threshold).mean())}
    return out


def fpr_threshold(y: np.ndarray, scores: np.ndarray, quantile: float = 0.99) -> float:
    """The score above which (at most) 1 % of the genuine transactions lie: the ``quantile`` of the
    genuine scores."""
    genuine = np.sort(scores[y == 0])
    return float(genuine[int(np.ceil(quantile * len(genuine))) - 1]) if len(genuine) else 1.0


def daily_alerts(tx: pd.DataFrame, rows: np.ndarray, scores: np.ndarray) -> dict[str, list[Any]]:
    """An analyst's day on the test rows: the compromised cards among the day's 100 alerted cards
    (the book's card-precision alerts; earlier days' detected cards removed, as the metric does),
    the compromised cards left to find, and the transactions above the 1 % FPR threshold with the
    frauds among them."""
    y = tx.TX_FRAUD.to_numpy()[rows]
    days = tx.TX_TIME_DAYS.to_numpy()[rows]
    cards = tx.CUSTOMER_ID.to_numpy()[rows]
    dates = tx.TX_DATETIME.dt.strftime("%Y-%m-%d").to_numpy()[rows]
    cp = metrics.card_precision_top_k(days, cards, y, scores, TOP_K)
    above = scores > fpr_threshold(y, scores)
    order = sorted(set(days.tolist()))
    out: dict[str, list[Any]] = {"day": [], "cards_detected_top100": [], "compromised_cards": [],
                                 "transactions_alerted_1pct_fpr": [], "frauds_alerted_1pct_fpr": [], "frauds": []}
    for i, day in enumerate(order):
        m = days == day
        out["day"].append(str(dates[m][0]))
        out["cards_detected_top100"].append(round(cp.per_day[i] * TOP_K))
        out["compromised_cards"].append(int(cp.compromised_per_day[i]))
        out["transactions_alerted_1pct_fpr"].append(int(above[m].sum()))
        out["frauds_alerted_1pct_fpr"].append(int((above & (y == 1))[m].sum()))
        out["frauds"].append(int(y[m].sum()))
    return out


def summarise(results: Sequence[dict[str, Any]],
              keys: tuple[str, ...] = ("auc_roc", "average_precision", "card_precision_at_100")) -> dict[str, Any]:
    mean = {k: float(np.mean([r[k] for r in results])) for k in keys}
    std = {k: float(np.std([r[k] for r in results])) for k in keys}
    return {"mean": mean, "std": std}
