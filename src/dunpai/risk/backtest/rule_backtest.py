"""Rule backtest: what a draft ruleset would have done on history, rule by rule, before publishing.

Features come from the engine replay (``replay.py``: the live feature steps and detectors, cached);
rules are evaluated by the live rule code (``CompiledRuleset.evaluate``: the same CEL programs, the
same applicability). Rules do not feed features, so one replay serves any number of drafts.

Per rule: hits, precision, recall, alerts per day, overlap with every other rule; for the draft as
a whole against the published ruleset: alerts, frauds caught, and what the draft adds or loses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.rules.compiler import CompiledRuleset

Progress = Callable[[int], None]


@dataclass(frozen=True)
class RuleHits:
    ruleset: CompiledRuleset
    hits: np.ndarray
    """Boolean matrix: rows are transactions, columns the ruleset's enabled rules."""
    errors: np.ndarray
    applicable: frozenset[str]
    alert: np.ndarray
    """Whether the ruleset's strongest action for the row is above ``allow``."""


def evaluate_rules(ruleset: CompiledRuleset, features: pd.DataFrame, event_type: str = "card_present",
                   progress: Progress | None = None) -> RuleHits:
    """Every enabled rule on every row, through the engine's rule evaluator."""
    available = frozenset(features.columns)
    # As the engine: a rule for another event type, or reading a variable this event lacks, is not
    # applicable (it never fires); the report lists it.
    applicable = [c for c in ruleset.rules
                  if (not c.rule.applies_to or event_type in c.rule.applies_to) and available.issuperset(c.variables)]
    needed = sorted({v for c in applicable for v in c.variables})
    columns = [features[v].to_numpy(dtype=np.float64).tolist() for v in needed]
    pos = {c.rule.id: i for i, c in enumerate(ruleset.rules)}
    action_rank = np.array([RANK[c.rule.action] for c in ruleset.rules], dtype=np.int8)
    n = len(features)
    hits = np.zeros((n, len(ruleset.rules)), dtype=bool)
    errors = np.zeros(len(ruleset.rules), dtype=np.int64)
    evaluate = ruleset.evaluate
    for i, values in enumerate(zip(*columns, strict=True)):
        ctx = dict(zip(needed, values, strict=True))
        for r in evaluate(event_type, available, ctx):
            if r.outcome == "hit":
                hits[i, pos[r.rule_id]] = True
            elif r.outcome == "error":
                errors[pos[r.rule_id]] += 1
        if progress is not None and i % 50_000 == 0:
            progress(i)
    alert: np.ndarray = np.asarray((hits & (action_rank > RANK["allow"])).any(axis=1), dtype=bool)
    return RuleHits(ruleset, hits, errors, frozenset(c.rule.id for c in applicable), alert)


def report(draft: RuleHits, published: RuleHits, y: np.ndarray, days: np.ndarray) -> dict[str, Any]:
    """The figures an analyst reads before publishing ``draft`` in place of ``published``."""
    n_days = max(len(np.unique(days)), 1)
    frauds = int(y.sum())
    rules: list[dict[str, Any]] = []
    ids = [c.rule.id for c in draft.ruleset.rules]
    hits = draft.hits
    counts = hits.sum(axis=0)
    co = hits.T.astype(np.int64) @ hits.astype(np.int64)
    fraud_hits = hits[y == 1].sum(axis=0)
    for j, rid in enumerate(ids):
        c = draft.ruleset.rules[j]
        overlap = {ids[k]: int(co[j, k]) for k in range(len(ids)) if k != j and co[j, k] > 0}
        rules.append({
            "rule_id": rid,
            "action": c.rule.action,
            "hits": int(counts[j]),
            "precision": float(fraud_hits[j] / counts[j]) if counts[j] else None,
            "recall": float(fraud_hits[j] / frauds) if frauds else None,
            "frauds_caught": int(fraud_hits[j]),
            "alerts_per_day": float(counts[j] / n_days),
            "errors": int(draft.errors[j]),
            "overlap": overlap,
            "only_this_rule": int((hits[:, j] & (hits.sum(axis=1) == 1)).sum()),
            "applicable": rid in draft.applicable,
        })

    def totals(h: RuleHits) -> dict[str, Any]:
        a = h.alert
        return {"alerts": int(a.sum()), "alerts_per_day": float(a.sum() / n_days),
                "frauds_caught": int((a & (y == 1)).sum()),
                "recall": float((a & (y == 1)).sum() / frauds) if frauds else None,
                "precision": float((a & (y == 1)).sum() / a.sum()) if a.sum() else None}

    d, p = draft.alert, published.alert
    return {
        "transactions": len(y),
        "frauds": frauds,
        "days": n_days,
        "draft": {"version": draft.ruleset.version, **totals(draft)},
        "published": {"version": published.ruleset.version, **totals(published)},
        "difference": {
            "extra_frauds_caught": int((d & ~p & (y == 1)).sum()),
            "frauds_no_longer_caught": int((p & ~d & (y == 1)).sum()),
            "extra_alerts": int((d & ~p).sum()),
            "alerts_removed": int((p & ~d).sum()),
            "extra_alerts_per_day": float((d & ~p).sum() / n_days),
        },
        "rules": rules,
    }
