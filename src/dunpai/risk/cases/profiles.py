"""Profiles: everything the bank has seen of one customer, account, card, device, terminal, payee
or employee — its history (each event with the decision made on it), devices, linked entities,
current restrictions and cases — and an employee's pattern of access to customer data.

Reading a profile is a staff data access like reading a case (the console records it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dunpai.core.errors import FieldProblem, InvalidInput, NotFound
from dunpai.risk.cases import log_queries
from dunpai.risk.cases import repository as repo
from dunpai.risk.cases.common import ANALYSTS, Actor, Deps, require
from dunpai.risk.cases.queue import case_types_txn

PROFILE_KINDS = ("customer", "account", "card", "device", "terminal", "payee", "employee", "merchant")
LINKED_KINDS = ("customer", "account", "card", "device", "payee", "terminal", "merchant", "employee")
SUMMARY_EVENTS = 2000  # the newest events a profile's summary (devices, links) is drawn from
DEVICE_EVENTS = ("enrol", "remove", "sim_change", "remote_access_app", "overlay_app", "malware", "rooted")


def _hour(event_time: str) -> float:
    t = datetime.fromisoformat(event_time)  # the bank's local time, as the event gave it
    return t.hour + t.minute / 60.0


def off_hours(event_time: str) -> bool:
    """Outside 07:00–20:00 or at a weekend (the insider detector's definition)."""
    t = datetime.fromisoformat(event_time)
    hour = _hour(event_time)
    return hour < 7.0 or hour >= 20.0 or t.weekday() >= 5


def access_pattern(accesses: Sequence[Mapping[str, Any]], flagged: set[str] | None = None) -> dict[str, Any]:
    """An employee's staff-access events summed up: when (hour of day, per day), how much (records),
    whom (distinct customers, outside the employee's branch), why (with or without a business
    reference) and what (query types). ``flagged``: event ids the insider detector alerted on."""
    flagged = flagged or set()
    by_hour = [0] * 24
    by_day: dict[str, list[int]] = {}
    customers: set[str] = set()
    outside = without_business = off = records = 0
    types: Counter[str] = Counter()
    for e in accesses:
        by_hour[int(_hour(e["event_time"]))] += 1
        day = by_day.setdefault(e["event_time"][:10], [0, 0, 0])
        day[0] += 1
        day[1] += int(e.get("records", 1))
        day[2] += e["event_id"] in flagged
        customers.add(str(e.get("customer_id", "")))
        outside += bool(e.get("customer_branch_id")) and e.get("customer_branch_id") != e.get("branch_id")
        without_business += not e.get("business_ref")
        off += off_hours(e["event_time"])
        records += int(e.get("records", 1))
        types[str(e.get("query_type", ""))] += 1
    n = len(accesses)
    return {
        "accesses": n, "records": records, "customers": len(customers), "outside_branch": outside,
        "without_business": without_business, "off_hours": off, "flagged": sum(e["event_id"] in flagged
                                                                               for e in accesses),
        "off_hours_share": off / n if n else 0.0, "query_types": dict(types.most_common()),
        "by_hour": by_hour, "days": [{"day": d, "accesses": v[0], "records": v[1], "flagged": v[2]}
                                     for d, v in sorted(by_day.items())],
    }


def devices(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The devices seen in ``events``: first and last seen, logins, payments, and what happened to
    each (enrolled, SIM changed, remote-control or malware found...)."""
    found: dict[str, dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e["event_time"]):
        dev = e.get("device_id")
        if not dev:
            continue
        d = found.setdefault(str(dev), {"device_id": str(dev), "first_seen": e["event_time"], "logins": 0,
                                         "transfers": 0, "happened": []})
        d["last_seen"] = e["event_time"]
        if e.get("type") == "login":
            d["logins"] += 1
        elif e.get("type") == "mobile_transfer":
            d["transfers"] += 1
        elif e.get("type") == "device" and e.get("action") in DEVICE_EVENTS:
            d["happened"].append({"action": e["action"], "at": e["event_time"]})
    return sorted(found.values(), key=lambda d: d["last_seen"], reverse=True)


def linked(events: Sequence[Mapping[str, Any]], kind: str, key: str) -> dict[str, list[str]]:
    """Other entities named alongside this one, by kind (most frequent first, at most 20 each)."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in LINKED_KINDS if k != kind}
    for e in events:
        for k in counts:
            v = e.get(f"{k}_id")
            if v and not (k == kind and v == key):
                counts[k][str(v)] += 1
    return {k: [v for v, _ in c.most_common(20)] for k, c in counts.items() if c}


def card_masks(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Card token -> masked number (BIN and last four), as the log stored them."""
    return {str(e["card_id"]): str(e["card_masked"]) for e in events if e.get("card_id") and e.get("card_masked")}


class ProfileService:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db

    def profile(self, actor: Actor, kind: str, key: str, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        require(actor, *ANALYSTS)
        if kind not in PROFILE_KINDS:
            raise InvalidInput("unknown profile kind", problems=[FieldProblem("kind", f"one of {PROFILE_KINDS}")])
        if page < 1 or not 1 <= per_page <= 200:
            raise InvalidInput("invalid page", problems=[FieldProblem("page", "1 or more")])
        t = actor.tenant
        field = f"{kind}_id"
        with self.db.connect() as conn:
            recent, _ = log_queries.entity_events_txn(conn, t, field, key, 0, SUMMARY_EVENTS)
            history, more = log_queries.entity_events_txn(conn, t, field, key, (page - 1) * per_page, per_page)
            cases = repo.cases_for_entity_txn(conn, t, kind, key)
            types = case_types_txn(conn, t, {c.case_id: c.group_kind for c in cases})
            decided = log_queries.decisions_by_event_txn(conn, t, [e["event_id"] for e in history])
            states = {(s["target_kind"], s["target_id"]): s for s in repo.states_txn(conn, t)}
        if not recent and not cases:
            raise NotFound("nothing is known of this entity", kind=kind, key=key)
        links = linked(recent, kind, key)
        targets = [(kind, key)] if kind in ("account", "card") else []
        targets += [("account", a) for a in links.get("account", [])] + [("card", c) for c in links.get("card", [])]
        restrictions = [states[x] for x in targets if x in states and states[x]["state"] != "active"]
        rows = []
        for e in history:
            d = decided.get(e["event_id"])
            rows.append({"event": e, "decision": None if d is None else {
                "decision_id": d.decision_id, "action": d.action, "score": d.score, "reasons": list(d.reasons)}})
        masks = card_masks(recent)
        customers = Counter(str(e["customer_id"]) for e in recent if e.get("customer_id"))
        return {
            "kind": kind, "key": key, "card_masked": masks.get(key) if kind == "card" else None,
            "card_masks": masks, "page": page, "per_page": per_page, "more": more,
            "history": rows, "seen": len(recent), "first_seen": recent[-1]["event_time"] if recent else None,
            "last_seen": recent[0]["event_time"] if recent else None,
            "types": dict(Counter(str(e.get("type")) for e in recent).most_common()),
            "devices": devices(recent) if kind in ("customer", "account", "device") else [],
            "linked": links, "restrictions": restrictions,
            "cases": [{**c.to_dict(), "type": types[c.case_id]} for c in cases],
            "customer_id": key if kind == "customer" else (customers.most_common(1)[0][0] if customers else None),
            "access": access_pattern([e for e in recent if e.get("type") == "staff_access"])
            if kind == "employee" else None,
        }
