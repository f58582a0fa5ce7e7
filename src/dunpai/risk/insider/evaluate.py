"""Insider detection measured on a generated month, through the engine's own features, detectors
and rules (the same code path as live scoring).

Peer baselines come from a *previous* generated month (another seed, no thief). An alert is a
decision other than ``allow`` on a staff query; alerts are counted per employee-day. Reported: how
many of the thief's abnormal queries went through before the first alert on the thief, and false
alerts per 1,000 active employee-days (every alert on anyone else, or on the thief before the
theft began).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from dunpai.risk.decisions.engine import Engine, WithInputs, known_variables
from dunpai.risk.detectors import DEFAULT_DETECTORS
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.insider.enricher import (
    InsiderEnricher,
    MemoryBaselines,
    MemoryDirectory,
    PrefixBusinessRecords,
    peer_baselines,
)
from dunpai.risk.insider.scenario import StaffMonth, StaffScenario, generate_s3_events
from dunpai.risk.rules.compiler import CompiledRuleset

Progress = Callable[[int, int], None]


def default_ruleset(enrichers: tuple[InsiderEnricher, ...], pipeline: FeaturePipeline) -> CompiledRuleset:
    text = files("dunpai.risk.rules").joinpath("default.yaml").read_text(encoding="utf-8")
    return CompiledRuleset.from_yaml(text, known_variables(pipeline, DEFAULT_DETECTORS, enrichers))


def insider_engine(month: StaffMonth, baseline_month: StaffMonth) -> WithInputs:
    """The engine with the insider enricher wired to the month's directory and past baselines."""
    groups = dict(baseline_month.roles)
    groups.update(month.roles)
    enricher = InsiderEnricher(
        MemoryDirectory(month.roles),
        MemoryBaselines(peer_baselines(baseline_month.events, groups)),
        PrefixBusinessRecords(),
    )
    pipeline = FeaturePipeline()
    return WithInputs(Engine(default_ruleset((enricher,), pipeline), pipeline), (enricher,))


def evaluate_insider(scenario: StaffScenario | None = None, progress: Progress | None = None) -> dict[str, Any]:
    sc = scenario or StaffScenario()
    month = generate_s3_events(sc)
    baseline = generate_s3_events(dataclasses.replace(sc, seed=sc.seed + 1, thief_reports=0))
    engine = insider_engine(month, baseline)
    store = MemoryStore()
    alerts: set[tuple[str, str]] = set()
    active: set[tuple[str, str]] = set()
    thief_abnormal = 0
    thief_flagged_after: int | None = None
    thief_action = None
    n = len(month.events)
    for i, event in enumerate(month.events):
        decision, states = engine.decide(event, store)
        store.put_many(states, i + 1)
        key = (event.employee_id, event.event_time.date().isoformat())
        active.add(key)
        thief_event = event.employee_id == month.thief and i >= month.thief_first_event and event.business_ref is None
        if thief_event:
            thief_abnormal += 1
        if decision.action != "allow":
            if event.employee_id == month.thief and i >= month.thief_first_event:
                if thief_flagged_after is None:
                    thief_flagged_after = thief_abnormal
                    thief_action = decision.action
            else:
                alerts.add(key)
        if progress is not None and (i % 5000 == 0 or i == n - 1):
            progress(i + 1, n)
    false_days = len(alerts)
    return {
        "thief_flagged": thief_flagged_after is not None,
        "thief_queries_before_flag": thief_flagged_after,
        "thief_first_action": thief_action,
        "false_alerts_per_1000_employee_days": 1000.0 * false_days / max(len(active), 1),
        "detail": {
            "false_alert_employee_days": false_days,
            "active_employee_days": len(active),
            "false_alert_employees": sorted({e for e, _ in alerts}),
            "thief_abnormal_queries": thief_abnormal,
            "summary": month.summary(),
            "ruleset_version": engine.engine.ruleset.version,
        },
    }
