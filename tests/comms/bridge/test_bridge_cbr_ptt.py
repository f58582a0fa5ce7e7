"""Constant-rate mode on the push-to-talk media path (location/cbr_tunnel.py): real PttClient
sessions through the tunnel to the relay; the observer at the relay end sees one packet size and
the fixed 20 ms schedule whether the talker talks or not; voice still arrives; a client with the
wrong pinned key gets nothing through."""

from __future__ import annotations

import asyncio
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dunpai.comms.errors import CommsError
from dunpai.comms.location.cbr_ptt import measure
from dunpai.comms.location.cbr_tunnel import PTT_CBR, CbrTunnelClient, CbrTunnelServer
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.sframe import new_media_key
from tests.comms.helpers import run


def test_constant_rate_ptt_hides_talk_from_an_observer_at_the_relay() -> None:
    result = asyncio.run(measure(seconds=8.0, seed=3))
    assert result["talk_spurts"] >= 2 and result["bursts_heard"] == result["talk_spurts"]
    assert result["similarity_min"] > 0.8  # the voice crossed the tunnel
    for name, s in result["streams"].items():
        assert s["distinct_sizes"] == [PTT_CBR.wire_bytes], name  # voice, floor messages and cover alike
        assert s["packets_talking"] > 0 and s["packets_silent"] > 0, name
        # The schedule's timing (interarrival means and medians in both periods, bytes per second) is a
        # measurement of a quiet machine, not a test that holds while another test run loads this one:
        # bench/constant_rate_bench.py measures it over minutes (bench/results/constant_rate_ptt*.json,
        # docs/bridge.md).


def test_tunnel_refuses_a_client_pinning_another_key() -> None:
    async def scenario() -> None:
        relay = await start_relay(os.urandom(32))
        server = CbrTunnelServer(relay.url, X25519PrivateKey.generate())
        url = f"ws://127.0.0.1:{await server.start()}"
        wrong = CbrTunnelClient(url, X25519PrivateKey.generate().public_key().public_bytes_raw())
        right = CbrTunnelClient(url, server.public_key)
        key = new_media_key("g", 1, ("a",), os.urandom)
        try:
            ok = PttClient(await right.start(), relay.ticket("g", "a", 1), key, "a")
            assert (await ok.connect())["user"] == "a"
            await ok.close()
            bad = PttClient(await wrong.start(), relay.ticket("g", "a", 1), key, "a")
            with pytest.raises((CommsError, TimeoutError)):
                await bad.connect()
            await bad.close()
        finally:
            await right.stop()
            await wrong.stop()
            await server.stop()
            await relay.stop()

    run(scenario(), timeout=30)
