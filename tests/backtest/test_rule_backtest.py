"""Rule backtest figures on a hand-made feature table, through the engine's rule evaluator."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from dunpai.risk.backtest.replay import engine_pipeline
from dunpai.risk.backtest.rule_backtest import evaluate_rules, report
from dunpai.risk.decisions.engine import known_variables
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.rules.compiler import CompiledRuleset

RULE = """
  - id: {id}
    description: {{zh: 测试, en: test}}
    expression: "{expr}"
    action: {action}
    score: 50
    reason: test.rule
    applies_to: [card_present]
    customer_message: {{zh: 测试, en: test}}
"""


def _ruleset(name: str, rules: list[tuple[str, str, str]]) -> CompiledRuleset:
    text = f"name: {name}\nrules:\n" + "".join(RULE.format(id=i, expr=e, action=a) for i, e, a in rules)
    return CompiledRuleset.from_yaml(text, known_variables(engine_pipeline(), DEFAULT_DETECTORS))


def test_per_rule_and_draft_vs_published_figures() -> None:
    feats = pd.DataFrame({"amount": [10.0, 300.0, 250.0, 50.0, 500.0, 20.0],
                          "card_fraud_known": [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]})
    y = np.array([0, 1, 1, 1, 0, 0])
    days = np.array(["d1", "d1", "d1", "d2", "d2", "d2"])
    draft = _ruleset("draft", [("big", "amount > 220.0", "verify"), ("known", "card_fraud_known == 1.0", "restrict")])
    published = _ruleset("pub", [("known", "card_fraud_known == 1.0", "restrict")])
    out = report(evaluate_rules(draft, feats), evaluate_rules(published, feats), y, days)
    big, known = out["rules"]
    assert (big["hits"], big["frauds_caught"]) == (3, 2)
    assert big["precision"] == 2 / 3 and big["recall"] == 2 / 3
    assert big["alerts_per_day"] == 1.5
    assert big["overlap"] == {"known": 1} and known["overlap"] == {"big": 1}
    assert big["only_this_rule"] == 2
    assert out["draft"]["alerts"] == 4 and out["published"]["alerts"] == 2
    assert out["difference"] == {"extra_frauds_caught": 1, "frauds_no_longer_caught": 0, "extra_alerts": 2,
                                 "alerts_removed": 0, "extra_alerts_per_day": 1.0}


def test_example_draft_compiles_against_the_engine_features() -> None:
    text = resources.files("dunpai.risk.backtest").joinpath("draft_example.yaml").read_text(encoding="utf-8")
    rs = CompiledRuleset.from_yaml(text, known_variables(engine_pipeline(), DEFAULT_DETECTORS))
    assert len(rs.rules) >= 3
