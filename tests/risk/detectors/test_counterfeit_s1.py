"""S1 — the Nanning counterfeit card: deposit 17,900 yuan in Nanning, the balance withdrawn the same
evening in Binyang county by magnetic stripe while the phone (and card) are with the customer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from dunpai.risk.events.schemas import CardPresent, Location, MobileTransfer

from .helpers import Replay, engine_with, hits

CST = timezone(timedelta(hours=8))
NANNING = Location(lat=22.817, lon=108.366, city="南宁")
BINYANG = Location(lat=23.217, lon=108.810, city="宾阳")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=CST)


def _cp(event_id: str, when: datetime, txn: str, amount: int, where: Location, **kw: object) -> CardPresent:
    base: dict[str, object] = dict(
        event_id=event_id, event_time=when, txn=txn, card_id="card-1", account_id="acct-1", customer_id="cust-1",
        terminal_id=f"atm-{int(where.lon * 1000)}-{event_id}", terminal_location=where, pos_entry_mode="05",
        service_code="201", atc=100 + int(event_id[-1]), amount=amount, balance_before=kw.pop("balance", None),
    )
    base.update(kw)
    return CardPresent(**base)  # type: ignore[arg-type]


def test_counterfeit_withdrawal_is_held_with_reasons() -> None:
    replay = Replay(engine_with())
    history = [
        _cp("e1", T0, "pos_purchase", 12_000, NANNING),
        _cp("e2", T0 + timedelta(days=1), "pos_purchase", 8_800, NANNING),
        _cp("e3", T0 + timedelta(days=2, hours=6), "atm_deposit", 1_790_000, NANNING, balance=100_000),
    ]
    for d in replay.run(history):
        assert d.action == "allow", d.reasons
    app = MobileTransfer(event_id="m1", event_time=T0 + timedelta(days=2, hours=10), account_id="acct-1",
                         customer_id="cust-1", device_id="phone-1", payee_id="mom", amount=Decimal(10_000),
                         location=NANNING)
    replay.decide(app)
    fraud = _cp("e4", T0 + timedelta(days=2, hours=11), "atm_withdrawal", 1_890_000, BINYANG,
                balance=1_890_000, pos_entry_mode="90", atc=None)
    decision = replay.decide(fraud)
    assert decision.action in ("delay", "restrict")
    assert {"sig_chip_card_stripe_read", "sig_card_far_from_phone", "sig_drain_after_deposit"} <= set(
        decision.signals)
    assert "S1.counterfeit_combo" in hits(decision)
    assert "counterfeit.chip_read_by_stripe" in decision.reasons
    assert "复制" in decision.customer_message.zh or "读卡" in decision.customer_message.zh
    assert "copied" in decision.customer_message.en or "reading" in decision.customer_message.en


def test_impossible_travel_and_atc_going_backwards() -> None:
    replay = Replay(engine_with())
    replay.decide(_cp("e1", T0, "pos_purchase", 5_000, NANNING, atc=200))
    beijing = Location(lat=39.9, lon=116.4, city="北京")
    decision = replay.decide(_cp("e2", T0 + timedelta(minutes=40), "pos_purchase", 5_000, beijing, atc=150))
    assert {"sig_impossible_travel", "sig_atc_anomaly"} <= set(decision.signals)
    assert decision.action != "allow"


def test_genuine_chip_use_far_from_home_is_allowed() -> None:
    replay = Replay(engine_with())
    replay.decide(_cp("e1", T0, "pos_purchase", 5_000, NANNING))
    decision = replay.decide(_cp("e2", T0 + timedelta(days=1), "pos_purchase", 6_000, BINYANG))
    assert decision.action == "allow"
    assert not {"sig_chip_card_stripe_read", "sig_impossible_travel"} & set(decision.signals)


def test_travel_to_a_terminal_reported_at_many_places_is_not_impossible() -> None:
    """A data source that gives a merchant's name as the terminal, at a different place each time,
    has no fixed point there: a card's jump to it is no evidence of a copy. A fixed ATM is."""
    beijing = Location(lat=39.9, lon=116.4, city="北京")
    guangzhou = Location(lat=23.129, lon=113.264, city="广州")  # about 500 km from Nanning

    def jump(terminal_seen_at: Location) -> set[str]:
        replay = Replay(engine_with())
        # Another customer's use of the same terminal id three days earlier: its place so far.
        replay.decide(_cp("e1", T0 - timedelta(days=3), "pos_purchase", 5_000, terminal_seen_at, card_id="card-9",
                          account_id="acct-9", customer_id="cust-9", terminal_id="haley-group"))
        replay.decide(_cp("e2", T0, "pos_purchase", 5_000, NANNING))
        return set(replay.decide(_cp("e3", T0 + timedelta(minutes=40), "pos_purchase", 5_000, guangzhou,
                                     terminal_id="haley-group")).signals)

    assert "sig_impossible_travel" in jump(guangzhou)  # always at Guangzhou: a fixed point
    assert "sig_impossible_travel" not in jump(beijing)  # the same id at Beijing before, now at Guangzhou
