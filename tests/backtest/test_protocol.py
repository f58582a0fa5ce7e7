"""The book's split and card precision, on hand-made data where the answer is known."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from dunpai.risk.backtest.metrics import card_precision_top_k, recall_at_fpr
from dunpai.risk.backtest.protocol import Fold, folds, holdout_rows, train_rows


def _frame(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(day, customer, fraud) rows; day 0 is 2018-07-25."""
    start = datetime(2018, 7, 25, 12)
    return pd.DataFrame({
        "TRANSACTION_ID": range(len(rows)),
        "TX_DATETIME": [start + timedelta(days=d) for d, _, _ in rows],
        "TX_TIME_DAYS": [115 + d for d, _, _ in rows],
        "CUSTOMER_ID": [c for _, c, _ in rows],
        "TX_FRAUD": [f for _, _, f in rows],
    })


def test_folds_are_the_books() -> None:
    assert folds("baseline") == (Fold(date(2018, 7, 25)),)
    pre = folds("prequential")
    assert [f.test_start for f in pre] == [date(2018, 8, 29), date(2018, 8, 22), date(2018, 8, 15), date(2018, 8, 8)]


def test_known_compromised_cards_leave_the_test_days() -> None:
    rows = [(0, 1, 1), (0, 2, 0), (6, 9, 0)]  # card 1 is a known fraud from training
    rows += [(7, 3, 1)]   # delay day 0: known from test day 1 on (book: day train_start + 7 + day - 1)
    rows += [(8, 4, 1)]   # delay day 1: known from test day 2 on
    rows += [(14, c, 0) for c in (1, 2, 3, 4)]  # test day 0
    rows += [(15, c, 0) for c in (1, 2, 3, 4)]  # test day 1
    rows += [(16, c, 0) for c in (1, 2, 3, 4)]  # test day 2
    tx = _frame(rows)
    fold = Fold(date(2018, 7, 25))
    assert set(train_rows(tx, fold)) == {0, 1, 2}
    kept = tx.iloc[holdout_rows(tx, fold)]
    by_day = {d - 115: sorted(g.CUSTOMER_ID) for d, g in kept.groupby("TX_TIME_DAYS")}
    assert by_day == {14: [2, 3, 4], 15: [2, 4], 16: [2]}


def test_card_precision_top_k_takes_max_per_card_and_drops_detected_cards() -> None:
    days = np.array([0, 0, 0, 0, 1, 1, 1])
    cards = np.array([1, 1, 2, 3, 1, 2, 3])
    y = np.array([0, 1, 0, 0, 1, 0, 1])
    p = np.array([0.9, 0.1, 0.5, 0.2, 0.99, 0.3, 0.8])
    cp = card_precision_top_k(days, cards, y, p, k=2)
    # Day 0: cards 1 (0.9, fraud) and 2 (0.5) -> 1/2; day 1: card 1 removed, 3 (fraud) and 2 -> 1/2.
    assert cp.per_day == (0.5, 0.5)
    assert cp.mean == 0.5
    assert cp.compromised_per_day == (1, 1)


def test_recall_at_fpr() -> None:
    y = np.array([0] * 100 + [1] * 4)
    s = np.concatenate([np.linspace(0, 1, 100), [2.0, 2.0, 0.995, 0.1]])
    assert recall_at_fpr(y, s, 0.01) == 0.75
