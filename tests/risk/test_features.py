from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dunpai.risk.events.ingest import parse_event
from dunpai.risk.events.schemas import AnyEvent
from dunpai.risk.features.geo import haversine_km
from dunpai.risk.features.layout import BIG
from dunpai.risk.features.pipeline import FeaturePipeline
from dunpai.risk.features.store import MemoryStore

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 12, 9, 0, tzinfo=CST)


def ev(etype: str, minutes: float, **fields: Any) -> AnyEvent:
    ev.n += 1  # type: ignore[attr-defined]
    when = (T0 + timedelta(minutes=minutes)).isoformat()
    base: dict[str, Any] = {"type": etype, "event_id": f"f{ev.n}", "event_time": when}  # type: ignore[attr-defined]
    if etype == "card_present":
        base.update(txn="pos_purchase", card_id="card-1", account_id="acct-1", customer_id="cust-1",
                    terminal_id="t-1", pos_entry_mode="05", amount=10_000,
                    terminal_location={"lat": 22.8, "lon": 108.3, "city": "南宁"})
    base.update(fields)
    return parse_event(base)[0]


ev.n = 0  # type: ignore[attr-defined]


def run(events: list[AnyEvent]) -> list[dict[str, float]]:
    pipe, store = FeaturePipeline(), MemoryStore()
    out = []
    for seq, e in enumerate(events, start=1):
        _, f, states = pipe.compute(e, store)
        store.put_many(states, seq)
        out.append(dict(f))
    return out


def test_haversine_nanning_binyang() -> None:
    assert 55 < haversine_km(22.817, 108.366, 23.217, 108.81) < 70


def test_geo_velocity_and_novelty() -> None:
    f = run([
        ev("card_present", 0),
        ev("card_present", 30, terminal_id="t-2", terminal_location={"lat": 23.129, "lon": 113.264, "city": "广州"}),
    ])
    assert f[0]["card_secs_since_last_cp"] == BIG and f[0]["card_new_merchant"] == 0.0
    assert f[1]["card_km_from_last_cp"] > 400
    assert f[1]["card_speed_kmh"] > 800
    assert f[1]["card_new_merchant"] == 1.0 and f[1]["card_new_city"] == 1.0


def test_velocity_counts_and_amount_habit() -> None:
    events = [ev("card_present", i * 60 * 24, amount=10_000) for i in range(10)]
    events.append(ev("card_present", 10 * 60 * 24 + 5, amount=200_000))
    f = run(events)[-1]
    assert 9 < f["card_count_30d"] < 11
    assert f["card_amount_ratio"] == pytest.approx(20.0, rel=0.01)
    assert f["card_count_1h"] == pytest.approx(1.0, abs=0.01)


def test_card_far_from_phone() -> None:
    f = run([
        ev("login", 0, customer_id="cust-1", device_id="d-1", location={"lat": 22.817, "lon": 108.366}),
        ev("card_present", 60, terminal_location={"lat": 23.217, "lon": 108.81, "city": "宾阳"}),
    ])[-1]
    assert f["cust_km_from_app"] > 50 and f["cust_app_secs"] == 3600.0


def test_atc_backwards_and_jump() -> None:
    f = run([ev("card_present", 0, atc=10), ev("card_present", 1, atc=9), ev("card_present", 2, atc=80)])
    assert f[1]["card_atc_backwards"] == 1.0
    assert f[2]["card_atc_jump"] == 69.0


def test_deposit_then_drain() -> None:
    f = run([
        ev("card_present", 0, txn="atm_deposit", amount=1_790_000),
        ev("card_present", 400, txn="atm_withdrawal", amount=1_890_000, balance_before=1_895_000,
           pos_entry_mode="90", terminal_location={"lat": 23.217, "lon": 108.81, "city": "宾阳"}),
    ])[-1]
    assert f["drain_ratio"] > 0.99
    assert f["acct_deposit_secs"] == 400 * 60
    assert f["card_deposit_km"] > 50


def test_label_features_only_see_labels_already_known() -> None:
    """A fraud label known at t changes features of events after t, never before."""
    before = ev("card_present", 10, card_id="card-9")
    label = ev("label", 20, target_event_id="x", fraud=True, card_id="card-9", terminal_id="t-1")
    after = ev("card_present", 30, card_id="card-9")
    with_label = run([ev("card_present", 0, card_id="card-9"), before, label, after])
    without = run([ev("card_present", 0, card_id="card-9"), before, after])
    assert with_label[1] == without[1]
    assert with_label[3]["card_frauds_known"] == 1.0 and without[2]["card_frauds_known"] == 0.0
    assert with_label[3]["card_blocked"] == 1.0 and without[2]["card_blocked"] == 0.0
    assert with_label[3]["term_fraud_7d"] > 0.9


def test_update_never_mutates_its_input_state() -> None:
    pipe, store = FeaturePipeline(), MemoryStore()
    _, _, states = pipe.compute(ev("card_present", 0), store)
    store.put_many(states, 1)
    snapshot = {k: bytes(v) for k, v in store.items()}
    pipe.compute(ev("card_present", 5), store)  # computed but never written
    assert {k: bytes(v) for k, v in store.items()} == snapshot


def test_a_reissued_card_is_no_longer_blocked_and_an_old_label_does_not_block_it_again() -> None:
    f = run([
        ev("card_present", 0, card_id="card-5"),
        ev("label", 10, target_event_id="x", fraud=True, card_id="card-5", target_event_time=T0.isoformat()),
        ev("card_present", 20, card_id="card-5"),
        ev("card", 30, action="reissue", card_id="card-5", customer_id="cust-1"),
        ev("card_present", 40, card_id="card-5"),
        ev("label", 50, target_event_id="y", fraud=True, card_id="card-5",
           target_event_time=(T0 + timedelta(minutes=5)).isoformat()),  # about a use before the reissue
        ev("card_present", 60, card_id="card-5"),
        ev("label", 70, target_event_id="z", fraud=True, card_id="card-5",
           target_event_time=(T0 + timedelta(minutes=40)).isoformat()),  # about the new card
        ev("card_present", 80, card_id="card-5"),
    ])
    assert [f[i]["card_blocked"] for i in (2, 4, 6, 8)] == [1.0, 0.0, 0.0, 1.0]
    assert f[8]["card_frauds_known"] == 3.0


def test_a_label_that_does_not_block_cards_leaves_the_card_open() -> None:
    f = run([ev("card_present", 0, card_id="card-6"),
             ev("label", 10, target_event_id="x", fraud=True, card_id="card-6", blocks_card=False),
             ev("card_present", 20, card_id="card-6")])
    assert f[2]["card_blocked"] == 0.0 and f[2]["card_frauds_known"] == 1.0 and f[2]["card_fraud_rate"] == 1.0


def test_an_amount_high_in_the_cards_own_history_has_a_high_percentile() -> None:
    usual = [ev("card_present", i * 60 * 24, amount=5_000 + 100 * (i % 5)) for i in range(30)]
    f = run([*usual, ev("card_present", 30 * 60 * 24 + 1, amount=250_000)])
    assert f[-1]["card_amount_pctl"] > 0.99
    assert f[-2]["card_amount_pctl"] < 0.9
    assert f[-1]["card_high_7d"] == pytest.approx(1.0, abs=0.01)


def test_hour_and_weekday_habits_and_novelty() -> None:
    days = [ev("card_present", i * 60 * 24, merchant_id="m-1", category="grocery") for i in range(20)]
    night = ev("card_present", 20 * 60 * 24 - 8 * 60, merchant_id="m-2", category="jewellery", country="SG")
    f = run([*days, night])
    assert f[-2]["card_hour_share"] == pytest.approx(1.0) and f[-1]["card_hour_share"] < 0.01
    assert f[-1]["card_new_merchant"] == 1.0 and f[-1]["card_new_category"] == 1.0
    assert f[-1]["card_new_country"] == 1.0 and f[-2]["card_new_merchant"] == 0.0
    assert f[-2]["card_merchant_secs"] == pytest.approx(24 * 3600)
    assert f[-1]["cat_count_30d"] == 0.0 and f[-2]["cat_count_30d"] > 10


def test_impossible_travel_subtracts_how_precise_each_place_is() -> None:
    near = {"lat": 22.8, "lon": 108.3}
    far = {"lat": 23.3, "lon": 108.3}  # about 55 km north
    exact = run([ev("card_present", 0, terminal_location=near), ev("card_present", 5, terminal_location=far)])
    vague = run([ev("card_present", 0, terminal_location={**near, "accuracy_km": 30}),
                 ev("card_present", 5, terminal_location={**far, "accuracy_km": 30})])
    assert exact[1]["card_km_from_last_cp"] > 50
    assert vague[1]["card_km_from_last_cp"] == 0.0 and vague[1]["card_speed_kmh"] == 0.0


def test_attributes_become_features_and_text_values_learn_from_labels() -> None:
    attrs = {"risk_score": 0.7, "email_domain": "mail.example"}
    f = run([ev("card_present", 0, attributes=attrs),
             ev("label", 5, target_event_id="x", fraud=True, attributes={"email_domain": "mail.example"}),
             ev("card_present", 10, attributes=attrs)])
    assert f[0]["attr_risk_score"] == 0.7
    assert f[0]["attrv_email_domain_count"] == 0.0 and f[2]["attrv_email_domain_count"] == 1.0
    assert f[2]["attrv_email_domain_fraud_rate"] == 1.0


def test_money_out_right_after_money_in_is_seen_at_the_paying_account() -> None:
    f = run([
        ev("mobile_transfer", 0, account_id="victim", customer_id="c-v", payee_id="mule", amount=500_000),
        ev("mobile_transfer", 3, account_id="mule", customer_id="c-mule", payee_id="shop", amount=500_000,
           balance_before=500_000, kind="cash_out"),
    ])
    assert f[1]["acct_inflow_secs"] == 180 and f[1]["acct_out_in_ratio"] == pytest.approx(1.0, rel=1e-2)
    assert f[1]["drain_ratio"] == 1.0 and f[1]["cash_out"] == 1.0


def test_every_event_type_computes_exactly_its_declared_names() -> None:
    pipe = FeaturePipeline()
    declared = set(pipe.feature_names())
    f = run([ev("card_present", 0), ev("mobile_transfer", 1, account_id="a", customer_id="cust-1", payee_id="p",
                                        amount=100, device_id="d"),
             ev("login", 2, customer_id="cust-1", device_id="d")])
    for features in f:
        assert set(features) <= declared, set(features) - declared
