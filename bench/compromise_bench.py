"""Skimmer hunting benchmark: the default skimming scenario on the Handbook's history.

Writes ``bench/results/compromise.json`` (run: ``python -m bench.compromise_bench``). Skips with a
message when the Handbook data is not there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dunpai.cli.compromise import run_compromise_eval
from dunpai.core.config import load_settings
from dunpai.risk.compromise.model import CompromiseConfig
from dunpai.risk.compromise.scenario import SkimmingScenario

RESULTS = Path(__file__).resolve().parent / "results" / "compromise.json"


def main() -> int:
    DEFAULT_DATA = load_settings().datasets.handbook_dir
    if not (DEFAULT_DATA / "customers.parquet").exists():
        print(f"skipped: Handbook data not found under {DEFAULT_DATA} (set DUNPAI_HANDBOOK_DIR)")
        return 0
    result = run_compromise_eval(SkimmingScenario(), CompromiseConfig(), DEFAULT_DATA)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "detail"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
