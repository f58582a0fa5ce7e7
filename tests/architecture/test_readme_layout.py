"""The README's Layout names every package of ``src/dunpai`` (and nothing that is gone), and every
module that sits loose in the ``risk`` and ``comms`` rooms beside their packages."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "dunpai"
ENTRY = re.compile(r"^( *)(\S+)/(?:\s|$)")  # an indented ``name/`` opening a line of the tree


def _layout() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```\n(src/dunpai/\n.*?)```", section, re.S)
    assert found, "the README's Layout section has no src/dunpai/ tree"
    return found.group(1)


def _listed_packages(tree: str) -> set[str]:
    listed: set[str] = set()
    stack: list[str] = []
    for line in tree.splitlines()[1:]:
        entry = ENTRY.match(line)
        if entry is None:
            continue
        depth = len(entry.group(1)) // 2 - 1
        stack[depth:] = [entry.group(2)]
        listed.add("/".join(stack))
    return listed


def _packages() -> set[str]:
    return {init.parent.relative_to(PACKAGE).as_posix() for init in PACKAGE.rglob("__init__.py")} - {"."}


def test_the_layout_lists_every_package_and_no_other() -> None:
    listed, packages = _listed_packages(_layout()), _packages()
    assert packages - listed == set(), "packages missing from the README's Layout"
    assert listed - packages == set(), "the README's Layout lists packages that are gone"


def test_the_layout_names_the_loose_modules_of_risk_and_comms() -> None:
    tree = _layout()
    loose = [p for room in ("risk", "comms") for p in (PACKAGE / room).glob("*.py") if p.name != "__init__.py"]
    assert [p.name for p in loose if not re.search(rf"\b{re.escape(p.name)}\b", tree)] == []


def test_the_tree_reader_sees_nesting() -> None:
    tree = "src/dunpai/\n  core/   x\n    config/  y\n  risk/\n    cases/  z\n  web/\n"
    assert _listed_packages(tree) == {"core", "core/config", "risk", "risk/cases", "web"}
