"""The Handbook's evaluation protocol (book ch. 3 and 5), reproduced exactly.

A fold is 7 days of training, 7 days of delay (unused: their labels are not known yet) and 7 days
of test. On each test day the cards already known to be compromised are removed: frauds of the
training week, and of the days up to *test day - delay* (the book's ``get_train_test_set``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

DELTA_TRAIN = DELTA_DELAY = DELTA_TEST = 7
BASELINE_START = date(2018, 7, 25)
PREQUENTIAL_STARTS = (date(2018, 8, 15), date(2018, 8, 8), date(2018, 8, 1), date(2018, 7, 25))
VALIDATION_SHIFT = timedelta(days=DELTA_DELAY + DELTA_TEST)
"""Hyper-parameters are chosen on the same folds shifted back by 14 days (book ch. 5)."""

PROTOCOLS = ("baseline", "prequential")


@dataclass(frozen=True)
class Fold:
    train_start: date

    @property
    def train_end(self) -> date:
        return self.train_start + timedelta(days=DELTA_TRAIN)

    @property
    def test_start(self) -> date:
        return self.train_end + timedelta(days=DELTA_DELAY)

    @property
    def test_end(self) -> date:
        return self.test_start + timedelta(days=DELTA_TEST)

    def shifted(self, delta: timedelta) -> Fold:
        return Fold(self.train_start - delta)

    def describe(self) -> dict[str, str]:
        return {"train": f"{self.train_start} .. {self.train_end - timedelta(days=1)}",
                "test": f"{self.test_start} .. {self.test_end - timedelta(days=1)}"}


def folds(protocol: str) -> tuple[Fold, ...]:
    if protocol == "baseline":
        return (Fold(BASELINE_START),)
    if protocol == "prequential":
        return tuple(Fold(s) for s in PREQUENTIAL_STARTS)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def _ts(d: date) -> np.datetime64:
    return np.datetime64(pd.Timestamp(d))


def train_rows(tx: pd.DataFrame, fold: Fold) -> np.ndarray:
    """Row positions of the training week ``[train_start, train_start + 7d)``."""
    t = tx.TX_DATETIME.to_numpy()
    return np.flatnonzero((t >= _ts(fold.train_start)) & (t < _ts(fold.train_end)))


def rows_between(tx: pd.DataFrame, start: date, end: date) -> np.ndarray:
    t = tx.TX_DATETIME.to_numpy()
    return np.flatnonzero((t >= _ts(start)) & (t < _ts(end)))


def holdout_rows(tx: pd.DataFrame, fold: Fold) -> np.ndarray:
    """Row positions of the test week, known-compromised cards removed day by day (book exactly).

    ``TX_DATETIME``-based training week, ``TX_TIME_DAYS``-based test and delay days, as the book.
    """
    train = train_rows(tx, fold)
    fraud = tx.TX_FRAUD.to_numpy()
    cust = tx.CUSTOMER_ID.to_numpy()
    days = tx.TX_TIME_DAYS.to_numpy()
    known = set(cust[train][fraud[train] == 1].tolist())
    first_day = int(days[train].min())
    out: list[np.ndarray] = []
    for day in range(DELTA_TEST):
        test_day = np.flatnonzero(days == first_day + DELTA_TRAIN + DELTA_DELAY + day)
        delay_day = np.flatnonzero(days == first_day + DELTA_TRAIN + day - 1)
        known |= set(cust[delay_day][fraud[delay_day] == 1].tolist())
        keep = ~np.isin(cust[test_day], np.fromiter(known, dtype=cust.dtype, count=len(known)))
        out.append(test_day[keep])
    rows = np.concatenate(out)
    # The book sorts both sets by TRANSACTION_ID.
    return rows[np.argsort(tx.TRANSACTION_ID.to_numpy()[rows], kind="stable")]
