"""Domain errors with stable wire codes.

Every error Dunpai raises to a caller carries a stable ``code`` (never renamed once published), a
human message, and optionally the ``field`` it concerns. Exactly one module (``dunpai.api.errors``)
maps these to HTTP; the domain never mentions status codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one input field, named by its path (``amount``, ``terminal.location.lat``)."""

    field: str
    problem: str


class DunpaiError(Exception):
    """Base of all domain errors. ``code`` is stable and machine-readable."""

    code = "internal"

    def __init__(self, message: str, *, problems: list[FieldProblem] | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.problems:
            body["problems"] = [{"field": p.field, "problem": p.problem} for p in self.problems]
        if self.details:
            body["details"] = {k: _echo(v) for k, v in self.details.items()}
        return body


ECHO_CHARS = 200
"""An error echoes at most this much of a value the caller sent (an id from a URL path can be tens
of thousands of characters; the answer need not carry it back whole)."""


def _echo(value: Any) -> Any:
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return value[:ECHO_CHARS] + f"… ({len(value):,} characters)"
    return value


class InvalidInput(DunpaiError):
    """The input was malformed; ``problems`` names each field and what is wrong with it."""

    code = "invalid_input"


class NotFound(DunpaiError):
    """The thing does not exist, or belongs to another tenant (never say which)."""

    code = "not_found"


class Conflict(DunpaiError):
    """The request conflicts with stored state (e.g. an event id reused with different content)."""

    code = "conflict"


class Unauthenticated(DunpaiError):
    code = "unauthenticated"


class Forbidden(DunpaiError):
    code = "forbidden"


class InvalidRuleset(DunpaiError):
    """A ruleset failed validation; ``problems`` name the rule (``rules[3].expression``) and position."""

    code = "invalid_ruleset"


class StateError(DunpaiError):
    """An operation is not allowed in the current state (e.g. publishing a published ruleset)."""

    code = "invalid_state"


class Unavailable(DunpaiError):
    """A dependency (database, state store, model) cannot answer now; trying again later may work."""

    code = "unavailable"
