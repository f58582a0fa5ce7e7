"""Several decision workers sharing the load: the candidates for shared state, then the chosen one.

    python -m bench.scale_bench [--out bench/results/scale.json] [--cards 1000] [--per-card 3]

1. ``candidates``: the atomic per-entity update alone, with the real feature pipeline and engine,
   1/2/4/8 worker processes on the same events — (a) PostgreSQL: one transaction locks the event's
   state rows in sorted order, decides, writes them and an exactly-once row (unique event id);
   (b) Redis: read states and versions, decide, then a Lua script checks every version, claims the
   event id and writes (a conflict decides the event again).
2. ``runs``: the chosen design as the product runs it (``state.backend: database``): 1, 2 and 4
   ``bench.scale_load`` worker processes on one PostgreSQL database, against the embedded single
   process (in-process state, SQLite) on the same events in the same run.
3. ``kill``: two workers, one SIGKILLed mid-load; a replacement decides what it had not answered.
   ``node_kill``: two workers on a private primary with a synchronous standby (``PgPair``),
   the primary SIGKILLed mid-load and the standby promoted; the workers resend what failed.
4. ``sizing``: machines for 20,000 decisions/s at peak from the measured costs, assumptions written.

The machine is small and shared (2 cores): figures are medians of ``--repeat`` runs and the ratios
come from the same run. PostgreSQL's CPU is read from ``/proc`` for its processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench import scale_doc
from bench.common import free_port, pct
from bench.scale_load import cluster_events

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET = 20_000
_WARM_UP = 10  # a candidate worker's first events (rule compilation, first connections) are not timed


# -- PostgreSQL's CPU ------------------------------------------------------------------------------

def _postgres_cpu_s() -> float:
    """CPU seconds used so far by every process named ``postgres`` (the server and its backends,
    those that exited included)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        if name.startswith("postgres"):
            fields = raw.rsplit(")", 1)[1].split()
            # its own CPU and that of the children it reaped (backends of closed connections)
            total += sum(int(f) for f in fields[11:15]) / tick
    return total


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- schemas -----------------------------------------------------------------------------------------

def _new_schema() -> tuple[str, str]:
    schema = f"dunpai_scale_{secrets.token_hex(5)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


# -- 1. candidates: the atomic per-entity update -----------------------------------------------------

def _engine() -> Any:
    from dunpai.risk.decisions.engine import Engine, known_variables
    from dunpai.risk.detectors import DEFAULT_DETECTORS
    from dunpai.risk.features.pipeline import FeaturePipeline
    from dunpai.risk.rules.compiler import CompiledRuleset
    from dunpai.risk.service import DEFAULT_RULESET

    pipeline = FeaturePipeline()
    ruleset = CompiledRuleset.from_yaml(DEFAULT_RULESET.read_text(encoding="utf-8"),
                                        known_variables(pipeline, DEFAULT_DETECTORS))
    return Engine(ruleset, pipeline=pipeline)


class _Given:
    """The states a candidate fetched, as the engine's store port."""

    def __init__(self, states: dict[tuple[str, str], array[float] | None]) -> None:
        self.states = states

    def get_many(self, keys: Any) -> list[array[float] | None]:
        return [self.states.get(k) for k in keys]


def _candidate_pg(url: str, bodies: list[dict[str, Any]], out: Any) -> None:
    from dunpai.core.db import make_engine
    from dunpai.risk.cluster.keys import state_keys
    from dunpai.risk.cluster.store import LockedStates
    from dunpai.risk.events.ingest import parse_event

    engine = _engine()
    db = make_engine(url)
    cpu0, t0 = _cpu_self(), time.perf_counter()
    for i, body in enumerate(bodies):
        if i == _WARM_UP:
            cpu0, t0 = _cpu_self(), time.perf_counter()
        event, _ = parse_event(body)
        with db.begin() as conn:
            locked = LockedStates(conn)
            locked.lock(state_keys(engine.pipeline, event))
            decision, new_states = engine.decide(event, locked)
            locked.put_many(new_states, 0)
            locked.write()
            conn.execute(text("INSERT INTO decided (event_id, action) VALUES (:e, :a)"),
                         {"e": event.event_id, "a": decision.action})
    out.put({"n": len(bodies) - _WARM_UP, "wall_s": time.perf_counter() - t0, "cpu_s": _cpu_self() - cpu0,
             "retries": 0})
    db.dispose()


_CAS = """
local n = #KEYS - 1
for i = 1, n do
  local v = redis.call('HGET', KEYS[i], 'v') or '0'
  if v ~= ARGV[i] then return 0 end
end
if not redis.call('SET', KEYS[n + 1], '1', 'NX') then return -1 end
for i = 1, n do
  redis.call('HSET', KEYS[i], 's', ARGV[n + i], 'v', tostring(tonumber(ARGV[i]) + 1))
end
return 1
"""


def _candidate_redis(prefix: str, bodies: list[dict[str, Any]], out: Any) -> None:
    import redis

    from dunpai.risk.cluster.keys import state_keys
    from dunpai.risk.events.ingest import parse_event

    engine = _engine()
    r = redis.Redis.from_url(REDIS_URL)
    cas = r.register_script(_CAS)
    retries = 0
    cpu0, t0 = _cpu_self(), time.perf_counter()
    for i, body in enumerate(bodies):
        if i == _WARM_UP:
            cpu0, t0, retries = _cpu_self(), time.perf_counter(), 0
        event, _ = parse_event(body)
        keys = state_keys(engine.pipeline, event)
        names = [f"{prefix}{k}:{key}" for k, key in keys]
        while True:
            pipe = r.pipeline(transaction=False)
            for name in names:
                pipe.hmget(name, "v", "s")
            got = pipe.execute()
            states: dict[tuple[str, str], array[float] | None] = {}
            versions = []
            for k, (v, raw) in zip(keys, got, strict=True):
                versions.append((v or b"0").decode())
                if not raw:  # never written, or written before its entity had a state
                    states[k] = None
                else:
                    s = array("d")
                    s.frombytes(raw)
                    states[k] = s
            _decision, new_states = engine.decide(event, _Given(states))
            new = {k: s for k, s in states.items() if s is not None} | dict(new_states)
            blobs = [new[k].tobytes() if k in new else b"" for k in keys]
            done = cas(keys=[*names, f"{prefix}decided:{event.event_id}"], args=[*versions, *blobs])
            if done != 0:
                break
            retries += 1
    out.put({"n": len(bodies) - _WARM_UP, "wall_s": time.perf_counter() - t0, "cpu_s": _cpu_self() - cpu0,
             "retries": retries})
    r.close()


def _run_procs(target: Any, shares: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, out)) for args in shares]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return results


def candidates(bodies: list[dict[str, Any]], worker_counts: tuple[int, ...]) -> list[dict[str, Any]]:
    import redis

    rows = []
    for workers in worker_counts:
        shares = [bodies[i::workers] for i in range(workers)]
        schema, url = _new_schema()
        try:
            db = create_engine(url)
            from dunpai.core.db import init_schema

            init_schema(db)
            with db.begin() as conn:
                conn.execute(text("CREATE TABLE decided (event_id varchar(128) PRIMARY KEY, action varchar(16))"))
            db.dispose()
            pg0 = _postgres_cpu_s()
            t0 = time.perf_counter()
            got = _run_procs(_candidate_pg, [(url, share) for share in shares])
            wall = time.perf_counter() - t0
            rows.append(_candidate_row("postgresql_row_locks", workers, got, wall, _postgres_cpu_s() - pg0))
        finally:
            _drop_schema(schema)
        prefix = f"dunpai-scale-{secrets.token_hex(4)}:"
        t0 = time.perf_counter()
        got = _run_procs(_candidate_redis, [(prefix, share) for share in shares])
        wall = time.perf_counter() - t0
        rows.append(_candidate_row("redis_lua_cas", workers, got, wall, None))
        client = redis.Redis.from_url(REDIS_URL)
        names = list(client.scan_iter(match=f"{prefix}*", count=10_000))
        for start in range(0, len(names), 5_000):
            client.delete(*names[start:start + 5_000])
        client.close()
    return rows


def _candidate_row(name: str, workers: int, got: list[dict[str, Any]], wall: float,
                   db_cpu: float | None) -> dict[str, Any]:
    n = sum(g["n"] for g in got)
    cpu = sum(g["cpu_s"] for g in got)
    return {"candidate": name, "workers": workers, "events": n, "decisions_per_s": round(n / wall, 1),
            "worker_cpu_ms_per_decision": round(1000 * cpu / n, 3),
            "db_cpu_ms_per_decision": None if db_cpu is None else round(1000 * db_cpu / n, 3),
            "retries": sum(g["retries"] for g in got),
            "retries_per_decision": round(sum(g["retries"] for g in got) / n, 3)}


# -- 2. the product: embedded single process and 1/2/4 cluster workers ------------------------------

def service_before() -> tuple[str, Any]:
    """The risk service as it was before the shared state came (the parent of the commit that added
    ``risk/cluster/store.py``; before that commit, the checked-out one): the embedded process's speed
    is compared with it in the same run."""
    import importlib.util

    added = subprocess.run(["git", "log", "--format=%H", "--diff-filter=A", "-n1", "--",
                            "src/dunpai/risk/cluster/store.py"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()
    rev = f"{added}^" if added else "HEAD"
    source = subprocess.run(["git", "show", f"{rev}:src/dunpai/risk/service.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="dunpai-before-")) / "service_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("dunpai_service_before", path)
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load the earlier service")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    from dunpai.risk.service import DEFAULT_RULESET

    vars(module)["DEFAULT_RULESET"] = DEFAULT_RULESET  # it would look for its rules beside itself
    described = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    return described, module.RiskService


def embedded(bodies: list[dict[str, Any]], batch: int, service_cls: Any = None) -> dict[str, Any]:
    from dunpai.core.db import init_schema, make_engine
    from dunpai.risk.features.store import MemoryStore
    from dunpai.risk.service import RiskService

    with tempfile.TemporaryDirectory(prefix="dunpai-scale-") as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'risk.db'}")
        init_schema(db)
        service = (service_cls or RiskService)(db, MemoryStore())
        service.engine("default")
        latencies = []
        cpu0, t0 = _cpu_self(), time.perf_counter()
        for start in range(0, len(bodies), batch):
            b0 = time.perf_counter()
            service.submit_many([("default", b) for b in bodies[start:start + batch]])
            latencies.append(time.perf_counter() - b0)
        wall, cpu = time.perf_counter() - t0, _cpu_self() - cpu0
        db.dispose()
    return {"workers": 0, "mode": "embedded", "decisions": len(bodies),
            "decisions_per_s": round(len(bodies) / wall, 1), "p99_ms": round(1000 * pct(latencies, 0.99), 2),
            "cpu_ms_per_decision": round(1000 * cpu / len(bodies), 3)}


def _spawn_worker(index: int, workers: int, url: str, events: Path, acks: Path,
                  batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.scale_load", str(index), str(workers), url, str(events),
                             str(acks), str(batch)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def cluster_run(bodies: list[dict[str, Any]], workers: int, batch: int, tmp: Path) -> dict[str, Any]:
    from dunpai.core.db import init_schema, make_engine

    schema, url = _new_schema()
    try:
        db = make_engine(url)
        init_schema(db)
        db.dispose()
        events = tmp / "events.json"
        events.write_text(json.dumps(bodies), encoding="utf-8")
        pg0 = _postgres_cpu_s()
        t0 = time.perf_counter()
        procs = [_spawn_worker(i, workers, url, events, tmp / f"acks-{workers}-{i}.txt", batch)
                 for i in range(workers)]
        reports = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"worker failed: {stderr[-2000:]}")
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
        wall = time.perf_counter() - t0
        db_cpu = _postgres_cpu_s() - pg0
    finally:
        _drop_schema(schema)
    # decisions/s over the span in which every worker was deciding (start-up excluded)
    span = max(r["wall_s"] for r in reports)
    cpu = sum(r["cpu_s"] for r in reports)
    latencies = [x for r in reports for x in r["batch_latencies_s"]]
    return {"workers": workers, "mode": "cluster", "decisions": len(bodies),
            "decisions_per_s": round(len(bodies) / span, 1),
            "p99_ms": round(1000 * pct(latencies, 0.99), 2), "cpu_ms_per_decision": round(1000 * cpu / len(bodies), 3),
            "db_cpu_ms_per_decision": round(1000 * db_cpu / len(bodies), 3), "wall_with_startup_s": round(wall, 2)}


# -- 3. kill -----------------------------------------------------------------------------------------

def kill_run(bodies: list[dict[str, Any]], batch: int, tmp: Path) -> dict[str, Any]:
    from bench.scale_load import open_worker
    from dunpai.core.db import init_schema, make_engine

    schema, url = _new_schema()
    try:
        db = make_engine(url)
        init_schema(db)
        events = tmp / "kill-events.json"
        events.write_text(json.dumps(bodies), encoding="utf-8")
        acks = [tmp / f"kill-acks-{i}.txt" for i in range(2)]
        # the worker the card switch turns to is already running (a third, idle one: the survivor is busy)
        replacement = open_worker(url)
        replacement.engine("default")
        procs = [_spawn_worker(i, 2, url, events, acks[i], batch) for i in range(2)]
        while _count_lines(acks[0]) < len(bodies) // 6 and procs[0].poll() is None:
            time.sleep(0.01)
        procs[0].send_signal(signal.SIGKILL)
        killed_at = time.perf_counter()
        procs[0].communicate()
        answered = _lines(acks[0])
        # the card switch resends what the killed worker had not answered to a running worker, at
        # once, while the surviving worker goes on with its own share
        pending = [b for b in bodies[0::2] if b["event_id"] not in answered]
        first_answer_s = None
        for start in range(0, len(pending), batch):
            replacement.submit_many([("default", b) for b in pending[start:start + batch]])
            if first_answer_s is None:
                first_answer_s = time.perf_counter() - killed_at
        resent_s = time.perf_counter() - killed_at
        replacement.db.dispose()
        _, survivor_err = procs[1].communicate(timeout=900)
        if procs[1].returncode != 0:
            raise RuntimeError(survivor_err[-2000:])
        acknowledged = answered | _lines(acks[1])
        total, stored_ids, same = _stored_and_replayed(db)
        db.dispose()
    finally:
        _drop_schema(schema)
    return {"events": len(bodies), "acknowledged": len(acknowledged),
            "stored": len(acknowledged & stored_ids), "acknowledged_lost": len(acknowledged - stored_ids),
            "duplicated": total - len(stored_ids), "stored_total_after_resend": total,
            "decisions_equal_to_replay": same, "recovery_s": round(first_answer_s or 0.0, 3),
            "resend_all_unanswered_s": round(resent_s, 3),
            "recovery_means": "SIGKILL to the first answer, by a running worker, for an event the killed "
                              "worker had not answered (the switch resends it there); the surviving worker never "
                              "stops"}


def node_kill_run(bodies: list[dict[str, Any]], batch: int, tmp: Path) -> dict[str, Any]:
    """Two workers on a private primary with a synchronous standby on 127.0.0.1
    (``dunpai.risk.cluster.local.PgPair``); the primary SIGKILLed mid-load and the standby promoted;
    the workers resend what failed (as the card switch would) and reconnect to the new primary by
    themselves."""
    from dunpai.core.db import init_schema, make_engine
    from dunpai.risk.cluster.local import PgPair

    pair = PgPair(("127.0.0.1", free_port(), None), ("127.0.0.1", free_port(), None), "127.0.0.1/32").start()
    try:
        db = make_engine(pair.url)
        init_schema(db)
        db.dispose()
        events = tmp / "node-kill-events.json"
        events.write_text(json.dumps(bodies), encoding="utf-8")
        acks = [tmp / f"node-kill-acks-{i}.txt" for i in range(2)]
        procs = [_spawn_worker(i, 2, pair.url, events, acks[i], batch) for i in range(2)]
        # both workers deciding (past their start), a third of the events answered
        while (min(_count_lines(a) for a in acks) == 0 or sum(_count_lines(a) for a in acks) < len(bodies) // 3) \
                and all(p.poll() is None for p in procs):
            time.sleep(0.01)
        before = sum(_count_lines(a) for a in acks)
        pair.primary.kill()
        killed_at = time.perf_counter()
        pair.standby.promote()
        promoted_s = time.perf_counter() - killed_at
        first_ack_s = None
        while first_ack_s is None and any(p.poll() is None for p in procs):
            if sum(_count_lines(a) for a in acks) > before:
                first_ack_s = time.perf_counter() - killed_at
            time.sleep(0.005)
        for proc in procs:
            _, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(err[-2000:])
        acknowledged = _lines(acks[0]) | _lines(acks[1])
        db = make_engine(pair.url)
        total, stored_ids, same = _stored_and_replayed(db)
        db.dispose()
    finally:
        pair.stop()
    return {"events": len(bodies), "acknowledged_before_kill": before, "acknowledged": len(acknowledged),
            "stored": len(acknowledged & stored_ids), "acknowledged_lost": len(acknowledged - stored_ids),
            "duplicated": total - len(stored_ids), "stored_total": total,
            "decisions_equal_to_replay": same, "promote_s": round(promoted_s, 3),
            "recovery_s": round(first_ack_s or 0.0, 3),
            "recovery_means": "SIGKILL of the primary (postmaster and backends) to the first decision acknowledged "
                              "after it, by either worker, on the promoted standby; the workers resend each batch "
                              "that failed, and their two-host URL finds the new primary"}


def _stored_and_replayed(db: Any) -> tuple[int, set[str], int]:
    """Events stored (rows), their distinct ids, and how many stored decisions equal a single-process
    replay of the log."""
    from sqlalchemy import func, select

    from bench.scale_load import replay, stored_decisions, stored_log
    from dunpai.risk.storage.tables import events as events_table

    with db.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(events_table)).scalar_one())
        stored_ids = {r[0] for r in conn.execute(select(events_table.c.event_id))}
    expected, _ = replay(stored_log(db))
    got = stored_decisions(db)
    return total, stored_ids, sum(1 for eid, d in expected.items() if got[eid].to_dict() == d.to_dict())


def _lines(path: Path) -> set[str]:
    return set(path.read_text(encoding="utf-8").split()) if path.exists() else set()


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- 4. sizing ---------------------------------------------------------------------------------------

def sizing(runs: list[dict[str, Any]]) -> dict[str, Any]:
    one = next(r for r in runs if r["workers"] == 1)
    worker_ms = statistics.median(r["cpu_ms_per_decision"] for r in runs)
    db_ms = statistics.median(r["db_cpu_ms_per_decision"] for r in runs)
    utilisation = 0.6
    worker_cores = TARGET * worker_ms / 1000 / utilisation
    db_cores = TARGET * db_ms / 1000 / utilisation
    return {
        "target_decisions_per_s": TARGET,
        "worker_cpu_ms_per_decision": worker_ms, "db_cpu_ms_per_decision": db_ms,
        "worker_cores": round(worker_cores, 1), "db_cores": round(db_cores, 1),
        "worker_machines_16_cores": int(-(-worker_cores // 16)), "db_machines_32_cores": int(-(-db_cores // 32)),
        "hot_key_ceiling_decisions_per_s": max(r["decisions_per_s"] for r in runs),
        "assumptions": [
            "CPU per decision as measured here (median over the 1, 2 and 4 worker runs), on this machine's cores",
            f"every core busy at most {int(utilisation * 100)} % at peak (headroom for bursts and a lost node)",
            "events spread over many tenants or the tenant-wide keys sharded: within one tenant every payment "
            "of a type locks the population row, so one tenant's payments are decided one batch at a time "
            "(the ceiling measured here is that of one tenant on this machine)",
            "one PostgreSQL primary with synchronous commit; its CPU per decision covers the event log, "
            "the decision row and the state rows",
            f"the 1-worker cluster decided {one['decisions_per_s']} decisions/s here",
        ],
    }


# -- main --------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--per-card", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candidate-events", type=int, default=1500)
    parser.add_argument("--ab-pairs", type=int, default=6)
    parser.add_argument("--big-batch", type=int, default=16)
    parser.add_argument("--reuse-candidates", action="store_true",
                        help="take the candidates' figures from the results file already there")
    args = parser.parse_args()

    bodies = cluster_events(cards=args.cards, per_card=args.per_card)
    before_rev, before_cls = service_before()
    partial = args.out.with_suffix(".partial.json")
    if partial.exists():  # an interrupted run measured them already
        cand = json.loads(partial.read_text(encoding="utf-8"))["candidates"]
    elif args.reuse_candidates and args.out.exists():
        cand = json.loads(args.out.read_text(encoding="utf-8"))["candidates"]
    else:
        cand = candidates(bodies[:args.candidate_events], (1, 2, 4, 8))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"candidates": cand}, indent=2) + "\n", encoding="utf-8")
    runs: list[dict[str, Any]] = []
    repeats: list[dict[str, Any]] = []
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for i in range(args.ab_pairs):  # the embedded process before and after, alternating which goes first
        if i % 2 == 0:
            old = embedded(bodies, args.batch, before_cls)
            new = embedded(bodies, args.batch)
        else:
            new = embedded(bodies, args.batch)
            old = embedded(bodies, args.batch, before_cls)
        pairs.append((old, new))
    with tempfile.TemporaryDirectory(prefix="dunpai-scale-") as tmp:
        for _ in range(args.repeat):
            base = embedded(bodies, args.batch)
            repeats.append(base)
            for workers in (1, 2, 4):
                row = cluster_run(bodies, workers, args.batch, Path(tmp))
                row["efficiency"] = round(base["cpu_ms_per_decision"] / row["cpu_ms_per_decision"], 3)
                row["embedded_decisions_per_s_same_run"] = base["decisions_per_s"]
                repeats.append(row)
        for workers in (1, 2, 4):
            mine = [r for r in repeats if r["mode"] == "cluster" and r["workers"] == workers]
            runs.append({key: statistics.median(r[key] for r in mine) for key in
                         ("decisions_per_s", "p99_ms", "efficiency", "cpu_ms_per_decision", "db_cpu_ms_per_decision",
                          "embedded_decisions_per_s_same_run")} | {"workers": workers, "repeats": len(mine)})
        bigger = []
        for workers in (1, 2, 4):  # larger batches, as the HTTP server's group commit makes them under load
            base = embedded(bodies, args.big_batch)
            row = cluster_run(bodies, workers, args.big_batch, Path(tmp))
            row["efficiency"] = round(base["cpu_ms_per_decision"] / row["cpu_ms_per_decision"], 3)
            row["embedded_decisions_per_s_same_run"] = base["decisions_per_s"]
            row["batch"] = args.big_batch
            bigger.append(row)
        embedded_runs = [r for r in repeats if r["mode"] == "embedded"]
        kill = kill_run(bodies[: max(len(bodies) // 2, 200)], args.batch, Path(tmp))
        node_kill = node_kill_run(bodies[: max(len(bodies) // 2, 200)], args.batch, Path(tmp))
    result = {
        "what": "decisions by 1, 2 and 4 worker processes sharing one PostgreSQL state (state.backend: database) "
                "against the embedded single process on the same events in the same run; medians of repeats",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "events": {"cards": args.cards, "per_card": args.per_card, "decisions": len(bodies), "batch": args.batch},
        "efficiency_means": "embedded single process's CPU per decision / cluster workers' CPU per decision "
                            "(worker processes only; PostgreSQL's CPU is db_cpu_ms_per_decision)",
        "embedded": {key: statistics.median(r[key] for r in embedded_runs)
                     for key in ("decisions_per_s", "p99_ms", "cpu_ms_per_decision")},
        "embedded_before": {"service_at": before_rev, "pairs": len(pairs)} | {
            key: statistics.median(old[key] for old, _ in pairs)
            for key in ("decisions_per_s", "p99_ms", "cpu_ms_per_decision")},
        "embedded_speed_vs_before": round(statistics.median(
            new["decisions_per_s"] / old["decisions_per_s"] for old, new in pairs), 3),
        "embedded_cpu_per_decision_vs_before": round(statistics.median(
            new["cpu_ms_per_decision"] / old["cpu_ms_per_decision"] for old, new in pairs), 3),
        "embedded_pairs": [{"before": old, "after": new} for old, new in pairs],
        "runs_bigger_batches": bigger,
        "runs": runs,
        "repeats": repeats,
        "candidates": cand,
        "kill": kill,
        "node_kill": node_kill,
        "sizing": sizing(runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.out.resolve() == scale_doc.SOURCE:
        scale_doc.write()  # docs/scale-out.md quotes this file
    partial.unlink(missing_ok=True)
    print(json.dumps({"runs": runs, "kill": kill, "node_kill": node_kill}, indent=2))


if __name__ == "__main__":
    main()
