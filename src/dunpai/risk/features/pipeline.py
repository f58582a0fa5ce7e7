"""The feature pipeline: event -> keyed steps -> one flat dict of features, plus new states.

Each keyed step runs on its own entity's state (card, account, payer, customer, terminal,
merchant, device, payee, IP, category, attribute value, employee) and the outputs join on the
event. The pipeline reads states but never writes them: the caller writes the returned states only
after the event and its decision are durable, so a rejected or failed event leaves no trace in
online state. One pipeline serves rules, the model, live scoring and every replay of history.
"""

from __future__ import annotations

from array import array
from typing import Any

from dunpai.risk.events.schemas import AnyEvent
from dunpai.risk.features.card import CardStep
from dunpai.risk.features.customer import CustomerStep
from dunpai.risk.features.entities import (
    AccountStep,
    AttributeValueStep,
    CardMerchantStep,
    CategoryStep,
    DeviceStep,
    EmployeeStep,
    InflowStep,
    IpStep,
    MerchantStep,
    PayeeStep,
    PayerStep,
    PopulationStep,
    TerminalStep,
)
from dunpai.risk.features.event import FEATURES, event_features
from dunpai.risk.features.layout import Features, KeyedStep
from dunpai.risk.features.store import StateKey, StateStore

DEFAULT_STEPS: tuple[Any, ...] = (
    CardStep(), AccountStep(), CardMerchantStep(), PayerStep(), CustomerStep(), TerminalStep(), MerchantStep(),
    DeviceStep(),
    InflowStep(), PayeeStep(), IpStep(), CategoryStep(), PopulationStep(), AttributeValueStep(), EmployeeStep(),
)
"""Every step. ``InflowStep`` reads an account's state as a payee before ``PayeeStep`` writes the
event's payee (all states of one event are read before any step runs)."""


class FeaturePipeline:
    def __init__(self, steps: tuple[Any, ...] = DEFAULT_STEPS) -> None:
        self.steps = steps
        self._by_type: dict[type, tuple[Any, ...]] = {}

    def feature_names(self) -> list[str]:
        """Every fixed feature name (text attributes add ``attrv_<name>_…``, numbers ``attr_<name>``)."""
        names = [name for group in FEATURES.values() for name in group]
        for step in self.steps:
            names.extend(step.feature_names())
        return list(dict.fromkeys(names))

    def steps_for(self, event_type: type) -> tuple[Any, ...]:
        """The steps that can key events of this type, in pipeline order."""
        steps = self._by_type.get(event_type)
        if steps is None:
            steps = self._by_type[event_type] = tuple(s for s in self.steps if _may_apply(s, event_type))
        return steps

    def compute(
        self, event: AnyEvent, store: StateStore
    ) -> tuple[float, Features, list[tuple[StateKey, array[float]]]]:
        """Features of ``event`` and the states it produces (not yet written). ``Features.shape``
        names the event type and the steps that ran: events of one shape have the same fixed
        feature names."""
        t, out = event_features(event)
        steps = self.steps_for(type(event))
        work: list[tuple[Any, StateKey, str | None]] = []
        shape: list[str] = [event.type]
        for step in steps:
            if getattr(step, "multi", False):
                for key in step.keys(event):
                    work.append((step, (step.name, key), key))
                continue
            key = step.key(event)
            if key is not None:
                work.append((step, (step.name, key), None))
                shape.append(step.name)
        states = store.get_many([k for _, k, _ in work])
        new_states: list[tuple[StateKey, array[float]]] = []
        for (step, skey, which), state in zip(work, states, strict=True):
            new = step.update(state, event, t, out) if which is None else step.update(state, event, t, out, which)
            if new is not None:
                new_states.append((skey, new))
        out.shape = tuple(shape)
        return t, out, new_states


def _may_apply(step: KeyedStep, event_type: type) -> bool:
    """Whether ``step`` can key events of this type (its ``applies_to``, else every type)."""
    applies = getattr(step, "applies_to", None)
    return applies is None or issubclass(event_type, applies)


def apply_only(pipeline: FeaturePipeline, event: Any, store: StateStore, seq: int) -> None:
    """Fold an already-decided event into state (crash recovery replay)."""
    _, _, new_states = pipeline.compute(event, store)
    store.put_many(new_states, seq)
