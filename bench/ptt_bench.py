"""Push-to-talk benchmark on loopback: floor access time and mouth-to-ear latency.

Run: ``.venv/bin/python -m bench.ptt_bench`` (writes ``bench/results/ptt.json``); ``--quick`` runs a
small version (tests). Bounded: fixed counts and a global deadline, loopback only; the relay runs
in a child process (``dunpai comms relay``) that is always stopped at the end.

Set-up: ``--groups`` talk-groups of ``--members`` members each, all connected to one relay. The
media key of each group is made here and handed to its members directly (its E2E distribution
over Megolm is exercised by the demo and tests, and is not part of either latency).

* **access time** — Floor Request sent → Floor Granted received by the requester (idle floor).
* **mouth-to-ear** — for every frame at every listener: from the moment the talker's 20 ms frame of
  speech is complete to the moment the listener has decrypted and decoded it, **plus 20 ms** of
  framing (the first sample of a frame waits that long before the frame exists). No jitter buffer
  is modelled. Every group has ``rounds`` talk-bursts of ``talk_s`` seconds at real-time pace by a
  random member, staggered so that about ``--concurrent`` groups (default 10 of 50) talk at any
  moment. A second run where all 50 groups talk at once is reported as ``all_groups_talking``.

Everything (relay aside) runs in one Python process on this machine — 500 clients that each
decrypt and Opus-decode every frame they hear — so the client side, not the relay, is usually
the bottleneck; real devices each do their own decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import free_port, pct, wait_port
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket
from dunpai.comms.media.sframe import new_media_key

RESULTS = Path(__file__).resolve().parent / "results" / "ptt.json"
TARGETS = {"access_time_p95_ms": 100.0, "mouth_to_ear_p95_ms": 150.0}


def _speech(seconds: float, seed: int) -> codec.PCM:
    """A voiced, syllable-modulated signal (deterministic; no TTS needed for timing)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(codec.SAMPLE_RATE * seconds)) / codec.SAMPLE_RATE
    f0 = 110 + 40 * rng.random()
    voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (voiced * envelope * 6000).astype(np.int16)


async def bench(groups: int, members: int, rounds: int, talk_s: float, concurrent: int) -> dict[str, Any]:
    secret = os.urandom(32)
    port = free_port()
    env = {**os.environ, "DUNPAI_RELAY_SECRET": secret.hex()}
    proc = subprocess.Popen([sys.executable, "-m", "dunpai.cli", "comms", "relay", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: dict[str, list[PttClient]] = {}
    access: list[float] = []
    m2e: list[float] = []
    lost = 0
    try:
        await wait_port(port, time.monotonic() + 30, "relay")
        url = f"ws://127.0.0.1:{port}"
        for g in range(groups):
            gid = f"tg{g:03d}"
            roster = [f"m{g:03d}-{i:02d}" for i in range(members)]
            key = new_media_key(gid, 1, roster, os.urandom)
            clients[gid] = [PttClient(url, issue_ticket(secret, Ticket(gid, u, 1, 2**62)), key, u) for u in roster]
        for gid in clients:
            await asyncio.gather(*(c.connect() for c in clients[gid]))
        gc.collect()
        gc.freeze()

        ready: dict[tuple[str, str, int], float] = {}   # (group, talker, counter) -> frame complete
        for gid, cs in clients.items():
            for c in cs:
                dec = codec.OpusDecoder()

                def on_frame(sender: str, counter: int, packet: bytes, gid: str = gid,
                             dec: codec.OpusDecoder = dec) -> None:
                    dec.decode(packet)
                    t_ready = ready.get((gid, sender, counter))
                    if t_ready is not None:
                        m2e.append((time.perf_counter() - t_ready) * 1000 + codec.FRAME_MS)

                c.on_frame = on_frame

        rng = random.Random(7)
        speech = _speech(talk_s, 1)
        packets = codec.encode_pcm(speech)[: int(talk_s * 1000 / codec.FRAME_MS)]

        async def one_burst(gid: str, start_at: float) -> None:
            talker = rng.choice(clients[gid])
            await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
            t0 = time.perf_counter()
            await talker.request_floor()
            await talker.expect("floor_granted", timeout=30)
            access.append((time.perf_counter() - t0) * 1000)
            frames = talker.seal_packets(packets)
            start = time.perf_counter()
            for i, frame in enumerate(frames):
                # the frame's speech is complete at start + i*20 ms; send it then (real time)
                due = start + i * codec.FRAME_MS / 1000
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                ready[(gid, talker.user, int.from_bytes(frame[7:15], "big"))] = due
                await talker.send_frame(frame)
            await asyncio.sleep(0.1)
            await talker.release_floor()
            for c in clients[gid]:
                await c.expect("floor_idle", timeout=30)

        # Bursts are spread so that about ``concurrent`` groups talk at any moment: group g starts
        # its bursts at offset g/groups of each period (period = groups × burst length / concurrent).
        burst_s = talk_s + 0.3
        period = max(burst_s, groups * burst_s / concurrent)
        t_start = time.perf_counter() + 0.2

        async def group_task(index: int, gid: str) -> None:
            for r in range(rounds):
                await one_burst(gid, t_start + r * period + index * period / groups)

        await asyncio.gather(*(group_task(i, gid) for i, gid in enumerate(clients)))
        expected = groups * rounds * len(packets) * (members - 1)
        lost = expected - len(m2e)
        rejected = sum(c.rejected for cs in clients.values() for c in cs)
    finally:
        for cs in clients.values():
            for c in cs:
                await c.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "access_time_p95_ms": round(pct(access, 0.95), 2),
        "mouth_to_ear_p95_ms": round(pct(m2e, 0.95), 2),
        "access_time_p50_ms": round(pct(access, 0.50), 2),
        "access_time_max_ms": round(max(access), 2),
        "mouth_to_ear_p50_ms": round(pct(m2e, 0.50), 2),
        "mouth_to_ear_p99_ms": round(pct(m2e, 0.99), 2),
        "access_samples": len(access),
        "mouth_to_ear_samples": len(m2e),
        "frames_lost": lost,
        "frames_rejected": rejected,
        "groups": groups, "members_per_group": members, "rounds": rounds, "talk_s": talk_s,
        "concurrent_talkers_target": concurrent,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run (tests)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--deadline-s", type=float, default=300.0)
    parser.add_argument("--concurrent", type=int, default=10, help="groups talking at the same time")
    args = parser.parse_args(argv)
    groups, members, rounds, talk_s = (3, 4, 1, 0.3) if args.quick else (50, 10, 3, 1.0)
    t0 = time.monotonic()
    result = asyncio.run(asyncio.wait_for(bench(groups, members, rounds, talk_s, args.concurrent),
                                          args.deadline_s))
    if not args.quick:  # worst case: every group talks at once (one round), reported beside
        worst = asyncio.run(asyncio.wait_for(bench(groups, members, 1, talk_s, groups), args.deadline_s))
        result["all_groups_talking"] = {k: worst[k] for k in (
            "access_time_p95_ms", "mouth_to_ear_p95_ms", "mouth_to_ear_p50_ms", "frames_lost", "mouth_to_ear_samples")}
    result.update({
        "targets": TARGETS,
        "met": {k: result[k] <= v for k, v in TARGETS.items()},
        "mouth_to_ear_note": "frame complete -> decrypted and decoded at listener, + 20 ms framing; no jitter buffer",
        "codec": "opus 24 kbit/s CBR, 20 ms", "transport": "websocket, plain, loopback; relay in a child process",
        "quick": args.quick, "wall_s": round(time.monotonic() - t0, 1),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_1m": round(os.getloadavg()[0], 2)},
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
