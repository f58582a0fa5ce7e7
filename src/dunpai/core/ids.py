"""Identifiers. Decision ids are derived from the event id, so a replay gives the same ids."""

from __future__ import annotations

import hashlib
import re
import secrets

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def derived_id(prefix: str, *parts: str) -> str:
    """A stable id from its parts: the same inputs always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def random_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
