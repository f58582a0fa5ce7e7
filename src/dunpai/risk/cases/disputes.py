"""Disputes and compensation: a customer's claim linked to a case, a liability assessment from the
configured rules, compensation paid from the loss reserve, recoveries credited back.

Four eyes on money: the person who assessed a dispute cannot also settle it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dunpai.core.errors import FieldProblem, Forbidden, InvalidInput, NotFound, StateError
from dunpai.core.i18n import Text
from dunpai.core.ids import random_id
from dunpai.risk.cases import ledger
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.common import ANALYSTS, SUPERVISORS, Actor, Deps, lock_tenant, require
from dunpai.risk.cases.liability import DEFAULT_RULES, FACTS, LiabilityRule, assess
from dunpai.risk.cases.notices import compensation_notice


class DisputeService:
    def __init__(self, deps: Deps, rules: Sequence[LiabilityRule] = DEFAULT_RULES) -> None:
        self.deps = deps
        self.db = deps.db
        self.rules = tuple(rules)

    # -- disputes ----------------------------------------------------------------------------------

    def open(self, actor: Actor, *, case_id: str, customer_id: str, account_id: str, claimed: int,
             statement: str, facts: Mapping[str, bool] | None = None, currency: str = "CNY") -> dict[str, Any]:
        require(actor, *ANALYSTS)
        if isinstance(claimed, bool) or not isinstance(claimed, int) or claimed <= 0:
            raise InvalidInput("claimed must be a positive whole number of minor units",
                               problems=[FieldProblem("claimed", "positive integer")])
        unknown = [k for k in (facts or {}) if k not in FACTS]
        if unknown:
            raise InvalidInput("unknown facts", problems=[FieldProblem(f"facts.{k}", "unknown") for k in unknown])
        now = self.deps.clock()
        d = {"dispute_id": random_id("dsp"), "case_id": case_id, "customer_id": customer_id,
             "account_id": account_id, "claimed": claimed, "currency": currency, "status": "open",
             "statement": statement, "facts": dict(facts or {}), "assessment": None, "assessed_by": None,
             "paid": 0, "recovered": 0, "opened_at": now, "updated_at": now, "opened_by": actor.name}
        with self.db.begin() as conn:
            if repo.case_txn(conn, actor.tenant, case_id) is None:
                raise NotFound("no such case", case_id=case_id)
            repo.insert_dispute_txn(conn, actor.tenant, d)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "dispute_opened",
                                 {"dispute_id": d["dispute_id"], "claimed": claimed})
            self.deps.audit.append(actor.name, "dispute.open", f"{actor.tenant}/dispute/{d['dispute_id']}",
                                   {"case_id": case_id, "claimed": claimed}, conn=conn)
        return d

    def get(self, actor: Actor, dispute_id: str) -> dict[str, Any]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            d = repo.dispute_txn(conn, actor.tenant, dispute_id)
        if d is None:
            raise NotFound("no such dispute", dispute_id=dispute_id)
        return d

    def list(self, actor: Actor, case_id: str | None = None) -> list[dict[str, Any]]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            return repo.disputes_txn(conn, actor.tenant, case_id)

    def assess(self, actor: Actor, dispute_id: str, facts: Mapping[str, bool] | None = None,
               loss: int | None = None) -> dict[str, Any]:
        """Apply the liability rules to the dispute's facts (or new ones) and its loss."""
        require(actor, *ANALYSTS)
        d = self.get(actor, dispute_id)
        if d["status"] not in ("open", "assessed"):
            raise StateError("only an open dispute can be assessed", status=d["status"])
        merged = {**d["facts"], **(facts or {})}
        result = assess(d["claimed"] if loss is None else loss, merged, self.rules)
        previous = d["status"]
        now = self.deps.clock()
        d.update(facts=merged, assessment=result.to_dict(), assessed_by=actor.name, status="assessed", updated_at=now)
        with self.db.begin() as conn:
            if not repo.update_dispute_txn(conn, actor.tenant, d, previous):
                raise StateError("the dispute changed meanwhile", dispute_id=dispute_id)
            repo.add_history_txn(conn, actor.tenant, d["case_id"], now, actor.name, "dispute_assessed",
                                 {"dispute_id": dispute_id, **result.to_dict()})
            self.deps.audit.append(actor.name, "dispute.assess", f"{actor.tenant}/dispute/{dispute_id}",
                                   {"rule_id": result.rule_id, "bank_amount": result.bank_amount,
                                    "customer_amount": result.customer_amount}, conn=conn)
        return d

    def settle(self, actor: Actor, dispute_id: str) -> dict[str, Any]:
        """Pay the bank's share from the loss reserve and tell the customer."""
        require(actor, *SUPERVISORS)
        d = self.get(actor, dispute_id)
        if d["status"] != "assessed" or d["assessment"] is None:
            raise StateError("a dispute is settled after its assessment", status=d["status"])
        if d["assessed_by"] == actor.name:
            raise Forbidden("four eyes: the assessor cannot also settle the dispute", dispute_id=dispute_id)
        amount = int(d["assessment"]["bank_amount"])
        now = self.deps.clock()
        notice = compensation_notice(d["account_id"], amount, int(d["assessment"]["bank_share_bp"]),
                                     _text(d["assessment"]["basis"]), self.deps.bank).to_dict()
        d.update(status="settled", paid=amount, settled_by=actor.name, updated_at=now)
        with self.db.begin() as conn:
            lock_tenant(conn, actor.tenant, "ledger")
            entry = None
            if amount > 0:
                entry = ledger.make_entry(random_id("led"), "compensate", amount, now, actor.name,
                                          f"compensation for dispute {dispute_id}", currency=d["currency"],
                                          dispute_id=dispute_id, case_id=d["case_id"])
                ledger.apply(repo.balances_txn(conn, actor.tenant), entry)  # raises if the reserve is short
                repo.insert_entry_txn(conn, actor.tenant, entry)
            if not repo.update_dispute_txn(conn, actor.tenant, d, "assessed"):
                raise StateError("the dispute changed meanwhile", dispute_id=dispute_id)
            notice_id = random_id("ntc")
            repo.insert_notice_txn(conn, actor.tenant, notice_id, d["case_id"], d["customer_id"], "compensation",
                                   notice, now)
            repo.add_history_txn(conn, actor.tenant, d["case_id"], now, actor.name, "dispute_settled",
                                 {"dispute_id": dispute_id, "paid": amount,
                                  "entry_id": entry.entry_id if entry else None})
            self.deps.audit.append(actor.name, "dispute.settle", f"{actor.tenant}/dispute/{dispute_id}",
                                   {"paid": amount, "entry_id": entry.entry_id if entry else None}, conn=conn)
        self.deps.notifier.send(actor.tenant, d["customer_id"], notice)
        return d

    # -- the reserve -------------------------------------------------------------------------------

    def fund_reserve(self, actor: Actor, amount: int, memo: str) -> ledger.Entry:
        require(actor, *SUPERVISORS)
        return self._post(actor, ledger.make_entry(random_id("led"), "fund", amount, self.deps.clock(), actor.name,
                                                   memo or "reserve funding"))

    def record_recovery(self, actor: Actor, case_id: str, amount: int, memo: str,
                        dispute_id: str | None = None) -> ledger.Entry:
        """Funds retrieved (police, the receiving bank): credited back to the reserve."""
        require(actor, *SUPERVISORS)
        with self.db.connect() as conn:
            if repo.case_txn(conn, actor.tenant, case_id) is None:
                raise NotFound("no such case", case_id=case_id)
        entry = ledger.make_entry(random_id("led"), "recover", amount, self.deps.clock(), actor.name,
                                  memo or "recovery", dispute_id=dispute_id, case_id=case_id)
        self._post(actor, entry)
        if dispute_id is not None:
            d = self.get(actor, dispute_id)
            d["recovered"] = int(d.get("recovered", 0)) + amount
            with self.db.begin() as conn:
                repo.update_dispute_txn(conn, actor.tenant, d, d["status"])
        return entry

    def _post(self, actor: Actor, entry: ledger.Entry) -> ledger.Entry:
        with self.db.begin() as conn:
            lock_tenant(conn, actor.tenant, "ledger")
            ledger.apply(repo.balances_txn(conn, actor.tenant), entry)
            repo.insert_entry_txn(conn, actor.tenant, entry)
            if entry.case_id is not None:
                repo.add_history_txn(conn, actor.tenant, entry.case_id, entry.at, actor.name, "ledger",
                                     entry.to_dict())
            self.deps.audit.append(actor.name, f"ledger.{entry.kind}", f"{actor.tenant}/ledger/{entry.entry_id}",
                                   {"amount": entry.lines[0].debit, "case_id": entry.case_id,
                                    "dispute_id": entry.dispute_id}, conn=conn)
        return entry

    def ledger(self, actor: Actor) -> dict[str, Any]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            entries = repo.entries_txn(conn, actor.tenant)
            balances = repo.balances_txn(conn, actor.tenant)
        replayed = ledger.replay(entries)
        if any(replayed.get(a, 0) != balances.get(a, 0) for a in ledger.ACCOUNTS):
            raise StateError("ledger balances do not match its entries")
        return {"balances": replayed, "available": ledger.available(replayed),
                "entries": [e.to_dict() for e in entries]}


def _text(d: Mapping[str, str]) -> Text:
    return Text.from_dict(dict(d))
