"""The demos: programs that show the parts working end to end on this machine (loopback, the
embedded default). Every demo starts clean: its directory is emptied first, so a second run shows
exactly what the first did; a directory is only emptied when a demo made it (the ``.dunpai-demo``
marker), and any other non-empty directory is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from dunpai.core.errors import FieldProblem, InvalidInput

MARKER = ".dunpai-demo"


def start_clean(directory: Path, option: str) -> None:
    """Empty ``directory`` if a demo made it; refuse any other non-empty directory."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).is_file():
            raise InvalidInput(f"{directory} holds files the demo did not make; choose a new or empty directory",
                               problems=[FieldProblem(option, "not a demo directory")])
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("made by a `dunpai` demo: emptied on every run\n", encoding="utf-8")
