"""Traffic levels: merging neighbouring terminals keeps every use, renames terminals the same way
every time, merges only terminals that stand together, and reaches the requested traffic."""

from __future__ import annotations

import numpy as np
import pytest

from dunpai.risk.compromise.scenario import Background, synthetic_background
from dunpai.risk.compromise.traffic import TOLERANCE, at_traffic, cards_per_terminal_day, merge_map


def _quiet() -> Background:
    return synthetic_background(cards=300, terminals=500, days=60, uses_per_day=1.0, seed=11)


def test_measure_counts_different_cards_per_terminal_and_day() -> None:
    day = 86400.0
    card = np.array([1, 1, 2, 3, 1], dtype=np.int64)
    term = np.array([0, 0, 0, 1, 0], dtype=np.int64)
    t = np.array([0.0, 10.0, 20.0, 30.0, day + 5], dtype=np.float64)
    # terminal 0: day 0 cards {1, 2}, day 1 {1}; terminal 1: day 0 {3}; 2 terminals x 2 days
    assert cards_per_terminal_day(card, term, t) == pytest.approx(4 / 4)


@pytest.mark.parametrize("target", [3.0, 10.0])
def test_merging_keeps_every_use_and_reaches_the_requested_traffic(target: float) -> None:
    bg = _quiet()
    own = cards_per_terminal_day(bg.card, bg.terminal, bg.t)
    assert own < 1.0
    busy = at_traffic(bg, target)
    assert np.array_equal(busy.card, bg.card) and np.array_equal(busy.t, bg.t)
    assert len(busy.terminal) == len(bg.terminal)
    reached = cards_per_terminal_day(busy.card, busy.terminal, busy.t)
    assert abs(reached / target - 1) <= TOLERANCE
    assert busy.n_terminals < bg.n_terminals and busy.terminal.max() < busy.n_terminals
    # Each original terminal became exactly one physical terminal.
    pairs = set(zip(bg.terminal.tolist(), busy.terminal.tolist(), strict=True))
    assert len(pairs) == len({a for a, _ in pairs})


def test_merging_is_deterministic_and_only_joins_neighbours() -> None:
    bg = _quiet()
    assert bg.terminal_xy is not None
    first, reached = merge_map(bg.card, bg.terminal, bg.t, bg.terminal_xy, 5.0)
    again, _ = merge_map(bg.card, bg.terminal, bg.t, bg.terminal_xy, 5.0)
    assert np.array_equal(first, again)
    assert abs(reached / 5.0 - 1) <= TOLERANCE
    groups = int(first.max()) + 1
    assert 1 < groups < len(first)
    # Terminals of one physical terminal stand together: closer than far-apart random pairs.
    spread = []
    for g in range(groups):
        xy = bg.terminal_xy[first == g]
        spread.append(float(np.ptp(xy, axis=0).max()) if len(xy) > 1 else 0.0)
    assert max(spread) < 0.5 * float(np.ptp(bg.terminal_xy, axis=0).max())


def test_own_traffic_is_kept_and_lower_traffic_or_no_places_are_refused() -> None:
    bg = _quiet()
    own = cards_per_terminal_day(bg.card, bg.terminal, bg.t)
    assert at_traffic(bg, own) is bg
    with pytest.raises(ValueError, match="never split"):
        at_traffic(bg, own / 3)
    with pytest.raises(ValueError, match="places"):
        at_traffic(Background(bg.card, bg.terminal, bg.t, bg.n_terminals), 5.0)
