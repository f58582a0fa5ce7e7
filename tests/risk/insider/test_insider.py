"""S3 — insider data theft: the generated month, the look-ups, detection through the engine, and
the alert / suspension decision with its evidence."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from dunpai.risk.decisions.record import Decision
from dunpai.risk.events.schemas import StaffAccess
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.insider import (
    InsiderEnricher,
    MemoryBaselines,
    MemoryDirectory,
    PrefixBusinessRecords,
    StaffScenario,
    generate_s3_events,
    insider_action,
    peer_baselines,
)
from dunpai.risk.insider.evaluate import evaluate_insider, insider_engine

SMALL = StaffScenario(employees=40, branches=5, days=14, thief_start_day=8, thief_reports=3000, seed=11)
CST = timezone(timedelta(hours=8))


def test_month_is_deterministic_ordered_and_has_one_thief() -> None:
    a, b = generate_s3_events(SMALL), generate_s3_events(SMALL)
    assert [e.event_id for e in a.events] == [e.event_id for e in b.events]
    times = [e.event_time for e in a.events]
    assert times == sorted(times)
    assert a.roles[a.thief] == "loan_officer"
    first = a.events[a.thief_first_event]
    assert first.employee_id == a.thief and first.business_ref is None
    theft = [e for e in a.events[a.thief_first_event:] if e.employee_id == a.thief and e.business_ref is None]
    assert len(theft) >= 3000
    assert a.summary()["thief_queries"] == 3000
    honest = generate_s3_events(dataclasses.replace(SMALL, thief_reports=0))
    assert honest.thief == "" and honest.thief_first_event == -1
    with pytest.raises(ValueError):
        StaffScenario(thief_start_day=0)


def test_thief_is_flagged_fast_and_nobody_else_is() -> None:
    result = evaluate_insider(SMALL)
    assert result["thief_flagged"]
    assert result["thief_queries_before_flag"] <= 1000
    assert result["false_alerts_per_1000_employee_days"] <= 1.0


def test_lookups_peer_baselines_and_business_records() -> None:
    month = generate_s3_events(dataclasses.replace(SMALL, thief_reports=0))
    baselines = peer_baselines(month.events, month.roles)
    assert set(baselines) <= {"teller", "account_manager", "loan_officer", "back_office"}
    assert all(v > 0 for v in baselines.values())
    records = PrefixBusinessRecords()
    assert records.matches("APP-CU0010000042-3", "CU0010000042")
    assert not records.matches("APP-CU0010000042-3", "CU0010000043")
    assert not records.matches("XYZ-CU0010000042-3", "CU0010000042")
    enricher = InsiderEnricher(MemoryDirectory(month.roles), MemoryBaselines(baselines), records)
    event = month.events[0]
    features = enricher.enrich(event, event.event_time.timestamp())
    assert features["staff_peer_p99"] == baselines[month.roles[event.employee_id]]
    forged = event.model_copy(update={"business_ref": "APP-CU9999999999-1"})
    assert enricher.enrich(forged, 0.0)["staff_business_valid"] == 0.0
    assert enricher.enrich(forged, 0.0)["staff_business_forged"] == 1.0


def _decide_all(events: list[StaffAccess]) -> list[tuple[StaffAccess, Decision]]:
    month = generate_s3_events(dataclasses.replace(SMALL, thief_reports=0))
    engine = insider_engine(month, month)
    store = MemoryStore()
    out = []
    for i, e in enumerate(events):
        decision, states = engine.decide(e, store)
        store.put_many(states, i + 1)
        out.append((e, decision))
    return out


def test_suspension_with_evidence_for_a_bulk_scan() -> None:
    start = datetime(2026, 3, 9, 21, 0, tzinfo=CST)
    scan = [StaffAccess(event_id=f"q{i}", event_time=start + timedelta(seconds=20 * i), employee_id="E99999",
                        branch_id="B001", customer_id=f"CU002{i:07d}", customer_branch_id="B002",
                        query_type="credit_report") for i in range(150)]
    decided = _decide_all(scan)
    assert insider_action(*decided[0]) is None
    actions = [a for a in (insider_action(e, d) for e, d in decided) if a is not None]
    assert actions, "the scan was never flagged"
    first = actions[0]
    assert first.alert
    suspended = next(a for a in actions if a.suspend)
    case = suspended.to_case()
    assert case["suspend_query_account"] and case["entity"] == {"employee_id": "E99999"}
    assert case["evidence"]["rules"] and case["evidence"]["features"]["emp_count_1h"] > 0
    assert "暂停" in case["summary"]["zh"] and "suspended" in case["summary"]["en"]
