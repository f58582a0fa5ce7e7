"""Comms benchmark on loopback: 1:1 send-to-decrypt latency with many clients connected, a group
message delivered to and decrypted by every member, and service memory per connected client.

Run: ``.venv/bin/python -m bench.comms_bench`` (writes ``bench/results/comms.json``);
``--quick`` runs a small version (used by the tests). Bounded: fixed counts, a global deadline,
loopback only; the service runs in a child process that is always stopped at the end.

Latency is measured end to end in the client library: encrypt (Olm or Megolm), frame, send, service
store-and-forward (SQLite), push, parse, decrypt - one message at a time, with every other client
connected and idle. Sessions are set up before timing (first-contact key claims are not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import free_port, pct, process_cpu_s, wait_port
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user

RESULTS = Path(__file__).resolve().parent / "results" / "comms.json"
TARGETS = {"p2p_p99_ms": 50.0, "group200_p99_ms": 250.0}


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def bench(clients: int, p2p_samples: int, group_size: int, group_samples: int, workdir: Path) -> dict[str, Any]:
    db = f"sqlite:///{workdir / 'bench.db'}"
    py = sys.executable
    codes = subprocess.run([py, "-m", "dunpai.cli", "comms", "invite", "--db", db, "--count", str(clients)],
                           check=True, capture_output=True, text=True).stdout.split()
    port = free_port()
    # latency is measured here, not abuse: one owner sends every group sample, past a user's usual burst
    env = {**os.environ, "DUNPAI_COMMS_QUOTAS_MESSAGE_BURST": "1000000"}
    proc = subprocess.Popen([py, "-m", "dunpai.cli", "comms", "serve", "--db", db, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    users: list[CommsClient] = []
    try:
        await wait_port(port, time.monotonic() + 30, "service")
        await asyncio.sleep(0.3)
        rss_before = _rss(proc.pid)
        url = f"ws://127.0.0.1:{port}"
        for start in range(0, clients, 50):
            batch = range(start, min(clients, start + 50))
            users += await asyncio.gather(*(new_user(url, f"u{i:05d}", codes[i]) for i in batch))
        await asyncio.sleep(0.5)
        rss_after = _rss(proc.pid)
        # 1,000 clients' long-lived objects would otherwise be rescanned by every full collection
        # of this (client-side) process, adding tens of ms to random samples.
        gc.collect()
        gc.freeze()

        rng = random.Random(7)
        pairs = [tuple(rng.sample(users, 2)) for _ in range(min(p2p_samples, 200))]
        for a, b in pairs:  # warm-up: establish Olm sessions both ways
            await a.send_text(b.user, "warm-up")
            await b.receive(10)
        p2p: list[float] = []
        cpu0 = time.process_time() + process_cpu_s(proc.pid)
        for i in range(p2p_samples):
            a, b = pairs[i % len(pairs)]
            t0 = time.perf_counter()
            await a.send_text(b.user, f"bench message {i}")
            await b.receive(10)
            p2p.append((time.perf_counter() - t0) * 1000)
        p2p_cpu_ms = (time.process_time() + process_cpu_s(proc.pid) - cpu0) * 1000 / p2p_samples

        owner, members = users[0], users[1:group_size]
        await owner.group_create("bench-group")
        for m in members:
            await owner.group_add("bench-group", m.user)
        await owner.group_send_text("bench-group", "warm-up")  # shares the Megolm session over Olm
        await asyncio.gather(*(m.receive(30) for m in members))
        group: list[float] = []
        cpu0 = time.process_time() + process_cpu_s(proc.pid)
        for i in range(group_samples):
            t0 = time.perf_counter()
            await owner.group_send_text("bench-group", f"group bench {i}")
            await asyncio.gather(*(m.receive(30) for m in members))
            group.append((time.perf_counter() - t0) * 1000)
        group_cpu_ms = (time.process_time() + process_cpu_s(proc.pid) - cpu0) * 1000 / group_samples
        rejected = sum(u.stats.rejected for u in users)
    finally:
        for u in users:
            await u.close()
        proc.terminate()
        proc.wait(10)
    return {
        "p2p_p50_ms": round(pct(p2p, 0.5), 2), "p2p_p99_ms": round(pct(p2p, 0.99), 2),
        "group200_p50_ms": round(pct(group, 0.5), 2), "group200_p99_ms": round(pct(group, 0.99), 2),
        "p2p_p90_ms": round(pct(p2p, 0.9), 2), "group200_p90_ms": round(pct(group, 0.9), 2),
        "bytes_per_client": round((rss_after - rss_before) / clients),
        "clients_connected": clients, "group_members": group_size, "p2p_samples": len(p2p),
        "group_samples": len(group), "p2p_mean_ms": round(statistics.mean(p2p), 2),
        "group_mean_ms": round(statistics.mean(group), 2),
        # CPU time (service + all clients) spent per message: independent of other load on the machine
        "p2p_cpu_ms_per_message": round(p2p_cpu_ms, 2), "group200_cpu_ms_per_message": round(group_cpu_ms, 2),
        "service_rss_before_bytes": rss_before,
        "service_rss_after_bytes": rss_after, "rejected_messages": rejected, "targets": TARGETS,
        "storage": "sqlite", "transport": "websocket, plain, loopback",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (tests)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--deadline-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    sizes = (20, 20, 10, 5) if args.quick else (1000, 1000, 200, 200)
    with tempfile.TemporaryDirectory() as tmp:
        async def run() -> dict[str, Any]:
            async with asyncio.timeout(args.deadline_s):
                return await bench(*sizes, Path(tmp))

        t0 = time.monotonic()
        load_before = os.getloadavg()[0]
        result = asyncio.run(run())
    result.update({
        "quick": args.quick, "wall_s": round(time.monotonic() - t0, 1),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    # other work on the machine inflates latencies; the load average says how much
                    "load_avg_1m_before": round(load_before, 2), "load_avg_1m_after": round(os.getloadavg()[0], 2)},
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
