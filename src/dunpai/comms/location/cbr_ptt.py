"""Measure constant-rate push-to-talk end to end: can an observer at the relay tell talk from silence?

``python -m dunpai.comms.location.cbr_ptt --seconds 120 --out cbr_ptt.json`` (loopback only): a
media relay behind a :class:`~dunpai.comms.location.cbr_tunnel.CbrTunnelServer` in a child process
(the service side), a talker and a listener each behind their own tunnel client in this process,
real ``PttClient`` sessions. The talker alternates
spurts of talk (real-time Opus, floor request and release included) and silence, 0.5-2 s each
(seeded). The observer is the tunnel server: for each session and direction it records the size
and arrival (or departure) time of every message on the link. A two-sample Kolmogorov-Smirnov test
compares talking and silent periods (sizes, inter-arrival times); p > 0.01 for both means
indistinguishable at 1 %. The listener's decoded speech is checked against what was said, so the
voice did cross. Needs scipy (a development dependency).

``--capture`` adds the observer that matters on a real link: ``tshark`` on the loopback interface,
filtered to the tunnel's port, with kernel timestamps (``streams_capture``: TCP payload sizes and
inter-arrival times of each connection and direction, independent of either process's scheduling
of its own bookkeeping). The in-process observer's "in" times include the receiving event loop's
delays; the capture's do not.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dunpai.comms.location.cbr_tunnel import PTT_CBR, CbrTunnelClient, CbrTunnelServer, SlotSender
from dunpai.comms.location.constant_rate import CbrConfig
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.relay_ticket import Ticket, issue_ticket
from dunpai.comms.media.sframe import new_media_key

EDGE_S = 0.1  # packets this close to a talk/silence switch are not attributed to either


def _tone(seconds: float) -> codec.PCM:
    t = np.arange(int(codec.SAMPLE_RATE * seconds)) / codec.SAMPLE_RATE
    return (np.sin(2 * np.pi * 330 * t) * np.sin(2 * np.pi * 3 * t) * 10000).astype(np.int16)


def _ks(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import ks_2samp

    if len(a) < 2 or len(b) < 2:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0  # identical constant samples
    return float(ks_2samp(a, b).pvalue)


def _classify(seen: list[tuple[float, int]], spans: list[tuple[float, float, bool]]) -> dict[bool, Any]:
    """Sizes and inter-arrival gaps (within one period) of one stream, by talking / silent."""
    def period(t: float) -> tuple[int, bool] | None:
        for i, (a, b, talk) in enumerate(spans):
            if a + EDGE_S <= t < b - EDGE_S:
                return i, talk
        return None

    out: dict[bool, Any] = {True: ([], []), False: ([], [])}
    last: tuple[int, float] | None = None
    for t, size in seen:
        p = period(t)
        if p is None:
            last = None
            continue
        out[p[1]][0].append(float(size))
        if last is not None and last[0] == p[0]:
            out[p[1]][1].append(t - last[1])
        last = (p[0], t)
    return out


def _serve(conn: Connection, secret: bytes, cfg: CbrConfig) -> None:
    """Child process: the relay and the tunnel server (the service side, where the observer sits)."""
    async def go() -> None:
        relay = await start_relay(secret)
        static = X25519PrivateKey.generate()
        seen: dict[str, list[tuple[float, int]]] = {}
        server = CbrTunnelServer(relay.url, static, cfg,
                                 # wall clock: comparable with the talk periods timed in the parent
                                 observe=lambda s, d, _t, n: seen.setdefault(f"{s}/{d}", []).append((time.time(), n)))
        port = await server.start()
        conn.send((port, server.public_key))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        await server.stop()
        await relay.stop()
        conn.send((seen, SlotSender.of(PTT_CBR.interval_s).realtime))

    asyncio.run(go())


def _start_capture(port: int, out: Path) -> subprocess.Popen[bytes]:
    """tshark on lo for the tunnel's port: one line per packet (kernel time, connection, source
    port, TCP payload length)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        raise RuntimeError("--capture needs tshark")
    argv = [tshark, "-i", "lo", "-f", f"tcp port {port}", "-l", "-T", "fields", "-e", "frame.time_epoch",
            "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.len"]
    with open(out, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.PIPE)  # noqa: S603 (fixed argv)
    assert proc.stderr is not None
    for line in proc.stderr:  # "Capturing on 'Loopback: lo'" once it listens
        if b"Capturing on" in line:
            return proc
    raise RuntimeError("tshark did not start capturing")


def _captured(path: Path, port: int) -> dict[str, list[tuple[float, int]]]:
    """The capture as the four streams (connections in the order they opened: talker, listener)."""
    rows: dict[int, dict[bool, list[tuple[float, int]]]] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[3] or int(parts[3]) == 0:
            continue  # bare acknowledgements carry nothing
        to_client = int(parts[2]) == port
        rows.setdefault(int(parts[1]), {True: [], False: []})[to_client].append((float(parts[0]), int(parts[3])))
    conns = [rows[k] for k in sorted(rows)]
    if len(conns) != 2:
        raise RuntimeError(f"expected 2 tunnel connections in the capture, found {len(conns)}")
    (talker, listener) = conns
    return {"talker_to_relay": talker[False], "relay_to_listener": listener[True],
            "relay_to_talker": talker[True], "listener_to_relay": listener[False]}


def _ticket(secret: bytes, user: str) -> str:
    return issue_ticket(secret, Ticket("convoy", user, 1, time.time_ns() // 1_000_000 + 3_600_000))


async def measure(seconds: float = 60.0, seed: int = 7, capture: bool = False, realtime: bool = True
                  ) -> dict[str, Any]:
    """Relay and tunnel server in a child process (the service side, where the observer is); the
    two devices (tunnel client + ``PttClient`` each) in this one. ``capture``: also observe with
    tshark on the loopback interface; ``realtime``: the sending threads ask for real-time
    scheduling (setting ``comms.constant_rate.realtime``)."""
    cfg = replace(PTT_CBR, realtime=realtime)
    rng, secret = random.Random(seed), os.urandom(32)
    tmp = Path(tempfile.mkdtemp(prefix="dunpai-cbr-"))
    tshark: subprocess.Popen[bytes] | None = None
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(child, secret, cfg), daemon=True)
    proc.start()
    try:
        port, server_key = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        url = f"ws://127.0.0.1:{port}"
        if capture:
            tshark = _start_capture(port, tmp / "capture.tsv")
        tunnels = [CbrTunnelClient(url, server_key, cfg) for _ in range(2)]
        key = new_media_key("convoy", 1, ("talker", "listener"), os.urandom)
        talker = PttClient(await tunnels[0].start(), _ticket(secret, "talker"), key, "talker")
        await talker.connect()  # session 1 at the observer
        listener = PttClient(await tunnels[1].start(), _ticket(secret, "listener"), key, "listener")
        await listener.connect()  # session 2
        spans: list[tuple[float, float, bool]] = []
        said: list[codec.PCM] = []
        try:
            await asyncio.sleep(0.5)
            end, talking = time.time() + seconds, True
            while time.time() < end:
                dur = min(rng.uniform(0.5, 2.0), max(0.2, end - time.time()))
                start = time.time()
                if talking:
                    pcm = _tone(dur)
                    await talker.request_floor()
                    await talker.expect("floor_granted", timeout=10)
                    await talker.talk(pcm, pace=1.0)
                    await talker.release_floor()
                    said.append(pcm)
                else:
                    await asyncio.sleep(dur)
                spans.append((start, time.time(), talking))
                talking = not talking
            await asyncio.sleep(0.5)
        finally:
            await talker.close()
            await listener.close()
            for t in tunnels:
                await t.stop()
        parent.send("stop")
        seen: dict[str, list[tuple[float, int]]]
        seen, server_realtime = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    finally:
        if tshark is not None:
            await asyncio.sleep(0.5)  # let the last packets reach the capture
            tshark.terminate()
            tshark.wait(10)
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    streams = {"talker_to_relay": seen.get("1/in", []), "relay_to_listener": seen.get("2/out", []),
               "relay_to_talker": seen.get("1/out", []), "listener_to_relay": seen.get("2/in", [])}
    result: dict[str, Any] = {"seconds": seconds, "seed": seed, "interval_ms": PTT_CBR.interval_s * 1000,
                              "wire_bytes": PTT_CBR.wire_bytes, "talk_spurts": len(said), "tunnel_port": port,
                              "spans": [[round(a, 6), round(b, 6), t] for a, b, t in spans],
                              "observer": "tunnel server in the relay's process (child); devices in the parent",
                              "sender_realtime": {"relay_side": server_realtime,
                                                  "devices": SlotSender.of(PTT_CBR.interval_s).realtime},
                              "load_average_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
                              "cpus": os.cpu_count(),
                              "talking_share": round(sum(b - a for a, b, t in spans if t) /
                                                     max(1e-9, sum(b - a for a, b, _ in spans)), 3),
                              "streams": {}}
    observed: dict[str, dict[str, list[tuple[float, int]]]] = {"streams": streams}
    if capture:
        observed["streams_capture"] = _captured(tmp / "capture.tsv", port)
        result["observer_capture"] = "tshark -i lo, filter tcp port <tunnel>, kernel timestamps, TCP payload bytes"
    shutil.rmtree(tmp, ignore_errors=True)
    result["indistinguishable_at_1pct"] = {}
    for kind, group in observed.items():
        result[kind] = {name: _stats(stream, spans) for name, stream in group.items()}
        result["indistinguishable_at_1pct"][kind] = all(s["indistinguishable_at_1pct"] for s in result[kind].values())
    heard = listener.bursts
    result["bursts_heard"] = len(heard)
    result["similarity_min"] = round(min((codec.similarity(s, b.pcm()) for s, b in zip(said, heard, strict=False)),
                                         default=0.0), 3)
    opus_bps = 60 / PTT_CBR.interval_s
    result["bandwidth_note"] = (f"{PTT_CBR.wire_bytes / PTT_CBR.interval_s:.0f} B/s each way whenever the tunnel "
                                f"is open vs {opus_bps:.0f} B/s of Opus while talking")
    return result


def _stats(stream: list[tuple[float, int]], spans: list[tuple[float, float, bool]]) -> dict[str, Any]:
    parts = _classify(stream, spans)
    (ts, tg), (ss, sg) = parts[True], parts[False]
    size_p, gap_p = _ks(ts, ss), _ks(tg, sg)
    total_s = stream[-1][0] - stream[0][0] if len(stream) > 1 else 0.0
    return {
        "packets_talking": len(ts), "packets_silent": len(ss),
        "distinct_sizes": sorted({int(x) for x in ts + ss}),
        "ks_size_p": size_p, "ks_interarrival_p": gap_p,
        "indistinguishable_at_1pct": size_p is not None and size_p > 0.01 and gap_p is not None and gap_p > 0.01,
        "interarrival_ms_mean_talking": round(statistics.fmean(tg) * 1000, 3) if tg else None,
        "interarrival_ms_mean_silent": round(statistics.fmean(sg) * 1000, 3) if sg else None,
        "interarrival_ms_p5_p50_p95_talking": _quantiles(tg),
        "interarrival_ms_p5_p50_p95_silent": _quantiles(sg),
        "bytes_per_s": round(sum(n for _, n in stream) / total_s, 1) if total_s else None,
    }


def _quantiles(gaps: list[float]) -> list[float] | None:
    if len(gaps) < 20:
        return None
    q = statistics.quantiles(gaps, n=20)
    return [round(q[0] * 1000, 3), round(statistics.median(gaps) * 1000, 3), round(q[-1] * 1000, 3)]


def main(seconds: Annotated[float, typer.Option(help="measured seconds")] = 60.0,
         seed: Annotated[int, typer.Option(help="seed of the talk/silence periods")] = 7,
         out: Annotated[Path | None, typer.Option(help="write the result here as JSON")] = None,
         capture: Annotated[bool, typer.Option(help="also observe with tshark on lo (kernel timestamps)")] = False,
         ) -> None:
    """Measure constant-rate push-to-talk on loopback (real-time scheduling as the setting
    ``comms.constant_rate.realtime``, ``DUNPAI_CBR_REALTIME``, says)."""
    from dunpai.core.config import load_settings

    realtime = load_settings().comms.constant_rate.realtime
    result = asyncio.run(measure(seconds, seed, capture, realtime))
    text = json.dumps(result, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    typer.run(main)
