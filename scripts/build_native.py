"""Compile the risk engine's hot path with mypyc (C extensions beside the sources).

The modules stay plain, typed Python: without a compiler they run as they are. `make` builds the
extensions when the sources change; an extension older than its source is removed at import time
(see ``dunpai.risk.features.__init__``), so an edit is never shadowed by a stale build.

    python scripts/build_native.py          # build in place
    python scripts/build_native.py --clean  # remove the extensions
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
MODULES = [
    "dunpai/risk/features/windows.py",
    "dunpai/risk/features/geo.py",
    "dunpai/risk/features/event.py",
    "dunpai/risk/features/habit.py",
    "dunpai/risk/features/card.py",
    "dunpai/risk/features/customer.py",
    "dunpai/risk/features/entities.py",
    "dunpai/risk/features/pipeline.py",
]


def clean() -> None:
    for module in MODULES:
        for built in (SRC / module).parent.glob(Path(module).stem + ".cpython-*"):
            built.unlink()


def build() -> None:
    import os

    from mypyc.build import mypycify
    from setuptools import setup

    os.chdir(SRC)
    setup(name="dunpai-native", ext_modules=mypycify(MODULES, separate=True, opt_level="3"),
          script_args=["build_ext", "--inplace", "--force", "--build-temp", str(ROOT / "build" / "native")])
    # The copies keep the build's timestamps; stamp them now so they read as newer than the sources.
    for module in MODULES:
        for built in (SRC / module).parent.glob("*.cpython-*"):
            built.touch()


if __name__ == "__main__":
    clean()
    if "--clean" not in sys.argv:
        build()
