"""Insider detection benchmark: a generated month of staff activity (a few hundred employees, one
data thief) replayed through the engine's features, detectors and default rules.

Writes ``bench/results/insider.json`` (run: ``python -m bench.insider_bench``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dunpai.risk.insider.evaluate import evaluate_insider
from dunpai.risk.insider.scenario import StaffScenario

RESULTS = Path(__file__).resolve().parent / "results" / "insider.json"


def main() -> int:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("staff queries / 员工查询", total=None)
        result = evaluate_insider(StaffScenario(),
                                  progress=lambda done, total: progress.update(task, completed=done, total=total))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "detail"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
