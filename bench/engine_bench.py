"""Benchmark of the risk engine: in-process decisions/s and p99, HTTP throughput and latency on
loopback, and online-state memory per card. Writes bench/results/engine.json.

    python -m bench.engine_bench [--events N] [--http-requests N]

In-process: Handbook transactions (../shared/data/handbook) replayed as card-present events through
the engine with the default ruleset and features, one core; each decision is timed. A baseline in
the same run (a plain-Python keyed count-and-sum loop over the same events) gives the ratio that
survives a noisy, shared machine. HTTP: `dunpai serve` in its own process; a bounded load generator
(raw keep-alive HTTP/1.1 on 127.0.0.1, on uvloop like the server) first at full speed, then paced at
1,000 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from array import array
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
import uvloop

from bench.common import free_port, process_cpu_s
from dunpai.risk.events.schemas import CardPresent, Location
from dunpai.risk.features.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
HANDBOOK = ROOT.parent / "shared" / "data" / "handbook"
RESULTS = ROOT / "bench" / "results"
KEY = "bench-key-" + hashlib.sha256(b"dunpai-bench").hexdigest()[:16]
KM_PER_DEG = 111.0


def handbook_events(limit: int) -> list[CardPresent]:
    """The first ``limit`` Handbook transactions as card-present POS purchases (grid unit = 1 km)."""
    files = sorted(HANDBOOK.glob("transactions-2018-*.parquet"))
    frames, n = [], 0
    for f in files:
        df = pd.read_parquet(f, columns=["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"])
        frames.append(df)
        n += len(df)
        if n >= limit:
            break
    tx = pd.concat(frames).head(limit)
    cust = pd.read_parquet(HANDBOOK / "customers.parquet").set_index("CUSTOMER_ID")
    term = pd.read_parquet(HANDBOOK / "terminals.parquet").set_index("TERMINAL_ID")
    lon_k = KM_PER_DEG * math.cos(math.radians(22.8))

    def loc(x: float, y: float) -> Location:
        return Location(lat=22.8 + y / KM_PER_DEG, lon=108.3 + x / lon_k)

    homes = {cid: loc(r.x_customer_id, r.y_customer_id) for cid, r in cust.iterrows()}
    sites = {tid: loc(r.x_terminal_id, r.y_terminal_id) for tid, r in term.iterrows()}
    return [
        CardPresent(event_id=f"hb-{r.TRANSACTION_ID}", event_time=r.TX_DATETIME.to_pydatetime().replace(tzinfo=UTC),
                    txn="pos_purchase", card_id=f"card-{r.CUSTOMER_ID}", account_id=f"acct-{r.CUSTOMER_ID}",
                    customer_id=f"cust-{r.CUSTOMER_ID}", terminal_id=f"term-{r.TERMINAL_ID}",
                    terminal_location=sites[r.TERMINAL_ID], customer_home=homes[r.CUSTOMER_ID],
                    pos_entry_mode="05", amount=round(r.TX_AMOUNT * 100), currency="CNY")
        for r in tx.itertuples()
    ]


def baseline_loop(events: list[CardPresent]) -> float:
    """Events/s of the simplest keyed feature (count and sum per card) in plain Python."""
    state: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    for e in events:
        s = state.get(e.card_id or "")
        if s is None:
            s = state[e.card_id or ""] = [0.0, 0.0]
        s[0] += 1.0
        s[1] += float(e.amount)
    return len(events) / (time.perf_counter() - t0)


def engine_run(events: list[CardPresent]) -> tuple[float, float, MemoryStore]:
    from dunpai.risk.decisions.engine import Engine, known_variables
    from dunpai.risk.detectors import DEFAULT_DETECTORS
    from dunpai.risk.features.pipeline import FeaturePipeline
    from dunpai.risk.rules.compiler import CompiledRuleset
    from dunpai.risk.service import DEFAULT_RULESET

    pipeline = FeaturePipeline()
    ruleset = CompiledRuleset.from_yaml(DEFAULT_RULESET.read_text(encoding="utf-8"),
                                        known_variables(pipeline, DEFAULT_DETECTORS))
    engine = Engine(ruleset, pipeline=pipeline)
    store = MemoryStore()
    times = array("d")
    clock = time.perf_counter
    for seq, event in enumerate(events, start=1):
        t0 = clock()
        _decision, states = engine.decide(event, store)
        store.put_many(states, seq)
        times.append(clock() - t0)
    total = sum(times)
    p99 = sorted(times)[int(0.99 * (len(times) - 1))]
    return len(events) / total, p99 * 1000, store


def state_bytes_per_card(store: MemoryStore) -> tuple[float, float]:
    """Heap bytes per tracked card (tracemalloc over a store holding only the card states, keys and
    dict slots included) and serialised bytes per card."""
    cards = [(k, v) for k, v in store.items() if k[0] == "card"]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    only = MemoryStore()
    only.put_many([((str(k[0]), str(k[1])), array("d", v)) for k, v in cards], 0)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    heap = sum(s.size_diff for s in after.compare_to(before, "filename"))
    serial = statistics.mean(len(v.tobytes()) for _, v in cards)
    return heap / len(cards), serial


# -- HTTP --------------------------------------------------------------------------------------


def request_bytes(body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    return (b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: " + str(len(payload)).encode()
            + b"\r\n\r\n" + payload)


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], connections: int, rate: float | None) -> tuple[list[float], float]:
    """Send every request once over ``connections`` keep-alive connections; paced at ``rate``/s
    (open loop: latency counts from the scheduled send time) or as fast as possible. Every
    connection is open before the clock starts (as wrk does): connection set-up is not a decision's
    latency."""
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for i, r in enumerate(requests):
        queue.put_nowait((i, r))
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    start = time.perf_counter()
    errors = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        try:
            while True:
                try:
                    i, req = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                due = start + i / rate if rate else time.perf_counter()
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(req)
                status = await read_response(reader)
                errors += status != 200
                latencies.append(time.perf_counter() - due)
        finally:
            writer.close()

    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{errors} requests failed")
    return latencies, elapsed


def http_bench(n_requests: int, paced_seconds: float) -> dict[str, float]:
    from dunpai.risk.scenarios.source_cases import demo_events

    bodies = [b for b, _, _ in demo_events(seed=99, customers=2000, history_days=10)]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(json.dumps({"api_keys": [{"name": "bench", "role": "admin",
                                                    "key_sha256": hashlib.sha256(KEY.encode()).hexdigest()}]}))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "dunpai.cli", "serve", "--config", str(config),
                                 "--data-dir", str(Path(tmp) / "data"), "--port", str(port), "--access-log", "off"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.2)
            full = [request_bytes(b) for b in bodies[:n_requests]]
            cpu0 = process_cpu_s(proc.pid)
            _lat, elapsed = uvloop.run(load(port, full, connections=32, rate=None))
            throughput = len(full) / elapsed
            cpu_per_request = (process_cpu_s(proc.pid) - cpu0) / len(full)
            rate = 1000.0
            paced = [request_bytes(b) for b in bodies[n_requests:n_requests + int(rate * paced_seconds)]]
            lat, _ = uvloop.run(load(port, paced, connections=64, rate=rate))
            lat.sort()
            return {"http_decisions_per_s": throughput,
                    "http_p50_ms": lat[len(lat) // 2] * 1000, "http_p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1000,
                    "http_server_cpu_us_per_request": cpu_per_request * 1e6,
                    "http_requests_full_speed": len(full), "http_requests_paced": len(paced),
                    "http_paced_rate_per_s": rate}
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--http-requests", type=int, default=20_000)
    parser.add_argument("--paced-seconds", type=float, default=6.0)
    parser.add_argument("--http-runs", type=int, default=3, help="HTTP runs; medians are reported")
    args = parser.parse_args()
    print(f"loading {args.events} Handbook transactions ...", flush=True)
    events = handbook_events(args.events)
    gc.freeze()  # the event list is long-lived input, not garbage: keep the collector off it
    rates, p99s, baselines = [], [], []
    store = MemoryStore()
    for run in range(args.runs):
        baselines.append(baseline_loop(events))
        rate, p99, store = engine_run(events)
        rates.append(rate)
        p99s.append(p99)
        print(f"run {run + 1}: {rate:,.0f} events/s, p99 {p99:.3f} ms (baseline {baselines[-1]:,.0f}/s)", flush=True)
    heap, serial = state_bytes_per_card(store)
    print("HTTP ...", flush=True)
    http_runs = [http_bench(args.http_requests, args.paced_seconds) for _ in range(args.http_runs)]
    for h in http_runs:
        print(f"HTTP run: {h['http_decisions_per_s']:,.0f}/s ({h['http_server_cpu_us_per_request']:.0f} µs server "
              f"CPU/request), p99 {h['http_p99_ms']:.1f} ms at 1000/s", flush=True)
    http = {k: statistics.median(r[k] for r in http_runs) for k in http_runs[0]}
    http["http_runs"] = args.http_runs
    result = {
        "inprocess_events_per_s_per_core": statistics.median(rates),
        "inprocess_p99_ms": statistics.median(p99s),
        "baseline_events_per_s": statistics.median(baselines),
        "engine_to_baseline_ratio": statistics.median(rates) / statistics.median(baselines),
        "inprocess_events": len(events), "inprocess_runs": args.runs,
        "note": "medians of the runs; each HTTP run starts a fresh server on an empty database",
        **http,
        "state_bytes_per_card": heap,
        "state_serialised_bytes_per_card": serial,
        "cards_tracked": store.count("card"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "targets": {"inprocess_events_per_s_per_core": ">= 20000", "inprocess_p99_ms": "<= 1",
                    "http_decisions_per_s": ">= 2000", "http_p99_ms": "<= 20 at 1000 req/s",
                    "state_bytes_per_card": "<= 1024"},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
