"""The book's and the model's keyed steps read their windows by bisection over time-ordered state;
they must give, bit for bit, what an entry-by-entry loop over the same state gives (the original
implementation, kept here as the reference) — also with late events and labels in between."""

from __future__ import annotations

import math
from array import array
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from dunpai.risk.backtest import exact
from dunpai.risk.backtest.book_steps import DELAY_DAYS, WINDOWS, BookCustomerStep, BookTerminalStep, mark_fraud
from dunpai.risk.events.schemas import CardPresent, Label
from dunpai.risk.features.layout import BIG, Features
from dunpai.risk.models.steps import HIGH_RATIO, CustomerHabitStep, TerminalLabelStep

DAY = 86400.0


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


class RefBookCustomer(BookCustomerStep):
    def _read(self, s: array[float], t: float, out: Features) -> None:
        counts, sums = [0, 0, 0], [0.0, 0.0, 0.0]
        bounds = [t - w * DAY for w in WINDOWS]
        for i in range(self._HEADER, len(s), self._WIDTH):
            ti = s[i]
            if ti > t:
                continue
            for k in range(3):
                if ti > bounds[k]:
                    counts[k] += 1
                    sums[k] += s[i + 1]
        for k, (_, n_name, m_name) in enumerate(self._NAMES):
            out[n_name] = float(counts[k])
            out[m_name] = sums[k] / counts[k] if counts[k] else 0.0


class RefBookTerminal(BookTerminalStep):
    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud and event.target_event_time is not None:
                mark_fraud(s, self._HEADER, self._WIDTH, event.target_event_time)
            return s
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - (DELAY_DAYS + WINDOWS[-1]) * DAY)
        end = t - DELAY_DAYS * DAY
        counts, frauds = [0, 0, 0], [0.0, 0.0, 0.0]
        bounds = [end - w * DAY for w in WINDOWS]
        for i in range(self._HEADER, len(s), self._WIDTH):
            ti = s[i]
            if ti > end:
                break
            for k in range(3):
                if ti > bounds[k]:
                    counts[k] += 1
                    frauds[k] += s[i + 1]
        for k, w in enumerate(WINDOWS):
            out[f"book_term_nb_tx_{w}d"] = float(counts[k])
            out[f"book_term_risk_{w}d"] = frauds[k] / counts[k] if counts[k] else 0.0
        exact.insert(s, self._HEADER, self._WIDTH, (t, 0.0))
        s[0] += 1
        return s


class RefHabit(CustomerHabitStep):
    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        amount = out["amount"]
        n, total, sumsq, last_t = s[0], s[1], s[2], s[3]
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - 30 * DAY)
        median = _median([s[i + 1] for i in range(self._HEADER, len(s), self._WIDTH) if s[i] <= t])
        ratio_med = amount / median if median > 0 else 0.0
        mean = total / n if n > 0 else 0.0
        var = max(sumsq / n - mean * mean, 0.0) if n > 0 else 0.0
        high = day_count = 0
        for i in range(self._HEADER, len(s), self._WIDTH):
            if t - 14 * DAY < s[i] <= t:
                high += int(s[i + 2])
                if s[i] > t - DAY:
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


class RefTerminalLabels(TerminalLabelStep):
    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud and event.target_event_time is not None:
                mark_fraud(s, self._HEADER, self._WIDTH, event.target_event_time)
            return s
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - self._KEEP)
        labelled_end = t - self.LABEL_LAG
        known14 = labelled14 = unlabelled = run = 0
        last_fraud, run_start, run_open = -BIG, t, True
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
                    run, run_start = run + 1, ti
                else:
                    run_open = False
        out["tl_known_frauds_14d"] = float(known14)
        out["tl_last_fraud_age"] = t - last_fraud if last_fraud > -BIG else BIG
        out["tl_run_len"] = float(run)
        out["tl_run_start_age"] = t - run_start if run else BIG
        out["tl_fraud_share_14d"] = known14 / labelled14 if labelled14 else 0.0
        out["tl_unlabelled_7d"] = float(unlabelled)
        out["tl_labelled_14d"] = float(labelled14)
        exact.insert(s, self._HEADER, self._WIDTH, (t, 0.0, out["amount"], out.get("hab_ratio_median_30d", 0.0)))
        s[0] += 1
        return s


def _stream(seed: int, n: int) -> list[CardPresent | Label]:
    """Card-present events of a few customers at a few terminals over ~80 days, some late (up to a
    day out of order), with fraud labels arriving 7 days after some of them."""
    rng = np.random.default_rng(seed)
    start = datetime(2018, 4, 1, tzinfo=UTC)
    events: list[tuple[datetime, int, CardPresent | Label]] = []
    for i in range(n):
        when = start + timedelta(seconds=float(rng.uniform(0, 80 * DAY)))
        arrive = when + timedelta(seconds=float(rng.uniform(0, DAY))) if rng.random() < 0.1 else when
        cust, term = int(rng.integers(0, 4)), int(rng.integers(0, 3))
        amount = Decimal(int(rng.gamma(2.0, 3000.0)) * (5 if rng.random() < 0.05 else 1))
        cp = CardPresent(event_id=f"e{i}", event_time=when, txn="pos_purchase", card_id=f"c{cust}",
                         account_id=f"c{cust}", customer_id=f"c{cust}", terminal_id=f"t{term}", amount=amount,
                         currency="CNY", pos_entry_mode="05")
        events.append((arrive, 1, cp))
        if rng.random() < 0.2:
            label_time = when + timedelta(days=7)
            events.append((label_time, 0, Label(event_id=f"l{i}", event_time=label_time, target_event_id=f"e{i}",
                                                fraud=True, source="import", card_id=f"c{cust}",
                                                account_id=f"c{cust}", customer_id=f"c{cust}",
                                                terminal_id=f"t{term}", target_event_time=when)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in events]


def test_bisected_steps_equal_entry_loops_bit_for_bit() -> None:
    pairs = [(BookCustomerStep(), RefBookCustomer()), (BookTerminalStep(), RefBookTerminal()),
             (CustomerHabitStep(), RefHabit()), (TerminalLabelStep(), RefTerminalLabels())]
    rng = np.random.default_rng(7)
    for seed in range(3):
        for fast, ref in pairs:
            states: dict[tuple[str, str], array[float]] = {}
            ref_states: dict[tuple[str, str], array[float]] = {}
            compared = 0
            for event in _stream(seed, 1500):
                if not isinstance(event, fast.applies_to):
                    continue
                key = fast.key(event)
                assert key is not None
                t = event.event_time.timestamp()
                amount = float(event.amount) / 100 if isinstance(event, CardPresent) else 0.0
                ratio = float(rng.gamma(2.0, 0.5))
                out = Features(amount=amount, hab_ratio_median_30d=ratio)
                ref_out = Features(amount=amount, hab_ratio_median_30d=ratio)
                new = fast.update(states.get((fast.name, key)), event, t, out)
                ref_new = ref.update(ref_states.get((ref.name, key)), event, t, ref_out)
                assert new.tobytes() == ref_new.tobytes()
                # The reference computes the features the loop version had; newer ones are checked
                # against a direct reading of the run below.
                assert list(ref_out) == list(out)[:len(ref_out)]
                assert np.array([out[k] for k in ref_out]).tobytes() == np.array(list(ref_out.values())).tobytes()
                if isinstance(fast, TerminalLabelStep) and isinstance(event, CardPresent):
                    _check_run_shape(states.get((fast.name, key)), t, out)
                states[(fast.name, key)], ref_states[(ref.name, key)] = new, ref_new
                compared += isinstance(event, CardPresent)
            assert compared > 1000


def _check_run_shape(state: array[float] | None, t: float, out: Features) -> None:
    """The run's amounts and ratios, read entry by entry from the state before the event."""
    step = TerminalLabelStep
    entries = [] if state is None else [tuple(state[i:i + step._WIDTH])
                                         for i in range(step._HEADER, len(state), step._WIDTH)]
    entries = [e for e in entries if t - step._KEEP < e[0] <= t - step.LABEL_LAG]
    run = []
    for e in reversed(entries):
        if e[1] <= 0:
            break
        run.append(e)
    assert out["tl_run_len"] == len(run)
    if run:
        assert out["tl_run_min_amount"] == min(e[2] for e in run)
        assert out["tl_run_max_ratio"] == max(e[3] for e in run)
    else:
        assert out["tl_run_min_amount"] == out["tl_run_max_ratio"] == 0.0
