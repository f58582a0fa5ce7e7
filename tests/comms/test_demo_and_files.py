"""The demo's promises (ciphertext only at the service, GPS stripped) and encrypted file transfer."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from dunpai.cli.demos.comms import GPS_LAT, GPS_LON, gps_of, main, photo_with_gps
from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import AttachmentCorrupted
from dunpai.comms.server import tables as t
from dunpai.comms.server.launch import start_service

from .helpers import drain, run


def _gps_needles() -> list[bytes]:
    needles = []
    for value in (*GPS_LAT, *GPS_LON):
        needles += [struct.pack(">LL", *value), struct.pack("<LL", *value)]
    return [*needles, b"DunpaiPhone", b"maker-note-serial-0042"]


def test_demo_service_sees_only_ciphertext(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    main(out, tmp_path / "work", say=lambda *_: None)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report) >= {"messages", "server_db", "server_log"}
    assert len(report["messages"]) == 6
    assert all(m["delivered_to"] for m in report["messages"][:5])
    assert report["messages"][4]["delivered_to"] == ["bob/d1"]  # carol was removed
    assert report["messages"][5]["queued_for"] == ["carol/d1"]  # still queued (carol offline)
    assert report["server_tables"]["comms_queue"]["rows"] == 1
    assert report["removed_member"] == {"user": "carol", "received": False, "could_decrypt_ciphertext": False}
    assert report["photo"]["sent_gps_tags"] > 0 and report["photo"]["delivered_gps_tags"] == 0

    db, log = Path(report["server_db"]), Path(report["server_log"])
    stored = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    stored += log.read_bytes()
    assert log.read_text(encoding="utf-8").strip(), "the service wrote a log"
    for m in report["messages"]:
        for part in [m["plaintext"], *m["plaintext"].split(" / ")]:
            assert part.encode() not in stored, part
    for needle in _gps_needles():
        assert needle not in stored
    assert b"127.0.0.1" not in log.read_bytes().replace(b"listening", b"")  # no peer addresses logged


def test_photo_delivered_without_gps_and_large_file_chunked(sqlite_url: str) -> None:
    async def scenario() -> None:
        svc = await start_service(sqlite_url)
        try:
            alice = await new_user(svc.url, "alice", svc.service.create_invite())
            bob = await new_user(svc.url, "bob", svc.service.create_invite())
            photo = photo_with_gps()
            assert gps_of(photo)
            await alice.send_file("bob", photo, "p.jpg", "image/jpeg")
            got = (await drain(bob, 1))[0]
            assert got.kind == "file" and got.file is not None
            delivered = await bob.fetch_file(got.file)
            assert gps_of(delivered) == {} and delivered.startswith(b"\xff\xd8")

            big = os.urandom(600_000)  # several chunks
            await alice.send_file("bob", big, "big.bin", "application/octet-stream")
            ref = (await drain(bob, 1))[0].file
            assert ref is not None and ref.chunks > 2
            assert await bob.fetch_file(ref) == big

            # a chunk altered at rest is detected before decryption
            with svc.store.engine.begin() as c:
                c.execute(t.blob_chunks.update().where(t.blob_chunks.c.blob_id == ref.blob_id,
                                                       t.blob_chunks.c.idx == 1).values(data=b"\x00" * 32))
            with pytest.raises(AttachmentCorrupted):
                await bob.fetch_file(ref)
            for c in (alice, bob):
                await c.close()
        finally:
            await svc.stop()

    run(scenario())
