"""Exact event-time windows kept inside a keyed step's ``array('d')`` state.

The River ``TimeRolling`` idiom (keep the events inside the window, expire the old ones) stored
the way every keyed step stores state: a fixed header of ``header`` doubles followed by the
window's entries, ``width`` doubles each, the first being the entry's event time, in time order.
The array stays compact and serialisable (``tobytes``), so snapshots, Redis and a Flink
``ValueState`` hold it like any other state; only its length varies.
"""

from __future__ import annotations

from array import array


def expire(state: array[float], header: int, width: int, cutoff: float) -> None:
    """Drop entries with time ``<= cutoff`` (they can be in no future window)."""
    end = len(state)
    i = header
    while i < end and state[i] <= cutoff:
        i += width
    if i > header:
        del state[header:i]


def insert(state: array[float], header: int, width: int, entry: tuple[float, ...]) -> int:
    """Insert ``entry`` (time first) after every entry with time ``<=`` its time; returns its
    offset. A late event lands in its place, so windows stay exact under disorder."""
    t = entry[0]
    i = len(state)
    while i > header and state[i - width] > t:
        i -= width
    state[i:i] = array("d", entry)
    return i


def latest_time(state: array[float], header: int, width: int, default: float) -> float:
    return state[len(state) - width] if len(state) > header else default
