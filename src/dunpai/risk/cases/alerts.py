"""Alerts from the risk engine's outputs (pure): decisions above ``allow`` (card, mobile banking,
login/device, and the insider detector's staff-access decisions) and the skimmer job's terminal flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml

from dunpai.core.i18n import Text
from dunpai.core.ids import derived_id
from dunpai.risk.cases.model import Alert, AlertSource
from dunpai.risk.decisions.record import Decision
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.service import DEFAULT_RULESET

ENTITY_FIELDS = ("customer_id", "account_id", "card_id", "device_id", "terminal_id", "payee_id", "employee_id",
                 "merchant_id")
def _rule_reasons() -> dict[str, Text]:
    """Reason codes of the default ruleset's rules, in the analyst's words (their descriptions)."""
    spec = yaml.safe_load(DEFAULT_RULESET.read_text(encoding="utf-8"))
    out: dict[str, Text] = {}
    for rule in spec.get("rules", []):
        out.setdefault(rule["reason"], Text(rule["description"]["zh"], rule["description"]["en"]))
    return out


_REASONS: dict[str, Text] = _rule_reasons()
_REASONS.update({s.reason: s.text for d in DEFAULT_DETECTORS for s in d.signals})
_REASONS.update({
    "account.frozen": Text("账户已冻结", "the account is frozen"),
    "account.restricted": Text("账户已受限", "the account is restricted"),
    "compromise.skimming_suspected": Text("疑似侧录终端", "suspected skimming terminal"),
})


def reason_text(code: str) -> Text:
    return _REASONS.get(code, Text(code, code))


def reasons_summary(codes: tuple[str, ...] | list[str], limit: int = 3) -> Text:
    texts = [reason_text(c) for c in list(dict.fromkeys(codes))[:limit]]
    if not texts:
        return Text("与客户习惯不符", "unlike the customer's habits")
    return Text("；".join(t.zh for t in texts), "; ".join(t.en for t in texts))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def from_decision(tenant: str, decision: Decision, body: Mapping[str, Any]) -> Alert | None:
    """An alert for a decision above ``allow``; ``None`` for an allowed one."""
    if decision.action == "allow":
        return None
    entities = {k: str(body[k]) for k in ENTITY_FIELDS if body.get(k)}
    source: AlertSource = "insider" if decision.event_type == "staff_access" else "decision"
    amount = body.get("amount")
    return Alert(
        alert_id=derived_id("alr", tenant, decision.decision_id),
        source=source,
        kind=decision.reasons[0] if decision.reasons else decision.event_type,
        score=int(decision.score),
        raised_at=_epoch(decision.event_time),
        entities=entities,
        reasons=tuple(decision.reasons),
        summary=reasons_summary(decision.reasons),
        amount=int(amount) if amount is not None and _outgoing(body) else 0,
        currency=str(body.get("currency", "CNY")),
        event_id=decision.event_id,
        decision_id=decision.decision_id,
        detail={"action": decision.action, "event_type": decision.event_type},
    )


def _outgoing(body: Mapping[str, Any]) -> bool:
    """Money that would leave the customer (a deposit is not at risk)."""
    money = body.get("type") in ("card_present", "card_not_present", "mobile_transfer")
    return money and body.get("txn") != "atm_deposit"


def from_terminal_flag(tenant: str, flag: Mapping[str, Any]) -> Alert:
    """An alert from ``TerminalFlag.to_alert()`` (the point-of-compromise job)."""
    terminal = str(flag["entity"]["terminal_id"])
    p = float(flag["test"]["p_value"])
    score = 95 if p < 1e-6 else 85 if p < 1e-3 else 70
    return Alert(
        alert_id=derived_id("alr", tenant, "terminal", terminal, repr(flag["flagged_at"])),
        source="compromise", kind=str(flag["kind"]), score=score, raised_at=float(flag["flagged_at"]),
        entities={"terminal_id": terminal}, reasons=(str(flag["reason"]),),
        summary=Text.from_dict(flag["summary"]),
        detail={"test": flag["test"], "window": flag["window"],
                "exposed_cards": [e["card_id"] for e in flag.get("evidence", [])]},
    )
