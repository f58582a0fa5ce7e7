"""Detection metrics: the Handbook's (AUC ROC, AP, card precision top-k) and FDB's recall at an FPR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def auc_roc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score))


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    return float(average_precision_score(y, score))


@dataclass(frozen=True)
class CardPrecision:
    mean: float
    per_day: tuple[float, ...]
    compromised_per_day: tuple[int, ...]


def card_precision_top_k(days: np.ndarray, cards: np.ndarray, y: np.ndarray, score: np.ndarray,
                         k: int = 100, remove_detected: bool = True) -> CardPrecision:
    """The book's card precision top-k (ch. 4): per day, each card's score is its maximum that day
    and its label the maximum of its transactions' labels; the ``k`` highest cards are alerted and
    the precision is the share of them that were compromised. Cards detected on an earlier day are
    removed from later days. The mean is over days."""
    df = pd.DataFrame({"day": days, "card": cards, "y": y, "p": score})
    detected: set[object] = set()
    precisions: list[float] = []
    compromised: list[int] = []
    for day in sorted(df.day.unique()):
        d = df[df.day == day]
        d = d[~d.card.isin(detected)]
        compromised.append(int(d[d.y == 1].card.nunique()))
        per_card = d.groupby("card")[["p", "y"]].max().sort_values("p", ascending=False, kind="stable")
        top = per_card.head(k)
        hit = top[top.y == 1].index.to_list()
        precisions.append(len(hit) / k)
        if remove_detected:
            detected.update(hit)
    return CardPrecision(float(np.mean(precisions)), tuple(precisions), tuple(compromised))


def card_precision_curve(days: np.ndarray, cards: np.ndarray, y: np.ndarray, score: np.ndarray,
                         ks: tuple[int, ...]) -> dict[int, float]:
    return {k: card_precision_top_k(days, cards, y, score, k).mean for k in ks}


def recall_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float = 0.01) -> float:
    """Highest recall (TPR) at a false-positive rate not above ``fpr`` (FDB's "recall at 1 % FPR")."""
    f, t, _ = roc_curve(y, score)
    ok = f <= fpr + 1e-12
    return float(t[ok].max()) if ok.any() else 0.0
