"""End to end in real headless Chromium: sign in, open the S1 case, see its map and graph, request a
freeze as the analyst and approve it as a second person (a supervisor), see the self-approval
refused, and read the dashboards and rule list in both languages. Screenshots are test artefacts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import USERS, ConsoleWorld, shoot

pytestmark = pytest.mark.slow


class Person:
    """One member of staff in a browser context of their own (own cookies, own session)."""

    def __init__(self, browser: Any, base: str, user: str) -> None:
        self.ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        self.page = self.ctx.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base}/queue")
        assert "/signin" in self.page.url
        self.page.fill("#username", user)
        self.page.fill("#password", USERS[user][0])
        self.page.click("#signin")
        self.page.wait_for_selector("#queue")

    def open_s1(self) -> None:
        self.page.goto(f"{self.base}/queue")
        self.page.click("a.case-link[data-group='cust-00000']")
        self.page.wait_for_selector("#case-map[data-drawn='1']")
        self.page.wait_for_selector("#case-graph[data-drawn='1']")

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def analyst(browser: Any, server: str) -> Iterator[Person]:
    p = Person(browser, server, "li.na")
    yield p
    p.close()


@pytest.fixture
def supervisor(browser: Any, server: str) -> Iterator[Person]:
    p = Person(browser, server, "wang.qiang")
    yield p
    p.close()


def test_sign_in_failure(browser: Any, server: str) -> None:
    page = browser.new_page()
    page.goto(f"{server}/signin")
    page.fill("#username", "li.na")
    page.fill("#password", "wrong-password")
    page.click("#signin")
    assert page.inner_text("#signin-error") == "用户名或密码错误"
    shoot(page, "00-signin-failed")
    page.close()


def test_queue_and_s1_case_with_map_and_graph(analyst: Person) -> None:
    page = analyst.page
    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 2
    first_priority = int(rows.nth(0).locator(".prio").inner_text())
    assert first_priority == max(int(rows.nth(i).locator(".prio").inner_text()) for i in range(rows.count()))
    shoot(page, "01-queue")
    analyst.open_s1()
    assert "cust-00000" in page.inner_text("#case-title")
    # The map names both places and the phone-to-card distance; the graph links card and terminals.
    map_text = page.inner_text("#case-map")
    assert "宾阳" in map_text and "南宁" in map_text and "km" in map_text
    assert page.locator("#case-map .scatterlayer .point").count() >= 5
    graph_text = page.inner_text("#case-graph")
    assert "atm-BI-002" in graph_text and "acct-00000" in graph_text
    assert page.locator("#timeline tr.alerted").count() >= 4
    shoot(page, "02-case-s1")
    assert analyst.errors == []


def test_freeze_needs_a_second_person(analyst: Person, supervisor: Person, console_world: ConsoleWorld) -> None:
    analyst.open_s1()
    page = analyst.page
    page.select_option("#action-target", "account:acct-00000")
    page.select_option("#action-kind", "freeze")
    page.select_option("#action-basis", "anti_telecom_fraud_art18")
    page.fill("#action-reason", "宾阳 ATM 伪卡取现 / counterfeit withdrawals in Binyang")
    page.click("#action-submit")
    page.wait_for_selector("#pending-actions tr[data-action]")
    assert "approve" not in page.inner_html("#pending-actions")  # an analyst cannot approve
    assert console_world.inc.accounts.status("acct-00000") == "active"
    shoot(page, "03-freeze-requested", docs=True)

    supervisor.open_s1()
    spage = supervisor.page
    spage.click("#pending-actions button.approve")
    spage.wait_for_selector("#done-actions")
    done = spage.inner_text("#done-actions")
    assert "冻结" in done and "li.na" in done and "批准人：wang.qiang" in done and "已批准" in done
    assert "approved" not in done and "freeze" not in done  # a Chinese page says it in Chinese
    assert console_world.inc.accounts.status("acct-00000") == "frozen"
    assert "冻结" in spage.inner_text("#notes")  # the customer's freeze notice is on the case
    shoot(spage, "04-freeze-approved-by-second-person", docs=True)
    spage.goto(f"{supervisor.base}/actions")
    assert "已冻结" in spage.inner_text("#states")
    assert analyst.errors == [] and supervisor.errors == []


def test_self_approval_is_refused(supervisor: Person, console_world: ConsoleWorld) -> None:
    supervisor.open_s1()
    page = supervisor.page
    page.select_option("#action-target", "account:acct-00000")
    page.select_option("#action-kind", "unfreeze")
    page.select_option("#action-basis", "confirmation_cleared")
    page.fill("#action-reason", "test of dual control")
    page.click("#action-submit")
    page.wait_for_selector("#pending-actions tr[data-action]")
    page.click("#pending-actions button.approve")
    page.wait_for_selector("#error-message")
    assert "dual control" in page.inner_text("#error-message")
    assert console_world.inc.accounts.status("acct-00000") == "frozen"
    shoot(page, "05-self-approval-refused", docs=True)


def test_dashboards_and_rules_in_both_languages(analyst: Person) -> None:
    page = analyst.page
    page.goto(f"{analyst.base}/dashboard")
    for chart in ("actions", "alerts", "rules", "scores"):
        page.wait_for_selector(f"#chart-{chart}[data-drawn='1']")
    assert "各处置动作随时间变化" in page.inner_text("#chart-actions")
    shoot(page, "06-dashboard-zh")
    page.goto(f"{analyst.base}/dashboard?lang=en")
    page.wait_for_selector("#chart-actions[data-drawn='1']")
    assert "Actions over time" in page.inner_text("#chart-actions")
    shoot(page, "07-dashboard-en")
    page.goto(f"{analyst.base}/rules")  # the language choice sticks (cookie)
    text = page.inner_text("#rules")
    assert "S1.chip_stripe" in text and "Hit rate" in text
    shoot(page, "08-rules-en")
    analyst.open_s1()
    assert "Linked entities" in page.inner_text("#graph-card")
    shoot(page, "09-case-s1-en")
    assert analyst.errors == []
