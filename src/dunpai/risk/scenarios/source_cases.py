"""The source's cases as replayable event sequences mixed into normal traffic.

S1 (counterfeit card, Nanning/Binyang): the customer deposits 17,900 yuan at an ATM in Nanning; the
same evening the whole balance is withdrawn at an ATM in Binyang county by a copied card read by
magnetic stripe, while the genuine card and the customer's phone are in Nanning.

S2 (phishing SMS trojan): a text posing as the provincial traffic police plants a trojan; the
bank's app reports a remote-control/overlay app; the criminal logs in from a new device, enrols it
and drains more than 60,000 yuan by transfers to new payees without a mobile-shield signature.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dunpai.risk.scenarios.traffic import CITIES, DEMO_DAY, Customer, Traffic, _iso


def s1_counterfeit(tr: Traffic, c: Customer, day: datetime) -> None:
    nanning, binyang = CITIES["南宁 Nanning"], CITIES["宾阳 Binyang"]
    c.city, c.lat, c.lon = "南宁 Nanning", nanning[0], nanning[1]
    here = {"lat": nanning[0] + 0.01, "lon": nanning[1] + 0.01, "city": "南宁"}
    c.balance = 1_050_00
    tr._card(c, day + timedelta(hours=14, minutes=5), "atm_deposit", "atm-NA-007", 17_900_00, loc=here)
    tr.add({"type": "login", "event_time": _iso(day + timedelta(hours=18, minutes=32)), "customer_id": c.cid,
            "device_id": c.phone, "channel": "app", "location": {"lat": nanning[0], "lon": nanning[1]}})
    away = {"lat": binyang[0], "lon": binyang[1], "city": "宾阳"}
    when = day + timedelta(hours=20, minutes=41)
    remaining = c.balance
    for i, amount in enumerate((5_000_00, 5_000_00, 5_000_00, remaining - 15_000_00)):
        tr._card(c, when + timedelta(minutes=2 * i), "atm_withdrawal", "atm-BI-002", amount, mode="90", loc=away,
                 scenario="S1", fraud=True)
        c.balance -= amount


def s2_takeover(tr: Traffic, c: Customer, day: datetime) -> None:
    c.balance = 62_480_00
    home = {"lat": round(c.lat, 4), "lon": round(c.lon, 4)}
    t0 = day + timedelta(hours=19, minutes=6)
    tr.add({"type": "device", "event_time": _iso(t0), "customer_id": c.cid, "device_id": c.phone,
            "action": "remote_access_app", "detail": "screen-sharing app installed from an SMS link",
            "location": home}, "S2", False)
    crook = "dev-unknown-9f3a"
    far = {"lat": 23.129, "lon": 113.264}  # Guangzhou
    tr.add({"type": "login", "event_time": _iso(t0 + timedelta(minutes=24)), "customer_id": c.cid,
            "device_id": crook, "channel": "app", "ip": "198.51.100.23", "location": far}, "S2", True)
    tr.add({"type": "device", "event_time": _iso(t0 + timedelta(minutes=25)), "customer_id": c.cid,
            "device_id": crook, "action": "enrol", "location": far}, "S2", True)
    for i, amount in enumerate((20_000_00, 20_000_00, 20_000_00, 2_480_00)):
        tr.add({"type": "mobile_transfer", "event_time": _iso(t0 + timedelta(minutes=27 + 3 * i)), "kind": "transfer",
                "account_id": c.account, "customer_id": c.cid, "device_id": crook,
                "payee_id": f"mule-{i}", "amount": amount, "currency": "CNY", "balance_before": c.balance,
                "ip": "198.51.100.23", "location": far}, "S2", True)
        c.balance -= amount


def demo_events(seed: int = 7, customers: int = 300, history_days: int = 14) -> list[tuple[dict[str, Any], str, bool]]:
    """History, then the demo day's normal traffic with S1 and S2 mixed in, in event-time order."""
    tr = Traffic(seed, customers)
    tr.enrol_devices(DEMO_DAY - timedelta(days=history_days))
    for d in range(history_days, 0, -1):
        tr.normal_day(DEMO_DAY - timedelta(days=d))
    tr.normal_day(DEMO_DAY)
    s1_counterfeit(tr, tr.customers[0], DEMO_DAY)
    s2_takeover(tr, tr.customers[1], DEMO_DAY)
    events = sorted(tr.events, key=lambda e: (e[0]["event_time"], e[0]["event_id"]))
    # A genuine chip's transaction counter rises with every use, in time order.
    counters: dict[str, int] = {}
    for body, _, _ in events:
        if "atc" in body:
            counters[body["pan"]] = counters.get(body["pan"], 100) + 1
            body["atc"] = counters[body["pan"]]
    return events
