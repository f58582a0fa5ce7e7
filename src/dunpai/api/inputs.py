"""Typed bodies of the incident API's write routes, validated like ``POST /v1/events``: every
number finite and bounded, every code from its list, every id and text of bounded length, free
JSON (an alert's ``detail``) small, shallow and without NaN. Types are strict, as on the events
path: a number sent as a string (``"50"``), a flag as a number, ``true`` as a time or a whole
amount as a float (``100.0000000000000001`` would have been 100) is refused. Texts carry no
control characters (a one-line value none at all, a multi-line one only tab and newline):
PostgreSQL refuses a NUL in text, and a stored value is shown to analysts. A value that passes
here can be stored, rendered and sorted without surprising anyone later (issue 14, item 2)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dunpai.risk.cases.model import ENTITY_KINDS

LATEST = 4_102_444_800.0  # 2100-01-01T00:00:00Z: no alert, due date or window lies beyond it
MAX_DETAIL = 16 * 1024
MAX_DEPTH = 8

LINE = r"^[^\x00-\x1f\x7f]*$"
"""A one-line text: no control characters."""
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""A text of several lines: tab, line feed and carriage return are its only control characters."""

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")]
Key = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.\-]{0,63}$")]
Epoch = Annotated[float, Field(ge=0, le=LATEST, allow_inf_nan=False)]
"""Seconds since 1970-01-01 UTC, before 2100."""
Minor = Annotated[int, Field(ge=0, le=10**15)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
EntityField = Literal["customer_id", "account_id", "card_id", "device_id", "terminal_id", "payee_id", "employee_id",
                      "merchant_id"]
"""``<kind>_id`` of each of ``risk.cases.model.ENTITY_KINDS`` (a test keeps the two lists equal)."""


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        raise ValueError("numbers must be finite (no NaN or Infinity)") from None
    if len(text.encode()) > MAX_DETAIL:
        raise ValueError(f"at most {MAX_DETAIL} bytes of JSON")
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested at most {MAX_DEPTH} deep")
    return value


Detail = Annotated[dict[str, Any], AfterValidator(_small_json)]


class Body(BaseModel):
    """A write route's JSON body: no unknown field, JSON types taken as they are (strict)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_max_length=10_000)


class _In(Body):
    model_config = ConfigDict(str_max_length=2000)


class Words(_In):
    """A text in both languages."""

    zh: str = Field(default="", max_length=500, pattern=TEXT)
    en: str = Field(default="", max_length=500, pattern=TEXT)


class AlertBody(_In):
    """One alert from a detector job (the fields of ``risk.cases.model.Alert``)."""

    alert_id: Id
    source: Literal["decision", "compromise", "insider", "manual"]
    kind: Code
    score: int = Field(ge=0, le=100)
    raised_at: Epoch
    entities: dict[EntityField, Key] = Field(min_length=1, max_length=len(ENTITY_KINDS))
    reasons: list[Code] = Field(default_factory=list, max_length=20)
    summary: Words | None = None
    amount: Minor = 0
    currency: Currency = "CNY"
    event_id: Id | None = None
    decision_id: Id | None = None
    detail: Detail = Field(default_factory=dict)


class FlagEntity(_In):
    terminal_id: Key


def _flag_test(value: dict[str, Any]) -> dict[str, Any]:
    _small_json(value)
    p = value.get("p_value")
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise ValueError("p_value must be a number from 0 to 1")
    return value


FlagTest = Annotated[dict[str, Any], AfterValidator(_flag_test)]
"""The point-of-compromise test: ``p_value`` decides the alert's score, the rest is kept."""


class FlagWindow(_In):
    start: Epoch
    end: Epoch


class FlagEvidence(_In):
    card_id: Key
    visit_t: Epoch | None = None
    first_fraud_t: Epoch | None = None
    label_known_t: Epoch | None = None


class TerminalFlagBody(_In):
    """``TerminalFlag.to_alert()`` of the skimming job."""

    kind: Code
    reason: Code
    entity: FlagEntity
    title: Words | None = None
    summary: Words
    flagged_at: Epoch
    score: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    test: FlagTest
    window: FlagWindow
    evidence: list[FlagEvidence] = Field(default_factory=list, max_length=1000)



class AlertIn(_In):
    alert: AlertBody | None = None
    terminal_flag: TerminalFlagBody | None = None


Facts = Annotated[dict[Code, bool], Field(max_length=50)]
