"""Fixtures for the comms tests: a loopback service on SQLite (and PostgreSQL when reachable)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kdf import cheap_kdf
from tests.services import port_open, services_required

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_available() -> bool:
    if port_open("127.0.0.1", 5432):
        return True
    if services_required():
        pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (DUNPAI_REQUIRE_SERVICES=1) but unreachable")
    return False


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(database url, schema) for one test: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'comms.db'}", None
        return
    if not _pg_available():
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432 (set DUNPAI_REQUIRE_SERVICES=1 to fail)")
    schema = f"comms_test_{os.getpid()}_{os.urandom(4).hex()}"
    yield PG_URL, schema
    from sqlalchemy import text

    from dunpai.core.db import make_engine

    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'comms.db'}"


@pytest.fixture
def deploy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A deployment directory (cheap key-derivation cost); its daemon is stopped afterwards."""
    from dunpai.comms.deploy import process

    cheap_kdf(monkeypatch)
    monkeypatch.delenv("DUNPAI_KEYSTORE_PASSPHRASE", raising=False)
    d = tmp_path / "deploy"
    yield d
    process.stop(d)
