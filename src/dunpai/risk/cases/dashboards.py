"""Figures for the console's dashboards and rule list (pure over decision records and labels).

Rule "backtest" figures here are measured on the tenant's own recorded decisions: every decision
keeps every rule's outcome, and labels (analysts' conclusions, customer claims, chargebacks) say
which events were fraud. For each rule: hits, hit rate, alerts per day, precision and recall
against the labelled events. (The replay of a draft over the tenant's imported history is
``dunpai backtest``; this is the live rule's record on this bank's traffic.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from dunpai.risk.decisions.ladder import LADDER

CST = timezone(timedelta(hours=8))


def _bucket(t: float, hours: int) -> str:
    """The bucket of time ``t``; "?" for a stored value that is no time (``inf``, 1e300), which a
    chart then shows as its own column instead of failing the page."""
    try:
        dt = datetime.fromtimestamp(t, CST)
    except (ValueError, OverflowError, OSError, TypeError):
        return "?"
    dt = dt.replace(minute=0, second=0, microsecond=0, hour=(dt.hour // hours) * hours)
    return dt.strftime("%m-%d %H:00") if hours < 24 else dt.strftime("%Y-%m-%d")


def actions_over_time(records: Sequence[Mapping[str, Any]], hours: int = 6) -> dict[str, Any]:
    """Per time bucket, how many decisions took each action."""
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        buckets[_bucket(r["t"], hours)][r["action"]] += 1
    xs = sorted(buckets)
    return {"x": xs, "series": {a: [buckets[x][a] for x in xs] for a in LADDER}}


def alert_volume(alerts: Sequence[tuple[float, str]], hours: int = 24) -> dict[str, Any]:
    buckets: dict[str, Counter[str]] = defaultdict(Counter)
    for t, source in alerts:
        buckets[_bucket(t, hours)][source] += 1
    xs = sorted(buckets)
    sources = sorted({s for _, s in alerts})
    return {"x": xs, "series": {s: [buckets[x][s] for x in xs] for s in sources}}


def score_histogram(records: Sequence[Mapping[str, Any]], width: int = 5) -> dict[str, Any]:
    counts = Counter(min(int(r["score"]) // width, 100 // width - 1) for r in records)
    xs = list(range(0, 100, width))
    return {"x": [f"{x}-{x + width - 1}" for x in xs], "y": [counts.get(x // width, 0) for x in xs]}


def model_histogram(records: Sequence[Mapping[str, Any]], bins: int = 20) -> dict[str, Any]:
    probs = [float(r["model_probability"]) for r in records if r.get("model_probability") is not None]
    counts = Counter(min(int(p * bins), bins - 1) for p in probs)
    versions = sorted({str(r["model_version"]) for r in records if r.get("model_version")})
    return {"x": [round(i / bins, 3) for i in range(bins)], "y": [counts.get(i, 0) for i in range(bins)],
            "n": len(probs), "versions": versions}


def rule_figures(records: Sequence[Mapping[str, Any]], labels: Mapping[str, bool]) -> dict[str, dict[str, Any]]:
    """Per rule id: evaluated, hits, hit_rate, alerts_per_day, labelled hits, precision, recall."""
    days = max(len({_bucket(r["t"], 24) for r in records}), 1)
    frauds = {eid for eid, fraud in labels.items() if fraud}
    evaluated: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    fraud_hits: Counter[str] = Counter()
    labelled_hits: Counter[str] = Counter()
    fraud_seen: Counter[str] = Counter()
    for r in records:
        eid = r["event_id"]
        for rid in r["evaluated"]:
            evaluated[rid] += 1
            if eid in frauds:
                fraud_seen[rid] += 1
        for rid in r["hits"]:
            hits[rid] += 1
            if eid in labels:
                labelled_hits[rid] += 1
                if labels[eid]:
                    fraud_hits[rid] += 1
    out: dict[str, dict[str, Any]] = {}
    for rid in evaluated:
        out[rid] = {
            "evaluated": evaluated[rid], "hits": hits[rid],
            "hit_rate": hits[rid] / evaluated[rid] if evaluated[rid] else None,
            "alerts_per_day": hits[rid] / days,
            "labelled_hits": labelled_hits[rid], "frauds_caught": fraud_hits[rid],
            "precision": fraud_hits[rid] / labelled_hits[rid] if labelled_hits[rid] else None,
            "recall": fraud_hits[rid] / fraud_seen[rid] if fraud_seen[rid] else None,
        }
    return out


def rule_hit_rates(figures: Mapping[str, Mapping[str, Any]], top: int = 20) -> dict[str, Any]:
    ranked = sorted(figures.items(), key=lambda kv: (-kv[1]["hits"], kv[0]))[:top]
    return {"x": [rid for rid, _ in ranked], "y": [f["hit_rate"] or 0.0 for _, f in ranked],
            "hits": [f["hits"] for _, f in ranked]}
