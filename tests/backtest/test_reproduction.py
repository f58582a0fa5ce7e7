"""The harness reproduces the book's baseline (ch. 3) within ±0.01: the book's 15 features computed
by engine keyed steps from replayed events and label events, its split, its metrics, its models.

Slow: the first run replays 2018-06-17 .. 08-14 (enough history for every 30-day window and the
37-day terminal windows of the baseline split) and caches it under the replay cache, keyed by the
engine code; later runs read the cache.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from dunpai.risk.backtest.evaluate import book_baseline
from dunpai.risk.backtest.handbook import HandbookData
from dunpai.risk.backtest.protocol import folds
from dunpai.risk.backtest.replay import cached_replay

PUBLISHED = {
    "logistic_regression": {"auc_roc": 0.871, "average_precision": 0.606, "card_precision_at_100": 0.291},
    "random_forest": {"auc_roc": 0.867, "average_precision": 0.658, "card_precision_at_100": 0.287},
}


@pytest.mark.slow
def test_baseline_reproduces_the_books_figures(data_dir: Path) -> None:
    data = HandbookData.load(data_dir, start=datetime(2018, 6, 17), end=datetime(2018, 8, 15))
    replayed, _ = cached_replay(data, data_dir)
    results = book_baseline(data.transactions, replayed.features, folds("baseline")[0])
    for model, published in PUBLISHED.items():
        got = results[model].figures
        for metric, value in published.items():
            assert abs(got[metric] - value) <= 0.01, f"{model} {metric}: {got[metric]:.4f} vs book {value}"
