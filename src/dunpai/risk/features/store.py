"""Online state stores: one contract, two backends (in-process and Redis).

A store maps (key kind, key) to a state array and remembers ``applied_seq``: the sequence number
of the last logged event folded into the state. After a crash the service replays the durable
event log from ``applied_seq + 1``, so state always equals a clean replay of the accepted events.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

StateKey = tuple[str, str]


class StateStore(Protocol):
    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]: ...

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        """Write states and advance ``applied_seq`` together (atomically where the backend can)."""
        ...

    def applied_seq(self) -> int: ...

    def count(self, kind: str) -> int: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class MemoryStore:
    """In-process dict of states; restart-safe through snapshots plus event-log replay.

    States are held as ``bytes`` (the arrays' raw doubles), not as arrays: bytes are invisible to
    Python's cyclic garbage collector, whose full collections would otherwise walk every tracked
    card, account and terminal — a pause that grows with the number of entities."""

    _MAGIC = b"DPST1\n"

    def __init__(self, snapshot_path: Path | None = None) -> None:
        self._data: dict[StateKey, bytes] = {}
        self._seq = 0
        self.snapshot_path = snapshot_path
        if snapshot_path is not None and snapshot_path.exists():
            self._load(snapshot_path)

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        get = self._data.get
        return [None if (raw := get(k)) is None else array("d", raw) for k in keys]

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        data = self._data
        for key, state in items:
            data[key] = state.tobytes()
        self._seq = max(self._seq, applied_seq)

    def applied_seq(self) -> int:
        return self._seq

    def count(self, kind: str) -> int:
        return sum(1 for k in self._data if k[0] == kind)

    def clear(self) -> None:
        self._data.clear()
        self._seq = 0

    def close(self) -> None:
        if self.snapshot_path is not None:
            self.snapshot()

    def items(self) -> Iterable[tuple[StateKey, array[float]]]:
        return ((key, array("d", raw)) for key, raw in self._data.items())

    def snapshot(self) -> None:
        """Write every state and ``applied_seq`` to the snapshot file atomically (write, fsync, rename)."""
        if self.snapshot_path is None:
            return
        tmp = self.snapshot_path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(self._MAGIC + struct.pack("<qq", self._seq, len(self._data)))
            for (kind, key), state in self._data.items():
                kb, ob = kind.encode(), key.encode()
                fh.write(struct.pack("<HHI", len(kb), len(ob), len(state) // 8) + kb + ob + state)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.snapshot_path)

    def _load(self, path: Path) -> None:
        data = path.read_bytes()
        if not data.startswith(self._MAGIC):
            raise ValueError(f"{path.name} is not a Dunpai state snapshot")
        pos = len(self._MAGIC)
        self._seq, n = struct.unpack_from("<qq", data, pos)
        pos += 16
        for _ in range(n):
            lk, lo, ls = struct.unpack_from("<HHI", data, pos)
            pos += 8
            kind = data[pos:pos + lk].decode()
            key = data[pos + lk:pos + lk + lo].decode()
            pos += lk + lo
            self._data[(kind, key)] = data[pos:pos + 8 * ls]
            pos += 8 * ls


class RedisStore:
    """State in Redis, for many workers: one hash per key kind, ``applied_seq`` beside it.

    States and ``applied_seq`` are written in one MULTI/EXEC transaction.
    """

    def __init__(self, url: str, prefix: str = "dunpai:state:") -> None:
        import redis

        self._r = redis.Redis.from_url(url)
        self._prefix = prefix

    def _h(self, kind: str) -> str:
        return f"{self._prefix}{kind}"

    def get_many(self, keys: Sequence[StateKey]) -> list[array[float] | None]:
        pipe = self._r.pipeline(transaction=False)
        for kind, key in keys:
            pipe.hget(self._h(kind), key)
        out: list[array[float] | None] = []
        for raw in pipe.execute():
            if raw is None:
                out.append(None)
            else:
                state = array("d")
                state.frombytes(raw)
                out.append(state)
        return out

    def put_many(self, items: Iterable[tuple[StateKey, array[float]]], applied_seq: int) -> None:
        pipe = self._r.pipeline(transaction=True)
        for (kind, key), state in items:
            pipe.hset(self._h(kind), key, state.tobytes())
        # Never move applied_seq backwards (a stale writer must not undo progress).
        pipe.eval("local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
                  "if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
                  1, f"{self._prefix}__seq", applied_seq)
        pipe.execute()

    def applied_seq(self) -> int:
        raw = self._r.get(f"{self._prefix}__seq")
        return int(raw) if raw is not None else 0  # type: ignore[arg-type]

    def count(self, kind: str) -> int:
        return int(self._r.hlen(self._h(kind)))  # type: ignore[arg-type]

    def clear(self) -> None:
        keys = list(self._r.scan_iter(match=f"{self._prefix}*"))
        if keys:
            self._r.delete(*keys)

    def close(self) -> None:
        self._r.close()
