"""The evaluation's early-warning trade-off: later victims warned before their fraud against innocent
cards warned, per exposure level, on a small injected scenario."""

from __future__ import annotations

import dataclasses
import math

from dunpai.risk.compromise.evaluate import THRESHOLDS, evaluate, told_window, warning_tradeoff
from dunpai.risk.compromise.model import DAY, CompromiseConfig
from dunpai.risk.compromise.scenario import InjectedScenario, SkimmingScenario, inject, synthetic_background
from dunpai.risk.compromise.visits import ArrayVisitHistory


def _truth() -> InjectedScenario:
    background = synthetic_background(cards=300, terminals=60, days=120, uses_per_day=1.5, seed=5)
    return inject(background, SkimmingScenario(terminals=2, skim_days_min=10, skim_days_max=14, victim_share=0.6,
                                               delay_days_max=21, busiest_share=0.5, background_per_day=0.1,
                                               seed=5))


def test_tradeoff_counts_later_victims_and_innocents_by_hand() -> None:
    truth = _truth()
    victims = sorted(truth.victims, key=lambda c: truth.victims[c][2])
    assert len(victims) >= 4
    first, second, last = victims[0], victims[1], victims[-1]
    term = truth.victims[last][0]
    first_known = min(f for t, _, f in truth.victims.values() if t == term) + truth.scenario.label_delay_days * DAY
    innocent = next(c for c in truth.card if c not in truth.victims)
    levels = [0.05, 1.0]
    warned = {
        last: [truth.victims[last][2] - DAY, math.inf],  # warned a day before its fraud, at 0.05 only
        second: [truth.victims[second][2] + DAY, truth.victims[second][2] + DAY],  # warned too late
        innocent: [0.0, 0.0],
    }
    out = warning_tradeoff(truth, warned, levels, warn_at=0.05)
    later = [c for c, (t, _, f) in truth.victims.items()
             if f > min(g for u, _, g in truth.victims.values() if u == t) + truth.scenario.label_delay_days * DAY]
    assert out["later_victims"] == len(later) and last in later and truth.victims[last][2] > first_known
    assert first not in later
    low, high = out["curve"]
    assert low["victims_warned_before_fraud"] == 1 and low["innocent_warned"] == 1
    assert low["later_victims_warned_before_fraud"] == 1 / len(later)
    assert low["innocent_warned_per_victim"] == 1.0 and out["innocent_warned_per_victim"] == 1.0
    assert high["victims_warned_before_fraud"] == 0 and high["innocent_warned_per_victim"] is None


def test_replay_reports_a_monotone_tradeoff_with_the_operating_point() -> None:
    truth = _truth()
    result = evaluate(truth, CompromiseConfig(), run_every_secs=6 * 3600)
    warning = result["early_warning"]
    curve = warning["curve"]
    assert [p["exposure_at_least"] for p in curve] == sorted({*THRESHOLDS, CompromiseConfig().warn_at})
    caught = [p["victims_warned_before_fraud"] for p in curve]
    innocent = [p["innocent_warned"] for p in curve]
    assert caught == sorted(caught, reverse=True) and innocent == sorted(innocent, reverse=True)
    assert caught[0] > 0 and result["flagged_fraction"] > 0
    assert 0.0 <= warning["later_victims_warned_before_fraud"] <= 1.0


def test_told_window_counts_the_labels_known_in_the_true_window() -> None:
    """Each skimmer's days until its true window's known fraud cards are significant: the stricter
    level never sooner; a test told the window of a skimmer whose labels never arrive (or who has no
    victims) never gets there."""
    truth = _truth()
    history = ArrayVisitHistory.from_arrays(truth.card, truth.terminal, truth.t)
    told = told_window(truth, history, CompromiseConfig())
    strict, lenient = told["family_wise"], told["wrong_share"]
    assert strict["level"] < lenient["level"]
    assert len(strict["days"]) == len(truth.skimmed) and all(d is not None for d in lenient["days"])
    assert all(s is None or s >= w for s, w in zip(strict["days"], lenient["days"], strict=True))
    unlabelled = dataclasses.replace(truth, frauds=[f for f in truth.frauds if f.card_id not in truth.victims])
    assert told_window(unlabelled, history, CompromiseConfig())["wrong_share"]["days"] == [None] * len(truth.skimmed)
    first = sorted(truth.skimmed)[0]
    no_victims = dataclasses.replace(truth, victims={c: v for c, v in truth.victims.items() if v[0] != first})
    assert told_window(no_victims, history, CompromiseConfig())["family_wise"]["days"][0] is None
