"""Compromise fixtures: repository contract tests run against memory and SQLite (via the migration)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dunpai.core.db import make_engine
from dunpai.core.migrate import upgrade
from dunpai.risk.compromise import ExposureRepository, MemoryExposureRepository
from dunpai.risk.compromise.sql import SqlExposureRepository


@pytest.fixture
def sql_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'compromise.db'}")
    upgrade(engine, "compromise@head")
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExposureRepository]:
    if request.param == "memory":
        yield MemoryExposureRepository()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'exposure.db'}")
    upgrade(engine, "compromise@head")
    yield SqlExposureRepository(engine)
    engine.dispose()
