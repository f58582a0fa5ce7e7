from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from dunpai.core.errors import Conflict, InvalidInput, InvalidRuleset, StateError
from dunpai.risk.features.pipeline import DEFAULT_STEPS, FeaturePipeline
from dunpai.risk.features.store import StateKey
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import PIPELINE_MARK, RiskService
from tests.risk.conftest import card_event, make_service


def table_count(service: RiskService, table: str) -> int:
    with service.db.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_resending_an_event_returns_the_original_decision(service: RiskService) -> None:
    first = service.submit("default", card_event(1))
    again = service.submit("default", card_event(1))
    assert not first.duplicate and again.duplicate
    assert again.decision.to_dict() == first.decision.to_dict()
    assert table_count(service, "risk_decisions") == 1


def test_reusing_an_event_id_for_other_content_is_refused(service: RiskService) -> None:
    service.submit("default", card_event(1))
    with pytest.raises(Conflict):
        service.submit("default", card_event(1, amount=99_999))


def test_invalid_event_stores_nothing(service: RiskService) -> None:
    with pytest.raises(InvalidInput):
        service.submit("default", card_event(1, amount="1.5"))
    assert table_count(service, "risk_events") == 0
    assert service.store.applied_seq() == 0


def test_tenants_are_isolated(service: RiskService) -> None:
    a = service.submit("bank-a", card_event(1)).decision
    b = service.submit("bank-b", card_event(1)).decision
    assert a.decision_id != b.decision_id
    assert a.features["card_history_n"] == b.features["card_history_n"] == 0.0


def test_replay_is_deterministic(tmp_path: Path) -> None:
    events = [body for body, _, _ in demo_events(seed=3, customers=20, history_days=2)]
    one = make_service(tmp_path / "one")
    two = make_service(tmp_path / "two")
    d1 = [one.submit("default", e).decision.to_dict() for e in events]
    d2 = [two.submit("default", e).decision.to_dict() for e in events]
    assert d1 == d2


def test_recovery_replays_the_log_after_the_snapshot(tmp_path: Path) -> None:
    events = [body for body, _, _ in demo_events(seed=5, customers=15, history_days=2)]
    half = len(events) // 2
    svc = make_service(tmp_path)
    for e in events[:half]:
        svc.submit("default", e)
    svc.store.snapshot()  # type: ignore[attr-defined]
    for e in events[half:]:
        svc.submit("default", e)
    expected = entity_states(svc)
    # A crash now loses the in-memory state after the snapshot; a restart folds in the log.
    restarted = make_service(tmp_path)
    assert restarted.store.applied_seq() == half
    assert restarted.recover() == len(events) - half
    assert entity_states(restarted) == expected


def entity_states(svc: RiskService) -> dict[StateKey, list[float]]:
    return {k: list(v) for k, v in svc.store.items() if k != PIPELINE_MARK}  # type: ignore[attr-defined]


def test_state_of_another_pipeline_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    """An upgrade that changes the feature steps: their state must have its history, not start empty."""
    events = [body for body, _, _ in demo_events(seed=5, customers=15, history_days=2)]
    svc = make_service(tmp_path)
    assert svc.recover() == 0
    for e in events:
        svc.submit("default", e)
    svc.close()  # snapshot, marked as built by the default pipeline
    assert svc.store.count("default/terminal") > 0
    older = make_service(tmp_path)
    older.pipeline = FeaturePipeline(DEFAULT_STEPS[:4])  # an older release without the terminal step
    assert older.recover() == len(events)  # rebuilt from the whole log
    assert older.store.count("default/terminal") == 0 and older.store.count("default/card") > 0
    rebuilt = entity_states(older)
    older.close()
    again = make_service(tmp_path)
    again.pipeline = FeaturePipeline(DEFAULT_STEPS[:4])
    assert again.recover() == 0 and entity_states(again) == rebuilt  # same pipeline: nothing to redo
    back = make_service(tmp_path)
    assert back.recover() == len(events)  # the current pipeline: its state again, terminals included
    assert back.store.count("default/terminal") > 0


def test_labels_are_completed_from_the_labelled_event(service: RiskService) -> None:
    service.submit("default", card_event(1))
    service.submit("default", {"type": "label", "event_id": "lab-1", "event_time": "2026-03-19T10:00:00+08:00",
                               "target_event_id": "e-1", "fraud": True})
    later = service.submit("default", card_event(2, event_time="2026-03-20T10:00:00+08:00")).decision
    assert later.features["card_blocked"] == 1.0 and later.features["card_frauds_known"] == 1.0
    assert "card.blocked" in later.reasons and later.action == "restrict"


def test_ruleset_publish_takes_effect_without_restart(service: RiskService) -> None:
    before = service.submit("default", card_event(1)).decision
    assert before.action == "allow"
    source = (service.rulesets("default")[0].source
              + "  - id: T.everything\n    description: {zh: 全部, en: all}\n    expression: amount > 1.0\n"
                "    action: delay\n    score: 50\n    reason: test.all\n    customer_message: {zh: 测试, en: test}\n")
    draft = service.upload_ruleset("default", source, "analyst-1")
    assert draft.status == "draft"
    assert service.submit("default", card_event(2)).decision.action == "allow"
    service.publish_ruleset("default", draft.version, "supervisor-1")
    after = service.submit("default", card_event(3)).decision
    assert after.action == "delay" and after.ruleset_version == draft.version
    with pytest.raises(StateError):
        service.publish_ruleset("default", draft.version, "supervisor-1")
    statuses = {r.version: r.status for r in service.rulesets("default")}
    assert statuses[before.ruleset_version] == "retired"


def test_invalid_ruleset_upload_is_refused(service: RiskService) -> None:
    with pytest.raises(InvalidRuleset):
        service.upload_ruleset("default", "name: x\nrules: []\n", "a")


def test_explanation_shows_values_seen(service: RiskService) -> None:
    d = service.submit("default", card_event(1, pos_entry_mode="90", service_code="201", txn="atm_withdrawal")).decision
    ex = service.explain("default", d.decision_id)
    hit = [r for r in ex["analyst"]["rules"] if r["outcome"] == "hit"]
    assert hit and hit[0]["values"]
    assert set(ex["customer"]) == {"zh", "en"}


def test_a_batch_decides_like_one_by_one(tmp_path: Path) -> None:
    events = [body for body, _, _ in demo_events(seed=8, customers=20, history_days=2)]
    one = make_service(tmp_path / "one")
    batched = make_service(tmp_path / "batched")
    singles = [one.submit("default", e).decision.to_dict() for e in events]
    results = []
    for start in range(0, len(events), 37):
        results.extend(batched.submit_many([("default", e) for e in events[start:start + 37]]))
    assert [r.decision.to_dict() for r in results] == singles  # type: ignore[union-attr]
    assert dict(batched.store.items()).keys() == dict(one.store.items()).keys()  # type: ignore[attr-defined]


def test_batch_items_fail_alone(service: RiskService) -> None:
    label = {"type": "label", "event_id": "lab-1", "event_time": "2026-03-19T10:00:00+08:00",
             "target_event_id": "e-1", "fraud": True}
    results = service.submit_many([
        ("default", card_event(1)),
        ("default", card_event(2, amount="bad")),
        ("default", card_event(1)),
        ("default", card_event(1, amount=5)),
        ("default", label),
        ("default", card_event(3, event_time="2026-03-20T10:00:00+08:00")),
    ])
    assert isinstance(results[1], InvalidInput)
    assert results[2].duplicate and results[2].decision == results[0].decision  # type: ignore[union-attr]
    assert isinstance(results[3], Conflict)
    assert results[5].decision.features["card_blocked"] == 1.0  # type: ignore[union-attr]
    assert table_count(service, "risk_events") == 3


def test_cached_exposures_follow_writes(tmp_path: Path) -> None:
    from dunpai.core.db import init_schema, make_engine
    from dunpai.risk.compromise.model import ExposedCard
    from dunpai.risk.compromise.sql import CachedExposureRepository, SqlExposureRepository

    db = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    init_schema(db)
    now = [0.0]
    cached = CachedExposureRepository(SqlExposureRepository(db), refresh_seconds=60, clock=lambda: now[0])
    assert cached.exposures_of("card-1") == []
    other = SqlExposureRepository(db)  # another worker writes
    other.add_exposed([ExposedCard(card_id="card-1", terminal_id="t-1", visit_t=1.0, exposed_at=5.0)])
    assert cached.exposures_of("card-1") == []  # not yet: within the refresh period
    now[0] = 61.0
    assert [e.terminal_id for e in cached.exposures_of("card-1")] == ["t-1"]
