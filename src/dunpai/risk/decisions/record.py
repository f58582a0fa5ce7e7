"""The decision record: everything needed to explain and replay one decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from dunpai.core.i18n import Text
from dunpai.risk.decisions.ladder import Action
from dunpai.risk.rules.compiler import RuleResult


@dataclass(frozen=True, slots=True)
class Contribution:
    feature: str
    value: float
    contribution: float


class Decision(NamedTuple):
    """Immutable. A named tuple rather than a frozen dataclass: one is made per event, and a frozen
    dataclass pays an ``object.__setattr__`` per field."""

    decision_id: str
    event_id: str
    event_type: str
    event_time: str
    action: Action
    score: int
    reasons: tuple[str, ...]
    customer_message: Text
    rule_results: tuple[RuleResult, ...]
    signals: tuple[str, ...]
    ruleset_version: str
    model_version: str | None
    model_probability: float | None
    contributions: tuple[Contribution, ...]
    features: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """The stored and published form (JSON-safe)."""
        return {
            "decision_id": self.decision_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": self.event_time,
            "action": self.action,
            "score": self.score,
            "reasons": list(self.reasons),
            "customer_message": self.customer_message.to_dict(),
            "rule_results": [
                {"rule_id": r.rule_id, "outcome": r.outcome, **({"error": r.error} if r.error else {})}
                for r in self.rule_results
            ],
            "signals": list(self.signals),
            "ruleset_version": self.ruleset_version,
            "model_version": self.model_version,
            "model_probability": self.model_probability,
            "contributions": [
                {"feature": c.feature, "value": c.value, "contribution": c.contribution}
                for c in self.contributions
            ],
            "features": self.features,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        return cls(
            decision_id=d["decision_id"], event_id=d["event_id"], event_type=d["event_type"],
            event_time=d["event_time"], action=d["action"], score=d["score"], reasons=tuple(d["reasons"]),
            customer_message=Text.from_dict(d["customer_message"]),
            rule_results=tuple(RuleResult(r["rule_id"], r["outcome"], r.get("error")) for r in d["rule_results"]),
            signals=tuple(d["signals"]), ruleset_version=d["ruleset_version"], model_version=d["model_version"],
            model_probability=d["model_probability"],
            contributions=tuple(Contribution(c["feature"], c["value"], c["contribution"]) for c in d["contributions"]),
            features=dict(d["features"]),
        )

