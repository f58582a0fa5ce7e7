"""Dual control on account actions, and the decision engine honouring the account state at once."""

from __future__ import annotations

from typing import Any

import pytest

from dunpai.core.errors import Forbidden, InvalidInput, NotFound, StateError
from dunpai.risk.cases.accounts import AccountStates
from dunpai.risk.cases.controls import approve, new_request, reject
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


def _req(actor: str = "li.na", role: str = "analyst", action: str = "freeze") -> Any:
    return new_request("act_1", "default", "account", "acct-1", action, "anti_telecom_fraud_art18", "why", actor,
                       role, 1.0)


def test_same_person_cannot_request_and_approve() -> None:
    with pytest.raises(Forbidden, match="dual control"):
        approve(_req("wang.qiang", "supervisor"), "wang.qiang", "supervisor", 2.0)


def test_an_analyst_cannot_approve() -> None:
    with pytest.raises(Forbidden):
        approve(_req(), "chen.jie", "analyst", 2.0)


def test_a_request_is_decided_once() -> None:
    done = approve(_req(), "wang.qiang", "supervisor", 2.0)
    assert done.status == "approved" and done.decided_by == "wang.qiang"
    for decide in (approve, reject):
        with pytest.raises(StateError):
            decide(done, "zhao.min", "supervisor", 3.0)


@pytest.mark.parametrize(("field", "kwargs"), [
    ("action", {"action": "delete"}), ("legal_basis", {"legal_basis": "because"}), ("reason", {"reason": " "}),
    ("target_kind", {"target_kind": "vault"})])
def test_requests_must_name_basis_and_reason(field: str, kwargs: dict[str, str]) -> None:
    args = {"target_kind": "account", "action": "freeze", "legal_basis": "police_request", "reason": "r", **kwargs}
    with pytest.raises(InvalidInput) as err:
        new_request("a", "t", args["target_kind"], "x", args["action"], args["legal_basis"], args["reason"], "u",
                    "analyst", 1.0)
    assert err.value.problems[0].field == field


def test_integrators_cannot_request() -> None:
    with pytest.raises(Forbidden):
        _req(role="integrator")


def _card(body_id: str, account: str = S1_ACCOUNT) -> dict[str, Any]:
    return {"type": "card_present", "event_id": body_id, "event_time": "2026-03-13T10:00:00+08:00",
            "txn": "pos_purchase", "pan": "6222021234567890", "account_id": account, "customer_id": S1_CUSTOMER,
            "terminal_id": "pos-NA-001", "terminal_location": {"lat": 22.82, "lon": 108.37, "city": "南宁"},
            "pos_entry_mode": "05", "amount": 2_000, "currency": "CNY"}


def test_freeze_with_two_people_then_payments_are_refused_at_once(world: World) -> None:
    inc, cid = world.inc, world.case_of(S1_CUSTOMER)
    assert world.risk.submit("default", _card("before")).decision.action == "allow"
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                              legal_basis="anti_telecom_fraud_art18", reason="counterfeit withdrawals", case_id=cid,
                              customer_id=S1_CUSTOMER)
    assert inc.accounts.status(S1_ACCOUNT) == "active"  # a request alone changes nothing
    with pytest.raises(Forbidden):
        inc.actions.approve(ANALYST, req.action_id)  # an analyst, and the requester
    with pytest.raises(Forbidden):
        inc.actions.approve(ANALYST2, req.action_id)  # an analyst
    done = inc.actions.approve(SUPERVISOR, req.action_id, reason_kind="counterfeit")
    assert done.status == "approved" and done.decided_by == SUPERVISOR.name
    assert inc.accounts.status(S1_ACCOUNT) == "frozen"
    d = world.risk.submit("default", _card("after")).decision
    assert d.action == "freeze" and d.reasons[0] == "account.frozen"
    assert "冻结" in d.customer_message.zh and "frozen" in d.customer_message.en
    other = world.risk.submit("default", _card("other-account", "acct-00002")).decision
    assert other.action != "freeze"
    with pytest.raises(StateError):
        inc.actions.approve(SUPERVISOR2, req.action_id)  # decided once
    detail = inc.cases.detail(ANALYST, cid)
    assert [n["kind"] for n in detail["notices"]] == ["freeze"]
    assert [e["kind"] for e in detail["evidence"]][-2:] == ["action", "notice"]
    assert {"account.action.request", "account.action.approve"} <= set(world.audit.actions())
    sent = world.inc.deps.notifier.sent  # type: ignore[attr-defined]
    assert sent[-1][1] == S1_CUSTOMER and sent[-1][2]["kind"] == "freeze"


def test_supervisor_cannot_approve_own_request_and_unfreeze_needs_two_as_well(world: World) -> None:
    inc = world.inc
    own = inc.actions.request(SUPERVISOR, target_kind="card", target_id="card-x", action="freeze",
                              legal_basis="police_request", reason="police notice 2026-17")
    with pytest.raises(Forbidden, match="dual control"):
        inc.actions.approve(SUPERVISOR, own.action_id)
    inc.actions.approve(SUPERVISOR2, own.action_id)
    assert inc.accounts.card_status("card-x") == "frozen"
    with pytest.raises(StateError):  # already frozen
        inc.actions.request(ANALYST, target_kind="card", target_id="card-x", action="freeze",
                            legal_basis="police_request", reason="again")
    lift = inc.actions.request(ANALYST, target_kind="card", target_id="card-x", action="unfreeze",
                               legal_basis="confirmation_cleared", reason="cleared")
    inc.actions.approve(SUPERVISOR, lift.action_id)
    assert inc.accounts.card_status("card-x") == "active"


def test_restricted_account_is_restricted_in_decisions(world: World) -> None:
    inc = world.inc
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="restrict",
                              legal_basis="bank_terms", reason="verify identity")
    inc.actions.approve(SUPERVISOR, req.action_id)
    d = world.risk.submit("default", _card("restricted")).decision
    assert d.action == "restrict" and d.reasons[0] == "account.restricted"


def test_rejection_changes_nothing(world: World) -> None:
    inc = world.inc
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                              legal_basis="bank_terms", reason="r")
    inc.actions.reject(SUPERVISOR, req.action_id, "not enough")
    assert inc.accounts.status(S1_ACCOUNT) == "active"
    assert inc.actions.pending(ANALYST) == []


def test_account_states_are_per_tenant(world: World) -> None:
    inc = world.inc
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                              legal_basis="bank_terms", reason="r")
    inc.actions.approve(SUPERVISOR, req.action_id)
    states = AccountStates(world.risk.db)
    assert states.status(S1_ACCOUNT) == "frozen"
    assert states.for_tenant("other-bank").status(S1_ACCOUNT) == "active"
    with pytest.raises(NotFound):
        inc.actions.approve(OTHER_BANK, req.action_id)
    assert inc.actions.states(OTHER_BANK) == []
