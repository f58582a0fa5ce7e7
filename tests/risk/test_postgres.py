"""The same service on PostgreSQL (the production backend), for real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService
from tests.risk.conftest import card_event, make_service
from tests.services import port_open, services_required

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_service(tmp_path: Path) -> Iterator[RiskService]:
    if not port_open("127.0.0.1", 5432):
        if services_required():
            pytest.fail("PostgreSQL is required (DUNPAI_REQUIRE_SERVICES=1) but 127.0.0.1:5432 is closed")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    schema = f"dunpai_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    svc = make_service(tmp_path, f"{PG}?options=-csearch_path%3D{schema}")
    try:
        yield svc
    finally:
        svc.db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.services
def test_postgres_decisions_idempotency_and_cases(pg_service: RiskService) -> None:
    assert pg_service.db.dialect.name == "postgresql"
    first = pg_service.submit("default", card_event(1))
    again = pg_service.submit("default", card_event(1))
    assert again.duplicate and again.decision.to_dict() == first.decision.to_dict()
    results = [(sc, fr, pg_service.submit("default", body).decision)
               for body, sc, fr in demo_events(seed=2, customers=15, history_days=2)]
    assert all(d.action != "allow" for sc, fr, d in results if fr)
    found = pg_service.decision("default", results[-1][2].decision_id)
    assert found.to_dict() == results[-1][2].to_dict()


@pytest.mark.services
def test_postgres_batch_of_two_tenants_with_the_same_event_id_logs_each_with_its_decision(
        pg_service: RiskService) -> None:
    body = card_event(7)
    first, second = pg_service.submit_many([("default", body), ("bank-b", body)])
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    with pg_service.db.connect() as conn:
        rows = conn.execute(text("SELECT e.tenant, e.seq, d.seq, d.decision_id FROM risk_events e "
                                 "JOIN risk_decisions d ON d.tenant = e.tenant AND d.event_id = e.event_id "
                                 "ORDER BY e.seq")).all()
    assert [(r[0], r[1] == r[2]) for r in rows] == [("default", True), ("bank-b", True)]
    assert [r[3] for r in rows] == [first.decision.decision_id, second.decision.decision_id]


@pytest.mark.services
def test_postgres_driver_statement_errors_are_sqlalchemys_without_their_parameters(pg_service: RiskService) -> None:
    """The hot statements run on the driver's cursor (``driver_rows``): a unique violation is still
    the ``IntegrityError`` the service settles races with, and its message never carries the
    parameters (event bodies)."""
    from sqlalchemy.exc import IntegrityError

    from dunpai.core.db import driver_rows

    with pg_service.db.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE t (id text PRIMARY KEY, body text)"))
        insert = "INSERT INTO t VALUES (%(id)s, %(body)s) RETURNING id"
        assert driver_rows(conn, insert, {"id": "e1", "body": "secret-body"}) == [("e1",)]
        with pytest.raises(IntegrityError) as caught:
            driver_rows(conn, insert, {"id": "e1", "body": "other-secret-body"})
    assert getattr(caught.value.orig, "sqlstate", None) == "23505"
    assert "secret-body" not in str(caught.value) and "[SQL: INSERT INTO t" in str(caught.value)
