"""The history store: what the engine computed for every payment of a tenant's event log, as
Parquet parts — features, signals, rule hits, action and score — for training, evaluation and
backtests (columnar and fast to read), beside a snapshot of the replay's own online state so the
next import or new live events extend it instead of replaying everything again.

Layout under ``<data_dir>/history/<tenant>/``::

    meta.json               {"format": 1, "signature": ..., "last_seq": N, "parts": [...]}
    state.snapshot          the replay's online state after ``last_seq`` (tenant's keys only)
    part-<first>-<last>.parquet

A part is written before ``meta.json`` names it (write, then rename), so a crash leaves at worst a
part nobody reads. A feature pipeline or ruleset change (``signature``) starts the history again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

FORMAT = 1
log = logging.getLogger(__name__)


@dataclass
class HistoryMeta:
    signature: str
    last_seq: int = 0
    parts: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "signature": self.signature, "last_seq": self.last_seq,
                           "parts": self.parts}, indent=1)


class HistoryStore:
    def __init__(self, data_dir: Path, tenant: str) -> None:
        self.root = data_dir / "history" / tenant
        self.tenant = tenant

    @property
    def snapshot_path(self) -> Path:
        return self.root / "state.snapshot"

    def meta(self) -> HistoryMeta | None:
        path = self.root / "meta.json"
        if not path.exists():
            return None
        raw: dict[str, Any] = json.loads(path.read_text())
        if raw.get("format") != FORMAT:
            return None
        return HistoryMeta(raw["signature"], int(raw["last_seq"]), list(raw["parts"]))

    def reset(self, signature: str) -> HistoryMeta:
        """Forget everything (another pipeline or ruleset made it) and start empty."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        meta = HistoryMeta(signature)
        self.save(meta)
        return meta

    def save(self, meta: HistoryMeta) -> None:
        tmp = self.root / "meta.json.tmp"
        tmp.write_text(meta.to_json())
        os.replace(tmp, self.root / "meta.json")

    def write_part(self, frame: pl.DataFrame, first: int, last: int) -> str:
        name = f"part-{first:012d}-{last:012d}.parquet"
        tmp = self.root / (name + ".tmp")
        frame.write_parquet(tmp, compression="zstd", compression_level=1, statistics=False)
        os.replace(tmp, self.root / name)
        return name

    @contextmanager
    def updating(self) -> Iterator[None]:
        """Held while a replay extends this history: a second command replaying the same tenant (a
        ``train`` beside an ``import``) waits for the first, then extends what it left, instead of
        both writing the meta and the state snapshot. An advisory lock on a file beside the
        history (a reset removes the history's folder), released when its process ends."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with (self.root.parent / f".{self.tenant}.lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("waiting for another process replaying tenant %s's history", self.tenant)
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def scan(self, columns: list[str] | None = None) -> pl.DataFrame:
        """Every part's rows, in log order (columns missing from a part are null)."""
        meta = self.meta()
        if meta is None or not meta.parts:
            return pl.DataFrame()
        frames = [pl.read_parquet(self.root / p, columns=None) for p in meta.parts]
        out = pl.concat(frames, how="diagonal_relaxed")
        return out.select(columns) if columns is not None else out
