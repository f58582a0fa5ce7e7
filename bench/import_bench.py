"""Import speed: ``dunpai import`` of the Handbook's 1.75 M transactions (and their labels and card
reissues) into a fresh data directory, the replay through the engine included.

    python -m bench.import_bench

Writes ``bench/results/import.json``: ``events``, ``seconds`` and ``events_per_s``, and a baseline
measured in the same run (a plain-Python keyed count-and-sum over the same transactions, before and
after the import: its median) so that figures from machines of different speeds can be compared.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HANDBOOK = ROOT.parent / "shared" / "data" / "handbook"
console = Console(stderr=True)


def baseline(keys: list[int], amounts: list[float]) -> float:
    """Rows/s of the simplest keyed feature (count and sum per card) in plain Python."""
    state: dict[int, list[float]] = {}
    started = time.perf_counter()
    for key, amount in zip(keys, amounts, strict=True):
        s = state.get(key)
        if s is None:
            s = state[key] = [0.0, 0.0]
        s[0] += 1.0
        s[1] += amount
    return len(keys) / (time.perf_counter() - started)


def main() -> None:
    from dunpai.core.config import load_settings
    from dunpai.risk.history.pilot import run_import
    from dunpai.risk.history.training import write_json
    from dunpai.risk.runtime import open_service

    files = sorted(HANDBOOK.glob("transactions-2018-*.parquet"))
    if not files:
        console.print(f"Handbook data not found in {HANDBOOK}: skipped")
        return
    import polars as pl

    frame = pl.concat([pl.read_parquet(f, columns=["CUSTOMER_ID", "TX_AMOUNT"]) for f in files])
    keys, amounts = frame["CUSTOMER_ID"].to_list(), frame["TX_AMOUNT"].to_list()
    baselines = [baseline(keys, amounts) for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="dunpai-import-bench-") as tmp:
        settings = load_settings(None, {"data_dir": tmp})
        service = open_service(settings)
        try:
            started = time.perf_counter()
            summary = run_import(service, settings, files, ROOT / "docs" / "mappings" / "handbook.yaml", "default",
                                 Path(tmp) / "rejects.jsonl")
            seconds = time.perf_counter() - started
        finally:
            service.close()
    baselines += [baseline(keys, amounts) for _ in range(2)]
    events = summary["events"] + summary["labels"] + summary["reissues"]
    base = statistics.median(baselines)
    result = {
        "events": events,
        "rows": summary["rows"],
        "seconds": seconds,
        "events_per_s": events / seconds,
        "rejected": summary["rejected"],
        "baseline_rows_per_s": base,
        "import_to_baseline_ratio": events / seconds / base,
        "note": "wall clock, one run, fresh SQLite data directory, storing (a child process) and replaying "
                "overlapped; the baseline is the median of five runs, three before the import and two after",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    console.print(result)
    write_json(RESULTS / "import.json", result)


if __name__ == "__main__":
    main()
