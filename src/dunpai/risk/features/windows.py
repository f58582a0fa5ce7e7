"""Online aggregate primitives over flat arrays of doubles, driven by *event time* (never the wall clock).

* :func:`decay_add` / :func:`decayed` — exponentially time-decayed sums with time constant
  ``tau``: each event weighs ``exp(-age / tau)``. They take O(1) memory per window, are exact
  under out-of-order arrival (the sum does not depend on arrival order), and serialise to a few
  doubles — what the live engine keeps per card.
* :func:`recent_add` / :func:`recent_seen` / :func:`recent_distinct` — small bounded sets of
  hashed values with their last-seen times (novelty and distinct counts).
"""

from __future__ import annotations

import math
import zlib
from array import array

# -- time-decayed aggregates stored in flat arrays of doubles -----------------------------------
#
# A decayed aggregate at slot ``i`` of a state array keeps its value as of the state's reference
# time ``ref`` (the latest event time applied). Adding an event at time ``t``:
#   t >= ref: every slot first decays by exp(-(t - ref) / tau), then adds the event's value;
#   t <  ref: the late event adds its value times exp(-(ref - t) / tau).
# Both give sum_i value_i * exp(-(ref - t_i) / tau): independent of arrival order.


DecayGroups = tuple[tuple[float, tuple[int, ...]], ...]
"""``(tau, slots)`` groups: the slots that decay with time constant ``tau``."""


def decay_add(state: array[float], slot: int, tau: float, value: float, age: float) -> None:
    """Add ``value`` observed ``age`` seconds before the state's reference time."""
    state[slot] += value * math.exp(-age / tau) if age > 0 else value


def decay_to(state: array[float], groups: tuple[tuple[float, tuple[int, ...]], ...], dt: float) -> None:
    """Decay the slots of each ``(tau, slots)`` group by ``dt`` seconds (moving the reference time
    forward); one ``exp`` per time constant."""
    if dt <= 0:
        return
    for tau, slots in groups:
        factor = math.exp(-dt / tau)
        for slot in slots:
            state[slot] *= factor


def decay_groups(pairs: tuple[tuple[int, float], ...]) -> tuple[tuple[float, tuple[int, ...]], ...]:
    """Group (slot, tau) pairs by tau for :func:`decay_to`."""
    by_tau: dict[float, list[int]] = {}
    for slot, tau in pairs:
        by_tau.setdefault(tau, []).append(slot)
    return tuple((tau, tuple(slots)) for tau, slots in by_tau.items())


def decayed(state: array[float], slot: int, tau: float, dt: float) -> float:
    """The slot's value read ``dt`` seconds after the reference time."""
    return state[slot] * math.exp(-dt / tau) if dt > 0 else state[slot]


# -- bounded recent sets (novelty and distinct counts) -------------------------------------------


def value_hash(value: str) -> float:
    """A stable 32-bit hash of a string (never 0), exact as a double. Not Python's salted hash."""
    return float(zlib.crc32(value.encode()) + 1)


def recent_seen(state: array[float], start: int, size: int, h: float) -> float:
    """Last time ``h`` was seen in the recent set at ``start`` (``size`` pairs), or -1.0."""
    for i in range(start, start + 2 * size, 2):
        if state[i] == h:
            return state[i + 1]
    return -1.0


def recent_add(state: array[float], start: int, size: int, h: float, t: float) -> None:
    """Record ``h`` at time ``t``; the least recently seen entry makes room when full."""
    oldest_i, oldest_t = start, math.inf
    for i in range(start, start + 2 * size, 2):
        if state[i] == h:
            if t > state[i + 1]:
                state[i + 1] = t
            return
        if state[i] == 0.0:
            state[i], state[i + 1] = h, t
            return
        if state[i + 1] < oldest_t:
            oldest_i, oldest_t = i, state[i + 1]
    state[oldest_i], state[oldest_i + 1] = h, t


def recent_touch(state: array[float], start: int, size: int, h: float, t: float, since: float) -> tuple[float, int]:
    """``recent_seen`` then ``recent_add`` then ``recent_distinct(since)`` in one pass over the set:
    returns (when ``h`` was last seen before, or -1.0; distinct values seen at or after ``since``)."""
    seen = -1.0
    free = oldest_i = -1
    oldest_t = math.inf
    distinct = 0
    end = start + 2 * size
    for i in range(start, end, 2):
        v = state[i]
        if v == 0.0:
            if free < 0:
                free = i
            continue
        last = state[i + 1]
        if v == h:
            seen = last
            if t > last:
                state[i + 1] = last = t
            if last >= since:
                distinct += 1
            continue
        if last >= since:
            distinct += 1
        if last < oldest_t:
            oldest_i, oldest_t = i, last
    if seen < 0:
        slot = free if free >= 0 else oldest_i
        if free < 0 and oldest_t >= since:
            distinct -= 1  # the evicted value no longer counts
        state[slot], state[slot + 1] = h, t
        if t >= since:
            distinct += 1
    return seen, distinct


def recent_distinct(state: array[float], start: int, size: int, since: float) -> int:
    """How many distinct values were seen at or after ``since`` (exact up to ``size``)."""
    n = 0
    for i in range(start, start + 2 * size, 2):
        if state[i] != 0.0 and state[i + 1] >= since:
            n += 1
    return n
