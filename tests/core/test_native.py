from __future__ import annotations

import os
from pathlib import Path

from dunpai.core.native import drop_stale_extensions


def test_fresh_builds_stay(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text("x = 1\n")
    ext = pkg / "mod.cpython-311-x86_64-linux-gnu.so"
    ext.write_bytes(b"\0")
    os.utime(pkg / "mod.py", (1_000_000_000, 1_000_000_000))
    drop_stale_extensions(str(pkg / "__init__.py"))
    assert ext.exists()


def test_a_compiled_module_older_than_its_source_is_removed(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    fresh_src, stale_src = pkg / "fresh.py", pkg / "stale.py"
    for src in (fresh_src, stale_src):
        src.write_text("x = 1\n")
    fresh = pkg / "fresh.cpython-311-x86_64-linux-gnu.so"
    stale = pkg / "stale.cpython-311-x86_64-linux-gnu.so"
    stale_lib = pkg / "stale__mypyc.cpython-311-x86_64-linux-gnu.so"
    for ext in (fresh, stale, stale_lib):
        ext.write_bytes(b"\0")
    os.utime(stale_src, (2_000_000_000, 2_000_000_000))  # the source was edited after the build
    for ext in (stale, stale_lib):
        os.utime(ext, (1_000_000_000, 1_000_000_000))
    drop_stale_extensions(str(pkg / "__init__.py"))
    # compiled modules call each other natively: one stale build removes them all
    assert not fresh.exists() and not stale.exists() and not stale_lib.exists()
