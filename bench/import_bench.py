"""Import speed: ``dunpai import`` of the Handbook's 1.75 M transactions (and their labels and card
reissues) into a fresh data directory, the replay through the engine included.

    python -m bench.import_bench

Writes ``bench/results/import.json``: ``events``, ``seconds`` and ``events_per_s``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HANDBOOK = ROOT.parent / "shared" / "data" / "handbook"
console = Console(stderr=True)


def main() -> None:
    from dunpai.core.config import load_settings
    from dunpai.risk.history.pilot import run_import
    from dunpai.risk.history.training import write_json
    from dunpai.risk.runtime import open_service

    files = sorted(HANDBOOK.glob("transactions-2018-*.parquet"))
    if not files:
        console.print(f"Handbook data not found in {HANDBOOK}: skipped")
        return
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
    events = summary["events"] + summary["labels"] + summary["reissues"]
    result = {
        "events": events,
        "rows": summary["rows"],
        "seconds": seconds,
        "events_per_s": events / seconds,
        "rejected": summary["rejected"],
        "note": "wall clock, one run, fresh SQLite data directory, storing (a child process) and replaying "
                "overlapped, the machine shared with other work",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    console.print(result)
    write_json(RESULTS / "import.json", result)


if __name__ == "__main__":
    main()
