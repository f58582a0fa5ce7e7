"""Handbook fixtures: the real data (skipped with a message when absent) and small honest slices."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from dunpai.risk.backtest.handbook import HandbookData

REPO = Path(__file__).resolve().parents[2]


def handbook_dir() -> Path:
    return Path(os.environ.get("DUNPAI_HANDBOOK_DIR", str(REPO.parent / "shared" / "data" / "handbook")))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = handbook_dir()
    if not (d / "customers.parquet").exists():
        pytest.skip(f"Handbook data not found in {d} (set DUNPAI_HANDBOOK_DIR)")
    return d


@pytest.fixture(scope="session")
def small(data_dir: Path) -> HandbookData:
    """Twenty days of April for 150 customers: about 5,000 transactions with frauds of all kinds."""
    data = HandbookData.load(data_dir, start=datetime(2018, 4, 1), end=datetime(2018, 4, 21))
    tx = data.transactions
    tx = tx[tx.CUSTOMER_ID < 150].reset_index(drop=True)
    return HandbookData(tx, data.customers, data.terminals)
