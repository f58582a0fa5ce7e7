"""Decode events already in the log without validating them again.

Every body in the event log was validated on its way in and written by ``event_to_json``; a replay
of millions of them need not pay for validation a second time. :func:`decode_logged` builds the
same frozen event objects from the stored JSON (times parsed, money as ``Decimal``, places as
``Location``) — a property test holds it equal to ``parse_event`` on every event type. Never use
it on input from outside the log; :func:`construct` is for fields already checked (the import's
fast path checks them column by column).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

from dunpai.risk.events.schemas import (
    EVENT_TYPES,
    AnyEvent,
    Location,
    Shield,
)

_MODELS: dict[str, type[BaseModel]] = {m.model_fields["type"].default: m for m in EVENT_TYPES}
_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {
    m: {name: info.get_default(call_default_factory=True) for name, info in m.model_fields.items()}
    for m in (*EVENT_TYPES, Location, Shield)
}
_TIMES = frozenset({"event_time", "target_event_time", "signed_at"})
_MONEY = frozenset({"amount", "balance_before"})
_PLACES = frozenset({"terminal_location", "merchant_location", "customer_home", "location"})


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    for name in _TIMES.intersection(d):
        d[name] = datetime.fromisoformat(d[name])
    for name in _MONEY.intersection(d):
        d[name] = Decimal(d[name]) if isinstance(d[name], str) else Decimal(str(d[name]))
    for name in _PLACES.intersection(d):
        d[name] = construct(Location, d[name])
    return d


def construct(model: type[BaseModel], fields: dict[str, Any]) -> Any:
    """The model with these (already typed) fields and its defaults, as ``model_construct`` builds
    it but without its per-field work (the fields come from the model's own serialisation)."""
    obj = object.__new__(model)
    object.__setattr__(obj, "__dict__", {**_DEFAULTS[model], **fields})
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def decode_logged(body: str | bytes) -> AnyEvent:
    d = orjson.loads(body)
    model = _MODELS[d["type"]]
    fields = _fields(d)
    if "shield" in fields:
        fields["shield"] = construct(Shield, _fields(fields["shield"]))
    event: AnyEvent = construct(model, fields)
    return event
