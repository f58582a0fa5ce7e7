"""Rulesets as data: the YAML an analyst writes, validated into typed rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dunpai.risk.decisions.ladder import Action

RuleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")]
EventType = Literal["card_present", "card_not_present", "mobile_transfer", "login", "device", "staff_access"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Model):
    zh: str = Field(min_length=1, max_length=500)
    en: str = Field(min_length=1, max_length=500)


class Rule(_Model):
    id: RuleId
    description: Bilingual
    expression: str = Field(min_length=1, max_length=2000)
    action: Action
    score: int = Field(ge=0, le=100)
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
    customer_message: Bilingual
    applies_to: tuple[EventType, ...] = ()
    enabled: bool = True


class ModelThresholds(_Model):
    """Model probability at or above which each action applies (unset: the model never raises it)."""

    verify: float | None = Field(default=None, ge=0, le=1)
    delay: float | None = Field(default=None, ge=0, le=1)
    restrict: float | None = Field(default=None, ge=0, le=1)


class RulesetSpec(_Model):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    model_thresholds: ModelThresholds = ModelThresholds()
    rules: tuple[Rule, ...] = Field(min_length=1, max_length=500)
