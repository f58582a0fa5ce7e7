"""Account and card states as the decision engine sees them (``AccountStatus`` port).

The state is read from the database on every money event, so an approved freeze is honoured by
the very next decision in every worker. ``for_tenant`` gives the per-tenant view the engine needs
(an account id is only meaningful inside its tenant).
"""

from __future__ import annotations

import math
import time

from sqlalchemy import Connection, Engine, select

from dunpai.risk.cases.tables import account_states


def state_txn(conn: Connection, tenant: str, target_kind: str, target_id: str) -> str:
    row = conn.execute(select(account_states.c.state).where(
        account_states.c.tenant == tenant, account_states.c.target_kind == target_kind,
        account_states.c.target_id == target_id)).first()
    return str(row[0]) if row else "active"


class AccountStates:
    """Implements ``dunpai.risk.decisions.engine.AccountStatus`` for one tenant.

    The engine asks on every payment, so the (small) set of restricted and frozen accounts and cards
    is held in memory: reloaded at once after any change made in this process, and at least every
    ``refresh_seconds`` to pick up changes made by other workers.
    """

    def __init__(self, db: Engine, tenant: str = "default", refresh_seconds: float = 1.0) -> None:
        self.db = db
        self.tenant = tenant
        self.refresh_seconds = refresh_seconds
        self._states: dict[tuple[str, str], str] = {}
        self._loaded_generation = -1
        self._loaded_at = -math.inf

    def for_tenant(self, tenant: str) -> AccountStates:
        return AccountStates(self.db, tenant, self.refresh_seconds)

    def _lookup(self, kind: str, target_id: str) -> str:
        now = time.monotonic()
        if self._loaded_generation != _generation[0] or now - self._loaded_at > self.refresh_seconds:
            with self.db.connect() as conn:
                rows = conn.execute(select(account_states.c.target_kind, account_states.c.target_id,
                                           account_states.c.state).where(
                    account_states.c.tenant == self.tenant, account_states.c.state != "active")).all()
            self._states = {(r[0], r[1]): str(r[2]) for r in rows}
            self._loaded_generation, self._loaded_at = _generation[0], now
        return self._states.get((kind, target_id), "active")

    def status(self, account_id: str) -> str:
        """``active``, ``restricted`` or ``frozen``."""
        return self._lookup("account", account_id)

    def card_status(self, card_id: str) -> str:
        return self._lookup("card", card_id)


_generation = [0]


def states_changed() -> None:
    """Called after any account or card state is written in this process."""
    _generation[0] += 1
