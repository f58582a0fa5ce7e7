"""Per-user quotas of the comms service (issue 14, item 15): a file declared at 1 GiB is refused
before any of it is stored; one user's files together are bounded; a user sending 200 messages at
once is held to a burst and a rate. The clock is the service's own: no waiting in the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dunpai.comms.errors import RateLimited, TooLarge
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.canonical import b64e
from dunpai.comms.server.service import CommsService, Principal, ServiceConfig
from dunpai.comms.server.store import SqlStore

MIB = 1024 * 1024
ME = Principal("mallory", "d1")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[CommsService, list[float]]]:
    now = [1000.0]
    store = SqlStore.open(f"sqlite:///{tmp_path / 'c.db'}", now[0])
    yield CommsService(store, lambda: now[0], ServiceConfig(user_blob_bytes=12 * MIB)), now
    store.close()


def chunk(blob: str, total: int, index: int = 0) -> f.BlobPut:
    return f.BlobPut(id=1, blob_id=blob, index=index, total=total, data=b64e(b"\0" * 1024))


def test_a_file_declared_past_the_limit_is_refused_before_anything_is_stored(
        service: tuple[CommsService, list[float]]) -> None:
    svc, _ = service
    gib_in_chunks = 1024 * MIB // f.BLOB_CHUNK_BYTES
    with pytest.raises(TooLarge, match="at most 100 MiB"):
        svc.put_chunk(ME, chunk("huge", gib_in_chunks))
    assert svc.store.blob("huge") is None
    assert svc.put_chunk(ME, chunk("fine", 4))["index"] == 0  # a 1 MiB file is welcome


def test_one_users_files_together_are_bounded(service: tuple[CommsService, list[float]]) -> None:
    svc, now = service
    per_file = 4 * MIB // f.BLOB_CHUNK_BYTES
    for i in range(3):  # 12 MiB: the quota this service was given
        svc.put_chunk(ME, chunk(f"file-{i}", per_file))
    with pytest.raises(TooLarge, match="quota"):
        svc.put_chunk(ME, chunk("one-more", per_file))
    svc.put_chunk(Principal("alice", "d1"), chunk("alices", per_file))  # another user's quota is their own
    now[0] += svc.config.blob_ttl_s + 1  # stored files expire, and with them what they counted
    svc.put_chunk(ME, chunk("after-expiry", per_file))


def test_a_user_sending_200_messages_at_once_is_held_to_the_burst(service: tuple[CommsService, list[float]]) -> None:
    svc, now = service
    send = f.Send(id=1, msg_id="m", messages=[f.ToDevice(user="nobody", device_id="d1", payload="x")])
    sent = limited = 0
    for _ in range(200):
        try:
            svc.send(ME, send)
            sent += 1
        except RateLimited:
            limited += 1
    assert (sent, limited) == (svc.config.message_burst, 200 - svc.config.message_burst)
    with pytest.raises(RateLimited):
        svc.send(Principal("mallory", "d2"), send)  # another device of the same user shares the bucket
    svc.send(Principal("alice", "d1"), send)  # other users are not held back
    now[0] += 60  # a minute later the rate has refilled the bucket (up to the burst)
    for _ in range(svc.config.message_burst):
        svc.send(ME, send)
