"""Constant-rate push-to-talk: can an observer of the link tell talking from silence?

Run: ``.venv/bin/python -m bench.constant_rate_bench`` (writes ``bench/results/constant_rate.json``).
Loopback UDP only. A sender emits frames on the constant-rate schedule (``location.constant_rate``)
for ``seconds`` while a simulated talker alternates spurts of talk and silence (0.5-2 s each, seeded);
the observer records, at the receiving socket, each packet's size and arrival time. Talking and
silent periods are interleaved in one run so that machine load affects both alike. A two-sample
Kolmogorov-Smirnov test compares the talking and silent packets' sizes and inter-arrival times
(indistinguishable at 1 % if p > 0.01). For contrast the same talker is sent without constant rate
(a packet only when there is voice, variable sizes). Bandwidth: bytes per second of both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
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


def _talk_plan(rng: random.Random, frames: int, interval_s: float) -> list[bool]:
    """Per 20 ms slot, whether someone talks: alternating spurts of talk and silence of 0.5-2 s."""
    plan: list[bool] = []
    talking = True
    while len(plan) < frames:
        plan += [talking] * int(rng.uniform(0.5, 2.0) / interval_s)
        talking = not talking
    return plan[:frames]


async def _run_mode(constant: bool, plan: list[bool], rng: random.Random, key: bytes,
                    cfg: CbrConfig) -> list[tuple[float, int, bool]]:
    """Send ``plan`` and return what the observer saw: (arrival time, size, slot was talking)."""
    tx, rx = _socket_pair()
    stop, seen = asyncio.Event(), list[tuple[float, int]]()
    observer = asyncio.create_task(_observe(rx, stop, seen))
    sender, receiver = CbrSender(key, cfg), CbrReceiver(key, cfg)
    voice = [rng.randbytes(rng.randint(45, 60)) if talk else None for talk in plan]  # VBR-like sizes
    slots: list[bool] = []
    t0 = time.perf_counter() + 0.05
    try:
        for k, talk in enumerate(plan):
            delay = t0 + k * cfg.interval_s - time.perf_counter()  # the fixed schedule
            if delay > 0:
                await asyncio.sleep(delay)
            if constant:
                wire = sender.frame(voice[k])
                if receiver.open(wire) != voice[k]:
                    raise RuntimeError("constant-rate frame did not round-trip")
                tx.send(wire)
                slots.append(talk)
            elif voice[k] is not None:
                tx.send(voice[k] or b"")
                slots.append(talk)
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        await observer
        tx.close()
        rx.close()
    if len(seen) != len(slots):
        raise RuntimeError("loopback lost packets; rerun")
    return [(t, size, talk) for (t, size), talk in zip(seen, slots, strict=True)]


def _split(seen: list[tuple[float, int, bool]]) -> dict[bool, tuple[list[int], list[float]]]:
    """Sizes and inter-arrival gaps, by whether the packet's slot was talking."""
    out: dict[bool, tuple[list[int], list[float]]] = {True: ([], []), False: ([], [])}
    for i, (t, size, talk) in enumerate(seen):
        out[talk][0].append(size)
        if i and seen[i - 1][2] == talk:  # gaps inside one spurt only
            out[talk][1].append(t - seen[i - 1][0])
    return out


def _ks(a: list[float] | list[int], b: list[float] | list[int]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    return float(ks_2samp(a, b).pvalue)


async def run(seconds: float, seed: int) -> dict[str, object]:
    rng, cfg, key = random.Random(seed), CbrConfig(), os.urandom(32)
    plan = _talk_plan(rng, int(seconds / cfg.interval_s), cfg.interval_s)
    cbr = _split(await _run_mode(True, plan, rng, key, cfg))
    naive = _split(await _run_mode(False, plan, rng, key, cfg))
    (ts, tg), (ss, sg) = cbr[True], cbr[False]
    size_p, gap_p = _ks(ts, ss), _ks(tg, sg)
    talk_s = sum(plan) * cfg.interval_s
    cbr_bps = (sum(ts) + sum(ss)) / seconds
    naive_bps = sum(naive[True][0]) / talk_s
    return {
        "benchmark": "constant_rate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "transport": "UDP on 127.0.0.1, observer at the receiving socket",
        "seconds": seconds,
        "talking_share": round(sum(plan) / len(plan), 3),
        "interval_ms": cfg.interval_s * 1000,
        "wire_bytes": cfg.wire_bytes,
        "constant_rate": {
            "packets_talking": len(ts), "packets_silent": len(ss),
            "distinct_sizes": sorted(set(ts) | set(ss)),
            "ks_size_p": size_p, "ks_interarrival_p": gap_p,
            "indistinguishable_at_1pct": (size_p is None or size_p > 0.01) and gap_p is not None and gap_p > 0.01,
            "interarrival_ms_mean_talking": round(statistics.fmean(tg) * 1000, 3),
            "interarrival_ms_mean_silent": round(statistics.fmean(sg) * 1000, 3),
        },
        "without_constant_rate": {
            "packets_talking": len(naive[True][0]), "packets_silent": len(naive[False][0]),
            "distinct_sizes": len(set(naive[True][0])),
            "note": "silence sends nothing: an observer sees every talk spurt",
        },
        "bandwidth_cost": {
            "constant_bytes_per_s": round(cbr_bps, 1),
            "kbit_per_s": round(cbr_bps * 8 / 1000, 2),
            "without_constant_rate_bytes_per_s_while_talking": round(naive_bps, 1),
            "without_constant_rate_bytes_per_s_average": round(sum(naive[True][0]) / seconds, 1),
            "overhead_vs_average": round(cbr_bps / (sum(naive[True][0]) / seconds), 3),
            "note": "payload only (UDP/IP headers excluded); paid all the time the channel is open",
        },
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.seconds, args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
