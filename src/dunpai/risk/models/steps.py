"""Feature steps the fraud model reads beyond the default pipeline (exact windows, label-driven).

* :class:`CustomerHabitStep` — how this amount compares with the customer's own habit: ratio to
  the median of the last 30 days and to the lifetime mean (before this event), and how many
  unusually large amounts the card made in the last 14 days (a stolen card's pattern);
* :class:`TerminalLabelStep` — what *arrived* labels say about a terminal: known frauds recently,
  the current run of consecutive known frauds and how long ago it began (a skimmed terminal stays
  compromised for weeks), and the traffic not yet labelled.

Both use only events and labels that have arrived by the event's time.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, ClassVar

from dunpai.risk.backtest import exact
from dunpai.risk.backtest.book_steps import mark_fraud
from dunpai.risk.events.schemas import CardNotPresent, CardPresent, Label
from dunpai.risk.features.layout import BIG, Features, Layout

DAY = 86400.0
HIGH_RATIO = 3.0


class CustomerHabitStep:
    """State: header ``[n, sum, sumsq, last_t]`` then ``(t, amount, high)`` entries of 30 days."""

    name: ClassVar[str] = "habit"
    applies_to = (CardPresent, CardNotPresent)
    layout: ClassVar[Layout] = Layout(["n", "sum", "sumsq", "last_t"])
    _HEADER, _WIDTH = 4, 3
    _FEATURES = ("hab_ratio_median_30d", "hab_ratio_mean_life", "hab_z_life", "hab_high_14d",
                 "hab_count_24h", "hab_secs_since_last", "hab_history_n")

    def key(self, event: Any) -> str | None:
        return event.customer_id if isinstance(event, CardPresent | CardNotPresent) else None

    def feature_names(self) -> tuple[str, ...]:
        return self._FEATURES

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        amount = out["amount"]
        n, total, sumsq, last_t = s[0], s[1], s[2], s[3]
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - 30 * DAY)
        prior = [s[i + 1] for i in range(self._HEADER, len(s), self._WIDTH) if s[i] <= t]
        median = _median(prior)
        ratio_med = amount / median if median > 0 else 0.0
        mean = total / n if n > 0 else 0.0
        var = max(sumsq / n - mean * mean, 0.0) if n > 0 else 0.0
        high = 0
        day_count = 0
        for i in range(self._HEADER, len(s), self._WIDTH):
            ti = s[i]
            if t - 14 * DAY < ti <= t:
                high += int(s[i + 2])
                if ti > t - DAY:
                    day_count += 1
        is_high = 1.0 if ratio_med > HIGH_RATIO else 0.0
        out["hab_ratio_median_30d"] = ratio_med
        out["hab_ratio_mean_life"] = amount / mean if mean > 0 else 0.0
        out["hab_z_life"] = (amount - mean) / math.sqrt(var) if var > 1e-9 and n >= 3 else 0.0
        out["hab_high_14d"] = high + is_high
        out["hab_count_24h"] = float(day_count + 1)
        out["hab_secs_since_last"] = t - last_t if n > 0 and t >= last_t else BIG
        out["hab_history_n"] = n
        exact.insert(s, self._HEADER, self._WIDTH, (t, amount, is_high))
        s[0], s[1], s[2] = n + 1, total + amount, sumsq + amount * amount
        s[3] = max(last_t, t) if n > 0 else t
        return s


class TerminalLabelStep:
    """State: header ``[n]`` then ``(t, fraud_known)`` entries of the last 45 days."""

    name: ClassVar[str] = "terminal_labels"
    applies_to = (CardPresent, Label)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 2
    _KEEP = 45 * DAY
    _FEATURES = ("tl_known_frauds_14d", "tl_last_fraud_age", "tl_run_len", "tl_run_start_age",
                 "tl_fraud_share_14d", "tl_unlabelled_7d", "tl_labelled_14d")
    LABEL_LAG = 7 * DAY
    """Traffic younger than this has not been labelled yet; the shares are read only over older traffic."""

    def key(self, event: Any) -> str | None:
        if isinstance(event, CardPresent | Label):
            return event.terminal_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return self._FEATURES

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud and event.target_event_time is not None:
                mark_fraud(s, self._HEADER, self._WIDTH, event.target_event_time)
            return s
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - self._KEEP)
        labelled_end = t - self.LABEL_LAG
        known14 = labelled14 = unlabelled = 0
        last_fraud = -BIG
        run = 0
        run_start = t
        run_open = True
        # Newest first: the run is the consecutive known frauds ending at the newest labelled entry.
        for i in range(len(s) - self._WIDTH, self._HEADER - 1, -self._WIDTH):
            ti, fraud = s[i], s[i + 1]
            if ti > t:
                continue
            if fraud > 0 and ti > last_fraud:
                last_fraud = ti
            if ti > t - 14 * DAY:
                known14 += int(fraud)
            if ti > labelled_end:
                unlabelled += 1
                continue
            if ti > labelled_end - 14 * DAY:
                labelled14 += 1
            if run_open:
                if fraud > 0:
                    run += 1
                    run_start = ti
                else:
                    run_open = False
        out["tl_known_frauds_14d"] = float(known14)
        out["tl_last_fraud_age"] = t - last_fraud if last_fraud > -BIG else BIG
        out["tl_run_len"] = float(run)
        out["tl_run_start_age"] = t - run_start if run else BIG
        out["tl_fraud_share_14d"] = known14 / labelled14 if labelled14 else 0.0
        out["tl_unlabelled_7d"] = float(unlabelled)
        out["tl_labelled_14d"] = float(labelled14)
        exact.insert(s, self._HEADER, self._WIDTH, (t, 0.0))
        s[0] += 1
        return s


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])
