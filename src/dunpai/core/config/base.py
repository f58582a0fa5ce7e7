"""What every settings section shares: frozen models that forbid unknown keys, the ``Env`` marker
that names a setting's environment variable, and the walk over the tree that the environment
source and the generated reference (``docs/configuration.md``) both use.

A leaf's variable is ``DUNPAI_`` + its path in upper case joined by ``_`` (``server.port`` →
``DUNPAI_SERVER_PORT``) unless an ``Env`` marker names another (kept where a name was published
before the tree existed) or ``Env(None)`` says it has none. Sections that may be absent (the
comms deployment, the bridge) and lists of records are set in the file only.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

PREFIX = "DUNPAI_"


class Section(BaseModel):
    """A group of settings: validated once, frozen; an unknown key is an error naming its path."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Env:
    """The environment variable of one setting (``None``: none), and older names still read."""

    name: str | None
    deprecated: tuple[str, ...] = ()


@dataclass(frozen=True)
class Leaf:
    """One setting as the reference lists it."""

    path: tuple[str, ...]
    field: FieldInfo
    env: str | None
    deprecated: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def secret(self) -> bool:
        return _mentions(self.field.annotation, SecretStr)

    @property
    def default(self) -> Any:
        if self.field.default is not PydanticUndefined:
            return self.field.default
        if self.field.default_factory is not None:
            return self.field.default_factory()  # type: ignore[call-arg]
        return PydanticUndefined


def _mentions(annotation: Any, cls: type) -> bool:
    if annotation is cls:
        return True
    return any(_mentions(a, cls) for a in get_args(annotation))


def section_type(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(section model, optional) when ``annotation`` is a section or ``Section | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            return args[0], True
    return None, False


def _is_collection(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (tuple, list, dict, set, frozenset):
        return True
    return any(_is_collection(a) for a in get_args(annotation)) if origin in (Union, types.UnionType) else False


def _record_type(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """(record model, path placeholder) of ``tuple[Model, ...]`` or ``dict[str, Model]``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is tuple and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "[]"
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], "<name>"
    return None


def walk(model: type[BaseModel], path: tuple[str, ...] = (), *, env: bool = True) -> Iterator[Leaf]:
    """Every leaf setting of ``model`` in declaration order, with its environment variable."""
    for name, info in model.model_fields.items():
        here = (*path, name)
        section, optional = section_type(info.annotation)
        if section is not None:
            yield from walk(section, here, env=env and not optional)
            continue
        record = _record_type(info.annotation)
        if record is not None:  # a list or mapping of records: listed field by field, file only
            yield Leaf(here, info, None, ())
            yield from walk(record[0], (*here, record[1]), env=False)
            continue
        marker = next((m for m in info.metadata if isinstance(m, Env)), None)
        if not env or _is_collection(info.annotation):
            yield Leaf(here, info, None, ())
        elif marker is not None:
            yield Leaf(here, info, marker.name, marker.deprecated)
        else:
            yield Leaf(here, info, PREFIX + "_".join(here).upper(), ())


def put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path`` in a nested dict, making the sections on the way."""
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
