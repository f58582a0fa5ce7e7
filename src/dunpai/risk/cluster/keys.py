"""Which entities' states an event reads and writes, known before it is decided, so that a batch
can lock all of them in one sorted pass (a key missed here is still locked when the pipeline asks
for it, only later and outside the sorted order)."""

from __future__ import annotations

from typing import Any

from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import StateKey


def state_keys(pipeline: FeaturePipeline, event: Any) -> list[StateKey]:
    """The (kind, key) of every keyed step that applies to ``event``, as ``FeaturePipeline.compute``
    asks the store for them."""
    keys: list[StateKey] = []
    for step in pipeline.steps_for(type(event)):
        if getattr(step, "multi", False):
            keys.extend((step.name, k) for k in step.keys(event))
            continue
        key = step.key(event)
        if key is not None:
            keys.append((step.name, key))
    return keys
