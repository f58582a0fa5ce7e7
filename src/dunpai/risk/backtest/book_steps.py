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
        counts = [0, 0, 0]
        sums = [0.0, 0.0, 0.0]
        bounds = [t - w * DAY for w in WINDOWS]
        for i in range(self._HEADER, len(s), self._WIDTH):
            ti = s[i]
            if ti > t:
                continue
            x = s[i + 1]
            for k in range(3):
                if ti > bounds[k]:
                    counts[k] += 1
                    sums[k] += x
        for k, (_, n_name, m_name) in enumerate(self._NAMES):
            out[n_name] = float(counts[k])
            out[m_name] = sums[k] / counts[k] if counts[k] else 0.0


class BookTerminalStep:
    """Per terminal: the book's delayed count and fraud share over 1/7/30-day windows.

    State: header ``[n]`` then ``(t, fraud_known)`` entries of the last 37 days. A fraud label
    marks its target's entry when it *arrives*; the windows end ``7d`` before the event.
    """

    name: ClassVar[str] = "book_terminal"
    applies_to = (CardPresent, Label)
    layout: ClassVar[Layout] = Layout(["n"])
    _HEADER, _WIDTH = 1, 2

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
        counts = [0, 0, 0]
        frauds = [0.0, 0.0, 0.0]
        bounds = [end - w * DAY for w in WINDOWS]
        for i in range(self._HEADER, len(s), self._WIDTH):
            ti = s[i]
            if ti > end:
                break
            for k in range(3):
                if ti > bounds[k]:
                    counts[k] += 1
                    frauds[k] += s[i + 1]
        for k, w in enumerate(WINDOWS):
            out[f"book_term_nb_tx_{w}d"] = float(counts[k])
            out[f"book_term_risk_{w}d"] = frauds[k] / counts[k] if counts[k] else 0.0
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
