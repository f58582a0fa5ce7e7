"""Pure pieces: metadata stripping, file encryption, frames, safety numbers, sealed state, schema."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from dunpai.comms.client.state import LocalState, load_state, save_state
from dunpai.comms.errors import (
    AttachmentCorrupted,
    CommsError,
    DecryptionFailed,
    MalformedFrame,
    UnsupportedVersion,
)
from dunpai.comms.keys_port import MemoryKeys
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.attachments import FileKey, decrypt_file, encrypt_file
from dunpai.comms.protocol.metadata import strip_metadata
from dunpai.comms.protocol.safety import safety_number


def test_png_text_and_exif_chunks_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", "<x:xmpmeta><exif:GPSLatitude>22,49N</exif:GPSLatitude></x:xmpmeta>")
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info, exif=b"Exif\x00\x00GPSDATA")
    raw = out.getvalue()
    assert b"GPSLatitude" in raw
    clean = strip_metadata(raw)
    assert b"GPSLatitude" not in clean and b"GPSDATA" not in clean
    assert Image.open(io.BytesIO(clean)).size == (8, 8)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def test_mp4_location_boxes_blanked_in_place() -> None:
    xyz = _box(b"\xa9xyz", b"+22.8201+108.3324/")
    moov = _box(b"moov", _box(b"mvhd", b"\x00" * 20) + _box(b"udta", xyz)
                + _box(b"trak", _box(b"meta", b"Model-X")))
    video = _box(b"ftyp", b"isom\x00\x00\x02\x00") + moov + _box(b"mdat", b"frames")
    clean = strip_metadata(video)
    assert len(clean) == len(video)  # offsets into mdat stay valid
    assert b"+22.8201" not in clean and b"Model-X" not in clean and clean.endswith(b"mdatframes")


def test_webp_exif_removed() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="WEBP", exif=b"Exif\x00\x00GPSDATA-WEBP")
    raw = out.getvalue()
    assert b"GPSDATA-WEBP" in raw
    clean = strip_metadata(raw)
    assert b"GPSDATA-WEBP" not in clean
    assert Image.open(io.BytesIO(clean)).size == (8, 8)


def test_non_media_untouched() -> None:
    assert strip_metadata(b"plain text file") == b"plain text file"


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(1, 700))
def test_file_encryption_round_trip_and_tamper(data: bytes, chunk: int) -> None:
    ref, chunks = encrypt_file(data, "b1", "n", "m", chunk_size=chunk)
    assert decrypt_file(FileKey.from_content(ref.to_content()), chunks) == data
    with pytest.raises(AttachmentCorrupted):
        decrypt_file(ref, chunks[:-1] if len(chunks) > 1 else [chunks[0] + b"x"])
    if len(chunks) > 1:
        with pytest.raises(AttachmentCorrupted):
            decrypt_file(ref, list(reversed(chunks)))


def test_frames_versioned_and_strict() -> None:
    assert isinstance(f.parse_client_frame('{"v":1,"type":"ping","id":1}'), f.Ping)
    with pytest.raises(UnsupportedVersion):
        f.parse_client_frame('{"v":2,"type":"ping","id":1}')
    with pytest.raises(MalformedFrame):
        f.parse_client_frame('{"v":1,"type":"ping","id":1,"extra":0}')
    with pytest.raises(MalformedFrame):
        f.parse_client_frame('{"v":1,"type":"ack","id":1,"seqs":["1"]}')
    with pytest.raises(CommsError):
        f.parse_client_frame(b"\x00")


def test_safety_number_symmetric_and_key_sensitive() -> None:
    a, b = MemoryKeys().public_key(), MemoryKeys().public_key()
    assert safety_number("a", a, "b", b) == safety_number("b", b, "a", a)
    assert safety_number("a", a, "b", b) != safety_number("a", a, "b", MemoryKeys().public_key())


def test_state_sealed_and_bound_to_key(tmp_path: Path) -> None:
    keys = MemoryKeys()
    state = LocalState.new("alice", "d1")
    state.olm.new_one_time_keys(3)
    path = tmp_path / "state.sealed"
    save_state(state, path, keys)
    assert b"alice" not in path.read_bytes()
    again = load_state(path, keys)
    assert again.olm.curve25519 == state.olm.curve25519
    with pytest.raises(DecryptionFailed):
        load_state(path, MemoryKeys())
    (tmp_path / "other.sealed").write_bytes(path.read_bytes())  # bound to its file name too
    with pytest.raises(DecryptionFailed):
        load_state(tmp_path / "other.sealed", keys)


def test_schema_newer_than_code_refused(tmp_path: Path) -> None:
    from sqlalchemy import text

    from dunpai.comms.server.store import SqlStore
    from dunpai.core.errors import StateError

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = SqlStore.open(url, 0.0)
    with store.engine.begin() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "c0100_comms"
        c.execute(text("UPDATE alembic_version SET version_num = 'c9999_from_the_future'"))
    store.close()
    with pytest.raises(StateError, match="newer release"):
        SqlStore.open(url, 0.0)


def test_a_database_from_before_alembic_is_adopted_with_its_data(tmp_path: Path) -> None:
    from sqlalchemy import insert, inspect, select, text

    from dunpai.comms.server import tables as t
    from dunpai.comms.server.store import SqlStore
    from dunpai.core.db import make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as c:  # what the comms service's own version runner made
        t.metadata.create_all(c)
        c.execute(text("CREATE TABLE comms_schema_version (version INTEGER PRIMARY KEY, applied_at FLOAT NOT NULL)"))
        c.execute(text("INSERT INTO comms_schema_version VALUES (1, 0.0)"))
        c.execute(insert(t.users).values(user_id="wang", signing_key="k", created_at=1.0))
    engine.dispose()
    store = SqlStore.open(url, 0.0)
    with store.engine.connect() as c:
        assert c.execute(select(t.users.c.user_id)).scalars().all() == ["wang"]
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "c0100_comms"
        assert not inspect(c).has_table("comms_schema_version")
    store.close()


def test_the_two_databases_keep_their_own_tables(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from dunpai.comms.server.store import SqlStore
    from dunpai.core.db import init_schema, make_engine

    comms = SqlStore.open(f"sqlite:///{tmp_path / 'comms.db'}", 0.0)
    risk = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    init_schema(risk)
    comms_tables, risk_tables = (set(inspect(e).get_table_names()) for e in (comms.engine, risk))
    assert {"comms_users", "comms_queue"} <= comms_tables and not any(n.startswith("audit") for n in comms_tables)
    assert {"audit_entries", "case_cases"} <= risk_tables and not any(n.startswith("comms_") for n in risk_tables)
    comms.close()
    risk.dispose()


def test_key_claims_capped_per_device(tmp_path: Path) -> None:
    from dunpai.comms.errors import RateLimited
    from dunpai.comms.server.service import CommsService, Principal, ServiceConfig
    from dunpai.comms.server.store import SqlStore

    now = [1000.0]
    store = SqlStore.open(f"sqlite:///{tmp_path / 'c.db'}", now[0])
    svc = CommsService(store, lambda: now[0], ServiceConfig(claims_per_minute=5))
    me = Principal("mallory", "d1")
    frame = f.KeysClaim(id=1, devices=[f.DeviceRef(user="alice", device_id="d1")] * 5)
    assert svc.claim_keys(me, frame) == {"claims": []}
    with pytest.raises(RateLimited):
        svc.claim_keys(me, f.KeysClaim(id=2, devices=[f.DeviceRef(user="alice", device_id="d1")]))
    now[0] += 60  # the bucket refills with time
    svc.claim_keys(me, frame)
    store.close()
