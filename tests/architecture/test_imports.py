"""The house's floors, checked on every import statement in ``src/`` (lazy and type-only imports
included: an arrow is an arrow).

    core ← keys ← audit ← {risk, comms} ← migrations ← api ← web ← cli

A room imports only from its own floor's room or lower floors; ``risk`` and ``comms`` never import
each other; no two modules import each other, directly or round a longer circle. Exceptions are
listed below by name, each with the issue that removes it, so that none can grow unnoticed. Only
the settings tree reads the environment.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
FLOORS = {"core": 0, "keys": 1, "audit": 2, "risk": 3, "comms": 3, "migrations": 4, "api": 5, "web": 6, "cli": 7}

# (importer, imported) arrows that break the floors, each to be removed by the issue named.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}
# Import circles still open, as the sorted modules of each strongly connected component.
CYCLES_ALLOWED: dict[tuple[str, ...], str] = {
    ("dunpai.comms.app.run", "dunpai.comms.app.web"): "issue 17 (the messenger app, in progress)",
}
# Modules that read the process environment although not the settings tree.
ENVIRONMENT_ALLOWED = {
    "dunpai.keys.softhsm": "SoftHSM2's own SOFTHSM2_CONF: the throw-away token sandbox is set up through it",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module that ``import name`` runs last (a name inside a module is that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            # ``from package import submodule`` depends on the submodule, not on the package's __init__
            yield from subs if len(subs) == len(node.names) else [base, *subs]


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for name in _imported(module, path):
            target = _owner(name) if name.startswith("dunpai") else None
            if target is not None and target != module:
                edges[module].add(target)
    return edges


GRAPH = _graph()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_room_is_on_a_floor() -> None:
    rooms = {_room(m) for m in MODULES} - {""}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


def test_rooms_import_only_downwards() -> None:
    upward = {}
    for importer, targets in GRAPH.items():
        for target in targets:
            a, b = _room(importer), _room(target)
            if "" in (a, b) or a == b:
                continue
            if FLOORS[b] > FLOORS[a] or FLOORS[b] == FLOORS[a]:  # same floor, other room: risk <-> comms
                upward[(importer, target)] = f"{a} (floor {FLOORS[a]}) -> {b} (floor {FLOORS[b]})"
    unexpected = {k: v for k, v in upward.items() if k not in UPWARD_ALLOWED}
    assert not unexpected, unexpected
    assert set(UPWARD_ALLOWED) <= set(upward), "an allowed arrow is gone: remove it from UPWARD_ALLOWED"


def test_risk_and_comms_never_import_each_other() -> None:
    crossing = [(a, b) for a, targets in GRAPH.items() for b in targets if {_room(a), _room(b)} == {"risk", "comms"}]
    assert crossing == []


def _cycles() -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(tuple(sorted(component)))
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert [c for c in cycles if c not in CYCLES_ALLOWED] == []
    assert set(CYCLES_ALLOWED) <= set(cycles), "an allowed cycle is gone: remove it from CYCLES_ALLOWED"


def test_the_cycle_finder_finds_a_circle() -> None:
    GRAPH["dunpai.core.errors"].add("dunpai.core.i18n")
    GRAPH["dunpai.core.i18n"].add("dunpai.core.errors")
    try:
        assert ("dunpai.core.errors", "dunpai.core.i18n") in _cycles()
    finally:
        GRAPH["dunpai.core.errors"].discard("dunpai.core.i18n")
        GRAPH["dunpai.core.i18n"].discard("dunpai.core.errors")


def test_only_the_settings_tree_reads_the_environment() -> None:
    readers = set()
    for module, path in MODULES.items():
        if module.startswith("dunpai.core.config"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.add(module)
    assert readers - set(ENVIRONMENT_ALLOWED) == set()
    assert set(ENVIRONMENT_ALLOWED) <= readers, "an allowed reader is gone: remove it from ENVIRONMENT_ALLOWED"


def test_the_test_switch_is_gone_from_production_code() -> None:
    assert not [m for m, p in MODULES.items() if "DUNPAI_TEST_" in p.read_text(encoding="utf-8")]


def test_typer_is_the_one_command_line_library() -> None:
    assert not {m for m, targets in _raw_imports().items() if "argparse" in targets}


def _raw_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        found[module] = set(_imported(module, path))
    return found
