"""Account and card states as decisions see them (``AccountStatus`` port).

The service looks the state up for every money event, inside the batch's transaction, and hands it
to the engine as an input; an approved freeze is honoured by the very next decision in this
process, and within ``refresh_seconds`` in every other worker. ``for_tenant`` gives the per-tenant
view a decision needs (an account id is only meaningful inside its tenant).
"""

from __future__ import annotations

import math
import time
from typing import Any

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

    def _lookup(self, kind: str, target_id: str, conn: Connection | None) -> str:
        now = time.monotonic()
        if self._loaded_generation != _generation[0] or now - self._loaded_at > self.refresh_seconds:
            query = select(account_states.c.target_kind, account_states.c.target_id, account_states.c.state).where(
                account_states.c.tenant == self.tenant, account_states.c.state != "active")
            if conn is not None:
                rows = conn.execute(query).all()
            else:
                with self.db.connect() as own:
                    rows = own.execute(query).all()
            self._states = {(r[0], r[1]): str(r[2]) for r in rows}
            self._loaded_generation, self._loaded_at = _generation[0], now
        return self._states.get((kind, target_id), "active")

    def status(self, account_id: str, conn: Any = None) -> str:
        """``active``, ``restricted`` or ``frozen`` (``conn``: the decision batch's transaction)."""
        return self._lookup("account", account_id, conn)

    def card_status(self, card_id: str, conn: Any = None) -> str:
        return self._lookup("card", card_id, conn)


_generation = [0]


def states_changed() -> None:
    """Called after any account or card state is written in this process."""
    _generation[0] += 1
