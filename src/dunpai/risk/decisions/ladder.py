"""The intervention ladder (Anti-Telecom and Online Fraud Law, art. 18) and what each step tells
the customer to do next."""

from __future__ import annotations

from typing import Literal

from dunpai.core.i18n import Text

Action = Literal["allow", "verify", "delay", "restrict", "freeze"]
LADDER: tuple[Action, ...] = ("allow", "verify", "delay", "restrict", "freeze")
RANK: dict[str, int] = {a: i for i, a in enumerate(LADDER)}


def stronger(a: Action, b: Action) -> Action:
    return a if RANK[a] >= RANK[b] else b


NEXT_STEP: dict[str, Text] = {
    "allow": Text("交易已完成。", "The transaction went through."),
    "verify": Text(
        "为保护您的资金，请在手机银行中用手机盾确认本笔交易，或致电本行客服核实身份。",
        "To protect your money, please confirm this payment with the mobile shield in the app, "
        "or call our customer service to verify your identity.",
    ),
    "delay": Text(
        "本笔交易已暂缓处理。请勿向任何人透露验证码；如非本人操作，请立即致电本行客服。",
        "This transaction is on hold. Never share verification codes with anyone; if it was not you, "
        "call our customer service at once.",
    ),
    "restrict": Text(
        "您账户的非柜面业务已暂时受限。请携带有效身份证件到任一网点核实身份后恢复。",
        "Non-counter services on your account are temporarily restricted. Please visit any branch "
        "with valid ID to verify your identity and restore them.",
    ),
    "freeze": Text(
        "您的账户已被冻结以保护资金安全。请携带有效身份证件到网点办理，如有异议可提出申诉。",
        "Your account has been frozen to keep your money safe. Please visit a branch with valid ID; "
        "you may appeal if you disagree.",
    ),
}

ACCESS_NEXT_STEP: dict[str, Text] = {
    "allow": Text("登录成功。", "Signed in."),
    "verify": Text(
        "为保护您的账户，请用已绑定的手机完成身份验证；如非本人操作，请立即修改密码并致电本行客服。",
        "To protect your account, please verify your identity on your registered phone; if this was not you, "
        "change your password and call our customer service at once.",
    ),
    "delay": Text(
        "该登录或设备绑定已被暂停。请勿向任何人透露验证码；如非本人操作，请立即致电本行客服。",
        "This sign-in or device binding is on hold. Never share verification codes with anyone; if it was not "
        "you, call our customer service at once.",
    ),
    "restrict": NEXT_STEP["restrict"],
    "freeze": NEXT_STEP["freeze"],
}

ABNORMAL = Text("您的账户存在异常：", "Your account shows unusual activity: ")
