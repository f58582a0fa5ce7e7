"""The feature pipeline: event -> keyed steps -> one flat dict of features, plus new states.

Each keyed step runs on its own entity's state (card, account, customer, device, terminal,
merchant, payee, IP, employee) and the outputs join on the event. The pipeline reads states but
never writes them: the caller writes the returned states only after the event and its decision are
durable, so a rejected or failed event leaves no trace in online state.
"""

from __future__ import annotations

from array import array
from typing import Any

from dunpai.risk.events.schemas import AnyEvent
from dunpai.risk.features.card import CardStep
from dunpai.risk.features.customer import CustomerStep
from dunpai.risk.features.entities import (
    AccountStep,
    DeviceStep,
    EmployeeStep,
    IpStep,
    MerchantStep,
    PayeeStep,
    TerminalStep,
)
from dunpai.risk.features.event import event_features
from dunpai.risk.features.layout import Features, KeyedStep
from dunpai.risk.features.store import StateKey, StateStore

DEFAULT_STEPS: tuple[KeyedStep, ...] = (
    CardStep(), AccountStep(), CustomerStep(), TerminalStep(), MerchantStep(), DeviceStep(), PayeeStep(),
    IpStep(), EmployeeStep(),
)


class FeaturePipeline:
    def __init__(self, steps: tuple[KeyedStep, ...] = DEFAULT_STEPS) -> None:
        self.steps = steps
        self._by_type: dict[type, tuple[KeyedStep, ...]] = {}

    def feature_names(self) -> list[str]:
        names = ["hour", "night", "weekend", "amount", "drain_ratio", "balance_known", "card_present",
                 "withdrawal", "deposit", "chip_card", "stripe_read", "chip_fallback", "terminal_chip_capable",
                 "chip_card_read_by_stripe", "shield_present"]
        for step in self.steps:
            names.extend(step.feature_names())
        return names

    def compute(
        self, event: AnyEvent, store: StateStore
    ) -> tuple[float, Features, list[tuple[StateKey, array[float]]]]:
        """Features of ``event`` and the states it produces (not yet written). ``Features.shape``
        names the event type and the steps that ran: events of one shape have the same feature names."""
        t, out = event_features(event)
        steps = self._by_type.get(type(event))
        if steps is None:
            steps = self._by_type[type(event)] = tuple(s for s in self.steps if _may_apply(s, type(event)))
        work: list[tuple[KeyedStep, StateKey]] = []
        for step in steps:
            key = step.key(event)
            if key is not None:
                work.append((step, (step.name, key)))
        states = store.get_many([k for _, k in work])
        new_states: list[tuple[StateKey, array[float]]] = []
        for (step, skey), state in zip(work, states, strict=True):
            new_states.append((skey, step.update(state, event, t, out)))
        out.shape = (event.type, *(skey[0] for _, skey in work))
        return t, out, new_states


def _may_apply(step: KeyedStep, event_type: type) -> bool:
    """Whether ``step`` can key events of this type (its ``applies_to``, else every type)."""
    applies = getattr(step, "applies_to", None)
    return applies is None or issubclass(event_type, applies)


def apply_only(pipeline: FeaturePipeline, event: Any, store: StateStore, seq: int) -> None:
    """Fold an already-decided event into state (crash recovery replay)."""
    _, _, new_states = pipeline.compute(event, store)
    store.put_many(new_states, seq)
