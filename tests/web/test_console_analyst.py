"""The analyst's day in real headless Chromium: queue filters narrow the results; a profile lists
the customer's cases and decisions; the dashboard shows the demo's real counts and is unchanged
after an analyst opens ten case pages; a rule drafted in the editor is checked as it is typed,
backtested, published by a second person and changes the next live decision. Every page is
photographed in Chinese and English (``docs/screenshots/console-*``), and no English page carries
a Chinese word of the console's own."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from dunpai.risk.scenarios.source_cases import demo_events
from tests.web.conftest import ConsoleWorld, shoot
from tests.web.test_console_browser import Person

pytestmark = pytest.mark.slow
CST = timezone(timedelta(hours=8))
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
OWN_WORDS_JS = """(other) => { const c = document.body.cloneNode(true);
  c.querySelectorAll('script, style, .ut, [lang^="' + other + '"]').forEach(n => n.remove());
  return c.textContent; }"""
# Codes and English words that a Chinese page (charts included) must say in Chinese.
RAW = re.compile(r"\b(allow|verify|delay|restrict|freeze|insider|decision|compromise|longitude|latitude|card use|"
                 r"route|customer|account|card|device|terminal|employee|payee|approved|rejected|pending|hit|no hit)"
                 r"\b(?![-\d])")


@pytest.fixture
def analyst(browser: Any, server: str) -> Iterator[Person]:
    p = Person(browser, server, "li.na")
    yield p
    p.close()


@pytest.fixture
def supervisor(browser: Any, server: str) -> Iterator[Person]:
    p = Person(browser, server, "zhao.min")
    yield p
    p.close()


def queue_rows(page: Any) -> list[tuple[str, str]]:
    rows = page.locator("#queue tbody tr[data-case]")
    return [(rows.nth(i).get_attribute("data-case") or "", rows.nth(i).get_attribute("data-type") or "")
            for i in range(rows.count())]


def test_queue_filters_narrow_the_results(analyst: Person) -> None:
    page = analyst.page
    page.goto(f"{analyst.base}/queue?per_page=100")
    everything = queue_rows(page)
    assert {t for _, t in everything} >= {"card_fraud", "takeover", "skimming", "insider"}
    page.select_option("#f-type", "insider")
    page.click("#f-apply")
    page.wait_for_url(re.compile(r"type=insider"))
    insider = queue_rows(page)
    assert insider and {t for _, t in insider} == {"insider"} and len(insider) < len(everything)
    assert "emp-s3-thief" in page.inner_text("#queue")
    page.click("#f-clear")
    page.fill("#f-q", "acct-00000")  # an account of the S1 case: found through the case's entities
    page.fill("#f-amount-min", "10000")
    page.click("#f-apply")
    page.wait_for_url(re.compile(r"q=acct-00000"))
    assert [g.get_attribute("data-group") for g in page.locator("#queue a.case-link").all()] == ["cust-00000"]
    page.fill("#view-name", "S1 账户 / S1 account")
    page.click("#view-save")
    page.goto(f"{analyst.base}/queue")
    page.click("#saved-views a.view-link")
    assert len(queue_rows(page)) == 1 and page.input_value("#f-q") == "acct-00000"
    page.fill("#f-amount-min", "lots")
    page.click("#f-apply")
    assert "amount_min" in page.inner_text("#error-problems")  # bad input is named
    assert [e for e in analyst.errors if "status of 422" not in e] == []


def test_profile_lists_the_customers_cases_and_decisions(analyst: Person) -> None:
    page = analyst.page
    analyst.open_s1()
    case_id = page.url.rsplit("/", 1)[-1]
    page.click("#case-entities a[data-kind='customer']")
    page.wait_for_selector("#profile-history")
    assert "cust-00000" in page.inner_text("#profile-title")
    assert page.locator(f"#profile-cases tr[data-case='{case_id}']").count() == 1
    assert "acct-00000" in page.inner_text("#profile-linked")
    explained = page.locator("#profile-history a.explain-link")
    assert explained.count() > 10 and page.locator("#profile-history tr.alerted").count() >= 4
    page.locator("#profile-history tr.alerted a.explain-link").first.click()
    page.wait_for_selector("#decision-rules")
    assert page.locator("#decision-rules tr[data-outcome='hit']").count() >= 1
    assert page.inner_text("#decision-customer").strip()
    assert analyst.errors == []


def transaction_counts(world: ConsoleWorld, first: date, last: date) -> Counter[str]:
    """The demo's decisions on customers' events per action, from what the engine answered while the
    demo was replayed (not from the pages or the queries behind them)."""
    counts: Counter[str] = Counter()
    for d in world.decided:
        day = datetime.fromisoformat(d.event_time).astimezone(CST).date()
        if d.event_type not in ("staff_access", "label") and first <= day <= last:
            counts[d.action] += 1
    return counts


def dashboard_counts(page: Any) -> dict[str, int]:
    cells = ("decisions", "allow", "verify", "delay", "restrict", "freeze", "alerts", "cases")
    return {k: int(page.inner_text(f"#count-{k}")) for k in cells}


def staff_accesses(world: ConsoleWorld) -> int:
    from sqlalchemy import func, select

    from dunpai.risk.storage.tables import decisions

    with world.risk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(decisions).where(
            decisions.c.event_type == "staff_access")).scalar_one())


def test_dashboard_shows_the_demos_counts_and_case_views_do_not_move_them(analyst: Person,
                                                                          console_world: ConsoleWorld) -> None:
    customer_days = [datetime.fromisoformat(d.event_time).astimezone(CST).date() for d in console_world.decided
                     if d.event_type not in ("staff_access", "label")]
    first, last = min(customer_days), max(customer_days)
    demo = demo_events(7, 40)
    assert sum(transaction_counts(console_world, first, last).values()) == len(demo) == 684
    page = analyst.page
    page.goto(f"{analyst.base}/dashboard")
    page.wait_for_selector("#chart-actions[data-drawn='1']")
    default = dashboard_counts(page)
    expected = transaction_counts(console_world, last - timedelta(days=13), last)  # 14 days to the last one
    assert default["decisions"] == sum(expected.values()) > 500
    assert {a: default[a] for a in expected} == dict(expected)
    page.fill("#range-from", first.isoformat())
    page.fill("#range-to", last.isoformat())
    page.click("#range-apply")
    page.wait_for_selector("#chart-actions[data-drawn='1']")
    whole = dashboard_counts(page)
    assert whole["decisions"] == 684 and whole["allow"] == transaction_counts(console_world, first, last)["allow"]
    ticks = page.locator("#chart-actions .xtick text").all_text_contents()
    assert ticks and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in ticks), ticks  # days, not 23:59:59.9996
    log_ticks = page.locator("#chart-scores .ytick text").all_text_contents()
    assert log_ticks and all(re.fullmatch(r"[\d,]+", t) for t in log_ticks), log_ticks
    rules = page.inner_text("#chart-rules")
    assert "S1." in rules or "G." in rules  # transaction rules, not the insider rules of page views

    views = staff_accesses(console_world)
    cases = page.context.new_page()  # the analyst reads ten case pages
    cases.goto(f"{analyst.base}/queue?per_page=100")
    ids = [r.get_attribute("data-case") for r in cases.locator("#queue tbody tr[data-case]").all()
           if r.get_attribute("data-type") != "skimming"]  # each of these names a customer
    for i in range(10):
        cases.goto(f"{analyst.base}/cases/{ids[i % len(ids)]}")
        cases.wait_for_selector("#timeline")
    cases.close()
    page.goto(f"{analyst.base}/dashboard")
    page.wait_for_selector("#chart-actions[data-drawn='1']")
    after = dashboard_counts(page)
    assert after == default
    assert staff_accesses(console_world) >= views + 10  # the views were recorded and decided, apart
    assert analyst.errors == []


RULE = {"#rule-id": "T.late_big_purchase", "#rule-desc-zh": "深夜大额刷卡消费",
        "#rule-desc-en": "Large card payment late at night",
        "#rule-reason": "amount.late_night_large", "#rule-score": "65",
        "#rule-msg-zh": "深夜大额消费需要核实", "#rule-msg-en": "a large late-night payment needs checking"}
LATE = "amount >= 5000.0 && hour >= 22.0"


def probe(world: ConsoleWorld, n: int) -> Any:
    """A 6,000-yuan purchase at the customer's usual shop at 23:50: allowed by the demo's rules."""
    raw = [b for b, _, _ in demo_events(7, 40) if b.get("txn") == "pos_purchase" and b["customer_id"] == "cust-00010"]
    body = {**raw[-1], "event_id": f"late-probe-{n}", "event_time": f"2026-03-12T23:5{n}:00+08:00",
            "amount": "600000", "atc": 108 + n}
    return world.risk.submit("default", body).decision


def test_a_drafted_rule_is_backtested_published_by_a_second_person_and_decides(
        analyst: Person, supervisor: Person, console_world: ConsoleWorld) -> None:
    before = probe(console_world, 1)
    assert before.action == "allow"
    page = analyst.page
    page.goto(f"{analyst.base}/rules")
    page.click("#new-rule")
    page.wait_for_selector("#rule-form")
    for selector, value in RULE.items():
        page.fill(selector, value)
    page.select_option("#rule-action", "delay")
    page.check("input[name='applies_to'][value='card_present']")
    page.fill("#rule-expression", "amount >= && hour")  # checked as it is typed
    page.wait_for_selector("#rule-validation[data-state='bad']")
    assert "expression" in page.inner_text("#rule-validation")
    assert "bad" in (page.get_attribute("#rule-expression", "class") or "")
    page.fill("#rule-expression", LATE)
    page.wait_for_selector("#rule-validation[data-state='ok']")
    page.click("#run-backtest")
    page.wait_for_selector("#backtest-result")
    mine = page.locator("#backtest-rules tr[data-rule='T.late_big_purchase']")
    assert mine.count() == 1 and int(mine.locator("td").nth(1).inner_text()) >= 0
    draft, published = (page.locator(f"#backtest-totals tr[data-row='{i}'] td").nth(2).inner_text() for i in (1, 2))
    extra = int(page.inner_text("#diff-extra-alerts"))
    assert int(draft) == int(published) + extra - int(page.locator("#backtest-difference dd").nth(1).inner_text())
    shoot(page, "console-rule-backtest-zh", docs=True)
    page.click("#submit-rule")
    page.wait_for_selector("#submitted-note")
    row = page.locator("#rule-changes tr[data-status='pending']")
    assert row.count() == 1 and "T.late_big_purchase" in row.inner_text()
    assert row.locator("button.approve").count() == 0  # an analyst never publishes
    assert probe(console_world, 2).action == "allow"  # submitted is not published

    spage = supervisor.page
    spage.goto(f"{supervisor.base}/rules?lang=en")
    shoot(spage, "console-rules-pending-en", docs=True)
    spage.locator("#rule-changes tr[data-status='pending'] button.approve").click()
    spage.wait_for_selector("#rule-changes tr[data-status='published']")
    assert "approved by zhao.min" in spage.inner_text("#rule-changes tr[data-status='published']")
    assert "T.late_big_purchase" in spage.inner_text("#rules")

    after = probe(console_world, 3)  # the next live decision
    assert after.action == "delay" and "amount.late_night_large" in after.reasons
    assert next(r for r in after.rule_results if r.rule_id == "T.late_big_purchase").outcome == "hit"
    actions = [a for who, a, _, _ in console_world.audit.entries if a.startswith("ruleset.change.")]
    assert actions[-2:] == ["ruleset.change.submit", "ruleset.change.publish"]
    assert analyst.errors == [] and supervisor.errors == []


def every_page(person: Person) -> list[tuple[str, str, str]]:
    """(name, path, selector to wait for) of every page of the console."""
    page = person.page
    page.goto(f"{person.base}/queue?per_page=100")
    by_type = {r.get_attribute("data-type"): r.get_attribute("data-case")
               for r in page.locator("#queue tbody tr[data-case]").all()}
    page.goto(f"{person.base}/cases/{by_type['card_fraud']}?only=alerted")
    decision = page.locator("#timeline a.explain-link").first.get_attribute("href") or ""
    return [("queue", "/queue", "#queue"),
            ("case-card-fraud", f"/cases/{by_type['card_fraud']}", "#case-map[data-drawn='1']"),
            ("case-takeover", f"/cases/{by_type['takeover']}", "#case-graph[data-drawn='1']"),
            ("case-skimmed-terminal", f"/cases/{by_type['skimming']}", "#exposed-cards"),
            ("case-insider", f"/cases/{by_type['insider']}", "#access-hours[data-drawn='1']"),
            ("profile-customer", "/profiles/customer/cust-00000", "#profile-history"),
            ("profile-employee", "/profiles/employee/emp-s3-thief", "#profile-access"),
            ("decision", decision.removeprefix(person.base), "#decision-rules"),
            ("actions", "/actions", "#states"), ("rules", "/rules", "#rules"),
            ("rule-editor", "/rules/editor?rule=S1.chip_stripe", "#rule-form"),
            ("dashboard", "/dashboard", "#chart-scores[data-drawn='1']")]


def test_every_page_in_both_languages(supervisor: Person) -> None:
    page = supervisor.page
    pages = every_page(supervisor)
    for lang in ("zh", "en"):
        for name, path, ready in pages:
            page.goto(f"{supervisor.base}{path}{'&' if '?' in path else '?'}lang={lang}")
            page.wait_for_selector(ready)
            if lang == "en":
                own = CJK.findall(page.evaluate(OWN_WORDS_JS, "zh"))
                assert not own, (name, own[:10])
            else:
                raw = RAW.findall(page.evaluate(OWN_WORDS_JS, "en"))
                assert not raw, (name, raw[:10])
            shoot(page, f"console-{name}-{lang}", docs=True)
    signin = page.context.browser.new_page(locale="en-GB")
    for lang in ("zh", "en"):
        signin.goto(f"{supervisor.base}/signin?lang={lang}")
        shoot(signin, f"console-signin-{lang}", docs=True)
    signin.close()
    assert supervisor.errors == []
