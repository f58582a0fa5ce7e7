"""Who may do what: the roles of API keys and console staff, and the one check every service calls.

``admin`` may do everything; everyone else needs one of the roles a call names. The check raises
(``Forbidden`` naming the roles needed), never returns a bool that a caller could forget.
"""

from __future__ import annotations

from typing import Literal, Protocol

from dunpai.core.errors import Forbidden

Role = Literal["integrator", "analyst", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("integrator", "analyst", "supervisor", "admin")
STAFF_ROLES: tuple[Role, ...] = ("analyst", "supervisor", "admin")  # people signing in to the console
ANALYSTS: tuple[Role, ...] = ("analyst", "supervisor")
SUPERVISORS: tuple[Role, ...] = ("supervisor",)
ADMINS: tuple[Role, ...] = ("admin",)  # nobody else: the whole service's metrics
INTEGRATORS: tuple[Role, ...] = ("integrator",)  # the bank's systems sending events
DECISION_READERS: tuple[Role, ...] = ("analyst", "supervisor", "integrator")  # a decision and its explanation
ALERT_SENDERS: tuple[Role, ...] = ("integrator", "supervisor")  # detector jobs' alerts into the case queue
APPROVERS: tuple[Role, ...] = ("supervisor", "admin")  # approving an account action or another's rule change


class Actor(Protocol):
    """Who is acting: an API key's principal, a console staff user, a command's operator."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def tenant(self) -> str: ...


class HasRole(Protocol):
    @property
    def role(self) -> str: ...


def require(actor: HasRole, *roles: str) -> None:
    """Admins may do everything; others need one of ``roles``. Raises ``Forbidden``."""
    if actor.role != "admin" and actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not do this", needs=list(roles))
