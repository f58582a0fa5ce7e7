"""Account and card states as the decision engine sees them (``AccountStatus`` port).

The state is read from the database on every money event, so an approved freeze is honoured by
the very next decision in every worker. ``for_tenant`` gives the per-tenant view the engine needs
(an account id is only meaningful inside its tenant).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from dunpai.risk.cases.tables import account_states


def state_txn(conn: Connection, tenant: str, target_kind: str, target_id: str) -> str:
    row = conn.execute(select(account_states.c.state).where(
        account_states.c.tenant == tenant, account_states.c.target_kind == target_kind,
        account_states.c.target_id == target_id)).first()
    return str(row[0]) if row else "active"


class AccountStates:
    """Implements ``dunpai.risk.decisions.engine.AccountStatus`` for one tenant."""

    def __init__(self, db: Engine, tenant: str = "default") -> None:
        self.db = db
        self.tenant = tenant

    def for_tenant(self, tenant: str) -> AccountStates:
        return AccountStates(self.db, tenant)

    def status(self, account_id: str) -> str:
        """``active``, ``restricted`` or ``frozen``."""
        with self.db.connect() as conn:
            return state_txn(conn, self.tenant, "account", account_id)

    def card_status(self, card_id: str) -> str:
        with self.db.connect() as conn:
            return state_txn(conn, self.tenant, "card", card_id)
