"""The loss-reserve ledger and the liability split: invariants under random sequences (Hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunpai.core.errors import Forbidden, InvalidInput, StateError
from dunpai.risk.cases import ledger
from dunpai.risk.cases.ledger import ACCOUNTS, Entry, Line, apply, available, check_balanced, make_entry, replay
from dunpai.risk.cases.liability import DEFAULT_RULES, assess, parse_rules, split
from tests.risk.cases.conftest import ANALYST, S1_ACCOUNT, S1_CUSTOMER, SUPERVISOR, SUPERVISOR2, World

ops = st.lists(st.tuples(st.sampled_from(["fund", "compensate", "recover"]),
                         st.integers(min_value=-5, max_value=10**9)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_ledger_invariants_hold_for_any_sequence(sequence: list[tuple[str, int]]) -> None:
    balances: dict[str, int] = {a: 0 for a in ACCOUNTS}
    accepted: list[Entry] = []
    funded = paid = recovered = 0
    for i, (kind, amount) in enumerate(sequence):
        before = dict(balances)
        try:
            entry = make_entry(f"e{i}", kind, amount, float(i), "t", "m")  # type: ignore[arg-type]
            balances = apply(balances, entry)
        except (InvalidInput, StateError):
            assert balances == before  # a refused entry changes nothing
            assert amount <= 0 or (kind == "compensate" and amount > available(before))
            continue
        assert before == {a: before[a] for a in ACCOUNTS}  # the input was not mutated
        accepted.append(entry)
        funded += amount * (kind == "fund")
        paid += amount * (kind == "compensate")
        recovered += amount * (kind == "recover")
        assert available(balances) >= 0  # never negative
        assert sum(balances.values()) == 0  # debits == credits overall
    assert available(balances) == funded - paid + recovered
    assert replay(accepted) == balances  # the stored entries reproduce the balances


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10_000))
def test_split_adds_up_and_rounds_half_up(loss: int, bp: int) -> None:
    bank, customer = split(loss, bp)
    assert bank + customer == loss and 0 <= bank <= loss
    assert abs(bank * 10_000 - loss * bp) <= 5_000  # within half a fen of the exact share


def test_unbalanced_and_malformed_entries_are_refused() -> None:
    bad = Entry("x", "fund", (Line("reserve_funding", debit=5), Line("loss_reserve", credit=4)), 0.0, "t", "m")
    with pytest.raises(StateError):
        check_balanced(bad)
    both = Entry("y", "fund", (Line("reserve_funding", debit=5, credit=5),), 0.0, "t", "m")
    with pytest.raises(StateError):
        check_balanced(both)
    for amount in (0, -1, 1.5, True):
        with pytest.raises(InvalidInput):
            make_entry("z", "fund", amount, 0.0, "t", "m")  # type: ignore[arg-type]


def test_nanning_rule_is_70_30() -> None:
    a = assess(18_950_00, {"counterfeit_card": True, "bank_detected": False, "pin_negligence": True})
    assert (a.rule_id, a.bank_amount, a.customer_amount) == ("counterfeit_undetected_pin_negligence", 13_265_00,
                                                             5_685_00)
    assert assess(100, {"counterfeit_card": True}).bank_amount == 100  # no negligence: all the bank's
    assert assess(100, {}).rule_id == "default"


def test_rules_are_configurable_and_validated() -> None:
    rules = parse_rules("- id: all_bank\n  when: {}\n  bank_share_pct: 100\n")
    assert assess(7, {"pin_negligence": True}, rules).bank_amount == 7
    for source in ("[]", "- id: x\n  when: {moon_phase: true}\n  bank_share_pct: 5\n",
                   "- id: x\n  when: {}\n  bank_share_pct: 101\n", "- when: {}\n"):
        with pytest.raises(InvalidInput):
            parse_rules(source)
    with pytest.raises(InvalidInput):
        assess(5, {"moon_phase": True}, DEFAULT_RULES)
    with pytest.raises(InvalidInput):
        assess(5, {"pin_negligence": True}, parse_rules("- id: only\n  when: {counterfeit_card: true}\n"
                                                        "  bank_share_pct: 1\n"))


def _dispute(world: World, claimed: int = 18_950_00) -> dict[str, Any]:
    return world.inc.disputes.open(ANALYST, case_id=world.case_of(S1_CUSTOMER), customer_id=S1_CUSTOMER,
                                   account_id=S1_ACCOUNT, claimed=claimed, statement="not me",
                                   facts={"counterfeit_card": True, "bank_detected": False, "pin_negligence": True})


def test_dispute_settles_from_the_reserve_and_recoveries_come_back(world: World) -> None:
    d = world.inc.disputes
    d.fund_reserve(SUPERVISOR2, 20_000_00, "reserve")
    dispute = d.assess(ANALYST, _dispute(world)["dispute_id"])
    assert dispute["assessment"]["bank_amount"] == 13_265_00
    with pytest.raises(Forbidden):
        d.settle(ANALYST, dispute["dispute_id"])  # not a supervisor
    settled = d.settle(SUPERVISOR, dispute["dispute_id"])
    assert settled["status"] == "settled" and settled["paid"] == 13_265_00
    with pytest.raises(StateError):
        d.settle(SUPERVISOR, dispute["dispute_id"])  # paid once
    book = d.ledger(ANALYST)
    assert book["available"] == 20_000_00 - 13_265_00
    d.record_recovery(SUPERVISOR, world.case_of(S1_CUSTOMER), 5_000_00, "police returned funds",
                      dispute["dispute_id"])
    book = d.ledger(ANALYST)
    assert book["available"] == 20_000_00 - 13_265_00 + 5_000_00
    assert sum(book["balances"].values()) == 0
    assert d.get(ANALYST, dispute["dispute_id"])["recovered"] == 5_000_00
    notices = world.inc.notices(ANALYST, world.case_of(S1_CUSTOMER))
    assert notices[-1]["kind"] == "compensation" and "13,265.00" in notices[-1]["sms"]["zh"]
    assert {"dispute.open", "dispute.assess", "dispute.settle", "ledger.fund", "ledger.recover"} <= set(
        world.audit.actions())


def test_the_reserve_never_pays_more_than_it_holds(world: World) -> None:
    d = world.inc.disputes
    d.fund_reserve(SUPERVISOR2, 1_000_00, "small reserve")
    dispute = d.assess(ANALYST, _dispute(world)["dispute_id"])
    with pytest.raises(StateError, match="negative"):
        d.settle(SUPERVISOR, dispute["dispute_id"])
    assert d.get(ANALYST, dispute["dispute_id"])["status"] == "assessed"  # rolled back entirely
    assert d.ledger(ANALYST)["available"] == 1_000_00


def test_the_assessor_cannot_settle(world: World) -> None:
    d = world.inc.disputes
    d.fund_reserve(SUPERVISOR2, 50_000_00, "reserve")
    dispute = d.assess(SUPERVISOR, _dispute(world)["dispute_id"])
    with pytest.raises(Forbidden, match="four eyes"):
        d.settle(SUPERVISOR, dispute["dispute_id"])


def test_ledger_accounts_are_closed_set() -> None:
    assert set(ledger.ACCOUNTS) == {"reserve_funding", "loss_reserve", "customer_payouts", "recoveries"}
