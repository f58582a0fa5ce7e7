"""Named slots in a keyed entity's state array, and the contract every keyed step follows.

A keyed step's state is one ``array('d')``: compact (8 bytes a value), trivially serialisable
(``tobytes``) for snapshots, Redis and a Flink ``ValueState``, and free of Python object overhead.
Each step declares its layout once; slots are read and written by name through the layout.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

NEVER = -1.0e18
"""Slot value for "no such time yet"."""

BIG = 1.0e9
"""Feature value for "never happened" (seconds since / distance): large, finite, CEL-friendly."""


class Layout:
    """Assigns consecutive slots to names; ``sets`` are bounded recent sets of (hash, time) pairs."""

    def __init__(self, scalars: list[str], sets: Mapping[str, int] | None = None,
                 defaults: Mapping[str, float] | None = None) -> None:
        self.slot: dict[str, int] = {name: i for i, name in enumerate(scalars)}
        self.sets: dict[str, tuple[int, int]] = {}
        pos = len(scalars)
        for name, size in (sets or {}).items():
            self.sets[name] = (pos, size)
            pos += 2 * size
        self.size = pos
        self._initial = array("d", [0.0] * pos)
        for name, value in (defaults or {}).items():
            self._initial[self.slot[name]] = value

    def new(self) -> array[float]:
        return array("d", self._initial)


class Features(dict[str, float]):
    """Feature values of one event, by name (``card_count_1h``). Plain floats: CEL doubles.

    ``shape`` (event type and the keyed steps that ran) identifies the set of names present."""

    shape: tuple[str, ...] = ()


class KeyedStep(Protocol):
    """A pure per-entity update: (state, event) -> (new state, features).

    ``name`` is the key kind the step is partitioned by (``card``, ``terminal``, ...). ``key``
    returns the entity key of an event, or ``None`` when the step does not apply. ``update`` never
    mutates its input state: it returns a fresh array (so a rejected event leaves no trace).
    """

    name: ClassVar[str]
    layout: ClassVar[Layout]

    def key(self, event: Any) -> str | None: ...

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]: ...

    def feature_names(self) -> tuple[str, ...]: ...
