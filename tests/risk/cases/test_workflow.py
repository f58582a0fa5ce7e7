"""The case status machine (every transition, allowed and refused), grouping, queue order, and the
case service: alerts open or join cases, conclusions become labels, changes are audited."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import select

from dunpai.core.errors import Forbidden, InvalidInput, NotFound, StateError
from dunpai.core.i18n import Text
from dunpai.risk.cases.model import STATUSES, TRANSITIONS, Alert, Case, check_transition, due_after_hours, queue_key
from dunpai.risk.storage.tables import events
from tests.risk.cases.conftest import ANALYST, ANALYST2, OTHER_BANK, S1_CUSTOMER, SUPERVISOR, World

ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"),
                         sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED))
def test_refused_transition(current: str, target: str) -> None:
    with pytest.raises(StateError):
        check_transition(current, target)


def test_unknown_status_refused() -> None:
    with pytest.raises(StateError):
        check_transition("new", "deleted")


def test_the_machine_is_the_documented_one() -> None:
    documented = {("new", "investigating"), ("investigating", "confirmed_fraud"), ("investigating", "legitimate"),
                  ("confirmed_fraud", "closed"), ("legitimate", "closed")}
    assert documented == ALLOWED


def _alert(i: int, source: str = "decision", **entities: str) -> Alert:
    return Alert(f"a{i}", source, "k", 50, 1000.0 + i, entities)  # type: ignore[arg-type]


def test_grouping_prefers_the_right_entity() -> None:
    assert _alert(1, customer_id="c", card_id="k", terminal_id="t").group() == ("customer", "c")
    assert _alert(2, card_id="k", terminal_id="t").group() == ("card", "k")
    assert _alert(3, "insider", employee_id="e", customer_id="c").group() == ("employee", "e")
    assert _alert(4, "compromise", terminal_id="t").group() == ("terminal", "t")
    with pytest.raises(StateError):
        _alert(5, payee_id="p").group()


def _case(cid: str, priority: int, amount: int, opened: float) -> Case:
    return Case(cid, "t", Text("", ""), "customer", cid, "new", priority, amount, "CNY", None, opened, opened, opened)


def test_queue_order_most_likely_fraud_first_then_money_then_age() -> None:
    cases = [_case("a", 50, 10, 1.0), _case("b", 90, 5, 3.0), _case("c", 90, 50, 2.0), _case("d", 90, 50, 1.0)]
    assert [c.case_id for c in sorted(cases, key=queue_key)] == ["d", "c", "b", "a"]


def test_due_times_shrink_with_priority() -> None:
    assert due_after_hours(95) < due_after_hours(75) < due_after_hours(10)


def test_demo_alerts_open_one_case_per_customer(world: World) -> None:
    queue = world.inc.cases.queue(ANALYST)
    by_group = {c.group_key: c for c in queue}
    s1 = by_group[S1_CUSTOMER]
    assert s1.alert_count >= 4 and s1.priority >= 99
    assert s1.amount_at_risk == 18_950_00  # the four withdrawals; the deposit is not money at risk
    assert queue[0].priority == max(c.priority for c in queue)
    assert set(world.inc.cases.sync_from_log("default")) == {c.case_id for c in queue}
    assert {c.case_id for c in world.inc.cases.queue(ANALYST)} == {c.case_id for c in queue}  # idempotent


def test_ingest_is_idempotent_and_joins_open_case(world: World) -> None:
    alert = Alert("ext-1", "manual", "manual.tip", 80, 1_773_300_000.0, {"customer_id": S1_CUSTOMER}, amount=5)
    case_id, new = world.inc.cases.ingest("default", alert)
    assert new and case_id == world.case_of(S1_CUSTOMER)
    assert world.inc.cases.ingest("default", alert) == (case_id, False)


def test_full_walk_through_the_machine_with_labels(world: World) -> None:
    inc, cid = world.inc, world.case_of(S1_CUSTOMER)
    with pytest.raises(StateError):
        inc.cases.transition(ANALYST, cid, "confirmed_fraud", "too early")
    case = inc.cases.transition(ANALYST, cid, "investigating")
    assert case.status == "investigating" and case.assignee == ANALYST.name
    with pytest.raises(InvalidInput):
        inc.cases.transition(ANALYST, cid, "confirmed_fraud")  # a conclusion needs a note
    inc.cases.transition(ANALYST, cid, "confirmed_fraud", "counterfeit card")
    with world.risk.db.connect() as conn:
        labels = [json.loads(b) for (b,) in conn.execute(select(events.c.body).where(events.c.event_type == "label"))]
    alerted = {a["event_id"] for a in inc.cases.detail(ANALYST, cid)["alerts"]}
    assert {lb["target_event_id"] for lb in labels} == alerted
    assert all(lb["fraud"] is True and lb["source"] == "analyst" for lb in labels)
    closed = inc.cases.transition(ANALYST, cid, "closed")
    assert closed.status == "closed" and closed.closed_at is not None and closed.conclusion == "confirmed_fraud"
    with pytest.raises(StateError):
        inc.cases.transition(ANALYST, cid, "investigating")
    assert [a for a in world.audit.actions() if a == "case.transition"] == ["case.transition"] * 3


def test_legitimate_conclusion_sends_negative_labels(world: World) -> None:
    inc = world.inc
    # A genuine customer whose chip card a faulty terminal read by stripe: a case, then found legitimate.
    world.risk.submit("default", {
        "type": "card_present", "event_id": "faulty-reader-1", "event_time": "2026-03-13T10:00:00+08:00",
        "txn": "pos_purchase", "card_id": "card-genuine", "account_id": "acct-genuine", "customer_id": "cust-genuine",
        "terminal_id": "t-faulty", "pos_entry_mode": "90", "chip_card": True, "amount": 30_000})
    inc.cases.sync_from_log("default")
    cid = next(c.case_id for c in inc.cases.queue(ANALYST) if c.group_key == "cust-genuine")
    inc.cases.transition(ANALYST, cid, "investigating")
    inc.cases.transition(ANALYST, cid, "legitimate", "customer confirmed the deposit")
    with world.risk.db.connect() as conn:
        labels = [json.loads(b) for (b,) in conn.execute(select(events.c.body).where(events.c.event_type == "label"))]
    assert labels and all(lb["fraud"] is False for lb in labels)


def test_assignment_notes_attachments_and_due(world: World) -> None:
    inc, cid = world.inc, world.case_of(S1_CUSTOMER)
    with pytest.raises(Forbidden):
        inc.cases.assign(ANALYST, cid, ANALYST2.name)  # only a supervisor hands a case to someone else
    assert inc.cases.assign(SUPERVISOR, cid, ANALYST2.name).assignee == ANALYST2.name
    inc.cases.add_note(ANALYST, cid, "客户来电 / customer called")
    row = inc.cases.add_attachment(ANALYST, cid, "statement.txt", "text/plain", b"signed statement")
    assert row["size"] == 16
    with pytest.raises(Forbidden):
        inc.cases.set_due(ANALYST, cid, 1.0)
    assert inc.cases.set_due(SUPERVISOR, cid, 2_000_000_000.0).due_at == 2_000_000_000.0
    detail = inc.cases.detail(ANALYST, cid)
    kinds = [e["kind"] for e in detail["evidence"]]
    assert kinds == ["note", "attachment"]
    assert {h["kind"] for h in detail["timeline"]} >= {"opened", "alert", "assigned", "note", "attachment", "due"}
    assert {"case.assign", "case.note", "case.attachment", "case.due"} <= set(world.audit.actions())


def test_next_for_takes_the_top_unassigned_case(world: World) -> None:
    top = world.inc.cases.queue(ANALYST)[0]
    taken = world.inc.cases.next_for(ANALYST)
    assert taken is not None and taken.case_id == top.case_id and taken.assignee == ANALYST.name


def test_foreign_tenant_sees_nothing(world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    assert world.inc.cases.queue(OTHER_BANK) == []
    for call in (lambda: world.inc.cases.get(OTHER_BANK, cid),
                 lambda: world.inc.cases.transition(OTHER_BANK, cid, "investigating"),
                 lambda: world.inc.cases.add_note(OTHER_BANK, cid, "x")):
        with pytest.raises(NotFound):
            call()


def test_page_views_become_staff_access_events(world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    world.inc.cases.record_view(ANALYST, "test.case", S1_CUSTOMER, cid, employee_id="E1001", branch_id="NN01")
    with world.risk.db.connect() as conn:
        rows = [json.loads(b) for (b,) in conn.execute(
            select(events.c.body).where(events.c.event_type == "staff_access"))]
    assert rows == [{**rows[0], "employee_id": "E1001", "branch_id": "NN01", "customer_id": S1_CUSTOMER,
                     "business_ref": cid, "query_type": "account_detail", "records": 1}]
    assert ("li.na", "data.view") in [(a, b) for a, b, _, _ in world.audit.entries]


def test_evidence_collection_is_idempotent_and_masks_cards(world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    added = world.inc.cases.collect_evidence(ANALYST, cid)
    assert added > 8 and world.inc.cases.collect_evidence(ANALYST, cid) == 0
    items = world.inc.cases.evidence(ANALYST, cid)
    kinds = {it.kind for it, _ in items}
    assert {"alert", "event", "decision", "device", "terminal"} <= kinds
    blob = b"".join(content for _, content in items)
    assert b'"pan"' not in blob and b"6222020" not in blob  # never a full card number in evidence
    decision = next(json.loads(c) for it, c in items if it.kind == "decision")
    assert decision["analyst"]["rules"]  # the full explanation, every rule with the values it saw


def test_insider_decisions_open_employee_cases_and_deposits_are_not_at_risk() -> None:
    from dunpai.risk.cases.alerts import from_decision
    from dunpai.risk.decisions.record import Decision

    def decision(event_type: str, action: str = "restrict") -> Decision:
        return Decision.from_dict({
            "decision_id": "dec_1", "event_id": "ev-1", "event_type": event_type,
            "event_time": "2026-03-12T23:10:00+08:00", "action": action, "score": 90,
            "reasons": ["insider.bulk_queries"], "customer_message": {"zh": "", "en": ""}, "rule_results": [],
            "signals": [], "ruleset_version": "rs", "model_version": None, "model_probability": None,
            "contributions": [], "features": {}})

    staff = from_decision("t", decision("staff_access"), {"type": "staff_access", "employee_id": "E9",
                                                          "customer_id": "c1", "branch_id": "b"})
    assert staff is not None and staff.source == "insider" and staff.group() == ("employee", "E9")
    assert staff.summary.zh == "查询量远超本人历史水平"
    deposit = from_decision("t", decision("card_present"), {"type": "card_present", "txn": "atm_deposit",
                                                            "amount": 500, "customer_id": "c1"})
    assert deposit is not None and deposit.amount == 0
    assert from_decision("t", decision("card_present", "allow"), {}) is None
