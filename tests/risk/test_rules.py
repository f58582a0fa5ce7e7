from __future__ import annotations

from pathlib import Path

import pytest

from dunpai.core.errors import InvalidRuleset
from dunpai.risk.decisions.engine import Engine, known_variables
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.events.ingest import parse_event
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.rules.compiler import CompiledRuleset
from dunpai.risk.service import DEFAULT_RULESET

KNOWN = known_variables(FeaturePipeline(), DEFAULT_DETECTORS)

RULE = """
  - id: {id}
    description: {{zh: 测试, en: test}}
    expression: "{expr}"
    action: {action}
    score: 50
    reason: test.rule
    customer_message: {{zh: 测试, en: test}}
"""


def ruleset(*rules: tuple[str, str, str]) -> str:
    return "name: t\nrules:\n" + "".join(RULE.format(id=i, expr=e, action=a) for i, e, a in rules)


def problems(text: str) -> dict[str, str]:
    with pytest.raises(InvalidRuleset) as info:
        CompiledRuleset.from_yaml(text, KNOWN)
    return {p.field: p.problem for p in info.value.problems}


def test_default_ruleset_compiles() -> None:
    rs = CompiledRuleset.from_yaml(DEFAULT_RULESET.read_text(encoding="utf-8"), KNOWN)
    assert len(rs.rules) >= 15
    assert rs.version.startswith("rs_")


def test_syntax_error_names_rule_and_position() -> None:
    p = problems(ruleset(("ok", "amount > 1.0", "verify"), ("broken", "amount > ", "verify")))
    assert list(p) == ["rules[1].expression"]
    assert "broken" in p["rules[1].expression"] and "1:" in p["rules[1].expression"]


def test_unknown_variable_and_non_boolean() -> None:
    p = problems(ruleset(("a", "amont > 1.0", "verify"), ("b", "amount + 1.0", "verify")))
    assert "amont" in p["rules[0].expression"]
    assert "true or false" in p["rules[1].expression"]


def test_structure_errors_name_the_path() -> None:
    p = problems(ruleset(("a", "amount > 1.0", "block")))
    assert "rules[0].action" in p
    assert "$" in problems("rules: [")
    assert "rules[1].id" in problems(ruleset(("a", "amount > 1.0", "verify"), ("a", "amount > 2.0", "verify")))


def test_never_eval_python() -> None:
    assert "rules[0].expression" in problems(ruleset(("a", "__import__('os').system('true')", "verify")))


def test_a_failing_rule_never_breaks_the_decision() -> None:
    text = ruleset(("boom", "int(amount) / int(card_history_n) > 1", "freeze"), ("big", "amount > 50.0", "verify"))
    engine = Engine(CompiledRuleset.from_yaml(text, KNOWN))
    event = parse_event({"type": "card_present", "event_id": "e1", "event_time": "2026-03-12T10:00:00+08:00",
                         "txn": "pos_purchase", "card_id": "c1", "account_id": "a1", "customer_id": "u1",
                         "terminal_id": "t1", "pos_entry_mode": "05", "amount": 10_000})[0]
    decision, _ = engine.decide(event, MemoryStore())
    outcomes = {r.rule_id: r.outcome for r in decision.rule_results}
    assert outcomes == {"boom": "error", "big": "hit"}
    assert decision.action == "verify"
    assert "division" in (decision.rule_results[0].error or "").lower()


def test_rules_skip_event_types_they_do_not_apply_to(tmp_path: Path) -> None:
    engine = Engine(CompiledRuleset.from_yaml(ruleset(("big", "amount > 50.0", "verify")), KNOWN))
    login = parse_event({"type": "login", "event_id": "l1", "event_time": "2026-03-12T10:00:00+08:00",
                         "customer_id": "u1", "device_id": "d1"})[0]
    decision, _ = engine.decide(login, MemoryStore())
    assert decision.rule_results == () and decision.action == "allow"
