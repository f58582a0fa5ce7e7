"""Import the Fraud Detection Handbook's simulated data as Dunpai events.

Mapping (documented in ``docs/detection-quality.md``):

* each transaction row -> one :class:`CardPresent` ``pos_purchase`` read by chip (entry mode ``05``);
  ``CUSTOMER_ID`` is the card, the account and the customer (``c<ID>``); ``TERMINAL_ID`` is the
  terminal (``t<ID>``); ``TX_AMOUNT`` (yuan) becomes minor units (fen), rounded to the fen;
* ``TX_DATETIME`` carries no zone in the book; it is read as UTC so that the engine's hour and
  weekday equal the book's;
* grid coordinates (a 100 x 100 square, 1 unit ~ 1 km) become WGS-84 points around a base point:
  ``lat = BASE_LAT + y / KM_PER_DEG_LAT``, ``lon = BASE_LON + x / (KM_PER_DEG_LAT * cos(BASE_LAT))``;
  the terminal gives ``terminal_location``, the customer's home gives ``customer_home``;
* each fraud (``TX_FRAUD == 1``) becomes a :class:`Label` event 7 days after its transaction (the
  book's label delay), naming the card, customer and terminal of the transaction.
  ``TX_FRAUD_SCENARIO`` is kept beside the events for the per-scenario report only; it never
  reaches an event.

Labels sort before transactions at the same instant: a label delivered at ``t`` is known to a
transaction at ``t`` (the book's window ``(t - delay - w, t - delay]`` includes its end).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from dunpai.risk.events.schemas import AnyEvent, CardPresent, Label, Location

LABEL_DELAY = timedelta(days=7)
BASE_LAT, BASE_LON = 31.0, 121.0
"""Base point of the grid (south-west corner): a stand-in city; the geometry is what matters."""
KM_PER_DEG_LAT = 111.32

_TX_FILES = "transactions-2018-*.parquet"


def grid_to_location(x: float, y: float) -> Location:
    """A grid point (1 unit ~ 1 km) as latitude/longitude around the base point."""
    lat = BASE_LAT + y / KM_PER_DEG_LAT
    lon = BASE_LON + x / (KM_PER_DEG_LAT * math.cos(math.radians(BASE_LAT)))
    return Location(lat=round(lat, 7), lon=round(lon, 7))


def card_id(customer: int) -> str:
    return f"c{customer}"


def terminal_id(terminal: int) -> str:
    return f"t{terminal}"


def tx_event_id(transaction: int) -> str:
    return f"hb-{transaction}"


def label_event_id(transaction: int) -> str:
    return f"hb-label-{transaction}"


@dataclass(frozen=True)
class HandbookData:
    """The book's three tables, transactions sorted by time (then id)."""

    transactions: pd.DataFrame
    customers: pd.DataFrame
    terminals: pd.DataFrame

    @classmethod
    def load(cls, directory: Path, start: datetime | None = None, end: datetime | None = None) -> HandbookData:
        files = sorted(directory.glob(_TX_FILES))
        if not files:
            raise FileNotFoundError(f"no {_TX_FILES} in {directory}")
        tx = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        if start is not None:
            tx = tx[pd.Timestamp(start.replace(tzinfo=None)) <= tx.TX_DATETIME]
        if end is not None:
            tx = tx[pd.Timestamp(end.replace(tzinfo=None)) > tx.TX_DATETIME]
        tx = tx.sort_values(["TX_DATETIME", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)
        customers = pd.read_parquet(directory / "customers.parquet")
        terminals = pd.read_parquet(directory / "terminals.parquet")
        return cls(tx, customers, terminals)


def iter_events(data: HandbookData, label_delay: timedelta = LABEL_DELAY,
                labels: pd.DataFrame | None = None) -> Iterator[tuple[int, AnyEvent]]:
    """Yield ``(row, event)`` in event-time order; ``row`` indexes ``data.transactions`` for a
    transaction and is ``-1`` for a label. ``labels`` (columns ``TRANSACTION_ID``, ``TX_FRAUD``)
    overrides the transactions' own labels (the leakage test edits them)."""
    tx = data.transactions
    homes = {int(c): grid_to_location(x, y) for c, x, y in
             data.customers[["CUSTOMER_ID", "x_customer_id", "y_customer_id"]].itertuples(index=False)}
    places = {int(t): grid_to_location(x, y) for t, x, y in
              data.terminals[["TERMINAL_ID", "x_terminal_id", "y_terminal_id"]].itertuples(index=False)}
    if labels is None:
        fraud = tx.TX_FRAUD.to_numpy()
        label_tx = tx.TRANSACTION_ID.to_numpy()[fraud == 1]
    else:
        label_tx = labels.TRANSACTION_ID.to_numpy()[labels.TX_FRAUD.to_numpy() == 1]
    in_labels = np.isin(tx.TRANSACTION_ID.to_numpy(), label_tx)
    label_rows = np.flatnonzero(in_labels)
    times = tx.TX_DATETIME.to_numpy()
    label_times = times[label_rows] + np.timedelta64(label_delay)
    # Merge: labels first at equal instants.
    order_keys = np.concatenate([times, label_times])
    kind = np.concatenate([np.ones(len(times), dtype=np.int8), np.zeros(len(label_rows), dtype=np.int8)])
    rows = np.concatenate([np.arange(len(times)), label_rows])
    order = np.lexsort((rows, kind, order_keys))
    ids = tx.TRANSACTION_ID.to_numpy()
    customers = tx.CUSTOMER_ID.to_numpy()
    terminals = tx.TERMINAL_ID.to_numpy()
    amounts = tx.TX_AMOUNT.to_numpy()
    py_times = [pd.Timestamp(v).to_pydatetime().replace(tzinfo=UTC) for v in times]
    for i in order:
        r = int(rows[i])
        cust, term = int(customers[r]), int(terminals[r])
        if kind[i] == 1:
            yield r, CardPresent(
                event_id=tx_event_id(int(ids[r])), event_time=py_times[r], txn="pos_purchase",
                card_id=card_id(cust), account_id=card_id(cust), customer_id=card_id(cust),
                terminal_id=terminal_id(term), terminal_location=places.get(term), customer_home=homes.get(cust),
                amount=Decimal(round(float(amounts[r]) * 100)), currency="CNY", pos_entry_mode="05",
                chip_card=True,
            )
        else:
            yield -1, Label(
                event_id=label_event_id(int(ids[r])), event_time=py_times[r] + label_delay,
                target_event_id=tx_event_id(int(ids[r])), fraud=True, source="import", card_id=card_id(cust),
                account_id=card_id(cust), customer_id=card_id(cust), terminal_id=terminal_id(term),
                target_event_time=py_times[r],
            )
