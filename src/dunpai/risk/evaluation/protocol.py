"""Evaluation protocols over any tenant's history: which payments train, choose the model's
settings and thresholds (validation), and test.

* ``split`` — time-ordered: the first ``1 - test_fraction`` of the payments train (their last
  ``valid_fraction`` validates), the rest test (the Fraud Dataset Benchmark's protocol, 80/20).
  Or explicit dates: ``train_from .. train_to``, ``test_from .. test_to``.
* ``prequential`` — the Fraud Detection Handbook's: folds of ``train_days`` of training,
  ``delay_days`` unused (their labels are not all known yet), ``test_days`` of test; successive
  folds start ``step_days`` apart; model settings are chosen on the same folds shifted back by
  ``2 * test_days`` (no test payment is read).

Features only ever saw labels that had arrived at each payment's time. Training *targets* are, for
``split``, every label the log holds (retrospective, as the published protocols train) unless
``retrospective`` is off; for ``prequential``, the labels known when the test window opens (the
delay days make them complete, as in the Handbook).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np

from dunpai.core.errors import FieldProblem, InvalidInput

DAY = 86400.0


@dataclass(frozen=True)
class Fold:
    train: tuple[float, float]
    valid: tuple[float, float]
    test: tuple[float, float]
    retrospective: bool = False
    """Train on every label the log holds (the published protocols of ``split``), not only those
    known when the test window opens."""

    @property
    def labels_as_of(self) -> float:
        return math.inf if self.retrospective else self.test[0]

    def shifted(self, seconds: float) -> Fold:
        def move(w: tuple[float, float]) -> tuple[float, float]:
            return (w[0] - seconds, w[1] - seconds)

        return replace(self, train=move(self.train), valid=move(self.valid), test=move(self.test))

    def describe(self) -> dict[str, str]:
        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds")

        return {f"{name}_{edge}": iso(w[i]) for name, w in (("train", self.train), ("valid", self.valid),
                                                              ("test", self.test))
                for i, edge in enumerate(("from", "to"))}


def _utc(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def split(t: np.ndarray, test_fraction: float = 0.2, valid_fraction: float = 0.1, retrospective: bool = True) -> Fold:
    """Time-ordered split by counts of payments (``t`` in log order need not be sorted)."""
    if not 0 < test_fraction < 1 or not 0 < valid_fraction < 1:
        raise InvalidInput("bad split", problems=[FieldProblem("--test-fraction", "must be between 0 and 1")])
    ordered = np.sort(t)
    n = len(ordered)
    cut = ordered[int(n * (1 - test_fraction))]
    vcut = ordered[int(n * (1 - test_fraction) * (1 - valid_fraction))]
    start, end = float(ordered[0]), float(np.nextafter(ordered[-1], np.inf))
    return Fold((start, float(vcut)), (float(vcut), float(cut)), (float(cut), end), retrospective)


def dated(train_from: date, train_to: date, test_from: date, test_to: date, valid_days: int = 0,
          retrospective: bool = True) -> Fold:
    """Explicit days (inclusive, UTC). ``valid_days``: the last days of training validate (default:
    a tenth of the training days, at least one)."""
    if not train_from <= train_to < test_from <= test_to:
        raise InvalidInput("windows out of order", problems=[FieldProblem(
            "--train-from", "windows must be ordered: train-from <= train-to < test-from <= test-to")])
    days = (train_to - train_from).days + 1
    valid_days = valid_days or max(1, days // 10)
    if valid_days >= days:
        raise InvalidInput("windows too short", problems=[FieldProblem(
            "--train-from", "the validation days must leave some training days")])
    end = _utc(train_to + timedelta(days=1))
    vstart = end - valid_days * DAY
    return Fold((_utc(train_from), vstart), (vstart, end), (_utc(test_from), _utc(test_to + timedelta(days=1))),
                retrospective)


def prequential(first_train_day: date, folds: int = 4, train_days: int = 7, delay_days: int = 7,
                test_days: int = 7, step_days: int = 7, valid_days: int = 2) -> list[Fold]:
    """The Handbook's folds; the first trains from ``first_train_day``. Within each training window
    the last ``valid_days`` choose the number of trees and calibrate."""
    out = []
    for k in range(folds):
        start = _utc(first_train_day) + k * step_days * DAY
        end = start + train_days * DAY
        test = end + delay_days * DAY
        out.append(Fold((start, end - valid_days * DAY), (end - valid_days * DAY, end),
                        (test, test + test_days * DAY)))
    return out


def latest_prequential(t: np.ndarray, folds: int = 4, train_days: int = 7, delay_days: int = 7,
                       test_days: int = 7, step_days: int = 7) -> date:
    """The first training day that puts the last fold's test window at the end of the history."""
    last_day = datetime.fromtimestamp(float(np.max(t)), tz=UTC).date()
    span = train_days + delay_days + test_days + (folds - 1) * step_days
    return last_day - timedelta(days=span - 1)
