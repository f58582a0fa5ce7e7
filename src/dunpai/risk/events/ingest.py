"""Parse and validate raw events; strip card numbers at the edge.

``parse_event`` is the single entry point for untrusted input (HTTP bodies, replay files). It
returns a validated, frozen event or raises ``InvalidInput`` naming every bad field; it never
stores anything. JSON bytes (an HTTP body) are read as the wire: numbers are parsed from their
text as decimals (``12000.0000000000000001`` is a fraction, not 12000; ``1e-400`` is not 0), a
number sent as a string or a flag sent as ``1`` is refused, and so are ``NaN`` and ``Infinity``.
A dict (the importer's rows, replay files) and the stored canonical text are read as before. A
``pan`` is replaced by a keyed token (``card_id``) and its masked form is kept only for display:
the clear number never leaves this module.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter, ValidationError

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.events.schemas import AnyEvent, CardEvent, CardNotPresent, CardPresent, Event

_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Event)
_WIRE = {"wire": True}
_TAGS = frozenset({"card_present", "card_not_present", "mobile_transfer", "login", "device", "card", "staff_access",
                   "label"})


class PanProtector(Protocol):
    """Turns a card number into a keyed token for joins and a masked form for display."""

    def token(self, pan: str) -> str: ...

    def mask(self, pan: str) -> str: ...


def _problems(exc: ValidationError) -> list[FieldProblem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        # Drop the discriminator tag pydantic inserts ("card_present") so paths read like the input.
        if loc and loc[0] in _TAGS:
            loc = loc[1:]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
        out.append(FieldProblem(".".join(loc) or "$", err["msg"]))
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _wire_json(raw: bytes | str) -> Any:
    """The body's JSON with every non-integer number as the exact ``Decimal`` of its text."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN/Infinity, over-long digits, nesting
        problem = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise InvalidInput("the body is not valid JSON", problems=[FieldProblem("$", problem[:200])]) from None


def pan_in_clear(pan: str, fields: Any, number: int | None = None) -> str | None:
    """The first field of ``fields`` (an event's fields without ``pan``, nested places, dicts and
    lists walked) that holds the card number ``pan`` in clear — inside a text (an id made with it) or
    as a number — named by its path, or ``None``."""
    number = int(pan) if number is None else number
    for key, value in fields.items() if isinstance(fields, dict) else enumerate(fields):
        kind = type(value)
        if kind is str:
            if pan in value:
                return str(key)
        elif kind is int or kind is float or kind is Decimal:
            if number >= 10**11 and value == number:
                return str(key)
        elif value is not None and kind is not bool:
            inner = value.__dict__ if isinstance(value, BaseModel) else value if isinstance(value, dict | list) else ()
            if inner and (found := pan_in_clear(pan, inner, number)) is not None:
                return f"{key}.{found}"
    return None


def parse_event(raw: Any, protector: PanProtector | None = None, *, wire: bool | None = None,
                ) -> tuple[AnyEvent, str | None]:
    """Validate ``raw`` (a dict, JSON bytes or stored JSON text). Returns the event and, for card
    events sent with a ``pan``, its masked form. Raises ``InvalidInput`` naming each bad field.
    ``wire`` (default: ``raw`` is bytes) applies the strict reading of untrusted JSON above."""
    wire = isinstance(raw, bytes) if wire is None else wire
    try:
        if wire:
            event = _ADAPTER.validate_python(_wire_json(raw) if isinstance(raw, bytes | str) else raw,
                                             context=_WIRE)
        elif isinstance(raw, bytes | str):
            event = _ADAPTER.validate_json(raw)
        else:
            event = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise InvalidInput("invalid event", problems=_problems(exc)) from None
    masked = None
    if isinstance(event, CardPresent | CardNotPresent | CardEvent):
        if event.pan is not None:
            leak = pan_in_clear(event.pan, {k: v for k, v in event.__dict__.items() if k != "pan"})
            if leak is not None:
                raise InvalidInput("a card number would be stored in clear",
                                   problems=[FieldProblem(leak, "holds the card number sent as pan")])
            if protector is None:
                raise InvalidInput("card numbers are not accepted here",
                                   problems=[FieldProblem("pan", "send card_id (a token) instead")])
            token = protector.token(event.pan)
            if event.card_id is not None and event.card_id != token:
                raise InvalidInput("card_id does not match pan",
                                   problems=[FieldProblem("card_id", "does not match the token of pan")])
            masked = protector.mask(event.pan)
            event = event.model_copy(update={"pan": None, "card_id": token})
        elif event.card_id is None:
            raise InvalidInput("a card event needs card_id or pan",
                               problems=[FieldProblem("card_id", "required when pan is absent")])
    return event, masked


def event_to_json(event: AnyEvent) -> str:
    """Canonical JSON of a validated event (no ``pan``: it was stripped at ingestion)."""
    return event.model_dump_json(exclude_none=True, exclude={"pan"})
