"""Case-management fixtures: a small replay of the demo world (S1 and S2 in 40 customers' traffic)
built once per session into a SQLite file and copied for each test, so tests stay fast and
independent; a software key store with cheap Argon2 parameters for evidence signatures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dunpai.audit import MemoryAudit
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import Argon2Params, KeyStore, PanTokenizer, open_keystore
from dunpai.risk.cases import AccountStates, Incidents, KeyStoreSigner, Staff
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService
from tests.risk.conftest import shared_keys

CHEAP = Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1)
ANALYST = Staff("li.na", "analyst", employee_id="E1001", branch_id="NN01")
ANALYST2 = Staff("chen.jie", "analyst", employee_id="E1002", branch_id="NN01")
SUPERVISOR = Staff("wang.qiang", "supervisor", employee_id="E2001", branch_id="NN01")
SUPERVISOR2 = Staff("zhao.min", "supervisor", employee_id="E3001", branch_id="HQ")
OTHER_BANK = Staff("mallory", "supervisor", tenant="other-bank")
S1_ACCOUNT = "acct-00000"
S1_CUSTOMER = "cust-00000"


class StepClock:
    """Event-time clock for staff actions: one minute per reading."""

    def __init__(self, start: float = 1_773_330_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        self.t += 60.0
        return self.t


@dataclass
class World:
    risk: RiskService
    inc: Incidents
    audit: MemoryAudit
    rows: list[dict[str, Any]]
    keystore: KeyStore

    def case_of(self, customer: str) -> str:
        for c in self.inc.cases.queue(SUPERVISOR, limit=500, include_closed=True):
            if c.group_key == customer:
                return c.case_id
        raise AssertionError(f"no case for {customer}")


def open_risk(db_path: Path) -> RiskService:
    db = make_engine(f"sqlite:///{db_path}")
    init_schema(db)
    return RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()), accounts=AccountStates(db),
                       clock=lambda: 1_773_330_000.0)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("seed") / "world.db"
    risk = open_risk(path)
    rows = []
    for body, scenario, fraud in demo_events(7, 40):
        d = risk.submit("default", body).decision
        rows.append({"event_id": d.event_id, "event_time": d.event_time, "scenario": scenario, "fraud": fraud,
                     "action": d.action, "decision_id": d.decision_id})
    Incidents.for_risk(risk, MemoryAudit(), clock=StepClock(1_773_320_000.0)).cases.sync_from_log("default")
    risk.db.dispose()
    return path, rows


@pytest.fixture(scope="session")
def keystore_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.dpks"
    store = open_keystore("software", path=path, passphrase="test", create=True, argon2=CHEAP)
    store.generate("audit-signing", "ed25519")
    store.generate("evidence-signing", "ed25519")
    store.close()
    return path


@pytest.fixture
def keystore(keystore_file: Path, tmp_path: Path) -> Iterator[KeyStore]:
    copy = tmp_path / "keys.dpks"
    shutil.copy(keystore_file, copy)
    store = open_keystore("software", path=copy, passphrase="test")
    yield store
    store.close()


@pytest.fixture
def world(seeded: tuple[Path, list[dict[str, Any]]], tmp_path: Path, keystore: KeyStore) -> Iterator[World]:
    path, rows = seeded
    copy = tmp_path / "world.db"
    shutil.copy(path, copy)
    risk = open_risk(copy)
    audit = MemoryAudit()
    inc = Incidents.for_risk(risk, audit, signer=KeyStoreSigner(keystore), clock=StepClock())
    yield World(risk, inc, audit, rows, keystore)
    risk.db.dispose()
