"""Detectors: expert knowledge of the source's cases turned into named signals.

A detector reads an event's features and returns signals (``sig_*`` values, 1.0 = present) that
rules and the model read like any feature. Each signal has a reason code and analyst text in
Chinese and English. Detectors are pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dunpai.core.i18n import Text


@dataclass(frozen=True)
class SignalSpec:
    name: str
    reason: str
    text: Text
    event_types: tuple[str, ...]
    fn: Callable[[Mapping[str, float]], bool]


class Detector:
    """A named group of signals (e.g. ``counterfeit``)."""

    def __init__(self, name: str, signals: tuple[SignalSpec, ...]) -> None:
        self.name = name
        self.signals = signals
        self._by_type: dict[str, tuple[SignalSpec, ...]] = {}

    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)

    def for_type(self, event_type: str) -> tuple[SignalSpec, ...]:
        specs = self._by_type.get(event_type)
        if specs is None:
            specs = self._by_type[event_type] = tuple(s for s in self.signals if event_type in s.event_types)
        return specs

    def run(self, event_type: str, features: dict[str, float], fired: list[str]) -> None:
        """Add this detector's signals for the event to ``features`` (every applicable one, 0 or 1)
        and the names of those present to ``fired``."""
        run_signals(self.for_type(event_type), features, fired)


def run_signals(specs: tuple[SignalSpec, ...], features: dict[str, float], fired: list[str]) -> None:
    """Evaluate ``specs`` on ``features``: each signal's value goes into ``features``, the names of
    those present into ``fired``."""
    for spec in specs:
        try:
            present = spec.fn(features)
        except KeyError:
            present = False  # an input this event lacks: the signal is absent
        features[spec.name] = 1.0 if present else 0.0
        if present:
            fired.append(spec.name)
