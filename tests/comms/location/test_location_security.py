"""Location security: E2E location at a chosen precision, constant-rate framing, and no client
address in the service's database or log after traffic."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import DecryptionFailed, MalformedFrame, TooLarge
from dunpai.comms.location.constant_rate import CbrConfig, CbrReceiver, CbrSender, send_times
from dunpai.comms.location.share import coarsen, location_content, parse_location
from dunpai.comms.protocol.padding import BUCKET, pad_json
from dunpai.comms.server.launch import attach_log, start_service
from tests.comms.helpers import run

NANNING = (22.820095, 108.319077)


def test_precision_levels_hide_the_exact_position() -> None:
    exact = coarsen(*NANNING, "exact", at_ms=1)
    km = coarsen(*NANNING, "km", at_ms=1)
    city = coarsen(*NANNING, "city", at_ms=1)
    assert abs(exact.lat - NANNING[0]) < 1e-5 and abs(exact.lon - NANNING[1]) < 1e-5
    assert (km.lat, km.lon, km.accuracy_m) == (22.825, 108.315, 1000)
    assert (city.lat, city.lon, city.accuracy_m) == (22.85, 108.35, 10000)
    # every point of the same 0.01 degree cell gives the same answer: nothing finer leaks
    assert coarsen(22.8201, 108.3101, "km", 1) == coarsen(22.8299, 108.3199, "km", 1)


@given(st.floats(-90, 90), st.floats(-180, 180), st.sampled_from(["exact", "km", "city"]))
def test_coarsened_location_round_trips_and_stays_close(lat: float, lon: float, precision: str) -> None:
    loc = coarsen(lat, lon, precision, at_ms=5)  # type: ignore[arg-type]
    assert parse_location(location_content(loc)) == loc
    grid = {"exact": 1e-5, "km": 0.01, "city": 0.1}[precision]
    assert abs(loc.lat - lat) <= grid and abs(loc.lon - lon) <= grid


def test_bad_locations_are_refused() -> None:
    with pytest.raises(MalformedFrame):
        coarsen(91.0, 0.0, "km", 1)
    with pytest.raises(MalformedFrame):
        coarsen(float("nan"), 0.0, "km", 1)
    with pytest.raises(MalformedFrame):
        coarsen(0.0, 0.0, "street", 1)  # type: ignore[arg-type]
    content = location_content(coarsen(*NANNING, "city", 1))
    with pytest.raises(MalformedFrame):
        parse_location({**content, "accuracy_m": 1})  # claims more precision than it has


def test_location_travels_end_to_end_only(tmp_path: Path) -> None:
    db = tmp_path / "comms.db"

    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{db}")
        a = await new_user(svc.url, "wang", svc.service.create_invite())
        b = await new_user(svc.url, "li", svc.service.create_invite())
        try:
            await a.send_content("li", location_content(coarsen(*NANNING, "km", at_ms=42)))
            got = await b.receive(10)
            assert got.kind == "location" and got.content is not None
            assert parse_location(got.content).lat == 22.825
        finally:
            await a.close()
            await b.close()
            await svc.stop()

    run(scenario())
    assert b"22.825" not in db.read_bytes() and b"108.315" not in db.read_bytes()


def test_payloads_are_padded_to_buckets() -> None:
    sizes = {len(pad_json({"body": "x" * n})) for n in range(0, 200)}
    assert sizes == {BUCKET}


def test_constant_rate_frames_have_one_size_and_round_trip() -> None:
    key, cfg = os.urandom(32), CbrConfig()
    tx, rx = CbrSender(key, cfg), CbrReceiver(key, cfg)
    frames = [tx.frame(b"v" * n) for n in (0, 1, 45, 60)] + [tx.frame(None) for _ in range(3)]
    assert {len(w) for w in frames} == {cfg.wire_bytes}
    opened = [rx.open(w) for w in frames]
    assert opened[:4] == [b"", b"v", b"v" * 45, b"v" * 60] and opened[4:] == [None, None, None]
    with pytest.raises(DecryptionFailed, match="replayed"):
        rx.open(frames[-1])
    tampered = CbrSender(key, cfg, counter=100).frame(None)
    with pytest.raises(DecryptionFailed, match="authentication"):
        rx.open(tampered[:-1] + bytes([tampered[-1] ^ 1]))
    with pytest.raises(TooLarge):
        tx.frame(b"x" * 61)
    assert send_times(10.0, cfg, 3) == [10.0, 10.02, 10.04]


def test_no_client_address_in_database_or_log_after_traffic(tmp_path: Path) -> None:
    db, log = tmp_path / "comms.db", tmp_path / "service.log"
    handler = attach_log(log)

    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{db}")
        a = await new_user(svc.url, "wang", svc.service.create_invite())
        b = await new_user(svc.url, "li", svc.service.create_invite())
        try:
            for i in range(5):
                await a.send_text("li", f"m{i}")
                await b.receive(10)
            await a.send_file("li", b"data" * 100, "f.bin", "application/octet-stream")
            await b.receive(10)
        finally:
            await a.close()
            await b.close()
            await svc.stop()

    try:
        run(scenario())
    finally:
        logging.getLogger("dunpai.comms.server").removeHandler(handler)
        handler.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert log.read_bytes()  # the log was written
    for needle in (b"127.0.0.1", b"localhost", b"::1"):
        assert needle not in stored
