"""The loss-reserve ledger: double entry in integer minor units (pure).

Accounts and their normal side::

    reserve_funding     debit   the provision the bank books to fund the reserve
    loss_reserve        credit  what is available to compensate customers; never negative
    customer_payouts    credit  compensation credited to customers' accounts
    recoveries          debit   funds retrieved (police, counterparties) and credited back

Entries: ``fund`` (Dr reserve_funding / Cr loss_reserve), ``compensate`` (Dr loss_reserve /
Cr customer_payouts), ``recover`` (Dr recoveries / Cr loss_reserve).

Every entry balances (debits == credits), every line is a positive integer, and no entry may take
the reserve below zero: ``post`` raises instead. Balances are signed sums, debit positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dunpai.core.errors import FieldProblem, InvalidInput, StateError

LedgerAccount = Literal["reserve_funding", "loss_reserve", "customer_payouts", "recoveries"]
ACCOUNTS: tuple[LedgerAccount, ...] = ("reserve_funding", "loss_reserve", "customer_payouts", "recoveries")
CREDIT_NORMAL = frozenset({"loss_reserve", "customer_payouts"})
EntryKind = Literal["fund", "compensate", "recover"]
MAX_AMOUNT = 10**15


@dataclass(frozen=True, slots=True)
class Line:
    account: LedgerAccount
    debit: int = 0
    credit: int = 0


@dataclass(frozen=True)
class Entry:
    entry_id: str
    kind: EntryKind
    lines: tuple[Line, ...]
    at: float
    actor: str
    memo: str
    currency: str = "CNY"
    dispute_id: str | None = None
    case_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "kind": self.kind, "at": self.at, "actor": self.actor, "memo": self.memo,
                "currency": self.currency, "dispute_id": self.dispute_id, "case_id": self.case_id,
                "lines": [{"account": ln.account, "debit": ln.debit, "credit": ln.credit} for ln in self.lines]}


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidInput("amount must be a positive whole number of minor units",
                           problems=[FieldProblem("amount", "positive integer minor units")])


def make_entry(entry_id: str, kind: EntryKind, amount: int, at: float, actor: str, memo: str, *,
               currency: str = "CNY", dispute_id: str | None = None, case_id: str | None = None) -> Entry:
    """The two lines of one of the three entry kinds."""
    _check_amount(amount)
    pairs: dict[str, tuple[LedgerAccount, LedgerAccount]] = {
        "fund": ("reserve_funding", "loss_reserve"),
        "compensate": ("loss_reserve", "customer_payouts"),
        "recover": ("recoveries", "loss_reserve"),
    }
    if kind not in pairs:
        raise InvalidInput("unknown ledger entry kind", problems=[FieldProblem("kind", "fund, compensate or recover")])
    debit, credit = pairs[kind]
    return Entry(entry_id, kind, (Line(debit, debit=amount), Line(credit, credit=amount)), at, actor, memo,
                 currency, dispute_id, case_id)


def check_balanced(entry: Entry) -> None:
    if not entry.lines:
        raise StateError("a ledger entry needs lines", entry_id=entry.entry_id)
    for ln in entry.lines:
        if ln.account not in ACCOUNTS:
            raise StateError("unknown ledger account", account=ln.account)
        if ln.debit < 0 or ln.credit < 0 or (ln.debit == 0) == (ln.credit == 0):
            raise StateError("each line is one positive debit or one positive credit", entry_id=entry.entry_id)
    if sum(ln.debit for ln in entry.lines) != sum(ln.credit for ln in entry.lines):
        raise StateError("ledger entry does not balance", entry_id=entry.entry_id)


def apply(balances: Mapping[str, int], entry: Entry) -> dict[str, int]:
    """The balances after ``entry`` (a new dict); raises when the entry is unbalanced or would take
    the reserve below zero. ``balances`` is never modified."""
    check_balanced(entry)
    out: dict[str, int] = {a: int(balances.get(a, 0)) for a in ACCOUNTS}
    for ln in entry.lines:
        out[ln.account] += ln.debit - ln.credit
    if available(out) < 0:
        raise StateError("the loss reserve cannot go negative", available=available(balances),
                         needed=sum(ln.debit for ln in entry.lines if ln.account == "loss_reserve"))
    return out


def available(balances: Mapping[str, int]) -> int:
    """What the reserve can still pay (credit-normal, so the negated signed balance)."""
    return -int(balances.get("loss_reserve", 0))


def replay(entries: list[Entry]) -> dict[str, int]:
    balances: dict[str, int] = {a: 0 for a in ACCOUNTS}
    for e in entries:
        balances = apply(balances, e)
    return balances
