"""Alerts per test day and the label-knowledge ceiling, on hand-made data where the answer is known."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dunpai.risk.backtest.evaluate import daily_alerts
from dunpai.risk.backtest.run import alerts_chart, label_ceiling


def _frame() -> pd.DataFrame:
    """Two days, 300 cards a day; cards 0-4 have a fraud each day; on day 2 card 5's fraud is at a
    skimmed terminal with no known run (no arrived label could show it)."""
    rows = []
    for day in range(2):
        for card in range(300):
            fraud = int(card < 5 or (day == 1 and card == 5))
            rows.append((day, card, fraud, 2 if card == 5 else 0))
    start = datetime(2018, 8, 8, 10)
    return pd.DataFrame({
        "TRANSACTION_ID": range(len(rows)),
        "TX_DATETIME": [start + timedelta(days=d) for d, _, _, _ in rows],
        "TX_TIME_DAYS": [129 + d for d, _, _, _ in rows],
        "CUSTOMER_ID": [c for _, c, _, _ in rows],
        "TX_FRAUD": [f for _, _, f, _ in rows],
        "TX_FRAUD_SCENARIO": [s for _, _, _, s in rows],
    })


def test_daily_alerts_count_cards_and_transactions() -> None:
    tx = _frame()
    rows = np.arange(len(tx))
    # Frauds score highest, then card 300 - id: card 5's fraud ranks just below the first frauds.
    scores = np.where(tx.TX_FRAUD.to_numpy() == 1, 2.0, 0.0) + (300 - tx.CUSTOMER_ID.to_numpy()) / 1000
    d = daily_alerts(tx, rows, scores)
    assert d["day"] == ["2018-08-08", "2018-08-09"]
    assert d["frauds"] == [5, 6]
    # Day 1: five compromised cards, all among the 100 alerts. Day 2: they were detected already
    # (removed), card 5 is the one left and found.
    assert d["compromised_cards"] == [5, 1]
    assert d["cards_detected_top100"] == [5, 1]
    # 1 % of 589 genuine transactions sit above the threshold at most; every fraud is above it.
    assert d["frauds_alerted_1pct_fpr"] == [5, 6]
    assert sum(d["transactions_alerted_1pct_fpr"]) - 11 <= 0.01 * (len(tx) - 11) + 1


def test_label_ceiling_hides_only_unrevealed_skimming() -> None:
    tx = _frame()
    rows = np.arange(len(tx))
    feats = pd.DataFrame({"tl_run_len": np.zeros(len(tx))})
    c = label_ceiling(tx, feats, rows)
    assert c["auc_roc"] < 1.0 and c["average_precision"] < 1.0
    feats["tl_run_len"] = 1.0  # every terminal has a known run: nothing is hidden
    assert label_ceiling(tx, feats, rows) == pytest.approx({"auc_roc": 1.0, "average_precision": 1.0,
                                                            "card_precision_at_100": (5 + 1) / 100 / 2})


def test_alerts_chart_from_a_results_file(tmp_path: Path) -> None:
    tx = _frame()
    d = daily_alerts(tx, np.arange(len(tx)), tx.TX_FRAUD.to_numpy().astype(float))
    result = {"protocol": "prequential", "alerts_per_test_day": {"dunpai engine": d, "book logistic_regression": d}}
    paths = alerts_chart(result, tmp_path, "handbook-prequential-alerts-per-day")
    assert {p.suffix for p in paths} == {".png", ".html"} and all(p.stat().st_size > 0 for p in paths)
