"""Console fixtures: the small demo world (S1 and S2 in 40 customers' traffic) with staff users, a
live console server for the browser tests, and headless Chromium (system package) via Playwright.

Browser tests skip when Chromium or Playwright is missing, unless DUNPAI_REQUIRE_SERVICES=1, where
they fail. Screenshots go to ``build/test-artifacts/web`` (or ``DUNPAI_ARTIFACTS``); with
``DUNPAI_UPDATE_SCREENSHOTS=1`` the main ones are also copied to ``docs/screenshots``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dunpai.audit import MemoryAudit
from dunpai.core.db import init_schema, make_engine
from dunpai.keys import Argon2Params, PanTokenizer, open_keystore
from dunpai.risk.cases import AccountStates, Incidents, KeyStoreSigner
from dunpai.risk.cases.log_queries import related_events_txn
from dunpai.risk.decisions.record import Decision
from dunpai.risk.features.store import MemoryStore
from dunpai.risk.scenarios.insider_skimming import s3_events
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
SKIMMED = "atm-NA-016"  # the terminal the test world's skimmer job flags
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
    decided: list[Decision] = field(default_factory=list)  # every decision made while the world was built


def skimming_flag(db: Any, terminal: str) -> dict[str, Any]:
    """What the point-of-compromise job (``TerminalFlag.to_alert()``) reports for ``terminal``: its
    window spans the uses logged there; the cards "later defrauded" are two of the cards used."""
    with db.connect() as conn:
        events = related_events_txn(conn, "default", "terminal_id", terminal, 0.0, 1e11)
    times = [datetime.fromisoformat(e["event_time"]).timestamp() for e in events]
    used = sorted({e["card_id"] for e in events if e.get("card_id")})
    return {"kind": "compromise.terminal", "reason": "compromise.skimming_suspected",
            "entity": {"terminal_id": terminal}, "flagged_at": max(times) + 60.0, "score": 12.5,
            "title": {"zh": "疑似侧录终端，请现场排查", "en": "suspected skimming terminal: inspect on site"},
            "summary": {"zh": f"终端 {terminal} 疑似被装侧录器",
                        "en": f"terminal {terminal} is a suspected skimming point"},
            "test": {"name": "binomial scan", "p_value": 3e-7, "fraud_cards": 2, "window_cards": len(used),
                     "base_rate": 0.001, "tests": 100},
            "window": {"start": min(times), "end": max(times)},
            "evidence": [{"card_id": c, "visit_t": min(times), "first_fraud_t": max(times),
                          "label_known_t": max(times)} for c in used[:2]]}


def build_world(tmp: Path) -> ConsoleWorld:
    db = make_engine(f"sqlite:///{tmp / 'console.db'}")
    init_schema(db)
    risk = RiskService(db, MemoryStore(), protector=PanTokenizer(shared_keys()), accounts=AccountStates(db))
    risk.data_dir = tmp  # the tenant's history store (rule backtests) lives beside the database
    demo = demo_events(7, 40)
    staff_events, _thief = s3_events(7)  # S3: employees' queries, the thief's bulk pulls among them
    decided = [risk.submit("default", body).decision for body, _, _ in (*demo, *staff_events)]
    store = open_keystore("software", path=tmp / "keys.dpks", passphrase="test", create=True,
                          argon2=Argon2Params(time_cost=1, memory_cost_kib=1024, parallelism=1))
    audit = MemoryAudit()
    clock = StepClock()  # staff actions happen on the demo's evening, after its events
    inc = Incidents.for_risk(risk, audit, signer=KeyStoreSigner(store), clock=clock)
    inc.cases.sync_from_log("default")
    inc.cases.ingest_terminal_flag("default", skimming_flag(db, SKIMMED))
    for name, (password, role, display, employee) in USERS.items():
        create_staff(db, name, password, role, display_name=display, employee_id=employee, branch_id="NN01",
                     tenant="other-bank" if name == "mallory" else "default")
    app = create_console(inc, risk, secure_cookies=False, clock=clock)
    return ConsoleWorld(risk, inc, audit, app, decided)


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


def signin_token(client: Any) -> str:
    """What a browser does first: open the sign-in page, which sets the form's CSRF cookie and field."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text)
    assert found, "the sign-in form carries no CSRF token"
    return found.group(1)


def shoot(page: Any, name: str, docs: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("DUNPAI_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SHOTS / path.name)
    return path
