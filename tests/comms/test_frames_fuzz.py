"""Malformed frames (Hypothesis): each is answered by an error frame; the connection and the service
carry on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.canonical import auth_bytes
from dunpai.comms.server.launch import start_service


@dataclass
class Live:
    url: str
    ws: ClientConnection
    loop: asyncio.AbstractEventLoop


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("fuzz") / "comms.db"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def boot() -> None:
        svc = await start_service(f"sqlite:///{db}")
        box["svc"] = svc
        box["alice"] = await new_user(svc.url, "alice", svc.service.create_invite())
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(boot()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(20)
    svc, alice = box["svc"], box["alice"]
    stack = contextlib.ExitStack()
    ws = stack.enter_context(connect(svc.url, max_size=f.MAX_FRAME_BYTES))
    nonce = json.loads(ws.recv())["nonce"]
    # a second device of alice, registered over the raw connection
    from dunpai.comms.protocol.canonical import b64e, device_keys_bytes
    from dunpai.comms.protocol.olm import DeviceCrypto

    dev = DeviceCrypto("alice", "fuzz")
    sig = dev.sign(auth_bytes(nonce, "alice", "fuzz", "register"))
    ws.send(f.encode(f.Register(
        id=1, user="alice", device_id="fuzz", user_key=b64e(alice.keys.public_key()),
        device_keys=f.DeviceKeysBody(curve25519=dev.curve25519, ed25519=dev.ed25519),
        device_sig=b64e(alice.keys.sign(device_keys_bytes("alice", "fuzz", dev.curve25519, dev.ed25519))),
        auth_sig=sig)))
    assert json.loads(ws.recv())["type"] == "ok"
    yield Live(svc.url, ws, loop)
    stack.close()

    async def down() -> None:
        await alice.close()
        await svc.stop()

    asyncio.run_coroutine_threadsafe(down(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
frame_like = st.fixed_dictionaries(
    {"v": st.one_of(st.just(1), st.integers(-3, 5), st.text(max_size=3), st.none()),
     "type": st.one_of(st.sampled_from(sorted(f.CLIENT_FRAMES)), st.text(max_size=12)),
     "id": st.one_of(st.integers(-(2**60), 2**60), st.text(max_size=5))},
    optional={"user": json_values, "group_id": json_values, "messages": json_values, "seqs": json_values,
              "payload": json_values, "devices": json_values, "data": json_values, "extra": json_values},
)
junk = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    frame_like.map(json.dumps),
    st.binary(max_size=64),
)


def _ping(ws: ClientConnection, rid: int) -> None:
    ws.send(json.dumps({"v": 1, "type": "ping", "id": rid}))
    while True:
        reply = json.loads(ws.recv(timeout=5))
        if reply.get("id") == rid:
            assert reply["type"] == "ok"
            return


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=junk)
def test_malformed_frames_refused_connection_unharmed(live: Live, raw: str | bytes) -> None:
    try:
        parsed = f.parse_client_frame(raw)
        expected = None
    except CommsError as exc:
        parsed, expected = None, exc.code
    live.ws.send(raw)
    if parsed is not None and parsed.id == 0:  # a valid "no answer wanted" request
        _ping(live.ws, 2**40)
        return
    while True:
        reply = json.loads(live.ws.recv(timeout=5))
        if reply["type"] in ("ok", "error"):
            break  # pushes (deliveries, group events) may come first
    if expected is not None:
        assert reply["type"] == "error" and reply["code"] == expected
    _ping(live.ws, 2**40)


def test_unsupported_version_named_in_error(live: Live) -> None:
    live.ws.send(json.dumps({"v": 2, "type": "ping", "id": 7}))
    reply = json.loads(live.ws.recv(timeout=5))
    assert (reply["type"], reply["code"], reply["id"]) == ("error", "unsupported_version", 7)
    assert "supported: [1]" in reply["message"]


def test_oversized_frame_closes_only_that_connection(live: Live) -> None:
    with connect(live.url, max_size=None) as ws:
        ws.recv()
        ws.send("x" * (f.MAX_FRAME_BYTES + 10))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    _ping(live.ws, 99)
    with connect(live.url) as ws:  # the service still accepts connections
        assert json.loads(ws.recv(timeout=5))["type"] == "challenge"


def test_unauthenticated_junk_then_too_many_auth_failures(tmp_path: Path, live: Live) -> None:
    with connect(live.url) as ws:
        ws.recv()
        ws.send(json.dumps({"v": 1, "type": "ping", "id": 1}))
        assert json.loads(ws.recv(timeout=5))["code"] == "not_authenticated"
        for i in range(10):
            try:
                ws.send(json.dumps({"v": 1, "type": "login", "id": i, "user": "alice", "device_id": "d1",
                                    "auth_sig": "AAAA"}))
                reply = json.loads(ws.recv(timeout=5))
            except ConnectionClosed:
                break
            assert reply["code"] == "auth_failed"
        else:
            pytest.fail("connection not closed after repeated failed logins")
