"""Customer notices in plain Chinese and English (pure).

Each notice has two forms: an SMS short enough for one message (70 Chinese characters or 160
English characters, the GSM/UCS-2 single-message limits) and the full app text: why the account is
abnormal, what was done, what to do now, and how to appeal. Never a threshold or a rule: nothing
that helps a fraudster. Amounts are shown in yuan from integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dunpai.core.i18n import Text

SMS_LIMIT_ZH = 70
SMS_LIMIT_EN = 160
DUNPAI_BANK = Text("盾牌银行", "Dunpai Bank")


@dataclass(frozen=True)
class Bank:
    """Who sends the notices: the bank's short name and its customer-service hotline, from the
    configuration (``bank:`` in the settings). Without a hotline the notices name the bank's
    customer-service line in words instead of a made-up number."""

    name: Text = DUNPAI_BANK
    hotline: str | None = None

    @property
    def sms_prefix(self) -> Text:
        return Text(f"【{self.name.zh}】", f"[{self.name.en}] ")

    @property
    def line(self) -> Text:
        """What to call, as it reads inside a sentence."""
        if self.hotline:
            return Text(self.hotline, self.hotline)
        return Text("本行客服热线", "our customer service")


DEFAULT_BANK = Bank()


def yuan(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100:,}.{minor % 100:02d}"


def tail(account_id: str) -> str:
    """The last four characters: enough for the customer to recognise the account, no more."""
    return account_id[-4:]


@dataclass(frozen=True)
class Notice:
    kind: str
    sms: Text
    why: Text
    what: Text
    todo: Text
    appeal: Text

    @property
    def app(self) -> Text:
        parts = (self.why, self.what, self.todo, self.appeal)
        return Text("\n".join(p.zh for p in parts), "\n".join(p.en for p in parts))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sms": self.sms.to_dict(), "app": self.app.to_dict(),
                "sections": {"why": self.why.to_dict(), "what": self.what.to_dict(), "todo": self.todo.to_dict(),
                             "appeal": self.appeal.to_dict()}}


def _appeal(bank: Bank) -> Text:
    h = bank.line
    return Text(f"如有异议，您可在手机银行“我的-申诉”中提交，或致电{h.zh}，或到任一网点提出；"
                "我们将在 5 个工作日内答复。",
                f"If you disagree, appeal in the app (Me > Appeals), call {h.en}, or ask at any branch; "
                "we answer within 5 working days.")


WHY_CARD = Text("我们发现您的银行卡在异地被疑似复制的卡片使用，与您本人的使用情况不符。",
                "We saw your card used far away by what looks like a copied card, unlike your own use.")
WHY_ACCOUNT = Text("我们发现您的账户有与您平时习惯不符的异常操作，可能并非您本人所为。",
                   "We saw activity on your account that does not match your habits and may not be yours.")


def _why(reason_kind: str) -> Text:
    return WHY_CARD if reason_kind == "counterfeit" else WHY_ACCOUNT


def action_notice(action: str, target_kind: str, target_id: str, reason_kind: str = "account",
                  bank: Bank = DEFAULT_BANK) -> Notice:
    """The notice for a restrict, freeze or unfreeze of an account or card."""
    sms, h, appeal = bank.sms_prefix, bank.line, _appeal(bank)
    what_target = Text("账户" if target_kind == "account" else "银行卡",
                       "account" if target_kind == "account" else "card")
    t = tail(target_id)
    if action == "freeze":
        return Notice(
            "freeze",
            sms.join(Text(f"为保护资金安全，您尾号{t}的{what_target.zh}已冻结。请携身份证到网点办理，详询{h.zh}。",
                           f"Your {what_target.en} ending {t} is frozen to keep your money safe. "
                           f"Visit a branch with ID; call {h.en}."), ("", "")),
            _why(reason_kind),
            Text(f"为防止资金损失，我们已冻结您尾号{t}的{what_target.zh}，冻结期间无法转出或取款，资金不会丢失。",
                 f"To prevent a loss we froze your {what_target.en} ending {t}: no payments or withdrawals "
                 "while it is frozen; your money stays safe."),
            Text("请携带本人有效身份证件到任一网点核实身份；如银行卡仍在您手中，请妥善保管并勿向任何人透露密码和验证码；"
                 "如已被盗刷，请及时向公安机关报案。",
                 "Please visit any branch with valid ID to verify your identity. If you still have your card, keep "
                 "it safe and never share your PIN or codes. If money was taken, report it to the police."),
            appeal,
        )
    if action == "restrict":
        return Notice(
            "restrict",
            sms.join(Text(f"您尾号{t}的{what_target.zh}非柜面业务已暂停，请携身份证到网点核实后恢复，详询{h.zh}。",
                           f"Online and ATM services on your {what_target.en} ending {t} are paused. "
                           f"Verify at a branch with ID; call {h.en}."), ("", "")),
            _why(reason_kind),
            Text(f"我们已暂停您尾号{t}的{what_target.zh}的手机银行、网银和自助设备等非柜面业务，柜面业务不受影响。",
                 f"We paused mobile, online and self-service (non-counter) services on your {what_target.en} "
                 f"ending {t}; counter services still work."),
            Text("请携带本人有效身份证件到任一网点核实身份后恢复。请勿点击短信中的陌生链接，勿安装来历不明的应用。",
                 "Please visit any branch with valid ID to verify your identity and restore them. Do not open links "
                 "in unexpected text messages or install apps from unknown sources."),
            appeal,
        )
    return Notice(
        "unfreeze",
        sms.join(Text(f"您尾号{t}的{what_target.zh}已恢复正常使用。如非本人申请，请致电{h.zh}。",
                       f"Your {what_target.en} ending {t} works normally again. If you did not ask for this, "
                       f"call {h.en}."), ("", "")),
        Text("经核实，您账户的风险已经排除。", "We checked, and the risk on your account has been cleared."),
        Text(f"我们已解除对您尾号{t}的{what_target.zh}的限制措施。",
             f"We lifted the measure on your {what_target.en} ending {t}."),
        Text("您可以正常使用。建议您修改密码并开启手机盾。", "You can use it as usual. We suggest changing your PIN "
             "and turning on the mobile shield."),
        appeal,
    )


def compensation_notice(account_id: str, amount: int, bank_share_bp: int, basis: Text,
                        bank: Bank = DEFAULT_BANK) -> Notice:
    sms, h = bank.sms_prefix, bank.line
    t = tail(account_id)
    pct = f"{bank_share_bp / 100:g}"
    return Notice(
        "compensation",
        sms.join(Text(f"您尾号{t}账户的盗刷损失，本行已先行赔付{yuan(amount)}元，已入账。详询{h.zh}。",
                       f"We have paid you CNY {yuan(amount)} for the fraud on account ending {t}. "
                       f"Call {h.en} with questions."), ("", "")),
        Text("您的账户发生了被盗用的交易，案件已报公安机关侦查。",
             "Money was taken from your account by fraud; the case has been reported to the police."),
        Text(f"在案件侦破前，本行按责任认定先行承担 {pct}% 的损失，共 {yuan(amount)} 元，"
             f"已存入您的账户。认定依据：{basis.zh}",
             f"Before the case is solved, the bank pays {pct}% of the loss, CNY {yuan(amount)}, into your account. "
             f"Basis: {basis.en}"),
        Text("追回的赃款将按比例退还给您。请保留好银行卡和交易凭证，配合公安机关调查。",
             "Money the police recover is returned to you in proportion. Keep your card and receipts and help "
             "the police with their inquiry."),
        _appeal(bank),
    )


def sms_fits(notice: Notice) -> bool:
    return len(notice.sms.zh) <= SMS_LIMIT_ZH and len(notice.sms.en) <= SMS_LIMIT_EN
