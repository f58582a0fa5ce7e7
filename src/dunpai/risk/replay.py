"""Replay a file of events through the service (the same path as the HTTP API)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dunpai.core.errors import DunpaiError, FieldProblem, InvalidInput
from dunpai.risk.service import RiskService


def read_events(path: Path) -> Iterator[Any]:
    """Raw events from JSONL (one object a line) or Parquet (one row an event; nested columns ok)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                yield {k: v for k, v in row.items() if v is not None}
        return
    with path.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"{path.name}: line {n} is not JSON",
                                       problems=[FieldProblem(f"line {n}", str(exc))]) from None


def count_lines(path: Path) -> int | None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def replay_file(service: RiskService, path: Path, tenant: str, out: Path | None, console: Console) -> dict[str, Any]:
    actions: Counter[str] = Counter()
    rejected: list[dict[str, Any]] = []
    duplicates = 0
    sink = out.open("w", encoding="utf-8") if out is not None else None
    columns = (TextColumn("[bold]replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("replay", total=count_lines(path))
            for n, raw in enumerate(read_events(path), start=1):
                try:
                    result = service.submit(tenant, raw)
                except DunpaiError as exc:
                    rejected.append({"record": n, **exc.to_dict()})
                else:
                    actions[result.decision.action] += 1
                    duplicates += result.duplicate
                    if sink is not None:
                        d = result.decision
                        sink.write(json.dumps({"event_id": d.event_id, "decision_id": d.decision_id,
                                               "action": d.action, "score": d.score, "reasons": list(d.reasons)},
                                              ensure_ascii=False) + "\n")
                progress.advance(task)
    finally:
        if sink is not None:
            sink.close()
    return {"decided": sum(actions.values()), "actions": dict(actions), "duplicates": duplicates,
            "rejected": len(rejected), "first_rejections": rejected[:5]}
