"""Customer notices (plain words, SMS-sized, no thresholds), the police report PDF, the real audit
chain adapter, and the incident demo end to end on the small demo world."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from dunpai.audit import AuditLog
from dunpai.cli.demos.incidents import run_incident_demo
from dunpai.core.config import load_settings
from dunpai.core.errors import InvalidInput
from dunpai.core.i18n import Text
from dunpai.risk.cases import Incidents, KeyStoreSigner
from dunpai.risk.cases.bundle import verify_bundle
from dunpai.risk.cases.liability import DEFAULT_RULES
from dunpai.risk.cases.notices import (
    DEFAULT_BANK,
    SMS_LIMIT_EN,
    SMS_LIMIT_ZH,
    Bank,
    action_notice,
    compensation_notice,
    sms_fits,
)
from dunpai.risk.cases.report import cjk_font
from tests.risk.cases.conftest import ANALYST, S1_ACCOUNT, S1_CUSTOMER, SUPERVISOR, StepClock, World

BANKS = [DEFAULT_BANK, Bank(Text("南宁银行", "Bank of Nanning"), "95588")]


@pytest.mark.parametrize("action", ["freeze", "restrict", "unfreeze"])
@pytest.mark.parametrize("target", ["account", "card"])
@pytest.mark.parametrize("why", ["counterfeit", "account"])
@pytest.mark.parametrize("bank", BANKS)
def test_action_notices_fit_an_sms_and_say_everything_in_the_app(action: str, target: str, why: str,
                                                                  bank: Bank) -> None:
    n = action_notice(action, target, "acct-000123456", why, bank)
    assert sms_fits(n), (len(n.sms.zh), len(n.sms.en))
    assert len(n.sms.zh) <= SMS_LIMIT_ZH and len(n.sms.en) <= SMS_LIMIT_EN
    assert "3456" in n.sms.zh and "000123456" not in n.sms.zh  # the tail only
    for part in (n.why, n.what, n.todo, n.appeal):
        assert part.zh and part.en and re.search(r"[\u4e00-\u9fff]", part.zh)
    assert "申诉" in n.app.zh and "appeal" in n.app.en.lower()
    assert not re.search(r"\d+\s*(km|公里|分|score)", n.app.zh + n.app.en)  # no thresholds or scores
    assert n.sms.zh.startswith(f"【{bank.name.zh}】") and n.sms.en.startswith(f"[{bank.name.en}]")
    line = bank.hotline or "本行客服热线"
    assert line in n.sms.zh and line in n.appeal.zh
    assert (bank.hotline or "our customer service") in n.sms.en + n.appeal.en


@pytest.mark.parametrize("bank", BANKS)
def test_compensation_notice_states_share_and_amount(bank: Bank) -> None:
    rule = DEFAULT_RULES[0]
    n = compensation_notice(S1_ACCOUNT, 13_265_00, rule.bank_share_bp, rule.basis, bank)
    assert sms_fits(n), (len(n.sms.zh), len(n.sms.en))
    assert (bank.hotline or "本行客服热线") in n.sms.zh
    assert "13,265.00" in n.sms.zh and "70%" in n.what.zh and "70%" in n.what.en


def test_the_bank_comes_from_the_settings_and_is_validated() -> None:
    bank = load_settings(None, {"bank": {"name_zh": "南宁银行", "name_en": "Bank of Nanning", "hotline": "95588"}}).bank
    assert (bank.name_zh, bank.hotline) == ("南宁银行", "95588")
    with pytest.raises(InvalidInput) as exc:
        load_settings(None, {"bank": {"hotline": "call us"}})
    assert exc.value.problems[0].field == "bank.hotline"


def test_police_report_pdf_embeds_a_chinese_font(world: World) -> None:
    cid = world.case_of(S1_CUSTOMER)
    world.inc.cases.collect_evidence(ANALYST, cid)
    zh = world.inc.police_report(ANALYST, cid, "zh")
    en = world.inc.police_report(ANALYST, cid, "en")
    assert zh.startswith(b"%PDF") and en.startswith(b"%PDF") and zh != en
    font = cjk_font()
    if font == "DunpaiCJK":
        assert b"FontFile2" in zh  # the TrueType font travels inside the PDF
    assert re.search(rb"/Type /Page\b(?!s)", zh)
    assert ("case.report", f"default/case/{cid}") in [(a, s) for _, a, s, _ in world.audit.entries]


def test_changes_go_to_the_real_audit_chain(world: World) -> None:
    inc = Incidents.for_risk(world.risk, AuditLog(world.risk.db, world.keystore, checkpoint_every=5),
                             signer=KeyStoreSigner(world.keystore), clock=StepClock())
    cid = world.case_of(S1_CUSTOMER)
    inc.cases.transition(ANALYST, cid, "investigating")
    req = inc.actions.request(ANALYST, target_kind="account", target_id=S1_ACCOUNT, action="freeze",
                              legal_basis="bank_terms", reason="r", case_id=cid)
    inc.actions.approve(SUPERVISOR, req.action_id)
    log = AuditLog(world.risk.db, world.keystore, checkpoint_every=5)
    actions = [e.action for e in log.entries(limit=1000)]
    assert {"case.transition", "account.action.request", "account.action.approve"} <= set(actions)
    log.checkpoint()
    report = log.verify()
    assert report.ok and report.checkpoints >= 1, report  # the chain and its signed checkpoints verify


def test_incident_demo_end_to_end(world: World, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    console = Console(record=True, width=200)
    result = run_incident_demo(world.risk, world.rows, out, keystore=world.keystore, console=console)
    assert result.ok
    assert set(result.cases) == {"S1", "S2"}
    assert result.dual_control_refused and result.frozen_account == S1_ACCOUNT
    assert result.probe is not None and result.probe["action"] == "freeze"
    assert result.assessment is not None and result.assessment["bank_share_bp"] == 7000
    assert result.paid == 13_265_00
    assert sorted(p.name for p in out.iterdir()) == sorted(c for ids in result.cases.values() for c in ids)
    for case_dir in out.iterdir():
        assert verify_bundle(case_dir, world.keystore.public_key("evidence-signing/v1")).ok
    assert [n["kind"] for n in result.notices] == ["freeze", "compensation"]
    assert all(p.is_file() and p.read_bytes().startswith(b"%PDF") for p in result.reports)
    text = console.export_text()
    assert "70% bank / 30% customer" in text and "intact" in text


def test_the_english_police_report_speaks_words_and_names_places_in_both_languages(world: World) -> None:
    from dunpai.risk.cases.report import render_pdf, report_data
    from dunpai.risk.cases.report_words import event_words, history_words, place

    cid = world.case_of(S1_CUSTOMER)
    world.inc.cases.transition(ANALYST, cid, "investigating")
    detail = world.inc.cases.detail(ANALYST, cid)
    data = report_data(detail, world.inc.cases.case_events(ANALYST, cid), 1_773_400_000.0)
    english = [r["what"]["en"] for r in data["timeline"]] + [m["what"]["en"] for m in data["money"]]
    assert "ATM cash withdrawal (card present)" in english
    assert "case status changed to: investigating" in english
    assert not [w for w in english if "_" in w]  # no raw codes such as card_present or action_approved
    assert "宾阳 Binyang" in {r["where"] for r in data["timeline"]}
    assert place("Nanning") == place("南宁") == place("南宁 Nanning") == "南宁 Nanning"
    assert place("Atlantis") == "Atlantis"  # unknown places as given
    assert event_words("device", "sim_change").en == "SIM card changed"
    assert history_words("action_approved", "freeze", {}).en == "account action approved by a second person: freeze"
    ours = render_pdf(data, "en", Text("南宁银行", "Bank of Nanning"))
    default = render_pdf(data, "en")
    assert ours != default  # the reporting institution is the configured bank, not a placeholder
