"""The Handbook's 15 features as engine keyed steps (book ch. 3, "baseline feature transformation").

* weekend / night flags of the transaction (the book: weekday >= 5; hour <= 6);
* per customer, over the last 1, 7 and 30 days *including* the transaction: count and mean amount;
* per terminal, over the windows ``(t - 7d - w, t - 7d]`` for w = 1, 7, 30 days: count of
  transactions and the share of them that were fraud. The frauds come only from :class:`Label`
  events that have arrived by ``t`` — the book's 7-day delay is the labels' arrival, not a shift
  applied to hidden truth.

Windows are exact (``exact.py``), like the book's pandas ``rolling('Nd')`` windows ``(t - N, t]``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any, ClassVar

from dunpai.risk.backtest import exact
from dunpai.risk.events.schemas import CardPresent, Label
from dunpai.risk.features.layout import Features, Layout

DAY = 86400.0
WINDOWS = (1, 7, 30)
DELAY_DAYS = 7

BOOK_FEATURES: tuple[str, ...] = (
    "book_amount", "book_weekend", "book_night",
    *(f"book_cust_nb_tx_{w}d" for w in WINDOWS), *(f"book_cust_avg_amount_{w}d" for w in WINDOWS),
    *(f"book_term_nb_tx_{w}d" for w in WINDOWS), *(f"book_term_risk_{w}d" for w in WINDOWS),
)
"""The book's 15 input features, in the book's order of kinds."""


class BookCustomerStep:
    """Per customer (the book's card): exact 1/7/30-day count and mean amount, this event included.

    State: header ``[n]`` then ``(t, amount)`` entries of the last 30 days.
    """

    name: ClassVar[str] = "book_customer"
    applies_to = (CardPresent,)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 2
    _NAMES = tuple((w * DAY, f"book_cust_nb_tx_{w}d", f"book_cust_avg_amount_{w}d") for w in WINDOWS)

    def key(self, event: Any) -> str | None:
        return event.customer_id if isinstance(event, CardPresent) else None

    def feature_names(self) -> tuple[str, ...]:
        return ("book_amount", "book_weekend", "book_night",
                *(n for _, n, _ in self._NAMES), *(m for _, _, m in self._NAMES))

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        amount = out["amount"]
        when = event.event_time.astimezone(UTC)
        out["book_amount"] = amount
        out["book_weekend"] = 1.0 if when.weekday() >= 5 else 0.0
        out["book_night"] = 1.0 if when.hour <= 6 else 0.0
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - WINDOWS[-1] * DAY)
        exact.insert(s, self._HEADER, self._WIDTH, (t, amount))
        s[0] += 1
        self._read(s, t, out)
        return s

    def _read(self, s: array[float], t: float, out: Features) -> None:
        # Entries are in time order: each window is a slice found by bisection, summed in C, in the
        # same order (and so to the same bits) as an entry-by-entry loop.
        times = s[self._HEADER::self._WIDTH]
        amounts = s[self._HEADER + 1::self._WIDTH]
        hi = bisect_right(times, t)
        for w, n_name, m_name in self._NAMES:
            lo = bisect_right(times, t - w, 0, hi)
            count = hi - lo
            out[n_name] = float(count)
            out[m_name] = sum(amounts[lo:hi], 0.0) / count if count else 0.0


class BookTerminalStep:
    """Per terminal: the book's delayed count and fraud share over 1/7/30-day windows.

    State: header ``[n]`` then ``(t, fraud_known)`` entries of the last 37 days. A fraud label
    marks its target's entry when it *arrives*; the windows end ``7d`` before the event.
    """

    name: ClassVar[str] = "book_terminal"
    applies_to = (CardPresent, Label)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 2
    _NAMES = tuple((w * DAY, f"book_term_nb_tx_{w}d", f"book_term_risk_{w}d") for w in WINDOWS)

    def key(self, event: Any) -> str | None:
        if isinstance(event, CardPresent | Label):
            return event.terminal_id
        return None

    def feature_names(self) -> tuple[str, ...]:
        return (*(f"book_term_nb_tx_{w}d" for w in WINDOWS), *(f"book_term_risk_{w}d" for w in WINDOWS))

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud and event.target_event_time is not None:
                mark_fraud(s, self._HEADER, self._WIDTH, event.target_event_time)
            return s
        now = max(t, exact.latest_time(s, self._HEADER, self._WIDTH, t))
        exact.expire(s, self._HEADER, self._WIDTH, now - (DELAY_DAYS + WINDOWS[-1]) * DAY)
        end = t - DELAY_DAYS * DAY
        times = s[self._HEADER::self._WIDTH]
        flags = s[self._HEADER + 1::self._WIDTH]
        hi = bisect_right(times, end)
        for w, n_name, r_name in self._NAMES:
            lo = bisect_right(times, end - w, 0, hi)
            count = hi - lo
            out[n_name] = float(count)
            out[r_name] = sum(flags[lo:hi], 0.0) / count if count else 0.0
        exact.insert(s, self._HEADER, self._WIDTH, (t, 0.0))
        s[0] += 1
        return s


def mark_fraud(s: array[float], header: int, width: int, target: datetime) -> None:
    """Flag (slot 1 of the entry) an unflagged transaction at ``target`` as a known fraud."""
    tt = target.timestamp()
    for i in range(len(s) - width, header - 1, -width):
        if s[i] < tt:
            return
        if s[i] == tt and s[i + 1] == 0.0:
            s[i + 1] = 1.0
            return
