"""The in-process engine benchmark (``bench/engine_bench.py``'s ``engine_run``) on this tree and on
the tree as it was at an earlier commit, one after the other in the same run, alternating, so that
a noisy, shared machine weighs on both alike. Writes bench/results/engine_compare.json.

    python -m bench.engine_compare --against REV [--events N] [--rounds N]

The earlier tree is this one (compiled native modules included) with every file under ``src/``
that changed between ``REV`` and ``HEAD`` put back as it was at ``REV`` (files added since then
removed): what is measured is exactly what those commits changed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

_CHILD = """
import gc, json, sys
from bench.engine_bench import engine_run, handbook_events
events = handbook_events(int(sys.argv[1]))
gc.freeze()
out = []
for _ in range(int(sys.argv[2])):
    rate, p99, _store = engine_run(events)
    out.append({"rate": rate, "p99_ms": p99})
import dunpai.risk.decisions.engine as e
print(json.dumps({"runs": out, "engine": e.__file__}))
"""


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def earlier_tree(rev: str, into: Path) -> list[str]:
    """A copy of ``src/`` with the files changed since ``rev`` as they were at ``rev``."""
    shutil.copytree(ROOT / "src", into / "src", ignore=shutil.ignore_patterns("__pycache__"))
    changed = [p for p in _git("diff", "--name-only", rev, "HEAD", "--", "src").splitlines() if p]
    for path in changed:
        target = into / path
        try:
            content = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                                     capture_output=True).stdout
        except subprocess.CalledProcessError:  # added since rev
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return changed


def measure(src: Path, events: int, runs: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(events), str(runs)], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", required=True, help="the earlier commit")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (one process per tree each)")
    parser.add_argument("--runs", type=int, default=2, help="engine runs per process")
    args = parser.parse_args()
    rev = _git("rev-parse", args.against).strip()
    head = _git("rev-parse", "HEAD").strip()
    rates: dict[str, list[float]] = {"before": [], "after": []}
    p99s: dict[str, list[float]] = {"before": [], "after": []}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        changed = earlier_tree(rev, Path(tmp))
        trees = {"before": Path(tmp) / "src", "after": ROOT / "src"}
        for r in range(args.rounds):
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                got = measure(trees[side], args.events, args.runs)
                if not got["engine"].startswith(str(trees[side])):
                    raise RuntimeError(f"{side}: imported {got['engine']}")
                rates[side].extend(run["rate"] for run in got["runs"])
                p99s[side].extend(run["p99_ms"] for run in got["runs"])
                load.append(os.getloadavg()[0])
                print(f"round {r + 1} {side}: " + ", ".join(f"{run['rate']:,.0f}/s" for run in got["runs"]), flush=True)
    before, after = statistics.median(rates["before"]), statistics.median(rates["after"])
    result = {
        "before_commit": rev, "after_commit": head, "files_changed": changed,
        "events": args.events, "runs_per_side": len(rates["after"]),
        "before_events_per_s_median": before, "after_events_per_s_median": after,
        "after_to_before": after / before,
        "before_p99_ms_median": statistics.median(p99s["before"]),
        "after_p99_ms_median": statistics.median(p99s["after"]),
        "before_runs": rates["before"], "after_runs": rates["after"],
        "load_average_1m": {"min": min(load), "max": max(load)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "target": "after_to_before >= 0.95",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engine_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_runs")}, indent=2))


if __name__ == "__main__":
    main()
