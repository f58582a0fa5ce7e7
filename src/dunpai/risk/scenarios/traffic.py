"""Synthetic but realistic bank traffic for the demo: a few hundred customers in Guangxi.

Each customer has a chip card (some old stripe-only cards too), an account, a phone with the bank's
app enrolled long ago, a home city, regular payees and spending habits. Two weeks of history build
their habits; then one day of normal traffic is mixed with the source's cases. Deterministic for a
given seed: the same seed gives the same events, ids and decisions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))
CITIES = {
    "南宁 Nanning": (22.817, 108.366),
    "柳州 Liuzhou": (24.326, 109.428),
    "桂林 Guilin": (25.274, 110.290),
    "宾阳 Binyang": (23.217, 108.810),
    "北海 Beihai": (21.481, 109.120),
}
DEMO_DAY = datetime(2026, 3, 12, tzinfo=CST)


@dataclass
class Customer:
    idx: int
    city: str
    lat: float
    lon: float
    pan: str
    chip: bool
    mean_spend: float
    payees: list[str]
    phone: str
    atc: int = 100
    balance: int = 0  # fen
    terminals: list[str] = field(default_factory=list)

    @property
    def cid(self) -> str:
        return f"cust-{self.idx:05d}"

    @property
    def account(self) -> str:
        return f"acct-{self.idx:05d}"


def luhn_pan(rng: random.Random, bin6: str = "622202") -> str:
    """A 16-digit test card number with a valid Luhn check digit (not a real card)."""
    body = bin6 + "".join(str(rng.randrange(10)) for _ in range(9))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


def city_code(city: str) -> str:
    """An ASCII code for ids: the first two letters of the English name (``NA`` for Nanning)."""
    return city.split()[1][:2].upper()


def _iso(t: datetime) -> str:
    return t.isoformat()


class Traffic:
    """Builds event dicts (the integrator's wire form) with ground truth attached."""

    def __init__(self, seed: int = 7, customers: int = 300) -> None:
        self.rng = random.Random(seed)
        self.customers = [self._customer(i) for i in range(customers)]
        self.events: list[tuple[dict[str, Any], str, bool]] = []
        self._n = 0

    def _customer(self, i: int) -> Customer:
        rng = self.rng
        city = rng.choices(list(CITIES), weights=[6, 2, 2, 1, 1])[0]
        lat, lon = CITIES[city]
        c = Customer(
            idx=i, city=city, lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.05, 0.05),
            pan=luhn_pan(rng), chip=rng.random() > 0.05, mean_spend=rng.uniform(40, 600),
            payees=[f"payee-{i:05d}-{k}" for k in range(rng.randint(1, 4))], phone=f"dev-{i:05d}",
            balance=rng.randint(5_000, 200_000) * 100,
        )
        code = city_code(city)
        c.terminals = [f"atm-{code}-{rng.randint(0, 40):03d}" for _ in range(2)] + [
            f"pos-{code}-{rng.randint(0, 200):03d}" for _ in range(4)]
        return c

    def add(self, body: dict[str, Any], scenario: str = "normal", fraud: bool = False) -> dict[str, Any]:
        self._n += 1
        body.setdefault("event_id", f"ev-{self._n:06d}")
        self.events.append((body, scenario, fraud))
        return body

    def _terminal_loc(self, c: Customer, terminal: str) -> dict[str, Any]:
        h = sum(map(ord, terminal))
        return {"lat": round(c.lat + (h % 17 - 8) / 400, 5), "lon": round(c.lon + (h % 13 - 6) / 400, 5),
                "city": c.city.split()[0]}

    # -- normal behaviour --------------------------------------------------------------------------

    def enrol_devices(self, start: datetime) -> None:
        for c in self.customers:
            t = start - timedelta(days=self.rng.randint(60, 400))
            self.add({"type": "device", "event_time": _iso(t), "customer_id": c.cid, "device_id": c.phone,
                      "action": "enrol"})

    def normal_day(self, day: datetime, activity: float = 1.0) -> None:
        rng = self.rng
        for c in self.customers:
            for _ in range(rng.choices([0, 1, 2, 3], weights=[3, 4, 2, 1])[0] if activity >= 1 else
                           rng.choices([0, 1, 2], weights=[5, 4, 1])[0]):
                t = day + timedelta(hours=rng.choices(range(24), weights=_HOUR_WEIGHTS)[0], minutes=rng.randint(0, 59))
                kind = rng.choices(["pos", "atm", "login", "transfer"], weights=[5, 1, 3, 2])[0]
                getattr(self, f"_{kind}")(c, t)

    def _pos(self, c: Customer, t: datetime) -> None:
        terminal = self.rng.choice(c.terminals[2:])
        amount = max(100, int(self.rng.gauss(c.mean_spend, c.mean_spend / 3) * 100))
        self._card(c, t, "pos_purchase", terminal, amount)

    def _atm(self, c: Customer, t: datetime) -> None:
        terminal = self.rng.choice(c.terminals[:2])
        if self.rng.random() < 0.3:
            self._card(c, t, "atm_deposit", terminal, self.rng.randint(5, 50) * 10_000)
        else:
            self._card(c, t, "atm_withdrawal", terminal, min(self.rng.randint(1, 20) * 10_000, c.balance))

    def _card(self, c: Customer, t: datetime, txn: str, terminal: str, amount: int, *, mode: str | None = None,
              loc: dict[str, Any] | None = None, scenario: str = "normal", fraud: bool = False,
              atc: int | None = None) -> dict[str, Any]:
        c.atc += 1
        body = {
            "type": "card_present", "event_time": _iso(t), "txn": txn, "pan": c.pan, "account_id": c.account,
            "customer_id": c.cid, "terminal_id": terminal, "terminal_location": loc or self._terminal_loc(c, terminal),
            "terminal_chip_capable": True, "pos_entry_mode": mode or ("05" if c.chip else "90"),
            "service_code": "201" if c.chip else "101", "amount": amount, "currency": "CNY",
            "balance_before": c.balance,
        }
        if (mode or ("05" if c.chip else "90")) == "05":
            body["atc"] = atc if atc is not None else c.atc
        if txn == "atm_deposit":
            c.balance += amount
        elif not fraud:
            c.balance = max(c.balance - amount, 0)
        return self.add(body, scenario, fraud)

    def _login(self, c: Customer, t: datetime) -> None:
        self.add({"type": "login", "event_time": _iso(t), "customer_id": c.cid, "device_id": c.phone,
                  "channel": "app", "location": {"lat": round(c.lat, 4), "lon": round(c.lon, 4)}})

    def _transfer(self, c: Customer, t: datetime) -> None:
        rng = self.rng
        amount = int(min(rng.lognormvariate(6.5, 0.9), 4_000) * 100)
        if amount > c.balance:
            return
        self.add({"type": "mobile_transfer", "event_time": _iso(t), "kind": "transfer", "account_id": c.account,
                  "customer_id": c.cid, "device_id": c.phone, "payee_id": rng.choice(c.payees), "amount": amount,
                  "currency": "CNY", "balance_before": c.balance,
                  "location": {"lat": round(c.lat, 4), "lon": round(c.lon, 4)}})
        c.balance -= amount


_HOUR_WEIGHTS = [1, 0.5, 0.3, 0.2, 0.3, 1, 3, 6, 8, 9, 9, 10, 12, 10, 9, 9, 9, 10, 12, 12, 10, 7, 4, 2]
