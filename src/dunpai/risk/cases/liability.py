"""Liability assessment of a dispute from configurable rules (pure).

A rule names the facts it needs (all must match) and the bank's share in basis points; the first
matching rule wins, and the last rule should match anything. The default rules follow Chinese court
practice on bank-card fraud: a counterfeit card the bank failed to recognise puts the primary
liability on the bank (the bank must recognise its own cards); a customer's negligence with the
PIN takes a secondary share — 70 % / 30 % in the Nanning case of the source.

Shares are split in integer minor units; the bank's share rounds half up to the fen and the
customer's is the remainder, so the two always add up to the loss exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.core.i18n import Text

FACTS: dict[str, Text] = {
    "counterfeit_card": Text("伪卡交易", "counterfeit-card transaction"),
    "card_present": Text("有卡交易", "card-present transaction"),
    "bank_detected": Text("银行识别并拦截", "the bank detected and stopped it"),
    "pin_negligence": Text("客户未妥善保管密码", "the customer did not keep the PIN safe"),
    "customer_disclosed_code": Text("客户向他人泄露验证码", "the customer gave a verification code to someone"),
    "unsigned_transfer": Text("转账未经手机盾确认", "transfer not confirmed with the mobile shield"),
    "customer_authorised": Text("客户本人授权", "the customer authorised it"),
}


@dataclass(frozen=True)
class LiabilityRule:
    rule_id: str
    when: Mapping[str, bool]
    bank_share_bp: int
    basis: Text

    def matches(self, facts: Mapping[str, bool]) -> bool:
        return all(bool(facts.get(k, False)) == v for k, v in self.when.items())


@dataclass(frozen=True)
class Assessment:
    rule_id: str
    loss: int
    bank_share_bp: int
    bank_amount: int
    customer_amount: int
    basis: Text
    facts: Mapping[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "loss": self.loss, "bank_share_bp": self.bank_share_bp,
                "bank_amount": self.bank_amount, "customer_amount": self.customer_amount,
                "basis": self.basis.to_dict(), "facts": dict(self.facts)}


DEFAULT_RULES_YAML = """
- id: counterfeit_undetected_pin_negligence
  when: {counterfeit_card: true, bank_detected: false, pin_negligence: true}
  bank_share_pct: 70
  basis:
    zh: 银行未能识别伪卡，承担主要责任；客户未妥善保管密码，承担次要责任（南宁伪卡盗刷案判决 70%/30%）
    en: the bank failed to recognise a counterfeit card (primary liability); the customer did not keep the PIN
      safe (secondary) — 70/30 as in the Nanning counterfeit-card judgment
- id: counterfeit_undetected
  when: {counterfeit_card: true, bank_detected: false}
  bank_share_pct: 100
  basis:
    zh: 银行负有识别真伪卡的义务，伪卡交易损失由银行承担
    en: the bank must recognise its own cards; a counterfeit-card loss is the bank's
- id: unsigned_transfer_code_disclosed
  when: {unsigned_transfer: true, customer_disclosed_code: true}
  bank_share_pct: 50
  basis:
    zh: 银行放行未经手机盾确认的转账，客户泄露验证码，双方各担一半
    en: >-
      the bank let through transfers without a mobile-shield confirmation and the customer disclosed a code;
      shared equally
- id: unsigned_transfer
  when: {unsigned_transfer: true}
  bank_share_pct: 80
  basis:
    zh: 银行放行未经手机盾确认的大额转账，承担主要责任
    en: the bank let through large transfers without a mobile-shield confirmation (primary liability)
- id: customer_authorised
  when: {customer_authorised: true}
  bank_share_pct: 0
  basis:
    zh: 客户本人授权的交易，由客户承担
    en: a transaction the customer authorised is the customer's
- id: default
  when: {}
  bank_share_pct: 50
  basis:
    zh: 事实不清，协商先行赔付一半，待案件侦破后结算
    en: facts unclear; half is paid in advance by agreement and settled when the case is solved
"""


def parse_rules(source: str | Sequence[Mapping[str, Any]]) -> tuple[LiabilityRule, ...]:
    """Rules from YAML text or a list of mappings. Shares may be ``bank_share_pct`` (whole or decimal
    percent) or ``bank_share_bp``. Raises ``InvalidInput`` naming the bad rule."""
    raw = yaml.safe_load(source) if isinstance(source, str) else list(source)
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("liability rules must be a non-empty list", problems=[FieldProblem("$", "list")])
    rules = []
    for i, r in enumerate(raw):
        where = f"[{i}]"
        if not isinstance(r, dict) or "id" not in r:
            raise InvalidInput("invalid liability rule", problems=[FieldProblem(where, "needs an id")])
        when = r.get("when") or {}
        unknown = [k for k in when if k not in FACTS]
        if unknown or not all(isinstance(v, bool) for v in when.values()):
            raise InvalidInput("invalid liability rule", problems=[FieldProblem(f"{where}.when",
                                                                                f"unknown facts {unknown}")])
        if "bank_share_bp" in r:
            bp = int(r["bank_share_bp"])
        else:
            from decimal import Decimal

            bp = int(Decimal(str(r.get("bank_share_pct", -1))) * 100)
        if not 0 <= bp <= 10_000:
            raise InvalidInput("invalid liability rule", problems=[FieldProblem(f"{where}.bank_share",
                                                                                "between 0 and 100 %")])
        basis = r.get("basis") or {}
        rules.append(LiabilityRule(str(r["id"]), dict(when), bp, Text(str(basis.get("zh", "")),
                                                                       str(basis.get("en", "")))))
    return tuple(rules)


DEFAULT_RULES = parse_rules(DEFAULT_RULES_YAML)


def split(loss: int, bank_share_bp: int) -> tuple[int, int]:
    """(bank, customer) in minor units: bank rounds half up, customer takes the rest."""
    bank = (loss * bank_share_bp * 2 + 10_000) // 20_000
    return bank, loss - bank


def assess(loss: int, facts: Mapping[str, bool], rules: Sequence[LiabilityRule] = DEFAULT_RULES) -> Assessment:
    if isinstance(loss, bool) or not isinstance(loss, int) or loss < 0:
        raise InvalidInput("loss must be whole minor units", problems=[FieldProblem("loss", "non-negative integer")])
    unknown = [k for k in facts if k not in FACTS]
    if unknown:
        raise InvalidInput("unknown dispute facts", problems=[FieldProblem(f"facts.{k}", "unknown") for k in unknown])
    for rule in rules:
        if rule.matches(facts):
            bank, customer = split(loss, rule.bank_share_bp)
            return Assessment(rule.rule_id, loss, rule.bank_share_bp, bank, customer, rule.basis, dict(facts))
    raise InvalidInput("no liability rule matches these facts; add a catch-all rule",
                       problems=[FieldProblem("facts", "no rule matched")])
