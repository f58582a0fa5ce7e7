"""Rule backtest on a tenant's history: what a draft ruleset would have done, rule by rule, before
anyone publishes it — and which rules bother customers for little.

Rules are evaluated by the live rule code (``CompiledRuleset.evaluate``: the same CEL programs and
applicability) on the features the history replay computed; rules feed no feature, so one replay
serves any number of drafts. A rule is *noisy* when it fires on more than ``NOISY_SHARE`` of the
payments at a precision below ``NOISY_LIFT`` times the base fraud rate: it interrupts many
customers and finds little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dunpai.risk.decisions.ladder import RANK
from dunpai.risk.history.dataset import Dataset
from dunpai.risk.rules.compiler import CompiledRuleset

NOISY_SHARE = 0.005
NOISY_LIFT = 3.0
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RuleHits:
    ruleset: CompiledRuleset
    hits: np.ndarray
    """Boolean matrix: rows are payments, columns the ruleset's rules."""
    errors: np.ndarray
    applicable: frozenset[str]
    alert: np.ndarray
    """Whether the ruleset's strongest action for the row is above ``allow``."""


def evaluate_rules(ruleset: CompiledRuleset, ds: Dataset, rows: np.ndarray,
                   progress: Progress | None = None) -> RuleHits:
    """Every rule on every row, as the engine evaluates it: a rule for another event type, or one
    reading a variable the payment lacks, does not apply (it never fires)."""
    needed = sorted({v for c in ruleset.rules for v in c.variables if v in ds.frame.columns})
    pos = {c.rule.id: i for i, c in enumerate(ruleset.rules)}
    action_rank = np.array([RANK[c.rule.action] for c in ruleset.rules], dtype=np.int8)
    hits = np.zeros((len(rows), len(ruleset.rules)), dtype=bool)
    errors = np.zeros(len(ruleset.rules), dtype=np.int64)
    types = ds.frame["event_type"].to_numpy()[rows]
    values = ds.matrix(needed, rows)
    present = ~np.isnan(values)
    applicable: set[str] = set()
    done = 0
    for etype in np.unique(types):
        in_type = np.flatnonzero(types == etype)
        patterns, inverse = np.unique(present[in_type], axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):
            available = frozenset(n for n, p in zip(needed, pattern, strict=True) if p)
            applicable.update(c.rule.id for c in ruleset.rules
                              if (not c.rule.applies_to or etype in c.rule.applies_to)
                              and available.issuperset(c.variables))
            for i in in_type[np.asarray(inverse).ravel() == k]:
                ctx = {n: float(v) for n, v, p in zip(needed, values[i], pattern, strict=True) if p}
                for r in ruleset.evaluate(str(etype), available, ctx):
                    if r.outcome == "hit":
                        hits[i, pos[r.rule_id]] = True
                    elif r.outcome == "error":
                        errors[pos[r.rule_id]] += 1
                done += 1
                if progress is not None and done % 20_000 == 0:
                    progress(done)
    alert = np.asarray((hits & (action_rank > RANK["allow"])).any(axis=1), dtype=bool)
    return RuleHits(ruleset, hits, errors, frozenset(applicable), alert)


def report(draft: RuleHits, published: RuleHits, y: np.ndarray, days: np.ndarray) -> dict[str, Any]:
    """The figures an analyst reads before publishing ``draft`` in place of ``published``."""
    n_days = max(len(np.unique(days)), 1)
    n = len(y)
    frauds = int(y.sum())
    base = frauds / n if n else 0.0
    ids = [c.rule.id for c in draft.ruleset.rules]
    hits = draft.hits
    counts = hits.sum(axis=0)
    co = hits.T.astype(np.int64) @ hits.astype(np.int64)
    fraud_hits = hits[y == 1].sum(axis=0)
    rules: list[dict[str, Any]] = []
    for j, rid in enumerate(ids):
        c = draft.ruleset.rules[j]
        precision = float(fraud_hits[j] / counts[j]) if counts[j] else None
        share = float(counts[j] / n) if n else 0.0
        rules.append({
            "rule_id": rid,
            "action": c.rule.action,
            "hits": int(counts[j]),
            "share_of_payments": share,
            "precision": precision,
            "recall": float(fraud_hits[j] / frauds) if frauds else None,
            "frauds_caught": int(fraud_hits[j]),
            "alerts_per_day": float(counts[j] / n_days),
            "errors": int(draft.errors[j]),
            "overlap": {ids[k]: int(co[j, k]) for k in range(len(ids)) if k != j and co[j, k] > 0},
            "only_this_rule": int((hits[:, j] & (hits.sum(axis=1) == 1)).sum()),
            "applicable": rid in draft.applicable,
            "noisy": bool(share > NOISY_SHARE and (precision or 0.0) < NOISY_LIFT * base
                          and RANK[c.rule.action] > RANK["allow"]),
        })

    def totals(h: RuleHits) -> dict[str, Any]:
        a = h.alert
        legit = y == 0
        return {"alerts": int(a.sum()), "alerts_per_day": float(a.sum() / n_days),
                "frauds_caught": int((a & (y == 1)).sum()),
                "recall": float((a & (y == 1)).sum() / frauds) if frauds else None,
                "precision": float((a & (y == 1)).sum() / a.sum()) if a.sum() else None,
                "legit_interrupted": float(a[legit].mean()) if legit.any() else 0.0}

    d, p = draft.alert, published.alert
    return {
        "payments": n,
        "frauds": frauds,
        "base_fraud_rate": base,
        "days": n_days,
        "noisy_rule": {"share_of_payments_over": NOISY_SHARE, "precision_under_base_rate_times": NOISY_LIFT},
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
        "noisy": [r["rule_id"] for r in rules if r["noisy"]],
    }
