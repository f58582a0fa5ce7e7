"""One contract, every state store: the embedded in-process store and Redis."""

from __future__ import annotations

import uuid
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from dunpai.risk.features.store import MemoryStore, RedisStore, StateStore
from tests.services import port_open, services_required


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore(tmp_path / "snap")
        return
    if not port_open("127.0.0.1", 6379):
        if services_required():
            pytest.fail("Redis is required (DUNPAI_REQUIRE_SERVICES=1) but 127.0.0.1:6379 is closed")
        pytest.skip("Redis not reachable on 127.0.0.1:6379")
    s = RedisStore("redis://127.0.0.1:6379/0", prefix=f"dunpai-test-{uuid.uuid4().hex}:")
    yield s
    s.clear()
    s.close()


def test_round_trip_and_missing(store: StateStore) -> None:
    a = array("d", [1.0, 2.5, -3.0])
    store.put_many([(("card", "c1"), a)], 7)
    got = store.get_many([("card", "c1"), ("card", "nope"), ("terminal", "c1")])
    assert got[0] is not None and list(got[0]) == [1.0, 2.5, -3.0]
    assert got[1] is None and got[2] is None
    assert store.applied_seq() == 7


def test_applied_seq_never_goes_back(store: StateStore) -> None:
    store.put_many([], 10)
    store.put_many([], 4)
    assert store.applied_seq() == 10


def test_count_and_clear(store: StateStore) -> None:
    store.put_many([(("card", f"c{i}"), array("d", [float(i)])) for i in range(5)], 1)
    store.put_many([(("terminal", "t"), array("d", [0.0]))], 2)
    assert store.count("card") == 5 and store.count("terminal") == 1
    store.clear()
    assert store.count("card") == 0 and store.applied_seq() == 0


def test_returned_state_is_not_aliased_by_later_writes(store: StateStore) -> None:
    store.put_many([(("card", "c"), array("d", [1.0]))], 1)
    first = store.get_many([("card", "c")])[0]
    store.put_many([(("card", "c"), array("d", [2.0]))], 2)
    assert first is not None and first[0] == 1.0


def test_memory_snapshot_restores(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "snap")
    s.put_many([(("card", "ключ-卡"), array("d", [4.0, 5.0]))], 42)
    s.snapshot()
    again = MemoryStore(tmp_path / "snap")
    got = again.get_many([("card", "ключ-卡")])[0]
    assert again.applied_seq() == 42 and got is not None and list(got) == [4.0, 5.0]


def test_memory_snapshot_rejects_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "snap").write_bytes(b"not a snapshot")
    with pytest.raises(ValueError, match="not a Dunpai state snapshot"):
        MemoryStore(tmp_path / "snap")
