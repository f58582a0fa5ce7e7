"""Console fixtures: the small demo world (S1 and S2 in 40 customers' traffic) with staff users, a
live console server for the browser tests, and headless Chromium (system package) via Playwright.

Browser tests skip when Chromium or Playwright is missing, unless DUNPAI_REQUIRE_SERVICES=1, where
they fail. Screenshots go to ``build/test-artifacts/web`` (or ``DUNPAI_ARTIFACTS``); with
``DUNPAI_UPDATE_SCREENSHOTS=1`` the main ones are also copied to ``docs/screenshots``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dunpai.audit import MemoryAudit
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import Argon2Params, PanTokenizer, open_keystore
from dunpai.risk.cases import AccountStates, Incidents, KeyStoreSigner
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.scenarios.source_cases import demo_events
from dunpai.risk.service import RiskService
from dunpai.web import create_console
from dunpai.web.staff import create_staff
from tests.risk.conftest import shared_keys
from tests.services import services_required

CHROMIUM = os.environ.get("DUNPAI_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DUNPAI_ARTIFACTS", REPO / "build" / "test-artifacts")) / "web"
DOCS_SHOTS = REPO / "docs" / "screenshots"
USERS = {  # user name: (password, role, display name, employee id)
    "li.na": ("analyst-pass-1", "analyst", "李娜", "E1001"),
    "wang.qiang": ("supervisor-pass-1", "supervisor", "王强", "E2001"),
    "zhao.min": ("supervisor-pass-2", "supervisor", "赵敏", "E3001"),
    "mallory": ("other-bank-pass", "supervisor", "Mallory", "X0001"),
}


class StepClock:
    def __init__(self, start: float = 1_773_330_000.0) -> None:
        self.t = start
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.t += 1.0
            return self.t


@dataclass
class ConsoleWorld:
    risk: RiskService
    inc: Incidents
    audit: MemoryAudit
    app: Any


def build_world(tmp: Path) -> ConsoleWorld:
    db = make_engine(f"sqlite:///{tmp / 'console.db'}")
    init_schema(db)
    risk = RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()), accounts=AccountStates(db))
    for body, _, _ in demo_events(7, 40):
        risk.submit("default", body)
    store = open_keystore("software", path=tmp / "keys.dpks", passphrase="test", create=True,
                          argon2=Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1))
    audit = MemoryAudit()
    clock = StepClock()  # staff actions happen on the demo's evening, after its events
    inc = Incidents.for_risk(risk, audit, signer=KeyStoreSigner(store), clock=clock)
    inc.cases.sync_from_log("default")
    for name, (password, role, display, employee) in USERS.items():
        create_staff(db, name, password, role, display_name=display, employee_id=employee, branch_id="NN01",
                     tenant="other-bank" if name == "mallory" else "default")
    app = create_console(inc, risk, secure_cookies=False, clock=clock)
    return ConsoleWorld(risk, inc, audit, app)


@pytest.fixture(scope="session")
def console_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    w = build_world(tmp_path_factory.mktemp("console"))
    yield w
    w.risk.db.dispose()


@pytest.fixture(scope="session")
def server(console_world: ConsoleWorld) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(console_world.app, host="127.0.0.1", port=port, log_level="warning",
                                        access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("console server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if services_required():
            pytest.fail(f"browser tests required (DUNPAI_REQUIRE_SERVICES=1): {reason}")
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def shoot(page: Any, name: str, docs: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("DUNPAI_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / path.name)
    return path
