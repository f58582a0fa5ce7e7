"""Constant-rate push-to-talk: can an observer of the link tell talking from silence?

Run: ``.venv/bin/python -m bench.constant_rate_bench`` (writes ``bench/results/constant_rate.json``).
Loopback UDP only. A sender emits frames on the constant-rate schedule (``location.constant_rate``)
for ``seconds`` while someone talks (voice frames arrive from a simulated talker with jitter) and
for ``seconds`` of silence; the observer records, at the receiving socket, each packet's size and
arrival time. A two-sample Kolmogorov-Smirnov test compares talking and silence for sizes and
inter-arrival times (indistinguishable at 1 % if p > 0.01). For contrast the same talker is sent
without constant rate (a packet only when there is voice, variable-size frames), which the test
does tell apart. Bandwidth: bytes per second of both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from scipy.stats import ks_2samp

from dunpai.comms.location.constant_rate import CbrConfig, CbrReceiver, CbrSender

RESULTS = Path(__file__).resolve().parent / "results" / "constant_rate.json"


def _socket_pair() -> tuple[socket.socket, socket.socket]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    return tx, rx


async def _observe(rx: socket.socket, stop: asyncio.Event, seen: list[tuple[float, int]]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            async with asyncio.timeout(0.2):
                data = await loop.sock_recv(rx, 2048)
        except TimeoutError:
            continue
        seen.append((time.perf_counter(), len(data)))


def _talker(rng: random.Random, talking: bool, frames: int) -> list[bytes | None]:
    """Per 20 ms slot: a voice frame (VBR-like size 45-60 bytes) while talking, else nothing."""
    return [rng.randbytes(rng.randint(45, 60)) if talking else None for _ in range(frames)]


async def _run_mode(constant: bool, talking: bool, seconds: float, rng: random.Random, key: bytes,
                    cfg: CbrConfig) -> list[tuple[float, int]]:
    tx, rx = _socket_pair()
    stop, seen = asyncio.Event(), list[tuple[float, int]]()
    observer = asyncio.create_task(_observe(rx, stop, seen))
    sender, receiver = CbrSender(key, cfg), CbrReceiver(key, cfg)
    frames = int(seconds / cfg.interval_s)
    voice = _talker(rng, talking, frames)
    t0 = time.perf_counter() + 0.05
    try:
        for k in range(frames):
            delay = t0 + k * cfg.interval_s - time.perf_counter()  # the fixed schedule
            if delay > 0:
                await asyncio.sleep(delay)
            if constant:
                wire = sender.frame(voice[k])
                if receiver.open(wire) != voice[k]:
                    raise RuntimeError("constant-rate frame did not round-trip")
                tx.send(wire)
            elif voice[k] is not None:
                tx.send(voice[k] or b"")
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        await observer
        tx.close()
        rx.close()
    return seen


def _features(seen: list[tuple[float, int]]) -> tuple[list[int], list[float]]:
    sizes = [s for _, s in seen]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    return sizes, gaps


def _ks(a: list[float] | list[int], b: list[float] | list[int]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    return float(ks_2samp(a, b).pvalue)


async def run(seconds: float, seed: int) -> dict[str, object]:
    rng, cfg, key = random.Random(seed), CbrConfig(), os.urandom(32)
    talk = await _run_mode(True, True, seconds, rng, key, cfg)
    silent = await _run_mode(True, False, seconds, rng, key, cfg)
    naive_talk = await _run_mode(False, True, seconds, rng, key, cfg)
    naive_silent = await _run_mode(False, False, seconds, rng, key, cfg)
    ts, tg = _features(talk)
    ss, sg = _features(silent)
    ns, _ = _features(naive_talk)
    size_p, gap_p = _ks(ts, ss), _ks(tg, sg)
    cbr_bps = sum(ts) / seconds
    naive_bps = sum(ns) / seconds
    return {
        "benchmark": "constant_rate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "transport": "UDP on 127.0.0.1, observer at the receiving socket",
        "seconds_per_condition": seconds,
        "interval_ms": cfg.interval_s * 1000,
        "wire_bytes": cfg.wire_bytes,
        "constant_rate": {
            "packets_talking": len(ts), "packets_silent": len(ss),
            "distinct_sizes": sorted(set(ts) | set(ss)),
            "ks_size_p": size_p, "ks_interarrival_p": gap_p,
            "indistinguishable_at_1pct": (size_p is None or size_p > 0.01) and gap_p is not None and gap_p > 0.01,
            "bytes_per_s": round(cbr_bps, 1),
        },
        "without_constant_rate": {
            "packets_talking": len(ns), "packets_silent": len(naive_silent),
            "ks_size_p_talking_vs_constant": _ks(ns, ts),
            "bytes_per_s_while_talking": round(naive_bps, 1),
            "bytes_per_s_silent": 0.0,
        },
        "bandwidth_cost": {
            "constant_bytes_per_s": round(cbr_bps, 1),
            "kbit_per_s": round(cbr_bps * 8 / 1000, 2),
            "vs_talking_without_constant_rate": round(cbr_bps / naive_bps, 3) if naive_bps else None,
            "note": "payload only (UDP/IP headers excluded); paid all the time the channel is open",
        },
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.seconds, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
