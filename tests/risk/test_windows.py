"""Contract tests of the window primitives: order independence, bounded sets."""

from __future__ import annotations

import math
from array import array

from hypothesis import given
from hypothesis import strategies as st

from dunpai.risk.features.windows import (
    decay_add,
    decay_to,
    decayed,
    recent_add,
    recent_distinct,
    recent_seen,
)

events = st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.floats(-1e4, 1e4, allow_nan=False)),
                  min_size=1, max_size=40)


def fold_decayed(seq: list[tuple[float, float]], tau: float) -> tuple[float, float]:
    s = array("d", [0.0])
    ref = -math.inf
    for t, x in seq:
        if t >= ref:
            if ref > -math.inf:
                decay_to(s, ((tau, (0,)),), t - ref)
            ref = t
            decay_add(s, 0, tau, x, 0.0)
        else:
            decay_add(s, 0, tau, x, ref - t)
    return s[0], ref


@given(events, st.randoms())
def test_decayed_sum_is_independent_of_arrival_order(seq: list[tuple[float, float]], rnd: object) -> None:
    tau = 3600.0
    shuffled = list(seq)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, ref_a = fold_decayed(seq, tau)
    b, ref_b = fold_decayed(shuffled, tau)
    assert ref_a == ref_b
    expected = sum(x * math.exp(-(ref_a - t) / tau) for t, x in seq)
    assert math.isclose(a, expected, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(b, expected, rel_tol=1e-9, abs_tol=1e-6)


def test_decayed_read_later() -> None:
    s = array("d", [10.0])
    assert math.isclose(decayed(s, 0, 100.0, 100.0), 10 / math.e)
    assert decayed(s, 0, 100.0, -5.0) == 10.0


def test_recent_set_novelty_and_distinct() -> None:
    s = array("d", [0.0] * 8)  # room for 4 values
    assert recent_seen(s, 0, 4, 11.0) == -1.0
    for i, h in enumerate((11.0, 12.0, 13.0, 14.0)):
        recent_add(s, 0, 4, h, float(i))
    assert recent_seen(s, 0, 4, 12.0) == 1.0
    assert recent_distinct(s, 0, 4, 2.0) == 2
    recent_add(s, 0, 4, 15.0, 10.0)  # evicts the least recently seen (11)
    assert recent_seen(s, 0, 4, 11.0) == -1.0
    assert recent_seen(s, 0, 4, 15.0) == 10.0
    recent_add(s, 0, 4, 12.0, 11.0)
    assert recent_seen(s, 0, 4, 12.0) == 11.0


@given(st.lists(st.tuples(st.integers(1, 9), st.floats(0, 100)), max_size=40), st.floats(0, 100))
def test_recent_touch_equals_seen_add_distinct(ops: list[tuple[int, float]], since: float) -> None:
    from dunpai.risk.features.windows import recent_touch

    a, b = array("d", [0.0] * 8), array("d", [0.0] * 8)
    for value, t in ops:
        h = float(value)
        expected_seen = recent_seen(a, 0, 4, h)
        recent_add(a, 0, 4, h, t)
        expected_distinct = recent_distinct(a, 0, 4, since)
        assert recent_touch(b, 0, 4, h, t, since) == (expected_seen, expected_distinct)
        assert list(a) == list(b)
