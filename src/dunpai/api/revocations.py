"""How a running server learns at once that an API key was revoked by another process.

The authenticator caches each key it looked up (a look-up costs about a tenth of a millisecond on
SQLite, more over a network to PostgreSQL, on every request). ``dunpai apikey revoke`` writes
the revocation to the database and then signals it two ways, and the cache is dropped on either:

* it rewrites a marker file in the data directory (``api-keys.revoked``); the server compares
  the file's modification stamp on every request (one ``stat``, about a microsecond);
* on PostgreSQL it also sends ``NOTIFY dunpai_api_keys`` in the revoking transaction, which each
  server's listener thread receives (servers on other hosts share the database, not the disk).
  While that listener is not connected, the server looks every key up (never a stale cache).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, text

MARKER = "api-keys.revoked"
CHANNEL = "dunpai_api_keys"
log = logging.getLogger(__name__)


def marker_path(data_dir: Path) -> Path:
    return data_dir / MARKER


def signal_revocation(conn: Connection, data_dir: Path | None) -> None:
    """Tell running servers: the PostgreSQL notification goes out when ``conn`` commits; the
    marker file is rewritten now (call this inside the revoking transaction)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, 'revoked')"), {"channel": CHANNEL})
    if data_dir is not None:
        path = marker_path(data_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(f"{time.time_ns()}\n")


Signal = Literal["revoked", "unverified"] | None
"""``revoked``: a key was revoked since the last call (forget every key); ``unverified``: no
listener is connected, so no cached look-up can be trusted (look keys up again)."""


class Revocations:
    """``changed()`` says whether a revocation may have happened since it was last asked."""

    def __init__(self, marker: Path | None = None, database: Engine | None = None) -> None:
        self.marker = marker
        self._stamp = self._read_stamp()
        self._notified = threading.Event()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if database is not None and database.dialect.name == "postgresql":
            self._thread = threading.Thread(target=self._listen, args=(database,), name="api-key-revocations",
                                            daemon=True)
            self._thread.start()

    def _read_stamp(self) -> int | None:
        if self.marker is None:
            return None
        try:
            return os.stat(self.marker).st_mtime_ns
        except FileNotFoundError:
            return None

    def changed(self) -> Signal:
        found: Signal = None
        if self.marker is not None:
            stamp = self._read_stamp()
            if stamp != self._stamp:
                self._stamp, found = stamp, "revoked"
        if self._thread is not None:
            if self._notified.is_set():
                self._notified.clear()
                found = "revoked"
            if found is None and not self._listening.is_set():
                found = "unverified"  # no listener: no cache can be trusted
        return found

    def _listen(self, database: Engine) -> None:
        import psycopg

        # the dialect's own reading of the URL: several hosts (a standby) become libpq's host lists
        _, params = database.dialect.create_connect_args(database.url)
        params = {k: v for k, v in params.items() if k != "context"} | {"autocommit": True, "connect_timeout": 5}
        while not self._stop.is_set():
            try:
                with psycopg.connect(**params) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    self._notified.set()  # anything revoked while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._notified.set()
            except psycopg.Error:
                log.warning("API key revocation listener lost the database; retrying")
            self._listening.clear()
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
