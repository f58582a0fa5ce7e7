"""Several decision workers on one shared state (``state.backend: database``): no update of an
entity lost, each event decided once, every feature and decision what one process replaying the log
decides; a worker killed mid-load loses no acknowledged decision."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.scale_bench import node_kill_run
from bench.scale_load import (
    cluster_events,
    labels_for,
    open_worker,
    replay,
    shared_states,
    stored_decisions,
    stored_log,
)
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from dunpai.core.db import init_schema, make_engine
from dunpai.core.errors import Unavailable
from dunpai.risk.cluster.store import SqlStateStore
from dunpai.risk.decisions.record import Decision
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.service import RiskService
from dunpai.risk.storage.tables import events as events_table
from tests.pg import PG_URL, postgres_or_skip
from tests.services import services_required

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, migrated, as a URL every worker can open on its own."""
    postgres_or_skip()
    schema = f"dunpai_cluster_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _decide_concurrently(url: str, bodies: list[dict[str, Any]], workers: int, batch: int = 4) -> None:
    """``workers`` threads, each a worker with its own service and connections, event ``i`` to
    worker ``i % workers`` (consecutive uses of one card meet at different workers)."""
    services = [open_worker(url) for _ in range(workers)]
    failures: list[BaseException] = []
    gate = threading.Barrier(workers)

    def run(index: int) -> None:
        try:
            mine = bodies[index::workers]
            gate.wait()
            for start in range(0, len(mine), batch):
                for result in services[index].submit_many([("default", b) for b in mine[start:start + batch]]):
                    if isinstance(result, Exception):
                        raise result
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in services:
        s.db.dispose()
    if failures:
        raise failures[0]


def _assert_same_as_replay(db: Engine) -> dict[str, Decision]:
    """Every stored decision (its features included) and every entity's state equal one embedded
    process's replay of the log in log order; returns the decisions."""
    log = stored_log(db)
    expected_decisions, expected_states = replay(log)
    got = stored_decisions(db)
    assert len(got) == len(log) == len(expected_decisions)
    mismatched = [eid for eid, d in expected_decisions.items() if got[eid].to_dict() != d.to_dict()]
    assert mismatched == []
    assert shared_states(db) == expected_states
    return got


@pytest.mark.services
def test_cluster_of_eight_workers_decides_like_one_process_replaying_the_log(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lock_cycles: list[OperationalError] = []
    decide = RiskService._decide_batch

    def counted(self: RiskService, items: Any) -> Any:
        try:
            return decide(self, items)
        except OperationalError as exc:
            lock_cycles.append(exc)
            raise

    monkeypatch.setattr(RiskService, "_decide_batch", counted)
    bodies = cluster_events(cards=1000, per_card=2)
    _decide_concurrently(pg_url, bodies, workers=8)
    _decide_concurrently(pg_url, labels_for(bodies), workers=8)  # labels come after their events
    # every batch, labels included, locks all its entities at once in key order: no lock cycle to retry
    assert lock_cycles == []
    db = make_engine(pg_url)
    try:
        decided = _assert_same_as_replay(db)
        # the 40 uses of one card within 13 minutes (issue 18's burst): its velocity kept every use
        burst = sorted(d.features["card_count_1h"] for d in decided.values()
                       if d.event_type == "card_present" and d.event_time >= "2026-03-02T14")
        assert len(burst) == 40 and burst[-1] > 30
        labelled = [d for d in decided.values() if d.event_type == "label"]
        assert len(labelled) == len(labels_for(bodies))
    finally:
        db.dispose()


@pytest.mark.services
def test_cluster_decides_each_event_once_when_workers_race_on_the_same_ids(pg_url: str) -> None:
    bodies = cluster_events(cards=50, per_card=2, burst=10)
    # every worker sends every event: each is accepted once, the others get the first decision back
    services = [open_worker(pg_url) for _ in range(4)]
    answers: list[list[Any]] = [[] for _ in services]

    def run(i: int) -> None:
        order = bodies if i % 2 == 0 else bodies[::-1]
        for start in range(0, len(order), 5):
            answers[i].extend(services[i].submit_many([("default", b) for b in order[start:start + 5]]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(services))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in services:
        s.db.dispose()
    assert not [a for per in answers for a in per if isinstance(a, Exception)]
    firsts = [a for per in answers for a in per if not a.duplicate]
    assert len(firsts) == len(bodies)
    decided = {a.decision.event_id: a.decision.to_dict() for a in firsts}
    assert all(a.decision.to_dict() == decided[a.decision.event_id] for per in answers for a in per)
    db = make_engine(pg_url)
    try:
        _assert_same_as_replay(db)
    finally:
        db.dispose()


@pytest.mark.services
def test_cluster_resent_batch_mixing_logged_reused_and_new_ids_is_settled_event_by_event(pg_url: str) -> None:
    """Workers look no ids up before deciding: a resent batch that holds an event already logged,
    an id reused for another event and a new event answers the stored decision, a conflict naming
    the id and a new decision, and leaves the log and states as a replay of the accepted events."""
    from dunpai.core.errors import Conflict

    bodies = cluster_events(cards=20, per_card=2, burst=0)
    service = open_worker(pg_url)
    try:
        first = service.submit_many([("default", b) for b in bodies[:6]])
        reused = {**bodies[1], "amount": bodies[1]["amount"] + 1}
        again = service.submit_many([("default", bodies[0]), ("default", reused), ("default", bodies[6])])
    finally:
        service.db.dispose()
    assert again[0].duplicate and again[0].decision.to_dict() == first[0].decision.to_dict()
    assert isinstance(again[1], Conflict) and again[1].details["event_id"] == bodies[1]["event_id"]
    assert not again[2].duplicate and again[2].decision.event_id == bodies[6]["event_id"]
    db = make_engine(pg_url)
    try:
        assert [json.loads(body)["event_id"] for _, _, body in stored_log(db)] == [b["event_id"] for b in bodies[:7]]
        _assert_same_as_replay(db)
    finally:
        db.dispose()


@pytest.mark.services
def test_cluster_worker_killed_mid_load_loses_no_acknowledged_decision(pg_url: str, tmp_path: Path) -> None:
    bodies = cluster_events(cards=300, per_card=3, burst=20)
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(bodies), encoding="utf-8")
    init_schema(make_engine(pg_url))
    acks = [tmp_path / f"acks-{i}.txt" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "bench.scale_load", str(i), "2", pg_url, str(events_file),
                               str(acks[i])], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    victim = procs[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_lines(acks[0])) < 100:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert procs[1].wait(timeout=120) == 0, procs[1].stderr.read() if procs[1].stderr else ""
    acknowledged = _lines(acks[0]) | _lines(acks[1])
    db = make_engine(pg_url)
    try:
        with db.connect() as conn:
            ids = [r[0] for r in conn.execute(select(events_table.c.event_id))]
            distinct = conn.execute(select(func.count(func.distinct(events_table.c.event_id)))).scalar_one()
        stored = set(ids)
        assert 100 <= len(_lines(acks[0])) < len(bodies) // 2
        assert acknowledged <= stored and len(ids) == distinct
        assert set(stored_decisions(db)) == stored
        _assert_same_as_replay(db)  # the killed worker's open transaction left no state behind
        # the card switch resends what was not answered (and, at least once, what was): each decided once
        again = open_worker(pg_url)
        results = again.submit_many([("default", b) for b in bodies])
        assert not [r for r in results if isinstance(r, Exception)]
        assert sum(1 for r in results if not isinstance(r, Exception) and not r.duplicate) == len(bodies) - len(stored)
        again.db.dispose()
        assert len(stored_log(db)) == len(bodies)
        _assert_same_as_replay(db)
    finally:
        db.dispose()
        for p in procs:
            if p.poll() is None:
                p.kill()
            for stream in (p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


def _lines(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").split()) if path.exists() else set()


def test_cluster_state_on_sqlite_decides_like_the_embedded_store(tmp_path: Path) -> None:
    """The shared store's decision path on the embedded database (one writer), against the default
    in-process store: identical decisions, and a restart folds nothing twice."""
    bodies = cluster_events(cards=40, per_card=3, burst=8)
    shared_db = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    init_schema(shared_db)
    shared = RiskService(shared_db, SqlStateStore(shared_db))
    assert shared.recover() == 0
    for start in range(0, len(bodies), 7):
        shared.submit_many([("default", b) for b in bodies[start:start + 7]])
    _assert_same_as_replay(shared_db)
    again = RiskService(shared_db, SqlStateStore(shared_db))
    assert again.recover() == 0  # state commits with its events: nothing to fold after a restart
    # a worker starting while others decide never folds what they commit meanwhile (as if the log had
    # grown between reading its last seq and reading the events after it)
    late = RiskService(shared_db, SqlStateStore(shared_db))
    late.store.applied_seq = lambda: 0  # type: ignore[method-assign]
    assert late.recover() == 0
    assert shared_states(shared_db) == replay(stored_log(shared_db))[1]
    shared_db.dispose()


def test_cluster_store_built_from_an_embedded_log_folds_it_once(tmp_path: Path) -> None:
    """A database decided by the embedded process, then opened by cluster workers: the first folds
    the log into the shared state, the next finds it done."""
    bodies = cluster_events(cards=20, per_card=2, burst=4)
    db = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    init_schema(db)
    embedded = RiskService(db, MemoryStore())
    for b in bodies:
        embedded.submit("default", b)
    first = RiskService(db, SqlStateStore(db))
    assert first.recover() == len(bodies)
    assert RiskService(db, SqlStateStore(db)).recover() == 0
    assert shared_states(db) == replay(stored_log(db))[1]
    db.dispose()


def test_cluster_store_counts_and_clears_like_every_store(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    init_schema(db)
    store = SqlStateStore(db)
    store.put_many([(("t/card", f"c{i}"), array("d", [float(i)])) for i in range(3)], 1)
    got = store.get_many([("t/card", "c2"), ("t/card", "none")])
    assert got[0] is not None and list(got[0]) == [2.0] and got[1] is None
    assert store.count("t/card") == 3
    store.clear()
    assert store.count("t/card") == 0 and store.applied_seq() == 0
    db.dispose()


def test_cluster_workers_starting_on_one_data_dir_share_its_keys(tmp_path: Path) -> None:
    """Two workers started together on one data directory: the second reuses the first's keys
    (it used to fail with ``key_exists``)."""
    code = ("import sys; from dunpai.core.config import load_settings; from dunpai.risk.runtime import open_keys; "
            "cheap = {'iterations': 1, 'memory_mib': 1, 'lanes': 1}; "
            "s = open_keys(load_settings(overrides={'data_dir': sys.argv[1], 'keystore': {'kdf': cheap}})); "
            "print(sorted(k.key_id for k in s.list()))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "data")], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1


@pytest.mark.services
def test_cluster_database_primary_killed_mid_load_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    """One node of the database (the primary, with a synchronous standby) SIGKILLed under load and the
    standby promoted: every decision a worker acknowledged is stored once, all equal the replay."""
    bodies = cluster_events(cards=200, per_card=3, burst=10)
    try:
        got = node_kill_run(bodies, 4, tmp_path)
    except Unavailable as exc:
        if services_required():
            pytest.fail(f"a private PostgreSQL pair is required (DUNPAI_REQUIRE_SERVICES=1): {exc}")
        pytest.skip(f"no private PostgreSQL pair on this machine: {exc}")
    assert 0 < got["acknowledged_before_kill"] < len(bodies)
    assert got["acknowledged"] == got["stored"] == got["stored_total"] == len(bodies)
    assert got["acknowledged_lost"] == 0 and got["duplicated"] == 0
    assert got["decisions_equal_to_replay"] == len(bodies)
