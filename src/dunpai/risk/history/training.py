"""What ``dunpai train``, ``eval`` and ``backtest`` do with a tenant's history (the commands only
parse options and print): bring the history up to date, read it as a data set, and fit, score or
backtest exactly as the live engine would decide."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.evaluation import plots
from dunpai.risk.evaluation.evaluate import (
    COLD_START_DAYS,
    cold_start_rows,
    evaluate,
    fit_fold,
    model_features,
    rule_alerts,
    with_frauds_to_validate,
)
from dunpai.risk.evaluation.protocol import DAY, Fold
from dunpai.risk.evaluation.rules import evaluate_rules, report
from dunpai.risk.history.build import update_history
from dunpai.risk.history.dataset import Dataset, load
from dunpai.risk.history.store import HistoryStore
from dunpai.risk.models.coldstart import fit_cold_start
from dunpai.risk.models.policy import interrupt_rates, thresholds
from dunpai.risk.models.registry import Registry
from dunpai.risk.rules.compiler import CompiledRuleset

Say = Callable[[str], None]
Progress = Callable[[int], None]


def dataset(service: Any, tenant: str, progress: Progress | None = None) -> Dataset:
    update_history(service, tenant, progress)
    return load(service.db, HistoryStore(service.data_dir, tenant))


def label_delay(ds: Dataset) -> float:
    """How long labels take to arrive on this tenant: the 95th percentile of (label time - payment
    time) over its labelled payments (0 without labels)."""
    known = np.isfinite(ds.fraud_known_at)
    if not known.any():
        return 0.0
    return float(np.quantile(ds.fraud_known_at[known] - ds.t[known], 0.95))


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).date().isoformat()


def training_fold(ds: Dataset, dates: Sequence[date | None]) -> Fold:
    """The windows ``dunpai train`` fits on, with labels as known now (the log's latest event).
    Without dates: all history but its last ``label_delay`` (labels not in yet), the last tenth
    of those days validating (at least one day)."""
    now = float(np.max(ds.t)) + 1.0
    if all(d is None for d in dates):
        start, end = float(np.min(ds.t)), now - label_delay(ds)
        valid = max(DAY, 0.1 * (end - start))
        if end - start < 2 * valid:
            raise InvalidInput("not enough history to train", problems=[FieldProblem(
                "history", "under two days of payments whose labels have arrived")])
        return Fold((start, end - valid), (end - valid, end), (now, math.inf))
    if any(d is None for d in dates):
        raise InvalidInput("incomplete windows", problems=[FieldProblem(
            "--from", "give all of --from, --to, --valid-from and --valid-to, or none")])
    t0, t1, v0, v1 = (datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in dates if d is not None)
    if not t0 <= t1 < v0 <= v1:
        raise InvalidInput("windows out of order", problems=[FieldProblem(
            "--from", "windows must be ordered: from <= to < valid-from <= valid-to")])
    return Fold((t0, t1 + DAY), (v0, v1 + DAY), (now, math.inf))


def train_tenant(service: Any, tenant: str, registry_dir: Path, budget: float, role: str, unsupervised: bool,
                 dates: Sequence[date | None], progress: Progress | None = None,
                 say: Say | None = None) -> dict[str, Any]:
    ds = dataset(service, tenant, progress)
    registry = Registry(registry_dir)
    if unsupervised:
        scorer, window = cold_start(ds, budget)
        version = registry.register_cold_start(scorer, window, role=role)
        out = {"version": version, "kind": scorer.kind, "role": registry.role_of(version), "window": window}
        if (idle := cold_start_idle(scorer, window)) is not None:
            out["idle"] = idle
        return out
    fold = training_fold(ds, dates)
    fold = with_frauds_to_validate(ds, fold, ds.labels(fold.labels_as_of))
    fitted, _ = fit_fold(ds, fold, budget, say=say)
    window = {"from": _iso(fold.train[0]), "to": _iso(fold.train[1] - 1), "valid_from": _iso(fold.valid[0]),
              "valid_to": _iso(fold.valid[1] - 1), "labels_as_of": _iso(fold.labels_as_of), "tenant": tenant}
    version = registry.register(fitted, window, role=role)
    return {"version": version, "kind": "lightgbm-binary", "role": registry.role_of(version), "window": window,
            "metrics": {k: v for k, v in fitted.metrics.items() if k != "candidates"},
            "thresholds": fitted.scorer.policy.to_dict() if fitted.scorer.policy else None}


def cold_start(ds: Dataset, budget: float, days: int = COLD_START_DAYS) -> tuple[Any, dict[str, str]]:
    """A habit-deviation scorer calibrated on the last ``days`` of payments (no label read)."""
    end = float(np.max(ds.t)) + 1.0
    rows = cold_start_rows(ds, end, days)
    names = ds.feature_columns()
    alerts = rule_alerts(ds, rows)
    scorer = fit_cold_start(ds.matrix(names, rows), names, budget, alerts)
    return scorer, {"from": _iso(end - days * DAY), "to": _iso(end - 1), "rows": str(len(rows)),
                    "rules_interrupt": f"{float(alerts.mean()) if len(alerts) else 0.0:.6f}"}


def cold_start_idle(scorer: Any, window: dict[str, str]) -> dict[str, float] | None:
    """When the rules alone interrupted the whole budget of the calibration window, the score has no
    room left and interrupts no payment: the figures to tell the bank (``None`` otherwise)."""
    if math.isfinite(scorer.policy.verify):
        return None
    return {"rules_interrupt": float(window["rules_interrupt"]), "budget": float(scorer.policy.budget)}


def evaluate_tenant(service: Any, tenant: str, folds_for: Callable[[np.ndarray], list[Fold]], budget: float,
                    json_out: Path | None, charts: bool, progress: Progress | None = None,
                    say: Say | None = None) -> dict[str, Any]:
    ds = dataset(service, tenant, progress)
    folds = folds_for(ds.t)
    out = evaluate(ds, folds, budget, say)
    last = out.pop("_last")
    out["tenant"] = tenant
    out["data"] = {"payments": len(ds.frame), "frauds": int(ds.labels().sum()),
                   "first": _iso(float(np.min(ds.t))), "last": _iso(float(np.max(ds.t)))}
    out["top_features"] = last.get("importance", [])
    if json_out is not None:
        write_json(json_out, out)
        if charts and last:
            plots.pr_roc(last["y"], last["scores"], json_out.parent, f"{json_out.stem}-pr-roc",
                         f"tenant {tenant}: last fold")
    return out


def backtest_tenant(service: Any, tenant: str, draft_text: str | None, start: date | None, end: date | None,
                    registry_dir: Path, budget: float, json_out: Path | None, progress: Progress | None = None,
                    say: Say | None = None) -> dict[str, Any]:
    ds = dataset(service, tenant, progress)
    lo = float(np.min(ds.t)) if start is None else datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    hi = (float(np.max(ds.t)) + 1.0 if end is None
          else datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() + DAY)
    rows = ds.rows_between(lo, hi)
    blocked = ds.blocked()[rows]  # refused by the card's lifecycle after a confirmed fraud, not by a rule's choice
    rows = rows[~blocked]
    y = ds.labels()[rows]
    days = ds.frame["day"].to_numpy()[rows]
    engine = service.engine(tenant)
    published = engine.ruleset
    draft = CompiledRuleset.from_yaml(draft_text, service.known) if draft_text else published
    draft_hits = evaluate_rules(draft, ds, rows)
    published_hits = draft_hits if draft is published else evaluate_rules(published, ds, rows)
    out: dict[str, Any] = {"tenant": tenant, "from": _iso(lo), "to": _iso(hi - 1),
                           "blocked_card_payments_left_out": int(blocked.sum()),
                           "rules": report(draft_hits, published_hits, y, days)}
    rec = recommend_thresholds(ds, rows, Registry(registry_dir), budget, draft_hits.alert)
    if rec is not None:
        out["recommended"] = rec
    if json_out is not None:
        write_json(json_out, out)
        plots.daily([str(date.fromordinal(date(1970, 1, 1).toordinal() + int(d))) for d in np.unique(days)],
                    _alerts_per_day(days, draft_hits.alert, y), json_out.parent, f"{json_out.stem}-alerts-per-day",
                    f"tenant {tenant}: alerts per day", "payments")
    return out


def _alerts_per_day(days: np.ndarray, alert: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    order = np.unique(days)
    return {"rule alerts": [float(alert[days == d].sum()) for d in order],
            "frauds among them": [float((alert & (y == 1))[days == d].sum()) for d in order],
            "frauds": [float(y[days == d].sum()) for d in order]}


def recommend_thresholds(ds: Dataset, rows: np.ndarray, registry: Registry, budget: float,
                         rule_alert: np.ndarray) -> dict[str, Any] | None:
    """Thresholds for the tenant's champion that keep the budget on the recent history: chosen on
    its first 80 % of days, checked on the last 20 % (held back). Payments of cards blocked after a
    confirmed fraud are left out (the caller's ``rows``): the card's lifecycle refuses them, not the score."""
    champion = registry.load_role("champion")
    if champion is None or len(rows) == 0:
        return None
    names = list(champion.features)
    scores = champion.predict_batch(ds.matrix(names, rows))
    y = ds.labels()[rows]
    t = ds.t[rows]
    cut = math.floor(float(np.quantile(t, 0.8)) / DAY) * DAY  # whole days
    fit, held = t < cut, t >= cut
    legit = y == 0
    th = thresholds(scores[fit & legit], budget, rule_alert[fit & legit])
    return {"model": champion.version, "budget": budget, "thresholds": th.to_dict(),
            "chosen_on": {"from": _iso(float(t.min())), "to": _iso(cut - 1)},
            "held_back": {"from": _iso(cut), "to": _iso(float(t.max())),
                          **interrupt_rates(scores[held], y[held], th, rule_alert[held])}}


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


__all__ = ["backtest_tenant", "cold_start", "cold_start_idle", "evaluate_tenant", "model_features", "train_tenant"]
