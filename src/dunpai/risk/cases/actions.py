"""Account actions with dual control: request, approve (a second person), reject; the approved
state takes effect in the decision engine at once (``AccountStates`` reads it per event), the
customer is notified, and the action and notice become evidence of the case."""

from __future__ import annotations

import json
from typing import Any

from dunpai.core.errors import NotFound, StateError
from dunpai.core.ids import random_id
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.accounts import state_txn
from dunpai.risk.cases.common import ANALYSTS, SUPERVISORS, Actor, Deps, iso, lock_tenant, require
from dunpai.risk.cases.controls import RESULT_STATE, ActionRequest, approve, check_applicable, new_request, reject
from dunpai.risk.cases.evidence import next_item
from dunpai.risk.cases.notices import action_notice


class ActionService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db

    def request(self, actor: Actor, *, target_kind: str, target_id: str, action: str, legal_basis: str, reason: str,
                case_id: str | None = None, customer_id: str | None = None) -> ActionRequest:
        require(actor, *ANALYSTS)
        now = self.deps.clock()
        req = new_request(random_id("act"), actor.tenant, target_kind, target_id, action, legal_basis, reason,
                          actor.name, actor.role, now, case_id, customer_id)
        with self.db.begin() as conn:
            if case_id is not None and repo.case_txn(conn, actor.tenant, case_id) is None:
                raise NotFound("no such case", case_id=case_id)
            check_applicable(action, state_txn(conn, actor.tenant, target_kind, target_id))
            repo.insert_action_txn(conn, req)
            if case_id is not None:
                repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "action_requested",
                                     {"action_id": req.action_id, "action": action, "target_kind": target_kind,
                                      "target_id": target_id, "legal_basis": legal_basis, "reason": req.reason})
            self.deps.audit.append(actor.name, "account.action.request", f"{actor.tenant}/{target_kind}/{target_id}",
                                   {"action_id": req.action_id, "action": action, "legal_basis": legal_basis,
                                    "case_id": case_id}, conn=conn)
        return req

    def get(self, actor: Actor, action_id: str) -> ActionRequest:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            req = repo.action_txn(conn, actor.tenant, action_id)
        if req is None:
            raise NotFound("no such account action", action_id=action_id)
        return req

    def pending(self, actor: Actor) -> list[ActionRequest]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            return repo.actions_txn(conn, actor.tenant, status="pending")

    def states(self, actor: Actor) -> list[dict[str, Any]]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            return repo.states_txn(conn, actor.tenant)

    def approve(self, actor: Actor, action_id: str, note: str | None = None,
                reason_kind: str = "account") -> ActionRequest:
        """The second person approves: the state changes now, the customer is told."""
        require(actor, *SUPERVISORS)
        req = self.get(actor, action_id)
        now = self.deps.clock()
        done = approve(req, actor.name, actor.role, now, note)
        notice = action_notice(done.action, done.target_kind, done.target_id, reason_kind,
                               self.deps.bank).to_dict()
        with self.db.begin() as conn:
            lock_tenant(conn, actor.tenant, "account-states")
            check_applicable(done.action, state_txn(conn, actor.tenant, done.target_kind, done.target_id))
            if not repo.update_action_txn(conn, done, "pending"):
                raise StateError("this account action was already decided", action_id=action_id)
            repo.set_state_txn(conn, actor.tenant, done.target_kind, done.target_id, RESULT_STATE[done.action], now,
                               done.action_id)
            notice_id = random_id("ntc")
            repo.insert_notice_txn(conn, actor.tenant, notice_id, done.case_id, done.customer_id, notice["kind"],
                                   notice, now)
            if done.case_id is not None:
                repo.add_history_txn(conn, actor.tenant, done.case_id, now, actor.name, "action_approved",
                                     {"action_id": done.action_id, "action": done.action,
                                      "target_kind": done.target_kind, "target_id": done.target_id,
                                      "requested_by": done.requested_by, "approved_by": actor.name})
                for kind, name, body in (("action", done.action_id, done.to_dict()), ("notice", notice_id, notice)):
                    head = repo.evidence_head_txn(conn, actor.tenant, done.case_id)
                    content = (json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
                    item = next_item(done.case_id, head, kind, name, "application/json", content, actor.name, iso(now))
                    repo.insert_evidence_txn(conn, actor.tenant, item, content)
            self.deps.audit.append(actor.name, "account.action.approve",
                                   f"{actor.tenant}/{done.target_kind}/{done.target_id}",
                                   {"action_id": done.action_id, "action": done.action,
                                    "requested_by": done.requested_by, "state": RESULT_STATE[done.action]},
                                   conn=conn)
        self.deps.notifier.send(actor.tenant, done.customer_id, notice)
        return done

    def reject(self, actor: Actor, action_id: str, note: str | None = None) -> ActionRequest:
        require(actor, *SUPERVISORS)
        req = self.get(actor, action_id)
        now = self.deps.clock()
        done = reject(req, actor.name, actor.role, now, note)
        with self.db.begin() as conn:
            if not repo.update_action_txn(conn, done, "pending"):
                raise StateError("this account action was already decided", action_id=action_id)
            if done.case_id is not None:
                repo.add_history_txn(conn, actor.tenant, done.case_id, now, actor.name, "action_rejected",
                                     {"action_id": done.action_id, "action": done.action, "note": note})
            self.deps.audit.append(actor.name, "account.action.reject",
                                   f"{actor.tenant}/{done.target_kind}/{done.target_id}",
                                   {"action_id": done.action_id, "note": note}, conn=conn)
        return done
