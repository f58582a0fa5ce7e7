"""What a bad day in production does to ``POST /v1/events``: faults injected under load.

    python -m bench.chaos_bench [--faults sigkill_sqlite,...] [--seconds 20]

Writes ``bench/results/chaos.json``: ``{"faults": [{"fault", "backend", "acknowledged", "stored",
"lost", "duplicated", "recovery_s", "answers_meanwhile", ...}]}``. Each fault runs a real
``dunpai serve`` (its own process, loopback only) with a bounded load generator (a few concurrent
clients, a 5 s client timeout like a card switch's) sending events with unique ids:

* ``sigkill_sqlite`` / ``sigkill_postgresql``: the server is killed with SIGKILL three times under
  load and started again at once (a supervisor's job);
* ``postgresql_restart``: PostgreSQL itself is stopped for a few seconds, then started again;
* ``redis_restart``: the Redis online-state store is stopped and started again (it keeps nothing
  on disk here, so it comes back empty);
* ``disk_full``: the data directory is a small tmpfs; it is filled up for a few seconds, then freed.

For each: ``acknowledged`` (events answered 200, stand-in decisions included), ``stored`` (of
those, events in the database once the server has drained its spool), ``lost`` and
``duplicated`` (rows of one event id beyond the first, events and decisions), what the API
answered between the fault and recovery, and ``recovery_s`` (fault over — server restarted,
service started, space freed — until the first full, non-degraded decision). Afterwards a sample
of acknowledged events is resent: each must come back ``duplicate: true`` with its decision id.

The local services are stopped and started with the commands the machine notes give, and are
always started again (and checked) before the script ends, whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port

RESULTS = Path(__file__).resolve().parent / "results" / "chaos.json"
FAULTS = ("sigkill_sqlite", "sigkill_postgresql", "postgresql_restart", "redis_restart", "disk_full")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_START = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"]
PG_STOP = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "stop", "-m", "fast"]
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]
REDIS_STOP = ["redis-cli", "-p", "6379", "shutdown", "nosave"]
CST = timezone(timedelta(hours=8))
CLIENTS = 6
CLIENT_TIMEOUT_S = 5.0
CHEAP_KDF = {"DUNPAI_KEYSTORE_KDF_ITERATIONS": "1", "DUNPAI_KEYSTORE_KDF_MEMORY_MIB": "1",
             "DUNPAI_KEYSTORE_KDF_LANES": "1"}


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}: {done.stdout}{done.stderr}")
    return done.stdout


def pg_up() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True,
                          check=False).returncode == 0


def redis_up() -> bool:
    done = subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True, check=False)
    return done.stdout.strip() == "PONG"


async def until(check: Callable[[], bool], limit_s: float, what: str) -> None:
    give_up = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > give_up:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


def ensure_services() -> None:
    """PostgreSQL and Redis running, whatever a fault left behind."""
    if not pg_up():
        subprocess.run(PG_START, capture_output=True, check=False, timeout=60)
    if not redis_up():
        subprocess.run(REDIS_START, capture_output=True, check=False, timeout=30)
    for _ in range(100):
        if pg_up() and redis_up():
            return
        time.sleep(0.2)
    raise RuntimeError("PostgreSQL or Redis did not come back up")


@dataclass
class Deployment:
    """A data directory, its settings as environment variables, and its running server."""

    data: Path
    env: dict[str, str]
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    key: str = ""
    admin: str = ""
    log: Path | None = None

    def cli(self, *args: str) -> str:
        return _run([sys.executable, "-m", "dunpai.cli", *args, "--data-dir", str(self.data)], env=self.env)

    def prepare(self) -> None:
        self.key = self.cli("apikey", "--role", "integrator", "--name", "switch").strip()
        self.admin = self.cli("apikey", "--role", "admin", "--name", "ops").strip()

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dunpai.cli", "serve", "--data-dir", str(self.data), "--port", str(self.port),
             "--access-log", "off", "--insecure-cookies"], env=self.env, stdout=subprocess.DEVNULL,
            stderr=open(self.log or os.devnull, "ab"))  # noqa: SIM115 - the server process holds it
        async with httpx.AsyncClient() as client:
            give_up = time.monotonic() + 120
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/health", timeout=1.0)).status_code == 200:
                        return
                if time.monotonic() > give_up:
                    raise TimeoutError("the server did not start")
                await asyncio.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    async def metric(self, name: str) -> float | None:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.admin}"}, timeout=5)
        for line in r.text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def drained(self, limit_s: float = 120) -> None:
        give_up = time.monotonic() + limit_s
        while time.monotonic() < give_up:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.metric("dunpai_spooled_events") or 0.0) == 0.0:
                    return
            await asyncio.sleep(0.25)
        raise TimeoutError("the spool never drained")


@dataclass
class Load:
    """A few clients posting events with unique ids as fast as the server answers them."""

    deployment: Deployment
    prefix: str
    acknowledged: dict[str, str] = field(default_factory=dict)  # event id -> decision id
    degraded: set[str] = field(default_factory=set)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, answered, status)
    sent: int = 0

    def body(self, n: int) -> dict[str, Any]:
        rng = random.Random(n)
        return {"type": "card_present", "event_id": f"{self.prefix}-{n}", "txn": "pos_purchase",
                "event_time": datetime.now(CST).isoformat(timespec="milliseconds"),
                "card_id": f"card-{rng.randrange(2000)}", "account_id": f"acct-{rng.randrange(2000)}",
                "customer_id": f"cust-{rng.randrange(2000)}", "terminal_id": f"pos-{rng.randrange(300)}",
                "pos_entry_mode": "05", "amount": rng.randrange(100, 500_000)}

    async def client(self, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {self.deployment.key}"}
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as http:
            while not stop.is_set():
                n = self.sent
                self.sent += 1
                body = self.body(n)
                sent_at = time.monotonic()
                try:
                    r = await http.post(f"{self.deployment.url}/v1/events", json=body, headers=headers)
                except httpx.ConnectError:
                    self.outcomes.append((sent_at, time.monotonic(), "connection refused"))
                    await asyncio.sleep(0.05)
                    continue
                except httpx.TimeoutException:
                    self.outcomes.append((sent_at, time.monotonic(), "no answer within 5 s"))
                    continue
                except httpx.HTTPError as exc:
                    self.outcomes.append((sent_at, time.monotonic(), f"connection error ({type(exc).__name__})"))
                    await asyncio.sleep(0.05)
                    continue
                if r.status_code == 200:
                    answer = r.json()
                    self.acknowledged[body["event_id"]] = answer["decision_id"]
                    self.bodies[body["event_id"]] = body
                    status = "200 stand-in (degraded)" if answer.get("degraded") else "200"
                    if answer.get("degraded"):
                        self.degraded.add(body["event_id"])
                else:
                    status = f"{r.status_code} {r.json().get('code', '')}".strip()
                    await asyncio.sleep(0.05)
                self.outcomes.append((sent_at, time.monotonic(), status))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.client(stop) for _ in range(CLIENTS)))

    async def first_full_answer_after(self, t: float, limit_s: float = 180) -> float:
        """When the first request sent at ``t`` or later got a full (non-degraded) decision."""
        give_up = time.monotonic() + limit_s
        while time.monotonic() < give_up:
            done = [answered for sent, answered, status in self.outcomes if sent >= t and status == "200"]
            if done:
                return min(done)
            await asyncio.sleep(0.05)
        raise TimeoutError("no full decision after the fault")

    def between(self, t0: float, t1: float) -> dict[str, int]:
        return dict(Counter(status for _, answered, status in self.outcomes if t0 <= answered <= t1))

    async def resend_sample(self, n: int = 100) -> dict[str, int]:
        """Resend acknowledged events: each must come back as the original decision."""
        sample = random.Random(1).sample(sorted(self.acknowledged), min(n, len(self.acknowledged)))
        same = other = 0
        async with httpx.AsyncClient(timeout=30) as http:
            for eid in sample:
                r = await http.post(f"{self.deployment.url}/v1/events", json=self.bodies[eid],
                                    headers={"Authorization": f"Bearer {self.deployment.key}"})
                ok = (r.status_code == 200 and r.json()["duplicate"] is True
                      and r.json()["decision_id"] == self.acknowledged[eid])
                same, other = same + ok, other + (not ok)
        return {"resent": len(sample), "same_decision": same, "other": other}


def count_stored(database_url: str, prefix: str, ids: list[str]) -> tuple[int, int]:
    """(acknowledged ids found in the event log, rows beyond the first of any event id: events and decisions)."""
    from sqlalchemy import bindparam, text

    from dunpai.core.db import make_engine

    engine = make_engine(database_url)
    try:
        found = 0
        with engine.connect() as conn:
            q = text("SELECT count(DISTINCT event_id) FROM risk_events WHERE event_id IN :ids").bindparams(
                bindparam("ids", expanding=True))
            for i in range(0, len(ids), 500):
                found += int(conn.execute(q, {"ids": ids[i:i + 500]}).scalar_one())
            dup = 0
            for table in ("risk_events", "risk_decisions"):
                dup += int(conn.execute(text(
                    f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {table} "
                    "WHERE event_id LIKE :p GROUP BY tenant, event_id) AS per_event WHERE n > 1"),
                    {"p": prefix + "-%"}).scalar_one())
        return found, dup
    finally:
        engine.dispose()


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")}
    return {**env, **CHEAP_KDF}


class Fault:
    """One fault's run: deployment, load, timeline."""

    def __init__(self, name: str, backend: str, root: Path, seconds: float) -> None:
        self.name = name
        self.backend = backend
        self.root = root
        self.seconds = seconds
        self.prefix = f"chaos-{name}-{os.getpid()}-{int(time.time())}"
        self.notes: dict[str, Any] = {}

    async def load_around(self, dep: Deployment, inject: Callable[[Load], Awaitable[tuple[float, float, float]]]
                          ) -> dict[str, Any]:
        """Run the load, inject the fault (it returns: fault start, fault over, recovered), stop, drain, count."""
        load = Load(dep, self.prefix)
        stop = asyncio.Event()
        running = asyncio.create_task(load.run(stop))
        try:
            await asyncio.sleep(3)
            t_fault, t_over, t_recovered = await inject(load)
            await asyncio.sleep(3)
        finally:
            stop.set()
            await running
        await dep.drained()
        resend = await load.resend_sample()
        db_url = dep.database_url or f"sqlite:///{dep.data / 'dunpai.db'}"
        ids = sorted(load.acknowledged)
        stored, duplicated = count_stored(db_url, self.prefix, ids)
        return {
            "fault": self.name, "backend": self.backend, "acknowledged": len(ids),
            "acknowledged_stand_in": len(load.degraded), "stored": stored, "lost": len(ids) - stored,
            "duplicated": duplicated, "recovery_s": round(t_recovered - t_over, 2),
            "fault_s": round(t_over - t_fault, 2), "answers_meanwhile": load.between(t_fault, t_recovered),
            "requests": len(load.outcomes), "resend_check": resend, **self.notes,
        }
        # a note may give the fault's own recovery measure (sigkill: the slowest of its kills)


async def sigkill(fault: Fault, dep: Deployment, kills: int = 3) -> dict[str, Any]:
    async def inject(load: Load) -> tuple[float, float, float]:
        t_first = recovered = 0.0
        per_kill = []
        for i in range(kills):
            if i:
                await asyncio.sleep(max(2.0, fault.seconds / kills - 4))
            t_kill = time.monotonic()
            t_first = t_first or t_kill
            dep.kill()
            await asyncio.to_thread(dep.wait)
            await dep.start()
            recovered = await load.first_full_answer_after(t_kill)
            per_kill.append(round(recovered - t_kill, 2))
        fault.notes.update({"kills": kills, "kill_to_first_decision_s": per_kill,
                            "recovery_s": max(per_kill),
                            "recovery_from": "the SIGKILL (the restart included): the slowest of the kills",
                            "answers_from": "the first kill to the first full decision after the last"})
        return t_first, t_first, recovered

    await dep.start()
    try:
        return await fault.load_around(dep, inject)
    finally:
        dep.stop()


async def outage(fault: Fault, dep: Deployment, stop_cmd: list[str], start_cmd: list[str],
                 up: Callable[[], bool], hold_s: float = 6.0) -> dict[str, Any]:
    async def inject(load: Load) -> tuple[float, float, float]:
        t_fault = time.monotonic()
        await asyncio.to_thread(subprocess.run, stop_cmd, capture_output=True, check=False, timeout=60)
        await asyncio.sleep(hold_s)
        await asyncio.to_thread(subprocess.run, start_cmd, capture_output=True, check=False, timeout=60)
        await until(up, 60, "the service did not come back")
        t_over = time.monotonic()
        return t_fault, t_over, await load.first_full_answer_after(t_over)

    await dep.start()
    try:
        return await fault.load_around(dep, inject)
    finally:
        dep.stop()
        ensure_services()


async def disk_full(fault: Fault, dep: Deployment, hold_s: float = 6.0) -> dict[str, Any]:
    filler = dep.data / "filler"

    async def inject(load: Load) -> tuple[float, float, float]:
        t_fault = time.monotonic()
        with filler.open("wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        fault.notes["free_bytes_while_full"] = shutil.disk_usage(dep.data).free
        await asyncio.sleep(hold_s)
        filler.unlink()
        t_over = time.monotonic()
        return t_fault, t_over, await load.first_full_answer_after(t_over)

    await dep.start()
    try:
        return await fault.load_around(dep, inject)
    finally:
        dep.stop()


@contextlib.contextmanager
def pg_database(name: str) -> Any:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        ensure_services()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def tmpfs(path: Path, size_mib: int) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(path)], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


async def run_fault(name: str, root: Path, seconds: float) -> dict[str, Any]:
    env = base_env()
    if name == "sigkill_sqlite":
        fault = Fault(name, "sqlite", root, seconds)
        dep = Deployment(root / name, env, log=root / f"{name}.log")
        dep.prepare()
        return await sigkill(fault, dep)
    if name in ("sigkill_postgresql", "postgresql_restart"):
        fault = Fault(name, "postgresql", root, seconds)
        with pg_database(f"dunpai_{name}_{os.getpid()}") as url:
            dep = Deployment(root / name, {**env, "DUNPAI_DATABASE_URL": url}, url, log=root / f"{name}.log")
            dep.prepare()
            if name == "sigkill_postgresql":
                return await sigkill(fault, dep)
            return await outage(fault, dep, PG_STOP, PG_START, pg_up)
    if name == "redis_restart":
        fault = Fault(name, "sqlite + redis state", root, seconds)
        prefix = f"dunpai:chaos:{os.getpid()}:"
        dep = Deployment(root / name, {**env, "DUNPAI_STATE_BACKEND": "redis", "DUNPAI_STATE_REDIS_PREFIX": prefix},
                         log=root / f"{name}.log")
        dep.prepare()
        fault.notes["note"] = ("Redis keeps nothing on disk here: it comes back empty, so the online state built "
                               "before the outage is gone until the server is restarted (start-up folds the event "
                               "log back in); no event is lost")
        return await outage(fault, dep, REDIS_STOP, REDIS_START, redis_up, hold_s=5.0)
    if name == "disk_full":
        fault = Fault(name, "sqlite on a 64 MiB tmpfs", root, seconds)
        with tmpfs(root / name, 64):
            dep = Deployment(root / name / "data", env, log=root / f"{name}.log")
            dep.prepare()
            return await disk_full(fault, dep)
    raise ValueError(f"unknown fault {name}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, of: " + ", ".join(FAULTS))
    parser.add_argument("--seconds", type=float, default=15.0, help="load around each fault")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    ensure_services()
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dunpai-chaos-") as tmp:
        for name in [f for f in args.faults.split(",") if f]:
            try:
                result = asyncio.run(run_fault(name, Path(tmp), args.seconds))
            except Exception as exc:  # a fault that could not be run is reported, never dropped
                result = {"fault": name, "error": f"{type(exc).__name__}: {exc}"[:500]}
            finally:
                ensure_services()
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
    out = {
        "benchmark": "chaos",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "load": {"clients": CLIENTS, "client_timeout_s": CLIENT_TIMEOUT_S, "deadline_ms": "events.deadline_ms default"},
        "wall_s": round(time.monotonic() - started, 1),
        "faults": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
