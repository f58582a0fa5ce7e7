"""Compiled (mypyc) hot-path modules: never let a stale build shadow an edited source.

``scripts/build_native.py`` compiles a few typed modules of the risk engine into C extensions
placed beside their sources (Python imports an extension before a source of the same name). A
package holding such modules calls :func:`drop_stale_extensions` first thing in its ``__init__``:
an extension older than its source is removed, and the source runs as written.
"""

from __future__ import annotations

import logging
from pathlib import Path


def drop_stale_extensions(package_file: str) -> None:
    """Compiled modules call each other natively, so a mix of compiled and source modules is not
    safe: if any extension is older than its source (or lacks one), all of them are removed."""
    here = Path(package_file).resolve().parent
    extensions = list(here.glob("*.cpython-*"))
    for ext in extensions:
        stem = ext.name.split(".", 1)[0].removesuffix("__mypyc")
        source = here / f"{stem}.py"
        if not source.exists() or source.stat().st_mtime > ext.stat().st_mtime:
            logging.getLogger(__name__).info("compiled module %s is stale: running the sources", ext.name)
            for each in extensions:
                each.unlink(missing_ok=True)
            return
