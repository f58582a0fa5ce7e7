"""Explanations of a stored decision: exactly why for the analyst, plainly why for the customer."""

from __future__ import annotations

from typing import Any

from dunpai.risk.decisions.record import Decision
from dunpai.risk.rules.compiler import CompiledRuleset


def explain(decision: Decision, ruleset: CompiledRuleset | None) -> dict[str, Any]:
    """Every evaluated rule with its expression and the values it saw, the signals that fired, and
    the model's top contributions. ``ruleset`` is the version that made the decision."""
    rules = []
    for r in decision.rule_results:
        compiled = ruleset.by_id.get(r.rule_id) if ruleset is not None else None
        item: dict[str, Any] = {"rule_id": r.rule_id, "outcome": r.outcome}
        if r.error:
            item["error"] = r.error
        if compiled is not None:
            item["description"] = compiled.rule.description.model_dump()
            item["expression"] = compiled.rule.expression
            item["action"] = compiled.rule.action
            item["score"] = compiled.rule.score
            item["reason"] = compiled.rule.reason
            item["values"] = {v: decision.features.get(v) for v in compiled.variables}
        rules.append(item)
    rules.sort(key=lambda x: (x["outcome"] != "hit", x["outcome"] != "error", x["rule_id"]))
    return {
        "decision_id": decision.decision_id,
        "event_id": decision.event_id,
        "action": decision.action,
        "score": decision.score,
        "reasons": list(decision.reasons),
        "ruleset_version": decision.ruleset_version,
        "model_version": decision.model_version,
        "analyst": {
            "rules": rules,
            "signals": list(decision.signals),
            "model_probability": decision.model_probability,
            "contributions": [
                {"feature": c.feature, "value": c.value, "contribution": c.contribution}
                for c in decision.contributions
            ],
        },
        "customer": decision.customer_message.to_dict(),
    }
