"""YAML with line numbers: load a document and remember where each key and item was written, so
an error about ``event.amount.scale`` can say "line 12"."""

from __future__ import annotations

from typing import Any

import yaml

from dunpai.core.errors import FieldProblem, InvalidInput

Path = tuple[str | int, ...]


def load_with_lines(text: str, what: str) -> tuple[Any, dict[Path, int]]:
    """The document and the 1-based line of every path in it. Raises ``InvalidInput`` naming the
    line of a syntax error."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        raise InvalidInput(f"{what} is not valid YAML", problems=[FieldProblem(where, str(exc))]) from None
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    _walk(node, (), lines)
    return yaml.safe_load(text), lines


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            lines[sub] = key.start_mark.line + 1
            _walk(value, sub, lines)
            lines[sub] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, or of its nearest written ancestor."""
    for end in range(len(path), -1, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None
