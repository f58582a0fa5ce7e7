"""Pooled PostgreSQL connections are pinged only after sitting idle: a database that lost them
meanwhile is found before a request meets it, and one in steady use costs no extra round trips."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from dunpai.core import db as dbmod
from tests.pg import PG_URL, postgres_or_skip


def _lose_the_pooled_connection(engine: Engine) -> None:
    """The server ends the pool's one connection (as a restart or a failover would)."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()


@pytest.mark.services
def test_an_idle_pooled_connection_lost_by_the_server_is_replaced_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    postgres_or_skip()
    engine = dbmod.make_engine(PG_URL)
    try:
        _lose_the_pooled_connection(engine)
        monkeypatch.setattr(dbmod, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.services
def test_a_connection_in_steady_use_is_not_pinged_and_a_loss_fails_one_request_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    postgres_or_skip()
    monkeypatch.setattr(dbmod, "IDLE_PING_S", 3600.0)  # nothing counts as idle
    engine = dbmod.make_engine(PG_URL)
    try:
        _lose_the_pooled_connection(engine)
        with pytest.raises(OperationalError), engine.connect() as conn:  # no ping found the loss first
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:  # the pool let the broken connection go: the next request works
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
