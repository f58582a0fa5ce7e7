"""What the console's pages stand on: queue search, filters, sort and paging; case types; saved
views; profiles; an employee's access pattern; rule changes with dual control."""

from __future__ import annotations

import pytest

from dunpai.core.errors import Forbidden, InvalidInput, InvalidRuleset, NotFound, StateError
from dunpai.risk.cases.profiles import ProfileService, access_pattern
from dunpai.risk.cases.queue import QueueFilter, alert_family, case_type
from dunpai.risk.cases.rule_changes import RuleChangeService, draft_source, validate_draft
from tests.risk.cases.conftest import (
    ANALYST,
    ANALYST2,
    OTHER_BANK,
    S1_ACCOUNT,
    S1_CUSTOMER,
    SUPERVISOR,
    SUPERVISOR2,
    World,
)

S2_CUSTOMER = "cust-00001"


def test_alert_families_and_case_types() -> None:
    assert alert_family("decision", "counterfeit.impossible_travel", "card_present") == "card_fraud"
    assert alert_family("decision", "takeover.sim_change", "mobile_transfer") == "takeover"
    assert alert_family("decision", "amount.far_above_habit", "card_present") == "card_fraud"
    assert alert_family("decision", "amount.far_above_habit", "mobile_transfer") == "takeover"
    assert alert_family("insider", "insider.bulk_pull", "staff_access") == "insider"
    assert alert_family("compromise", "compromise.terminal", None) == "skimming"
    assert case_type("employee", []) == "insider" and case_type("terminal", []) == "skimming"
    assert case_type("customer", [("decision", "takeover.burst", "mobile_transfer", 60),
                                  ("decision", "counterfeit.atc_anomaly", "card_present", 40)]) == "takeover"
    assert case_type("customer", [("decision", "takeover.burst", None, 50),
                                  ("decision", "counterfeit.atc_anomaly", None, 50)]) == "card_fraud"
    assert case_type("customer", []) == "other"


def test_unfiltered_search_is_the_queue(world: World) -> None:
    queue = world.inc.cases.queue(ANALYST, limit=500)
    page = world.inc.cases.search(ANALYST, QueueFilter(per_page=100))
    assert [c.case_id for c in page.cases] == [c.case_id for c in queue] and page.total == len(queue)


def more_cases(world: World) -> None:
    """Beside S1 (card fraud) and S2 (takeover): an insider's bulk pull and a skimmed terminal."""
    pulls = [{"type": "staff_access", "event_id": f"pull-{i}", "event_time": f"2026-03-12T22:{10 + i}:00+08:00",
              "employee_id": "emp-x", "branch_id": "branch-01", "customer_id": f"cust-9{i:07d}",
              "customer_branch_id": "branch-05", "query_type": "credit_report", "records": 2000} for i in range(3)]
    world.inc.cases.ingest_submitted([("default", world.risk.submit("default", b)) for b in pulls])
    world.inc.cases.ingest_terminal_flag("default", {
        "kind": "compromise.terminal", "reason": "compromise.skimming_suspected", "entity": {"terminal_id": "atm-X"},
        "summary": {"zh": "疑似侧录", "en": "suspected skimming"}, "flagged_at": 1_773_300_000.0,
        "test": {"p_value": 1e-7}, "window": {"start": 1_772_000_000.0, "end": 1_773_000_000.0},
        "evidence": [{"card_id": "card-a"}, {"card_id": "card-b"}]})


def test_filters_narrow_and_sort_orders(world: World) -> None:
    svc = world.inc.cases
    more_cases(world)
    everything = svc.search(ANALYST, QueueFilter(per_page=100))
    assert everything.total >= 4
    types = {everything.types[c.case_id] for c in everything.cases}
    assert types == {"card_fraud", "takeover", "insider", "skimming"}
    insider = svc.search(ANALYST, QueueFilter(types=("insider", "skimming")))
    assert {c.group_key for c in insider.cases} == {"emp-x", "atm-X"}
    s1 = svc.search(ANALYST, QueueFilter(text=S1_ACCOUNT))  # an entity of the case, not its group key
    assert [c.group_key for c in s1.cases] == [S1_CUSTOMER]
    takeover = svc.search(ANALYST, QueueFilter(types=("takeover",), per_page=100))
    assert 0 < takeover.total < everything.total and S2_CUSTOMER in {c.group_key for c in takeover.cases}
    assert S1_CUSTOMER not in {c.group_key for c in takeover.cases}
    rich = svc.search(ANALYST, QueueFilter(amount_min=10_000_00, per_page=100))
    assert rich.cases and all(c.amount_at_risk >= 10_000_00 for c in rich.cases) and rich.total < everything.total
    high = svc.search(ANALYST, QueueFilter(priority_min=99, per_page=100))
    assert {c.group_key for c in high.cases} == {S1_CUSTOMER, S2_CUSTOMER}
    by_amount = svc.search(ANALYST, QueueFilter(sort="amount", descending=False, per_page=100)).cases
    assert [c.amount_at_risk for c in by_amount] == sorted(c.amount_at_risk for c in by_amount)
    svc.assign(ANALYST, s1.cases[0].case_id, ANALYST.name)
    mine = svc.search(ANALYST, QueueFilter(assignee=ANALYST.name))
    assert [c.group_key for c in mine.cases] == [S1_CUSTOMER]
    nobody = svc.search(ANALYST, QueueFilter(assignee="", per_page=100))
    assert nobody.total == everything.total - 1
    svc.transition(ANALYST, s1.cases[0].case_id, "investigating")
    investigating = svc.search(ANALYST, QueueFilter(statuses=("investigating",)))
    assert [c.group_key for c in investigating.cases] == [S1_CUSTOMER]
    late = everything.cases[0].opened_at + 1
    assert svc.search(ANALYST, QueueFilter(opened_from=late, per_page=100)).total < everything.total


def test_paging(world: World) -> None:
    svc = world.inc.cases
    total = svc.search(ANALYST, QueueFilter(per_page=100)).total
    pages = [svc.search(ANALYST, QueueFilter(per_page=25, page=p)) for p in range(1, 4)]
    seen = [c.case_id for p in pages for c in p.cases]
    assert len(seen) == len(set(seen)) == min(total, 75)
    assert pages[0].first == 1 and pages[0].last == min(25, total) and pages[0].pages == -(-total // 25)


def test_bad_filters_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        QueueFilter(statuses=("lost",), types=("ufo",), per_page=7, sort="colour", page=0)
    assert {p.field for p in caught.value.problems} == {"status", "type", "per_page", "sort", "page"}


def test_saved_views_are_per_user_and_tenant(world: World) -> None:
    svc = world.inc.cases
    svc.save_view(ANALYST, "大额 card fraud", "type=card_fraud&amount_min=10000")
    svc.save_view(ANALYST, "大额 card fraud", "type=card_fraud&amount_min=5000")  # saving again replaces it
    assert svc.views(ANALYST) == [{"name": "大额 card fraud", "query": "type=card_fraud&amount_min=5000"}]
    assert svc.views(ANALYST2) == [] and svc.views(OTHER_BANK) == []
    with pytest.raises(NotFound):
        svc.delete_view(ANALYST2, "大额 card fraud")
    svc.delete_view(ANALYST, "大额 card fraud")
    assert svc.views(ANALYST) == []
    with pytest.raises(InvalidInput):
        svc.save_view(ANALYST, " ", "x")


def test_customer_profile(world: World) -> None:
    profiles = ProfileService(world.inc.deps)
    p = profiles.profile(ANALYST, "customer", S1_CUSTOMER, per_page=10)
    assert p["cases"] and p["cases"][0]["group"]["key"] == S1_CUSTOMER and p["cases"][0]["type"] == "card_fraud"
    assert len(p["history"]) == 10 and p["more"]
    times = [r["event"]["event_time"] for r in p["history"]]
    assert times == sorted(times, reverse=True)
    assert any(r["decision"] and r["decision"]["action"] != "allow" for r in p["history"])
    assert S1_ACCOUNT in p["linked"]["account"] and p["devices"]
    older = profiles.profile(ANALYST, "customer", S1_CUSTOMER, page=2, per_page=10)
    assert not {r["event"]["event_id"] for r in older["history"]} & {r["event"]["event_id"] for r in p["history"]}
    card = p["linked"]["card"][0]
    cp = profiles.profile(ANALYST, "card", card)
    assert cp["card_masked"] and "*" in cp["card_masked"] and S1_CUSTOMER in cp["linked"]["customer"]
    with pytest.raises(NotFound):
        profiles.profile(OTHER_BANK, "customer", S1_CUSTOMER)
    with pytest.raises(InvalidInput):
        profiles.profile(ANALYST, "planet", "x")


def test_restrictions_show_on_the_profile(world: World) -> None:
    req = world.inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                                    legal_basis="police_request", reason="r")
    world.inc.actions.approve(SUPERVISOR, req.action_id)
    p = ProfileService(world.inc.deps).profile(ANALYST, "customer", S1_CUSTOMER)
    assert [(r["target_kind"], r["target_id"], r["state"]) for r in p["restrictions"]] == [
        ("account", S1_ACCOUNT, "frozen")]


def test_access_pattern() -> None:
    def access(i: int, at: str, **extra: object) -> dict[str, object]:
        return {"event_id": f"a{i}", "event_time": at, "employee_id": "e", "branch_id": "b1",
                "customer_id": f"c{i % 3}", "query_type": "credit_report", "records": 10, **extra}

    rows = [access(0, "2026-03-11T10:00:00+08:00", business_ref="loan-1"),  # a Wednesday
            access(1, "2026-03-11T22:30:00+08:00", customer_branch_id="b5"),
            access(2, "2026-03-14T11:00:00+08:00", customer_branch_id="b1")]  # a Saturday
    p = access_pattern(rows, flagged={"a1"})
    assert (p["accesses"], p["records"], p["customers"], p["outside_branch"], p["without_business"],
            p["off_hours"], p["flagged"]) == (3, 30, 3, 1, 2, 2, 1)
    assert p["by_hour"][10] == 1 and p["by_hour"][22] == 1 and sum(p["by_hour"]) == 3
    assert p["days"] == [{"day": "2026-03-11", "accesses": 2, "records": 20, "flagged": 1},
                         {"day": "2026-03-14", "accesses": 1, "records": 10, "flagged": 0}]


RULE = {"id": "T.big_night_transfer", "description": {"zh": "深夜大额转账", "en": "Large transfer at night"},
        "expression": "amount >= 50000.0 && night == 1.0", "action": "restrict", "score": 80,
        "reason": "takeover.night_large", "applies_to": ["mobile_transfer"],
        "customer_message": {"zh": "深夜大额转账需核实", "en": "a large night-time transfer needs checking"}}


def test_draft_source_adds_or_replaces_one_rule(world: World) -> None:
    base = next(r for r in world.risk.rulesets("default") if r.status == "published").source
    added = world.risk.validate_ruleset(draft_source(base, RULE))
    before = world.risk.validate_ruleset(base)
    assert len(added.rules) == len(before.rules) + 1 and added.by_id["T.big_night_transfer"].rule.score == 80
    first = before.rules[0].rule
    replaced = world.risk.validate_ruleset(draft_source(base, {**first.model_dump(), "score": 5}))
    assert len(replaced.rules) == len(before.rules) and replaced.rules[0].rule.score == 5


def test_validation_names_the_rules_own_field(world: World) -> None:
    _, problems = validate_draft(world.risk, "default", {**RULE, "expression": "amount >= && night"})
    assert [p.field for p in problems] == ["expression"]
    _, problems = validate_draft(world.risk, "default", {**RULE, "expression": "amount_of_moon > 1.0"})
    assert problems and problems[0].field == "expression" and "amount_of_moon" in problems[0].problem
    _, problems = validate_draft(world.risk, "default", {**RULE, "score": 400})
    assert [p.field for p in problems] == ["score"]
    assert validate_draft(world.risk, "default", RULE)[1] == []


def test_rule_change_needs_a_second_person(world: World) -> None:
    changes = RuleChangeService(world.inc.deps, world.risk)
    with pytest.raises(InvalidRuleset):
        changes.submit(ANALYST, {**RULE, "expression": "amount >="})
    change = changes.submit(ANALYST, RULE, {"draft": {"alerts": 3}})
    assert change["status"] == "pending" and change["backtest"] == {"draft": {"alerts": 3}}
    with pytest.raises(StateError):
        changes.submit(ANALYST2, RULE)  # the same draft is awaiting approval already
    with pytest.raises(Forbidden):
        changes.approve(ANALYST2, change["change_id"])  # an analyst never publishes
    own = changes.submit(SUPERVISOR, {**RULE, "score": 81})
    with pytest.raises(Forbidden):
        changes.approve(SUPERVISOR, own["change_id"])  # nor anyone their own change
    with pytest.raises(NotFound):
        changes.approve(OTHER_BANK, change["change_id"])
    done = changes.approve(SUPERVISOR, change["change_id"])
    assert done["status"] == "published" and done["decided_by"] == SUPERVISOR.name
    live = next(r for r in world.risk.rulesets("default") if r.status == "published")
    assert live.version == change["draft_version"]
    assert "T.big_night_transfer" in world.risk.engine("default").ruleset.by_id
    with pytest.raises(StateError):
        changes.approve(SUPERVISOR2, own["change_id"])  # drafted on the ruleset just replaced
    assert changes.reject(SUPERVISOR2, own["change_id"], "redraft on the new ruleset")["status"] == "rejected"
    actions = [a for _, a, _, _ in world.audit.entries]
    assert actions.count("ruleset.change.submit") == 2 and "ruleset.change.publish" in actions
    assert "ruleset.change.reject" in actions
