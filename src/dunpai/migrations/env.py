"""Alembic environment: runs on the connection handed over by ``dunpai.core.migrate``."""

from __future__ import annotations

from alembic import context

from dunpai.core.db import load_table_modules

target_metadata = load_table_modules()
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
