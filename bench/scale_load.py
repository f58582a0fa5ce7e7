"""Load for several decision workers on one shared state (``state.backend: database``): the events,
a worker process, and the single-process replay every cluster run is compared with.

Used by ``bench/scale_bench.py`` and the cluster tests. A worker is a process of its own:

    python -m bench.scale_load WORKER_INDEX WORKERS DB_URL EVENTS.json ACKS.txt [BATCH]

It decides events ``WORKER_INDEX, WORKER_INDEX + WORKERS, …`` of the file in batches and appends each
accepted event id to ``ACKS.txt`` once its batch has committed (what a card switch would have been
answered), then prints its figures as one JSON line.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError

from dunpai.core.db import init_schema, make_engine
from dunpai.risk.cluster.store import SqlStateStore
from dunpai.risk.decisions.record import Decision
from dunpai.risk.features.store import MemoryStore, StateKey
from dunpai.risk.service import RiskService
from dunpai.risk.storage import repository as repo
from dunpai.risk.storage.tables import decisions as decisions_table

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()
MCCS = ("5411", "5812", "5999", "4111", "5732")
DOMAINS = ("mail.example", "post.example", "web.example")


def cluster_events(cards: int = 1000, per_card: int = 3, seed: int = 18,
                   burst: int = 40) -> list[dict[str, Any]]:
    """Payments of ``cards`` cards (each with its account and customer) at shared terminals,
    merchants, devices and payees, interleaved across cards, plus ``burst`` uses of one card within
    13 minutes (the lost-update case of issue 18). Card ids stand for tokens, so workers need no
    key store in common."""
    rng = random.Random(seed)
    terminals, merchants = max(cards // 10, 1), max(cards // 20, 1)
    devices, payees = max(cards // 3, 1), max(cards // 5, 1)
    out: list[dict[str, Any]] = []
    n = 0
    for round_ in range(per_card):
        order = list(range(cards))
        rng.shuffle(order)
        for c in order:
            n += 1
            t = START + round_ * 3600 + c * 3.0 + rng.random()
            base: dict[str, Any] = {"event_id": f"ev-{n}", "event_time": _iso(t),
                                    "amount": rng.randrange(1_000, 900_000), "currency": "CNY"}
            kind = rng.random()
            if kind < 0.5:
                out.append({**base, "type": "card_present", "txn": "pos_purchase", "card_id": f"card-{c}",
                            "account_id": f"acct-{c}", "customer_id": f"cust-{c}",
                            "terminal_id": f"term-{rng.randrange(terminals)}", "mcc": rng.choice(MCCS),
                            "pos_entry_mode": rng.choice(("05", "07", "90")),
                            "terminal_location": {"lat": 22.8 + c % 7 * 0.01, "lon": 108.3, "city": "南宁"}})
            elif kind < 0.75:
                out.append({**base, "type": "card_not_present", "card_id": f"card-{c}", "account_id": f"acct-{c}",
                            "customer_id": f"cust-{c}", "merchant_id": f"merch-{rng.randrange(merchants)}",
                            "device_id": f"dev-{c % devices}", "mcc": rng.choice(MCCS),
                            "attributes": {"email_domain": rng.choice(DOMAINS)}})
            else:
                out.append({**base, "type": "mobile_transfer", "account_id": f"acct-{c}", "customer_id": f"cust-{c}",
                            "device_id": f"dev-{c % devices}", "payee_id": f"payee-{rng.randrange(payees)}"})
    for i in range(burst):
        n += 1
        out.append({"event_id": f"ev-{n}", "event_time": _iso(START + 6 * 3600 + i * 19.0), "type": "card_present",
                    "txn": "pos_purchase", "card_id": "card-0", "account_id": "acct-0", "customer_id": "cust-0",
                    "terminal_id": f"term-{i % 3}", "amount": 50_000, "currency": "CNY", "pos_entry_mode": "05"})
    # the burst spread through the stream so that its uses meet at different workers
    rng.shuffle(out)
    return out


def labels_for(events: list[dict[str, Any]], every: int = 40) -> list[dict[str, Any]]:
    """Fraud labels of every ``every``-th event (sent after the events they label were answered)."""
    return [{"type": "label", "event_id": f"lab-{e['event_id']}", "event_time": _iso(START + 30 * 86400),
             "target_event_id": e["event_id"], "fraud": True} for e in events[::every]]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def open_worker(url: str) -> RiskService:
    """One worker: its own engine (connection pool) on the shared database and state."""
    db = make_engine(url)
    init_schema(db)
    service = RiskService(db, SqlStateStore(db))
    service.recover()
    return service


def stored_log(db: Engine) -> list[tuple[int, str, str]]:
    """(seq, tenant, body) of every logged event, in log order."""
    return list(repo.events_after(db, 0))


def stored_decisions(db: Engine) -> dict[str, Decision]:
    with db.connect() as conn:
        return {row.event_id: Decision.from_dict(json.loads(row.record))
                for row in conn.execute(select(decisions_table.c.event_id, decisions_table.c.record))}


def shared_states(db: Engine) -> dict[StateKey, list[float]]:
    from dunpai.risk.cluster.tables import states

    with db.connect() as conn:
        rows = conn.execute(select(states.c.kind, states.c.key, states.c.state).where(states.c.state.is_not(None)))
        return {(k, key): _floats(raw) for k, key, raw in rows if k != "__meta__"}


def _floats(raw: bytes) -> list[float]:
    from array import array

    values = array("d")
    values.frombytes(raw)
    return list(values)


def bare_service(directory: Path) -> RiskService:
    """An embedded service with no input ports: what the workers of ``open_worker`` run."""
    db = make_engine(f"sqlite:///{directory / 'replay.db'}")
    init_schema(db)
    return RiskService(db, MemoryStore())


def replay(log: list[tuple[int, str, str]], open_service: Callable[[Path], RiskService] = bare_service,
           ) -> tuple[dict[str, Decision], dict[StateKey, list[float]]]:
    """The same events decided by one embedded process (``open_service`` in a fresh directory) in
    log order: its decisions and final states."""
    with tempfile.TemporaryDirectory(prefix="dunpai-replay-") as tmp:
        service = open_service(Path(tmp))
        if not isinstance(service.store, MemoryStore):
            raise ValueError("the replay runs on the embedded store")
        for _seq, tenant, body in log:
            service.submit(tenant, body)
        out = stored_decisions(service.db)
        states = {key: list(state) for key, state in service.store.items() if key[0] != "__meta__"}
        service.db.dispose()
    return out, states


RESEND_FOR_S = 60.0
"""How long a batch whose database connection was lost is sent again (a database node fails over)."""


def _submit_resending(service: RiskService, chunk: list[dict[str, Any]]) -> list[Any]:
    """``submit_many``, sent again while the database cannot be reached, as the card switch resends
    an unanswered request: the event ids make a resend of a committed batch answer with its stored
    decisions, so nothing is decided twice."""
    deadline = time.monotonic() + RESEND_FOR_S
    while True:
        try:
            return service.submit_many([("default", e) for e in chunk])
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_worker(index: int, workers: int, url: str, events_path: Path, acks_path: Path,
               batch: int = 4) -> dict[str, Any]:
    events = json.loads(events_path.read_text(encoding="utf-8"))[index::workers]
    service = open_worker(url)
    latencies: list[float] = []
    started = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with acks_path.open("a", encoding="utf-8") as acks:
        for start in range(0, len(events), batch):
            chunk = events[start:start + batch]
            t0 = time.perf_counter()
            results = _submit_resending(service, chunk)
            latencies.append(time.perf_counter() - t0)
            for e, r in zip(chunk, results, strict=True):
                if isinstance(r, Exception):
                    raise r
                acks.write(e["event_id"] + "\n")
            acks.flush()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    service.db.dispose()
    return {"decided": len(events), "wall_s": time.perf_counter() - started,
            "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            "batch_latencies_s": latencies}


def main(argv: list[str]) -> None:
    index, workers, url, events_path, acks_path = int(argv[0]), int(argv[1]), argv[2], Path(argv[3]), Path(argv[4])
    batch = int(argv[5]) if len(argv) > 5 else 4
    print(json.dumps(run_worker(index, workers, url, events_path, acks_path, batch)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
