"""Alembic environment: runs on the connection handed over by ``dunpai.core.migrate``, for one tree
(``risk`` or ``comms``), with its version table in the tree's schema when one is given."""

from __future__ import annotations

from typing import Any

from alembic import context

from dunpai.core.db import load_table_modules

attributes = context.config.attributes
connection = attributes["connection"]
target_metadata: Any = load_table_modules() if attributes.get("tree", "risk") == "risk" else None
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                  version_table_schema=attributes.get("schema"))
with context.begin_transaction():
    context.run_migrations()
