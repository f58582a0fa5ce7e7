"""The constant-rate tunnel's sender thread (location/cbr_tunnel.py, SlotSender): frames leave on the
absolute 20 ms grid of the monotonic clock, voice and cover alike, from one thread that is not the
event loop; a session's frames are still all one size.

How close to the grid they leave is a measurement of this machine at that moment, not a property a
test can hold while another test run loads the machine: ``bench/constant_rate_bench.py`` measures
it (``bench/results/constant_rate*.json``). The test checks what holds under any load."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dunpai.comms.location.cbr_tunnel import PTT_CBR, CbrTunnelClient, CbrTunnelServer, SlotSender
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.sframe import new_media_key
from tests.comms.bridge.test_bridge_media import tone
from tests.comms.helpers import run


def _grid_offset_ms(t: float) -> float:
    """Distance of ``t`` (monotonic seconds) from the nearest slot of the 20 ms grid."""
    step = PTT_CBR.interval_s
    off = t % step
    return min(off, step - off) * 1000


def test_frames_leave_on_the_absolute_grid_from_the_sender_thread_talking_or_not() -> None:
    sent: list[tuple[float, int, str, bool]] = []   # (time, size, thread, talking)
    talking = threading.Event()

    def observe(_session: int, direction: str, t: float, n: int) -> None:
        if direction == "out":
            sent.append((t, n, threading.current_thread().name, talking.is_set()))

    async def scenario() -> None:
        relay = await start_relay(os.urandom(32))
        server = CbrTunnelServer(relay.url, X25519PrivateKey.generate(), observe=observe)
        client = CbrTunnelClient(f"ws://127.0.0.1:{await server.start()}", server.public_key)
        key = new_media_key("g", 1, ("a",), os.urandom)
        p = PttClient(await client.start(), relay.ticket("g", "a", 1), key, "a")
        try:
            await p.connect()
            await asyncio.sleep(0.6)
            await p.request_floor()
            await p.expect("floor_granted")
            talking.set()
            await p.talk(tone(0.6), pace=1.0)
            talking.clear()
            await p.release_floor()
            await asyncio.sleep(0.6)
        finally:
            await p.close()
            await client.stop()
            await server.stop()
            await relay.stop()

    run(scenario(), timeout=30)
    assert SlotSender.of(PTT_CBR.interval_s).realtime in (True, False)  # the thread ran and reported
    assert {n for _, n, _, _ in sent} == {PTT_CBR.wire_bytes}
    assert {name for _, _, name, _ in sent} == {"dunpai-cbr-sender"}  # never the event loop's thread
    # the observer's clock is the grid's clock (the same clock, not two readings that happen to agree)
    assert time.get_clock_info("perf_counter").implementation == time.get_clock_info("monotonic").implementation
    for period in (True, False):
        offsets = [_grid_offset_ms(t) for t, _, _, talk in sent if talk is period]
        assert len(offsets) >= 5, period  # frames left while talking and while silent alike
