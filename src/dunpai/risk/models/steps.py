"""Feature steps the fraud model reads beyond the default pipeline (exact windows, label-driven).

* :class:`CustomerHabitStep` — how this amount compares with the customer's own habit: ratio to
  the median of the last 30 days and to the lifetime mean (before this event), and how many
  unusually large amounts the card made in the last 14 days (a stolen card's pattern);
* :class:`TerminalLabelStep` — what *arrived* labels say about a terminal: known frauds recently,
  the current run of consecutive known frauds, how long ago it began (a skimmed terminal stays
  compromised for weeks) and what its frauds looked like (an isolated fraud by a stolen card or of a
  huge amount says little about the terminal; a run of ordinary amounts says it is skimmed), and the
  traffic not yet labelled;
* :class:`CardLabelStep` — what arrived labels say about the card: how long ago its last known
  fraud happened and when its recent known frauds began. The default card step's
  ``card_fraud_known`` never expires; a stolen card is used for days, then blocked or abandoned, so
  the age of the evidence matters as much as the evidence.

All use only events and labels that have arrived by the event's time.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence
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
        # Entries are in time order: windows are slices found by bisection.
        times = s[self._HEADER::self._WIDTH]
        hi = bisect_right(times, t)
        median = _median(s[self._HEADER + 1::self._WIDTH][:hi])
        ratio_med = amount / median if median > 0 else 0.0
        mean = total / n if n > 0 else 0.0
        var = max(sumsq / n - mean * mean, 0.0) if n > 0 else 0.0
        lo14 = bisect_right(times, t - 14 * DAY, 0, hi)
        high = int(sum(s[self._HEADER + 2::self._WIDTH][lo14:hi], 0.0))
        day_count = hi - bisect_right(times, t - DAY, lo14, hi)
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
    """State: header ``[n]`` then ``(t, fraud_known, amount, amount_ratio)`` entries of the last 45
    days; ``amount_ratio`` is the amount over the customer's 30-day median when the transaction was
    made (``hab_ratio_median_30d``, from :class:`CustomerHabitStep` earlier in the pipeline)."""

    name: ClassVar[str] = "terminal_labels"
    applies_to = (CardPresent, Label)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 4
    _KEEP = 45 * DAY
    _FEATURES = ("tl_known_frauds_14d", "tl_last_fraud_age", "tl_run_len", "tl_run_start_age",
                 "tl_fraud_share_14d", "tl_unlabelled_7d", "tl_labelled_14d", "tl_run_min_amount",
                 "tl_run_max_amount", "tl_run_min_ratio", "tl_run_max_ratio")
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
        # Entries are in time order: each count is a slice found by bisection; the run is read
        # newest first from the newest labelled entry.
        times = s[self._HEADER::self._WIDTH]
        flags = s[self._HEADER + 1::self._WIDTH]
        hi = bisect_right(times, t)
        lo14 = bisect_right(times, t - 14 * DAY, 0, hi)
        known14 = int(sum(flags[lo14:hi], 0.0))
        labelled_hi = bisect_right(times, labelled_end, 0, hi)
        unlabelled = hi - labelled_hi
        labelled14 = labelled_hi - bisect_right(times, labelled_end - 14 * DAY, 0, labelled_hi)
        last_fraud = -BIG
        if flags[:hi].count(0.0) < hi:  # some known fraud: find the newest
            for j in range(hi - 1, -1, -1):
                if flags[j] > 0:
                    last_fraud = times[j]
                    break
        run = 0
        run_start = t
        j = labelled_hi - 1
        while j >= 0 and flags[j] > 0:
            run += 1
            run_start = times[j]
            j -= 1
        amounts = s[self._HEADER + 2::self._WIDTH][j + 1:labelled_hi]
        ratios = s[self._HEADER + 3::self._WIDTH][j + 1:labelled_hi]
        out["tl_known_frauds_14d"] = float(known14)
        out["tl_last_fraud_age"] = t - last_fraud if last_fraud > -BIG else BIG
        out["tl_run_len"] = float(run)
        out["tl_run_start_age"] = t - run_start if run else BIG
        out["tl_fraud_share_14d"] = known14 / labelled14 if labelled14 else 0.0
        out["tl_unlabelled_7d"] = float(unlabelled)
        out["tl_labelled_14d"] = float(labelled14)
        out["tl_run_min_amount"] = min(amounts) if run else 0.0
        out["tl_run_max_amount"] = max(amounts) if run else 0.0
        out["tl_run_min_ratio"] = min(ratios) if run else 0.0
        out["tl_run_max_ratio"] = max(ratios) if run else 0.0
        exact.insert(s, self._HEADER, self._WIDTH, (t, 0.0, out["amount"], out.get("hab_ratio_median_30d", 0.0)))
        s[0] += 1
        return s


def _median(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


class CardLabelStep:
    """State: header ``[n]`` then ``(arrival, fraud_time)`` entries of fraud labels that arrived in
    the last 60 days, in arrival order. A transaction at ``t`` reads only labels arrived by ``t``
    (a late event never sees a label that came after it)."""

    name: ClassVar[str] = "card_labels"
    applies_to = (CardPresent, CardNotPresent, Label)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 2
    _KEEP = 60 * DAY
    RECENT = 28 * DAY
    _FEATURES = ("cl_secs_since_fraud", "cl_secs_since_label", "cl_secs_since_first_recent_fraud",
                 "cl_known_frauds_28d")

    def key(self, event: Any) -> str | None:
        if isinstance(event, CardPresent | CardNotPresent | Label):
            return event.card_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return self._FEATURES

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud and event.target_event_time is not None:
                exact.insert(s, self._HEADER, self._WIDTH, (t, event.target_event_time.timestamp()))
                s[0] += 1
            return s
        if len(s) == self._HEADER:  # no fraud label ever arrived (most cards)
            out["cl_secs_since_fraud"] = out["cl_secs_since_label"] = BIG
            out["cl_secs_since_first_recent_fraud"] = BIG
            out["cl_known_frauds_28d"] = 0.0
            return s
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - self._KEEP)
        arrived = s[self._HEADER::self._WIDTH]
        hi = bisect_right(arrived, t)
        fraud_times = [x for x in s[self._HEADER + 1::self._WIDTH][:hi] if x <= t]
        recent = [x for x in fraud_times if x > t - self.RECENT]
        out["cl_secs_since_fraud"] = t - max(fraud_times) if fraud_times else BIG
        out["cl_secs_since_label"] = t - arrived[hi - 1] if hi else BIG
        out["cl_secs_since_first_recent_fraud"] = t - min(recent) if recent else BIG
        out["cl_known_frauds_28d"] = float(len(recent))
        return s
