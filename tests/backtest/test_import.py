"""Handbook rows become engine events: mapping, label delay, ordering."""

from __future__ import annotations

import math
from datetime import timedelta

from dunpai.risk.backtest.handbook import LABEL_DELAY, HandbookData, grid_to_location, iter_events
from dunpai.risk.events.schemas import CardPresent, Label
from dunpai.risk.features.geo import haversine_km


def test_grid_unit_is_about_one_kilometre() -> None:
    a, b, c = grid_to_location(10, 10), grid_to_location(11, 10), grid_to_location(10, 11)
    assert math.isclose(haversine_km(a.lat, a.lon, b.lat, b.lon), 1.0, rel_tol=0.01)
    assert math.isclose(haversine_km(a.lat, a.lon, c.lat, c.lon), 1.0, rel_tol=0.01)


def test_rows_map_to_card_present_and_fraud_to_delayed_labels(small: HandbookData) -> None:
    tx = small.transactions
    events = list(iter_events(small))
    purchases = [e for _, e in events if isinstance(e, CardPresent)]
    labels = [e for _, e in events if isinstance(e, Label)]
    assert len(purchases) == len(tx)
    assert len(labels) == int(tx.TX_FRAUD.sum()) > 0
    first = tx.iloc[0]
    p = purchases[0]
    assert p.card_id == p.customer_id == p.account_id == f"c{first.CUSTOMER_ID}"
    assert p.terminal_id == f"t{first.TERMINAL_ID}"
    assert p.txn == "pos_purchase" and p.pos_entry_mode == "05"
    assert p.amount == round(first.TX_AMOUNT * 100)
    assert p.customer_home is not None and p.terminal_location is not None
    for lab in labels:
        assert lab.target_event_time is not None
        assert lab.event_time - lab.target_event_time == LABEL_DELAY == timedelta(days=7)
        assert lab.fraud and lab.terminal_id and lab.card_id


def test_events_in_time_order_labels_first_at_ties(small: HandbookData) -> None:
    times = [(e.event_time, 0 if isinstance(e, Label) else 1) for _, e in iter_events(small)]
    assert times == sorted(times)


def test_scenario_never_reaches_an_event(small: HandbookData) -> None:
    for _, e in iter_events(small):
        assert "scenario" not in repr(e).lower()
