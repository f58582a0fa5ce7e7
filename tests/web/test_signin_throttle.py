"""Console sign-in (issue 14, item 4): thirty wrong passwords then the right one does not sign in;
the lock-out is audited and raises an alert; one client spraying many names is held back; the
sign-in form carries its own CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dunpai.risk.cases import Staff
from dunpai.web import create_console
from tests.web.conftest import USERS, ConsoleWorld, build_world


class Clock:
    def __init__(self) -> None:
        self.t = 1_773_330_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Console:
    world: ConsoleWorld
    clock: Clock
    client: TestClient

    def attempt(self, user: str, password: str, *, token: str | None = None) -> Any:
        page = self.client.get("/signin")
        found = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert found
        return self.client.post("/signin", data={"username": user, "password": password, "next": "/queue",
                                                 "csrf": found.group(1) if token is None else token},
                                follow_redirects=False)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    world = build_world(tmp_path)
    clock = Clock()
    app = create_console(world.inc, world.risk, secure_cookies=False, clock=clock)
    yield Console(world, clock, TestClient(app))
    world.risk.db.dispose()


def test_thirty_wrong_passwords_lock_the_name_and_the_right_one_waits(console: Console) -> None:
    right = USERS["li.na"][0]
    statuses = [console.attempt("li.na", f"guess-{i}").status_code for i in range(30)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    refused = console.attempt("li.na", right)
    assert refused.status_code == 429 and "尝试次数过多" in refused.text
    actions = [e[1] for e in console.world.audit.entries]
    assert actions.count("console.signin.failed") == 5 and actions.count("console.signin.locked") == 1
    assert actions.count("console.signin.refused") == 26
    boss = Staff("wang.qiang", "supervisor")
    locked = [c for c in console.world.inc.cases.queue(boss, limit=500) if c.group_key == USERS["li.na"][3]]
    assert locked, "the lock-out raised no alert"
    console.clock.t += 61  # the first lock lasts a minute
    assert console.attempt("li.na", right).status_code == 303
    assert console.attempt("li.na", "wrong again").status_code == 401  # a success cleared the count


def test_the_back_off_doubles_and_a_restart_does_not_reset_it(console: Console) -> None:
    for i in range(5):
        console.attempt("wang.qiang", f"guess-{i}")
    console.clock.t += 61
    assert console.attempt("wang.qiang", "guess-6").status_code == 401  # the sixth failure: two minutes
    restarted = TestClient(create_console(console.world.inc, console.world.risk, secure_cookies=False,
                                          clock=console.clock))
    console.client = restarted
    console.clock.t += 61
    assert console.attempt("wang.qiang", USERS["wang.qiang"][0]).status_code == 429
    console.clock.t += 60
    assert console.attempt("wang.qiang", USERS["wang.qiang"][0]).status_code == 303


def test_one_client_spraying_many_names_is_held_back(console: Console) -> None:
    statuses = [console.attempt(f"user-{i}", "password").status_code for i in range(21)]
    assert statuses == [401] * 21
    assert console.attempt("zhao.min", USERS["zhao.min"][0]).status_code == 429  # even a real user, from there


def test_the_sign_in_form_needs_its_own_csrf_token(console: Console) -> None:
    r = console.attempt("li.na", USERS["li.na"][0], token="forged")
    assert r.status_code == 403
    bare = TestClient(console.client.app)  # no cookie from the sign-in page: a cross-site post
    r = bare.post("/signin", data={"username": "li.na", "password": USERS["li.na"][0], "next": "/queue",
                                   "csrf": "x"}, follow_redirects=False)
    assert r.status_code == 403 and "dunpai_console" not in r.headers.get("set-cookie", "")
    page = console.client.get("/signin")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert console.attempt("li.na", USERS["li.na"][0]).status_code == 303
