"""`make bench`: the engine and key-custody benchmarks, then docs/benchmarks.md.

The longer measurements have their own scripts (see docs/benchmarks.md for each file's source).
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    for module in ("bench.engine_bench", "bench.keys_bench"):
        subprocess.run([sys.executable, "-m", module], check=True)
    subprocess.run([sys.executable, "-m", "bench.report"], check=True)


if __name__ == "__main__":
    main()
