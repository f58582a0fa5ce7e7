"""Rule changes with dual control: an analyst drafts one rule (new, or replacing a published rule
of the same id), backtests it, and submits it; a second person of the supervisor role publishes it
(or rejects it). The submitter can never publish their own change; a change drafted on a ruleset
that has since been replaced must be redrafted (publishing it would undo the other change).

The draft is stored by the risk service as a draft ruleset (its version is a content hash), and
publishing goes through the risk service, so decisions use it from the next event on. Every
submission, publication and rejection is written to the audit chain with the change.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import yaml
from sqlalchemy import insert, select, update

from dunpai.core.errors import FieldProblem, Forbidden, InvalidInput, InvalidRuleset, NotFound, StateError
from dunpai.core.ids import random_id
from dunpai.risk.cases import tables as t
from dunpai.risk.cases.common import ANALYSTS, SUPERVISORS, Actor, Deps, lock_tenant, require

RULE_FIELDS = ("id", "description", "expression", "action", "score", "reason", "applies_to", "customer_message")


class Rulesets(Protocol):
    """What a rule change needs of the risk service (``RiskService`` fits)."""

    def rulesets(self, tenant: str) -> list[Any]: ...

    def validate_ruleset(self, source: str) -> Any: ...

    def upload_ruleset(self, tenant: str, source: str, actor: str) -> Any: ...

    def publish_ruleset(self, tenant: str, version: str, actor: str) -> Any: ...


def published(risk: Rulesets, tenant: str) -> Any:
    row = next((r for r in risk.rulesets(tenant) if r.status == "published"), None)
    if row is None:
        raise StateError("the tenant has no published ruleset")
    return row


def draft_source(published_source: str, rule: dict[str, Any]) -> str:
    """The published ruleset with ``rule`` added, or in place of the rule with the same id."""
    spec = yaml.safe_load(published_source)
    if not isinstance(spec, dict) or not isinstance(spec.get("rules"), list):
        raise StateError("the published ruleset has no rule list")
    fresh = {k: rule[k] for k in RULE_FIELDS if k in rule and rule[k] not in (None, "", [])}
    rules = [r for r in spec["rules"] if not (isinstance(r, dict) and r.get("id") == fresh.get("id"))]
    at = next((i for i, r in enumerate(spec["rules"]) if isinstance(r, dict) and r.get("id") == fresh.get("id")),
              len(rules))
    rules.insert(at, fresh)
    spec["rules"] = rules
    text: str = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=110)
    return text


def validate_draft(risk: Rulesets, tenant: str, rule: dict[str, Any]) -> tuple[str, list[FieldProblem]]:
    """The draft's source and its problems, each named by the rule's field (``expression``,
    ``score``, ...) rather than by its position in the whole ruleset."""
    source = draft_source(published(risk, tenant).source, rule)
    try:
        risk.validate_ruleset(source)
    except InvalidRuleset as exc:
        return source, [_own_field(p, source, str(rule.get("id", ""))) for p in exc.problems] or [
            FieldProblem("$", exc.message)]
    return source, []


def _own_field(p: FieldProblem, source: str, rule_id: str) -> FieldProblem:
    """``rules[14].expression`` -> ``expression`` when rules[14] is the drafted rule."""
    if p.field.startswith("rules["):
        index, _, rest = p.field[6:].partition("]")
        rules = yaml.safe_load(source)["rules"]
        if index.isdigit() and int(index) < len(rules) and rules[int(index)].get("id") == rule_id:
            return FieldProblem(rest.lstrip(".") or "$", p.problem)
        return FieldProblem(p.field, p.problem)
    return p


class RuleChangeService:
    def __init__(self, deps: Deps, risk: Rulesets) -> None:
        self.deps = deps
        self.db = deps.db
        self.risk = risk

    def submit(self, actor: Actor, rule: dict[str, Any], backtest: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store the draft and ask for a second person's approval. ``backtest``: the figures the
        submitter saw (kept with the change for the approver)."""
        require(actor, *ANALYSTS)
        base = published(self.risk, actor.tenant)
        source, problems = validate_draft(self.risk, actor.tenant, rule)
        if problems:
            raise InvalidRuleset("the drafted rule does not validate", problems=problems)
        draft = self.risk.upload_ruleset(actor.tenant, source, actor.name)
        if draft.version == base.version:
            raise StateError("the draft is the published ruleset: nothing changes", version=draft.version)
        now = self.deps.clock()
        change = {"change_id": random_id("rch"), "rule": rule, "backtest": backtest or {},
                  "base_version": base.version, "draft_version": draft.version}
        with self.db.begin() as conn:
            lock_tenant(conn, actor.tenant, "rule_changes")
            if conn.execute(select(t.rule_changes.c.change_id).where(
                    t.rule_changes.c.tenant == actor.tenant, t.rule_changes.c.status == "pending",
                    t.rule_changes.c.draft_version == draft.version)).first():
                raise StateError("this draft is already awaiting approval", version=draft.version)
            conn.execute(insert(t.rule_changes).values(
                change_id=change["change_id"], tenant=actor.tenant, status="pending", rule_id=str(rule["id"]),
                base_version=base.version, draft_version=draft.version,
                body=json.dumps(change, ensure_ascii=False, sort_keys=True), submitted_by=actor.name,
                submitted_at=now))
            self.deps.audit.append(actor.name, "ruleset.change.submit", f"{actor.tenant}/ruleset/{draft.version}",
                                   {"change_id": change["change_id"], "rule_id": rule["id"],
                                    "base_version": base.version}, conn=conn)
        return self.get(actor, change["change_id"])

    def get(self, actor: Actor, change_id: str) -> dict[str, Any]:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            row = conn.execute(select(t.rule_changes).where(t.rule_changes.c.tenant == actor.tenant,
                                                            t.rule_changes.c.change_id == change_id)).first()
        if row is None:
            raise NotFound("no such rule change", change_id=change_id)
        return _change(row)

    def changes(self, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
        """Pending changes first, then the latest decided ones."""
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            rows = conn.execute(select(t.rule_changes).where(t.rule_changes.c.tenant == actor.tenant)
                                .order_by(t.rule_changes.c.submitted_at.desc()).limit(limit)).all()
        out = [_change(r) for r in rows]
        return sorted(out, key=lambda c: c["status"] != "pending")

    def approve(self, actor: Actor, change_id: str) -> dict[str, Any]:
        """Publish the change's draft: a supervisor other than the submitter."""
        change = self._decidable(actor, change_id)
        current = published(self.risk, actor.tenant)
        if current.version != change["base_version"]:
            raise StateError("the published ruleset changed since this rule was drafted: redraft it",
                             drafted_on=change["base_version"], published=current.version)
        self.risk.publish_ruleset(actor.tenant, change["draft_version"], actor.name)
        return self._decide(actor, change, "published")

    def reject(self, actor: Actor, change_id: str, note: str = "") -> dict[str, Any]:
        change = self._decidable(actor, change_id)
        if len(note) > 2000:
            raise InvalidInput("a note is at most 2,000 characters", problems=[FieldProblem("note", "length")])
        return self._decide(actor, change, "rejected", note)

    def _decidable(self, actor: Actor, change_id: str) -> dict[str, Any]:
        require(actor, *SUPERVISORS)
        change = self.get(actor, change_id)
        if change["status"] != "pending":
            raise StateError("this rule change was decided already", status=change["status"])
        if change["submitted_by"] == actor.name:
            raise Forbidden("dual control: the submitter cannot decide their own rule change")
        return change

    def _decide(self, actor: Actor, change: dict[str, Any], status: str, note: str = "") -> dict[str, Any]:
        now = self.deps.clock()
        with self.db.begin() as conn:
            res = conn.execute(update(t.rule_changes).where(
                t.rule_changes.c.tenant == actor.tenant, t.rule_changes.c.change_id == change["change_id"],
                t.rule_changes.c.status == "pending").values(status=status, decided_by=actor.name, decided_at=now))
            if res.rowcount != 1:
                raise StateError("this rule change was decided already")
            self.deps.audit.append(actor.name, f"ruleset.change.{'publish' if status == 'published' else 'reject'}",
                                   f"{actor.tenant}/ruleset/{change['draft_version']}",
                                   {"change_id": change["change_id"], "rule_id": change["rule_id"],
                                    "submitted_by": change["submitted_by"], **({"note": note} if note else {})},
                                   conn=conn)
        return self.get(actor, change["change_id"])


def _change(row: Any) -> dict[str, Any]:
    body = json.loads(row.body)
    return {"change_id": row.change_id, "status": row.status, "rule_id": row.rule_id,
            "base_version": row.base_version, "draft_version": row.draft_version, "rule": body["rule"],
            "backtest": body.get("backtest") or {}, "submitted_by": row.submitted_by,
            "submitted_at": row.submitted_at, "decided_by": row.decided_by, "decided_at": row.decided_at}
