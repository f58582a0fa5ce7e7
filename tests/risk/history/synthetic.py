"""A small, deterministic "bank export" for the import tests: card payments with merchants,
categories, places and confirmed frauds, written as a bank would (its own column names, dollars,
naive local times). Not any published data set; the fraud pattern is a stolen card spending big at
night at merchants it never used, far from home."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

COLUMNS = ("txn_ref", "booked_at", "card_number", "merchant_name", "merchant_kind", "channel", "amount_usd",
           "shop_lat", "shop_lon", "home_lat", "home_lon", "chargeback")
START = datetime(2026, 1, 1)
KINDS = ("grocery", "fuel", "restaurant", "travel", "electronics", "pharmacy")

MAPPING = """\
# A test bank's export: one row per card payment.
event:
  type: {column: channel, values: {pos: card_present, online: card_not_present}}
  txn: pos_purchase
  pos_entry_mode: "05"
  event_id: {column: txn_ref, prefix: "t-"}
  event_time: {column: booked_at, format: "%Y-%m-%d %H:%M:%S", timezone: America/New_York}
  amount: {column: amount_usd, scale: 100, round: true}
  currency: USD
  pan: {column: card_number}
  account_id: {column: card_number, prefix: "acct-", token: true}
  customer_id: {column: card_number, prefix: "cust-", token: true}
  merchant_id: {column: merchant_name}
  terminal_id: {column: merchant_name}
  category: {column: merchant_kind}
  terminal_location: {lat: {column: shop_lat}, lon: {column: shop_lon}}
  merchant_location: {lat: {column: shop_lat}, lon: {column: shop_lon}, accuracy_km: 30}
  customer_home: {lat: {column: home_lat}, lon: {column: home_lon}}
labels:
  fraud: {column: chargeback}
  delay: 7d
"""


def write(path: Path, cards: int = 60, days: int = 40, seed: int = 7, stolen: int = 8) -> dict[str, int]:
    """Write the export; returns counts (rows, frauds)."""
    rng = random.Random(seed)
    rows: list[tuple[object, ...]] = []
    victims = set(rng.sample(range(cards), stolen))
    n = frauds = 0
    for c in range(cards):
        number = f"4{rng.randrange(10**14, 10**15)}{c % 10}"
        home = (40.0 + rng.uniform(-1, 1), -74.0 + rng.uniform(-1, 1))
        shops = [(f"Shop {c}-{k} & Co", rng.choice(KINDS), home[0] + rng.uniform(-0.1, 0.1),
                  home[1] + rng.uniform(-0.1, 0.1)) for k in range(8)]
        typical = rng.uniform(15, 80)
        theft_day = rng.randrange(days // 3, days - 3) if c in victims else -1
        for day in range(days):
            for _ in range(rng.choice((1, 2, 3))):
                shop = rng.choice(shops)
                when = START + timedelta(days=day, hours=rng.uniform(8, 21))
                amount = round(rng.lognormvariate(0, 0.4) * typical, 2)
                channel = "pos" if rng.random() < 0.8 else "online"
                rows.append((f"{c}-{n}", when, number, shop[0], shop[1], channel, amount, shop[2], shop[3], *home, 0))
                n += 1
            if theft_day >= 0 and day in (theft_day, theft_day + 1):
                for k in range(4):
                    when = START + timedelta(days=day, hours=rng.uniform(0, 4.5))
                    far = (home[0] + rng.uniform(3, 5), home[1] + rng.uniform(3, 5))
                    rows.append((f"{c}-{n}", when, number, f"Far away store {k}", "electronics", "online",
                                 round(typical * rng.uniform(6, 12), 2), *far, *home, 1))
                    n += 1
                    frauds += 1
    rows.sort(key=lambda r: r[1])  # type: ignore[arg-type, return-value]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for r in rows:
            out.writerow((r[0], r[1].strftime("%Y-%m-%d %H:%M:%S"), *r[2:]))  # type: ignore[attr-defined]
    return {"rows": len(rows), "frauds": frauds}
