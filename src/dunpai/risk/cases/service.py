"""Case management: alerts open or join cases; the queue; assignment; the status machine; notes,
attachments and due times; conclusions fed back as labels; staff page views as data-access events.

Every change is written with its audit entry in one transaction; every look-up is within the
actor's tenant, so a foreign id is simply "not found".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from dunpai.core.errors import FieldProblem, InvalidInput, NotFound
from dunpai.core.ids import derived_id, random_id
from dunpai.risk.cases import alerts as alert_builders
from dunpai.risk.cases import log_queries
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.common import ANALYSTS, SUPERVISORS, SYSTEM, Actor, Deps, iso, require
from dunpai.risk.cases.evidence import next_item
from dunpai.risk.cases.model import (
    CONCLUSIONS,
    OPEN_STATUSES,
    Alert,
    Case,
    case_title,
    check_transition,
    due_after_hours,
    queue_key,
)
from dunpai.risk.cases.queue import (
    QueueFilter,
    QueuePage,
    case_types_txn,
    delete_view_txn,
    filtered_ids_query,
    save_view_txn,
    search_txn,
    views_txn,
)
from dunpai.risk.storage.tables import decisions as decision_table

MAX_ATTACHMENT = 20 * 1024 * 1024
EVIDENCE_WINDOW = 2 * 86400.0


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


class CaseService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db

    # -- alerts -> cases ---------------------------------------------------------------------------

    def ingest(self, tenant: str, alert: Alert, actor: Actor = SYSTEM) -> tuple[str, bool]:
        """Open or join the case for ``alert``'s group. Returns (case id, whether the alert is new).
        Re-delivering an alert is a no-op."""
        now = self.deps.clock()
        kind, key = alert.group()
        with self.db.begin() as conn:
            known = repo.alert_exists_txn(conn, tenant, alert.alert_id)
            if known is not None:
                return known, False
            case = repo.open_case_for_group_txn(conn, tenant, kind, key)
            if case is None:
                case = Case(derived_id("cas", tenant, kind, key, repr(alert.raised_at)), tenant, case_title(kind, key),
                            kind, key, "new", alert.score, alert.amount, alert.currency, None, now,
                            now + due_after_hours(alert.score) * 3600.0, now)
                repo.insert_case_txn(conn, case)
                repo.add_history_txn(conn, tenant, case.case_id, now, actor.name, "opened",
                                     {"group": {"kind": kind, "key": key}})
                self.deps.audit.append(actor.name, "case.open", f"{tenant}/case/{case.case_id}",
                                       {"group_kind": kind, "alert_id": alert.alert_id}, conn=conn)
            else:
                priority = max(case.priority, alert.score)
                due = min(case.due_at, now + due_after_hours(priority) * 3600.0)
                repo.update_case_txn(conn, tenant, case.case_id, priority=priority, due_at=due, updated_at=now,
                                     amount_at_risk=case.amount_at_risk + alert.amount)
            repo.insert_alert_txn(conn, tenant, case.case_id, alert)
            repo.add_entities_txn(conn, tenant, case.case_id, {
                (k[:-3], v) for k, v in alert.entities.items() if k.endswith("_id")})
            repo.add_history_txn(conn, tenant, case.case_id, alert.raised_at, actor.name, "alert",
                                 {"alert_id": alert.alert_id, "source": alert.source, "alert_kind": alert.kind,
                                  "score": alert.score, "amount": alert.amount, "summary": alert.summary.to_dict(),
                                  "event_id": alert.event_id})
            self.deps.audit.append(actor.name, "case.alert", f"{tenant}/case/{case.case_id}",
                                   {"alert_id": alert.alert_id, "source": alert.source}, conn=conn)
        return case.case_id, True

    def ingest_decisions(self, tenant: str, decisions: Iterable[Any], actor: Actor = SYSTEM) -> list[str]:
        """Alerts for the given decisions (``Decision`` objects) above ``allow``; returns their cases."""
        decisions = [d for d in decisions if d.action != "allow"]
        with self.db.connect() as conn:
            bodies = log_queries.events_by_id_txn(conn, tenant, [d.event_id for d in decisions])
        out = []
        for d in decisions:
            alert = alert_builders.from_decision(tenant, d, bodies.get(d.event_id, {}))
            if alert is not None:
                out.append(self.ingest(tenant, alert, actor)[0])
        return sorted(set(out))

    def ingest_submitted(self, results: Iterable[tuple[str, Any]]) -> list[str]:
        """Open or join cases for decisions just made: (tenant, ``Submitted`` or an error) pairs as
        the risk service answers them. Errors, duplicates (their alert exists already) and ``allow``
        are skipped, so calling this after every batch is what makes alerts reach the queue live."""
        fresh: dict[str, list[Any]] = {}
        for tenant, result in results:
            decision = getattr(result, "decision", None)
            if decision is not None and not getattr(result, "duplicate", False) and decision.action != "allow":
                fresh.setdefault(tenant, []).append(decision)
        return sorted({c for tenant, ds in fresh.items() for c in self.ingest_decisions(tenant, ds)})

    def sync_from_log(self, tenant: str, since: float = 0.0, actor: Actor = SYSTEM) -> list[str]:
        """Alerts for every stored decision above ``allow`` with event time from ``since``."""
        from dunpai.risk.decisions.record import Decision

        with self.db.connect() as conn:
            rows = conn.execute(select(decision_table.c.record).where(
                decision_table.c.tenant == tenant, decision_table.c.event_time >= since,
                decision_table.c.action != "allow").order_by(decision_table.c.event_time)).all()
        return self.ingest_decisions(tenant, [Decision.from_dict(json.loads(r[0])) for r in rows], actor)

    def ingest_terminal_flag(self, tenant: str, flag: dict[str, Any], actor: Actor = SYSTEM) -> str:
        return self.ingest(tenant, alert_builders.from_terminal_flag(tenant, flag), actor)[0]

    # -- reading -----------------------------------------------------------------------------------

    def get(self, actor: Actor, case_id: str) -> Case:
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            case = repo.case_txn(conn, actor.tenant, case_id)
        if case is None:
            raise NotFound("no such case", case_id=case_id)
        return case

    def queue(self, actor: Actor, limit: int = 50, include_closed: bool = False) -> list[Case]:
        """Open cases, most likely fraud first (see ``model.queue_key``)."""
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            cases = repo.cases_txn(conn, actor.tenant, None if include_closed else OPEN_STATUSES)
        return sorted(cases, key=queue_key)[:limit]

    def search(self, actor: Actor, f: QueueFilter) -> QueuePage:
        """The queue as an analyst filtered, sorted and paged it (see ``queue.QueueFilter``)."""
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            candidates = repo.cases_in_txn(conn, actor.tenant, filtered_ids_query(actor.tenant, f))
            return search_txn(conn, actor.tenant, f, candidates)

    def case_type(self, actor: Actor, case_id: str) -> str:
        case = self.get(actor, case_id)
        with self.db.connect() as conn:
            return case_types_txn(conn, actor.tenant, {case_id: case.group_kind})[case_id]

    def views(self, actor: Actor) -> list[dict[str, Any]]:
        """The actor's saved queue views (name and query string)."""
        require(actor, *ANALYSTS)
        with self.db.connect() as conn:
            return views_txn(conn, actor.tenant, actor.name)

    def save_view(self, actor: Actor, name: str, query: str) -> None:
        require(actor, *ANALYSTS)
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise InvalidInput("a view's name is 1 to 64 characters", problems=[FieldProblem("name", "length")])
        if len(query) > 2000:
            raise InvalidInput("a view's query is at most 2,000 characters", problems=[FieldProblem("query",
                                                                                                  "length")])
        with self.db.begin() as conn:
            save_view_txn(conn, actor.tenant, actor.name, name, query, self.deps.clock())

    def delete_view(self, actor: Actor, name: str) -> None:
        require(actor, *ANALYSTS)
        with self.db.begin() as conn:
            if not delete_view_txn(conn, actor.tenant, actor.name, name):
                raise NotFound("no such saved view", name=name)

    def next_for(self, actor: Actor) -> Case | None:
        """Take the highest unassigned case in the queue (analyst capacity: one at a time)."""
        for case in self.queue(actor, limit=1000):
            if case.assignee is None and case.status == "new":
                return self.assign(actor, case.case_id, actor.name)
        return None

    def detail(self, actor: Actor, case_id: str) -> dict[str, Any]:
        case = self.get(actor, case_id)
        t = actor.tenant
        with self.db.connect() as conn:
            return {
                "case": case.to_dict(),
                "alerts": [a.to_dict() for a in repo.alerts_txn(conn, t, case_id)],
                "entities": [{"kind": k, "key": v} for k, v in repo.entities_txn(conn, t, case_id)],
                "timeline": repo.history_txn(conn, t, case_id),
                "attachments": repo.attachments_txn(conn, t, case_id),
                "actions": [a.to_dict() for a in repo.actions_txn(conn, t, case_id)],
                "notices": repo.notices_txn(conn, t, case_id),
                "disputes": repo.disputes_txn(conn, t, case_id),
                "evidence": [it.header() for it, _ in repo.evidence_txn(conn, t, case_id, with_content=False)],
            }

    def case_events(self, actor: Actor, case_id: str) -> list[dict[str, Any]]:
        """The case's events and the related ones of its customers and cards (map, graph, timeline)."""
        self.get(actor, case_id)
        with self.db.connect() as conn:
            alerts = repo.alerts_txn(conn, actor.tenant, case_id)
            ents = repo.entities_txn(conn, actor.tenant, case_id)
            if not alerts:
                return []
            t0 = min(a.raised_at for a in alerts) - EVIDENCE_WINDOW
            t1 = max(a.raised_at for a in alerts) + 3600.0
            seen: dict[str, dict[str, Any]] = {}
            for kind, key in ents:
                if kind in ("customer", "card", "employee"):
                    for ev in log_queries.related_events_txn(conn, actor.tenant, f"{kind}_id", key, t0, t1):
                        seen[ev["event_id"]] = ev
            seen.update(log_queries.events_by_id_txn(conn, actor.tenant, [a.event_id for a in alerts if a.event_id]))
            decided = log_queries.decisions_by_event_txn(conn, actor.tenant, list(seen))
        out = []
        for eid, ev in seen.items():
            d = decided.get(eid)
            out.append({**ev, "decision": None if d is None else {"action": d.action, "score": d.score,
                                                                   "decision_id": d.decision_id,
                                                                   "reasons": list(d.reasons)}})
        return sorted(out, key=lambda e: (e["event_time"], e["event_id"]))

    # -- changes -----------------------------------------------------------------------------------

    def assign(self, actor: Actor, case_id: str, assignee: str | None) -> Case:
        require(actor, *ANALYSTS)
        case = self.get(actor, case_id)
        if assignee is not None and assignee != actor.name:
            require(actor, *SUPERVISORS)  # only a supervisor hands cases to others
        now = self.deps.clock()
        with self.db.begin() as conn:
            repo.update_case_txn(conn, actor.tenant, case_id, assignee=assignee, updated_at=now)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "assigned", {"assignee": assignee})
            self.deps.audit.append(actor.name, "case.assign", f"{actor.tenant}/case/{case_id}",
                                   {"assignee": assignee, "previous": case.assignee}, conn=conn)
        return self.get(actor, case_id)

    def transition(self, actor: Actor, case_id: str, target: str, note: str | None = None) -> Case:
        """Move the case along the status machine. A conclusion (confirmed fraud / legitimate) sends
        one label per alerted event back to the risk engine (features and training)."""
        require(actor, *ANALYSTS)
        case = self.get(actor, case_id)
        check_transition(case.status, target)
        if target in CONCLUSIONS and not (note or "").strip():
            raise InvalidInput("a conclusion needs a note", problems=[FieldProblem("note", "required")])
        now = self.deps.clock()
        values: dict[str, Any] = {"status": target, "updated_at": now}
        if target in CONCLUSIONS:
            values["conclusion"] = target
        if target == "closed":
            values["closed_at"] = now
        if target == "investigating" and case.assignee is None:
            values["assignee"] = actor.name
        with self.db.begin() as conn:
            repo.update_case_txn(conn, actor.tenant, case_id, **values)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "status",
                                 {"from": case.status, "to": target, "note": note})
            self.deps.audit.append(actor.name, "case.transition", f"{actor.tenant}/case/{case_id}",
                                   {"from": case.status, "to": target}, conn=conn)
            alerts = repo.alerts_txn(conn, actor.tenant, case_id)
        if target in CONCLUSIONS:
            self._send_labels(actor, case_id, alerts, fraud=target == "confirmed_fraud", at=now)
        return self.get(actor, case_id)

    def _send_labels(self, actor: Actor, case_id: str, alerts: list[Alert], fraud: bool, at: float) -> int:
        if self.deps.events is None:
            return 0
        n = 0
        for a in alerts:
            if a.event_id is None:
                continue
            self.deps.events.submit(actor.tenant, {
                "type": "label", "event_id": derived_id("lbl", case_id, a.event_id, str(fraud)),
                "event_time": datetime.fromtimestamp(max(at, a.raised_at), UTC).isoformat(),
                "target_event_id": a.event_id, "fraud": fraud, "source": "analyst"})
            n += 1
        return n

    def set_due(self, actor: Actor, case_id: str, due_at: float) -> Case:
        require(actor, *SUPERVISORS)
        self.get(actor, case_id)
        now = self.deps.clock()
        with self.db.begin() as conn:
            repo.update_case_txn(conn, actor.tenant, case_id, due_at=due_at, updated_at=now)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "due", {"due_at": due_at})
            self.deps.audit.append(actor.name, "case.due", f"{actor.tenant}/case/{case_id}", {"due_at": due_at},
                                   conn=conn)
        return self.get(actor, case_id)

    def add_note(self, actor: Actor, case_id: str, text: str) -> None:
        require(actor, *ANALYSTS)
        self.get(actor, case_id)
        text = text.strip()
        if not text or len(text) > 10_000:
            raise InvalidInput("a note is 1 to 10,000 characters", problems=[FieldProblem("text", "length")])
        now = self.deps.clock()
        with self.db.begin() as conn:
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "note", {"text": text})
            self._evidence_txn(conn, actor.tenant, case_id, "note", f"note-{int(now)}", "text/plain",
                               text.encode(), actor.name, now)
            self.deps.audit.append(actor.name, "case.note", f"{actor.tenant}/case/{case_id}",
                                   {"length": len(text)}, conn=conn)

    def add_attachment(self, actor: Actor, case_id: str, name: str, media_type: str, content: bytes) -> dict[str, Any]:
        """Attachments are evidence: stored in the chain, byte for byte."""
        require(actor, *ANALYSTS)
        self.get(actor, case_id)
        if not name.strip() or len(name) > 200:
            raise InvalidInput("invalid attachment name", problems=[FieldProblem("name", "1 to 200 characters")])
        if len(content) > MAX_ATTACHMENT:
            raise InvalidInput("attachment too large", problems=[FieldProblem("content", f"over {MAX_ATTACHMENT}")])
        now = self.deps.clock()
        with self.db.begin() as conn:
            item = self._evidence_txn(conn, actor.tenant, case_id, "attachment", name, media_type, content,
                                      actor.name, now)
            row = {"attachment_id": random_id("att"), "case_id": case_id, "name": name, "media_type": media_type,
                   "sha256": item.content_sha256, "size": len(content), "evidence_seq": item.seq,
                   "added_by": actor.name, "added_at": now}
            repo.insert_attachment_txn(conn, actor.tenant, row)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "attachment",
                                 {"name": name, "sha256": item.content_sha256, "size": len(content)})
            self.deps.audit.append(actor.name, "case.attachment", f"{actor.tenant}/case/{case_id}",
                                   {"name": name, "sha256": item.content_sha256}, conn=conn)
        return row

    def add_footage_ref(self, actor: Actor, case_id: str, *, camera_id: str, terminal_id: str | None, start: str,
                        end: str, uri: str, sha256: str) -> None:
        """A reference to camera footage kept by the video system, with the hash it reported."""
        require(actor, *ANALYSTS)
        self.get(actor, case_id)
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput("footage hash must be SHA-256 hex", problems=[FieldProblem("sha256", "64 hex")])
        now = self.deps.clock()
        ref = {"camera_id": camera_id, "terminal_id": terminal_id, "start": start, "end": end, "uri": uri,
               "sha256": sha256, "hash_algorithm": "sha256"}
        with self.db.begin() as conn:
            self._evidence_txn(conn, actor.tenant, case_id, "footage_ref", f"{camera_id}-{start}", "application/json",
                               _json_bytes(ref), actor.name, now)
            repo.add_history_txn(conn, actor.tenant, case_id, now, actor.name, "footage", ref)
            self.deps.audit.append(actor.name, "case.footage_ref", f"{actor.tenant}/case/{case_id}",
                                   {"camera_id": camera_id, "sha256": sha256}, conn=conn)

    # -- evidence ----------------------------------------------------------------------------------

    def _evidence_txn(self, conn: Any, tenant: str, case_id: str, kind: str, name: str, media_type: str,
                      content: bytes, actor_name: str, now: float) -> Any:
        head = repo.evidence_head_txn(conn, tenant, case_id)
        item = next_item(case_id, head, kind, name, media_type, content, actor_name, iso(now))
        repo.insert_evidence_txn(conn, tenant, item, content)
        return item

    def collect_evidence(self, actor: Actor, case_id: str) -> int:
        """Gather what the case rests on into its evidence chain (idempotent): each alert, its event
        (card numbers already masked), its decision with the full explanation, the device records
        (device and login events) and terminal records of the case's customers and cards."""
        require(actor, *ANALYSTS)
        self.get(actor, case_id)
        now = self.deps.clock()
        t = actor.tenant
        events = self.case_events(actor, case_id)
        with self.db.connect() as conn:
            alerts = repo.alerts_txn(conn, t, case_id)
            have = repo.evidence_names_txn(conn, t, case_id)
        pending: list[tuple[str, str, bytes]] = []
        alerted = {a.event_id for a in alerts if a.event_id}
        for a in alerts:
            pending.append(("alert", a.alert_id, _json_bytes(a.to_dict())))
        terminals: dict[str, dict[str, Any]] = {}
        for ev in events:
            body = {k: v for k, v in ev.items() if k != "decision"}
            if ev["event_id"] in alerted or ev.get("type") in ("card_present", "mobile_transfer", "staff_access"):
                pending.append(("event", ev["event_id"], _json_bytes(body)))
            if ev.get("type") in ("device", "login"):
                pending.append(("device", ev["event_id"], _json_bytes(body)))
            if ev.get("terminal_id"):
                rec = terminals.setdefault(ev["terminal_id"], {"terminal_id": ev["terminal_id"], "uses": []})
                rec["location"] = ev.get("terminal_location")
                rec["chip_capable"] = ev.get("terminal_chip_capable")
                rec["uses"].append({"event_id": ev["event_id"], "event_time": ev["event_time"],
                                    "pos_entry_mode": ev.get("pos_entry_mode"), "amount": ev.get("amount")})
            d = ev.get("decision")
            if d is not None and (ev["event_id"] in alerted or d["action"] != "allow"):
                explained = (self.deps.explainer.explain(t, d["decision_id"]) if self.deps.explainer is not None
                             else d)
                pending.append(("decision", d["decision_id"], _json_bytes(explained)))
        for tid, rec in sorted(terminals.items()):
            pending.append(("terminal", tid, _json_bytes(rec)))
        added = 0
        with self.db.begin() as conn:
            for kind, name, content in pending:
                if (kind, name) in have:
                    continue
                have.add((kind, name))
                media = "application/json"
                self._evidence_txn(conn, t, case_id, kind, name, media, content, actor.name, now)
                added += 1
            if added:
                repo.add_history_txn(conn, t, case_id, now, actor.name, "evidence", {"added": added})
                self.deps.audit.append(actor.name, "evidence.collect", f"{t}/case/{case_id}", {"added": added},
                                       conn=conn)
        return added

    def evidence(self, actor: Actor, case_id: str) -> list[tuple[Any, bytes]]:
        require(actor, *ANALYSTS)
        self.get(actor, case_id)
        with self.db.connect() as conn:
            return repo.evidence_txn(conn, actor.tenant, case_id)

    # -- staff data access (feeds the insider detector) ---------------------------------------------

    def record_view(self, actor: Actor, page: str, customer_id: str | None, case_id: str | None = None, *,
                    employee_id: str | None = None, branch_id: str | None = None,
                    query_type: str = "account_detail", records: int = 1) -> None:
        """Audit a page view of customer data and send it to the risk engine as a staff data-access
        event, so that the insider detector sees analysts too."""
        now = self.deps.clock()
        if customer_id and not log_queries.ID.fullmatch(customer_id):  # a stored key no event could carry
            customer_id = derived_id("key", customer_id)
        subject = f"{actor.tenant}/customer/{customer_id}" if customer_id else f"{actor.tenant}/page/{page}"
        self.deps.audit.append(actor.name, "data.view", subject, {"page": page, "case_id": case_id})
        if self.deps.events is None or not customer_id:
            return
        body: dict[str, Any] = {
            "type": "staff_access", "event_id": random_id("sa"),
            "event_time": datetime.fromtimestamp(now, UTC).isoformat(),
            "employee_id": employee_id or actor.name, "branch_id": branch_id or "hq",
            "customer_id": customer_id, "query_type": query_type, "records": max(1, records)}
        if case_id:
            body["business_ref"] = case_id
        self.ingest_submitted([(actor.tenant, self.deps.events.submit(actor.tenant, body))])
