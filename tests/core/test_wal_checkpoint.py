"""The server's WAL checkpointer: commits stop checkpointing; the thread and ``stop`` do it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from dunpai.core.db import WalCheckpointer, make_engine


def _insert(engine: object, n: int) -> None:
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for i in range(n):
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 3000 + str(i)})


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    checkpointer = WalCheckpointer(engine, interval=3600)  # the thread never ticks in this test
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
        _insert(engine, 2000)  # far past SQLite's 1000-page automatic checkpoint
        assert (tmp_path / "db.sqlite-wal").stat().st_size > 1000 * 4096
        assert (tmp_path / "db.sqlite").stat().st_size < 100 * 4096  # nothing copied back yet
        log, done = checkpointer.checkpoint()
        assert log > 1000 and done == log
    finally:
        checkpointer.stop()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 2000


def test_the_thread_checkpoints_and_other_databases_are_left_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    checkpointer = WalCheckpointer(engine, interval=0.02)
    try:
        _insert(engine, 200)
        deadline = time.monotonic() + 10
        while (tmp_path / "db.sqlite").stat().st_size < 200 * 3000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "db.sqlite").stat().st_size >= 200 * 3000  # the thread copied the pages back
    finally:
        checkpointer.stop()
    memory = WalCheckpointer(make_engine("sqlite://"))
    memory.stop()  # nothing started, nothing to stop
