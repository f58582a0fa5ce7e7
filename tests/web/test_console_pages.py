"""The console's pages over HTTP (no browser): queue filters and saved views, one layout per case
type, profiles, decision explanations, the rule editor's live check, bad input named, and every
page in one language (an English page carries no Chinese words but the people's own)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from dunpai.risk.cases import Staff
from tests.web.conftest import SKIMMED, USERS, ConsoleWorld, signin_token

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    """The page's own words: text outside scripts, styles, people's own text (``.ut``: notes,
    reasons, names) and anything marked Chinese (``lang="zh-CN"``: the language switch, the Chinese
    half of a bilingual field)."""

    def __init__(self) -> None:
        super().__init__()
        self.skipping: list[bool] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        a = dict(attrs)
        skip = (tag in ("script", "style") or "ut" in (a.get("class") or "").split()
                or (a.get("lang") or "").startswith("zh"))
        self.skipping.append(skip or (self.skipping[-1] if self.skipping else False))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.skipping:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not (self.skipping and self.skipping[-1]):
            self.words.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.words)


def signed_in(world: ConsoleWorld, user: str = "li.na") -> TestClient:
    c = TestClient(world.app)
    r = c.post("/signin", data={"username": user, "password": USERS[user][0], "next": "/queue",
                                "csrf": signin_token(c)}, follow_redirects=False)
    assert r.status_code == 303
    return c


def cases_by_type(c: TestClient) -> dict[str, str]:
    rows = re.findall(r'data-case="(cas_[0-9a-f]+)" data-type="([a-z_]+)"', c.get("/queue?per_page=100").text)
    return {kind: cid for cid, kind in rows}


def test_every_case_type_is_in_the_queue(console_world: ConsoleWorld) -> None:
    assert set(cases_by_type(signed_in(console_world))) >= {"card_fraud", "takeover", "skimming", "insider"}


def test_queue_filters_narrow_and_name_bad_values(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    everything = re.findall(r'data-case="(cas_[0-9a-f]+)"', c.get("/queue?per_page=100").text)
    insider = c.get("/queue?type=insider&per_page=100").text
    assert set(re.findall(r'data-type="([a-z_]+)"', insider)) == {"insider"}
    assert 0 < len(re.findall(r'data-case="', insider)) < len(everything)
    found = c.get("/queue?q=acct-00000").text  # an account of the S1 case, not its title
    assert re.findall(r'data-group="([^"]+)"', found) == ["cust-00000"]
    rich = c.get("/queue?amount_min=10000&per_page=100").text
    assert "cust-00000" in rich and "emp-s3-thief" not in rich
    one = c.get("/queue?per_page=25&sort=amount&dir=asc").text
    amounts = [float(a.replace(",", "")) for a in re.findall(r'<td class="num">¥([0-9,.]+)</td>', one)]
    assert amounts == sorted(amounts)
    for query, field in (("status=lost", "status"), ("type=ufo", "type"), ("amount_min=lots", "amount_min"),
                         ("amount_max=12.345", "amount_max"),
                         ("from=12/03/2026", "from"), ("per_page=7", "per_page"), ("priority_min=900", "priority_min")):
        r = c.get(f"/queue?{query}")
        assert r.status_code == 422 and f"<code>{field}</code>" in r.text, query


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_saved_views(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world, "zhao.min")
    token = _csrf(c.get("/queue").text)
    r = c.post("/queue/views", data={"csrf": token, "name": "内部人员 insider", "query": "type=insider&lang=en&x=1"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/queue?type=insider"  # filters only
    page = c.get("/queue").text
    assert 'href="/queue?type=insider"' in page and "内部人员 insider" in page
    assert "内部人员 insider" not in signed_in(console_world, "li.na").get("/queue").text  # views are one's own
    c.post("/queue/views/delete", data={"csrf": token, "name": "内部人员 insider"})
    assert 'href="/queue?type=insider"' not in c.get("/queue").text


def test_a_layout_per_case_type(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    kinds = cases_by_type(c)
    card = c.get(f"/cases/{kinds['card_fraud']}").text
    assert 'id="case-map"' in card and 'id="report-zh"' in card and 'id="request-action"' in card
    takeover = c.get(f"/cases/{kinds['takeover']}").text
    assert 'id="case-devices"' in takeover and 'id="report-en"' in takeover
    insider = c.get(f"/cases/{kinds['insider']}").text
    assert 'id="access-pattern"' in insider and 'id="access-days"' in insider
    assert 'id="case-map"' not in insider and "report.pdf" not in insider and 'id="request-action"' not in insider
    skimmed = c.get(f"/cases/{kinds['skimming']}").text
    assert 'id="exposed-cards"' in skimmed and SKIMMED in skimmed and "report.pdf" not in skimmed
    exposed = re.findall(r'<tr class="(alerted|)" data-card="([^"]+)"', skimmed)
    assert len(exposed) >= 3 and sum(1 for mark, _ in exposed if mark == "alerted") == 2  # later defrauded
    assert 'id="case-map"' not in skimmed


def test_the_timeline_is_paged_and_links_each_decision(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    s1 = cases_by_type(c)["card_fraud"]
    first = c.get(f"/cases/{s1}?per_page=10").text
    rows = re.findall(r'<tr class="(?:alerted)?" data-event="([^"]*)"', first)
    assert len(rows) == 10 and 'id="timeline-next"' in first
    assert len(re.findall(r'data-event="', c.get(f"/cases/{s1}").text)) > 10  # 50 a page by default
    second = c.get(f"/cases/{s1}?page=2&per_page=10").text
    assert not set(re.findall(r'data-event="(ev-[^"]+)"', second)) & set(rows)
    decisions = re.findall(r'href="/decisions/(dec_[0-9a-f]+)" class="explain-link"', first)
    assert len(decisions) == len([r for r in rows if r]) > 0  # every event row explains its decision
    assert c.get(f"/cases/{s1}?per_page=7").status_code == 422
    only = c.get(f"/cases/{s1}?only=alerted").text
    assert 0 < len(re.findall(r'<tr class="alerted" data-event="ev-', only)) == len(
        re.findall(r'data-event="ev-', only))


def test_profile_lists_cases_history_devices(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    page = c.get("/profiles/customer/cust-00000").text
    assert cases_by_type(c)["card_fraud"] in page and "acct-00000" in page and 'id="profile-devices"' in page
    assert re.findall(r'href="/decisions/dec_[0-9a-f]+"', page)
    older = c.get("/profiles/customer/cust-00000?page=2")
    assert older.status_code == 200 and 'id="history-newer"' in older.text
    assert c.get("/profiles/customer/nobody-at-all").status_code == 404
    assert c.get("/profiles/planet/mars").status_code == 422
    assert signed_in(console_world, "mallory").get("/profiles/customer/cust-00000").status_code == 404


def test_decision_explanation(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    s1 = cases_by_type(c)["card_fraud"]
    page = c.get(f"/cases/{s1}?only=alerted").text
    decision = re.findall(r'href="/decisions/(dec_[0-9a-f]+)" class="explain-link"', page)[-1]
    d = c.get(f"/decisions/{decision}?lang=en").text
    hits = re.findall(r'data-rule="([^"]+)" data-outcome="hit"', d)
    assert hits and "sig_" in d and "=" in d  # the values each rule saw
    assert f'href="/cases/{s1}"' in d and "What the customer is told" in d
    assert signed_in(console_world, "mallory").get(f"/decisions/{decision}").status_code == 404


def test_rule_check_as_typed(console_world: ConsoleWorld) -> None:
    c = signed_in(console_world)
    token = _csrf(c.get("/rules/editor").text)
    rule = {"id": "T.check", "description_zh": "测试", "description_en": "test", "expression": "amount >= ",
            "action": "verify", "score": "40", "reason": "test.check", "applies_to": ["card_present"],
            "message_zh": "请核实", "message_en": "please confirm"}
    bad = c.post("/rules/validate", json=rule, headers={"X-CSRF-Token": token}).json()
    assert bad["ok"] is False and [p["field"] for p in bad["problems"]] == ["expression"]
    good = c.post("/rules/validate", json={**rule, "expression": "amount >= 100.0"},
                  headers={"X-CSRF-Token": token}).json()
    assert good == {"ok": True, "problems": []}
    assert c.post("/rules/validate", json=rule, headers={"X-CSRF-Token": "forged"}).status_code == 403
    prefilled = c.get("/rules/editor?rule=S1.chip_stripe").text
    assert "sig_chip_card_stripe_read == 1.0" in prefilled


PAGES = ("/queue", "/actions", "/rules", "/rules/editor?rule=S1.chip_stripe", "/dashboard",
         "/profiles/customer/cust-00000", "/profiles/employee/emp-s3-thief")


def _all_pages(c: TestClient) -> list[str]:
    kinds = cases_by_type(c)
    s1 = kinds["card_fraud"]
    decision = re.findall(r'href="/decisions/(dec_[0-9a-f]+)"', c.get(f"/cases/{s1}?only=alerted").text)[0]
    return [*PAGES, *(f"/cases/{cid}" for cid in kinds.values()), f"/decisions/{decision}"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_speaks_one_language(console_world: ConsoleWorld, lang: str) -> None:
    c = signed_in(console_world, "wang.qiang")
    for path in _all_pages(c):
        sep = "&" if "?" in path else "?"
        r = c.get(f"{path}{sep}lang={lang}")
        assert r.status_code == 200, path
        text = visible(r.text)
        if lang == "en":
            assert not CJK.findall(text), (path, CJK.findall(text)[:10])
        else:
            raw = {"longitude", "latitude", "approved", "rejected", "pending", "card_present", "staff_access",
                   "Decisions", "labels"}
            assert not {w for w in raw if re.search(rf"(?<![\w.]){w}(?![\w.])", text)}, path


def test_the_pending_table_has_a_heading_and_decided_requests_say_who_decided(console_world: ConsoleWorld) -> None:
    inc = console_world.inc
    c = signed_in(console_world, "wang.qiang")
    takeover = cases_by_type(c)["takeover"]
    analyst = Staff("li.na", "analyst")
    req = inc.actions.request(analyst, target_kind="account", target_id="acct-00001", action="restrict",
                              legal_basis="anti_telecom_fraud_art18", reason="takeover", case_id=takeover)
    inc.actions.reject(Staff("zhao.min", "supervisor"), req.action_id, "not needed")
    page = c.get(f"/cases/{takeover}?lang=en").text
    assert re.search(r"<h3>Awaiting approval</h3>\s*<table class=\"grid pending\"", page)
    done = page[page.index('id="done-actions"'):]
    row = re.search(r'<tr data-status="rejected">(.*?)</tr>', done)
    assert row and "rejected by zhao.min" in row.group(1) and "approved by" not in row.group(1)


def test_feature_values_read_as_numbers() -> None:
    from dunpai.web.context import number

    assert [number(v) for v in (17900.0, 0.35700000001, 123.456, 1e9, 3, None, float("inf"), True)] == [
        "17,900", "0.357", "123.46", "1,000,000,000", "3", "", "inf", "True"]
