"""The app's history on the device: a log of records in segments sealed by the key store.

Each segment file (``h-00000042.sealed``) is one envelope from the key store's recipe (the comms
port's ``seal``: a fresh data key per segment, wrapped by ``comms.state-kek`` in the PKCS#11 token
or the software store). Nothing is written in clear: not the text, not file names, not group names,
not who talks with whom. Records are buffered and written as one segment at most every
``flush_s`` (one key-store operation per segment, not per message) and when the app stops.

Each segment names the SHA-256 of the segment before it and is sealed with its own file name as
associated data, so a segment that is removed, swapped, renamed or altered is detected when the
history is read (:class:`HistoryDamaged`). A *snapshot* segment holds the whole state; loading starts
at the newest one, and :meth:`HistoryStore.compact` writes one and deletes the segments before it.
Files are written to a temporary name and renamed (a crash leaves whole segments only).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path
from typing import IO, Any

from dunpai.comms.errors import CommsError
from dunpai.comms.keys_port import StateSealer

FORMAT = "dunpai-app-history-v1"
_NAME = re.compile(r"^h-(\d{8})\.sealed$")


LOCK_FILE = "app.lock"


class HistoryDamaged(CommsError):
    code = "history_damaged"


def lock_device(home: Path) -> IO[str]:
    """One client at a time on a device directory (the app or the terminal client): two would fork
    the device's session state and its history. Held until the returned file is closed."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fh = open(home / LOCK_FILE, "w", encoding="utf-8")  # noqa: SIM115 - held for the client's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        from dunpai.comms.errors import Conflict

        raise Conflict(f"another client is already running on {home}") from exc
    return fh


class HistoryStore:
    def __init__(self, directory: Path, sealer: StateSealer, owner: str, *, flush_s: float = 0.1) -> None:
        self.dir = directory
        self.sealer = sealer
        self.owner = owner            # user/device: bound into every segment
        self.flush_s = flush_s
        self._pending: list[dict[str, Any]] = []
        self._next = 1
        self._prev = ""
        self._timer: asyncio.TimerHandle | None = None
        self.segments = 0

    def _aad(self, name: str) -> bytes:
        return f"{FORMAT}:{self.owner}:{name}".encode()

    def _files(self) -> list[tuple[int, Path]]:
        if not self.dir.exists():
            return []
        found = []
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def load(self) -> list[dict[str, Any]]:
        """All records, in order, from the newest snapshot on. Raises ``HistoryDamaged``."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        files = self._files()
        bodies: list[tuple[int, bytes, dict[str, Any]]] = []
        for n, path in files:
            raw = path.read_bytes()
            try:
                body = json.loads(self.sealer.open(raw, aad=self._aad(path.name)))
            except (CommsError, ValueError) as exc:
                raise HistoryDamaged(f"history segment {path.name} cannot be read") from exc
            if body.get("format") != FORMAT:
                raise HistoryDamaged(f"history segment {path.name} has an unknown format")
            bodies.append((n, raw, body))
        start = max((i for i, (_, _, b) in enumerate(bodies) if b.get("snapshot")), default=0)
        records: list[dict[str, Any]] = []
        prev = ""
        for n, raw, body in bodies[start:]:
            if not body.get("snapshot") and body.get("prev") != prev:
                raise HistoryDamaged(f"history segment before h-{n:08d} is missing or altered")
            records += body["records"]
            prev = hashlib.sha256(raw).hexdigest()
        self._next = (files[-1][0] + 1) if files else 1
        self._prev = prev
        self.segments = len(bodies) - start
        return records

    def append(self, record: dict[str, Any]) -> None:
        """Buffer a record; it is sealed and written within ``flush_s`` (or by :meth:`flush`)."""
        self._pending.append(record)
        if self._timer is None:
            with contextlib.suppress(RuntimeError):  # no running loop: written at the next flush
                self._timer = asyncio.get_running_loop().call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        self._timer = None
        if self._pending:
            records, self._pending = self._pending, []
            self._write({"format": FORMAT, "prev": self._prev, "records": records})

    def compact(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` (the whole state) as a snapshot segment and delete the older segments."""
        self.flush()
        old = self._files()
        self._write({"format": FORMAT, "snapshot": True, "prev": "", "records": records})
        for _, path in old:
            path.unlink(missing_ok=True)
        self.segments = 1

    def _write(self, body: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"h-{self._next:08d}.sealed"
        sealed = self.sealer.seal(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                                  aad=self._aad(name))
        tmp = self.dir / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(sealed)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / name)
        self._next += 1
        self._prev = hashlib.sha256(sealed).hexdigest()
        self.segments += 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
