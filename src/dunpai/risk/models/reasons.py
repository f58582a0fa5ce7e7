"""Model contributions -> reason codes with analyst text in Chinese and English.

A SHAP contribution names a feature; analysts read a reason. Features map to reasons by name
(longest matching prefix first), so a new feature of a known family gets its family's reason.
"""

from __future__ import annotations

from dunpai.core.i18n import Text

REASONS: dict[str, Text] = {
    "model.amount_above_habit": Text("金额远高于该卡平时的消费水平", "amount far above this card's usual spending"),
    "model.amount_high": Text("交易金额异常偏高", "unusually large amount"),
    "model.terminal_known_fraud": Text("该终端近期有已确认的欺诈交易（疑似被侧录）",
                                       "confirmed frauds at this terminal recently (possibly skimmed)"),
    "model.terminal_traffic": Text("终端交易量或用卡数量异常", "unusual traffic or number of cards at the terminal"),
    "model.card_velocity": Text("该卡短时间内交易次数或金额异常", "unusual number or total of this card's recent uses"),
    "model.card_known_fraud": Text("该卡已有确认的欺诈记录", "this card already has a confirmed fraud"),
    "model.unusual_time": Text("交易时间不同寻常", "unusual time of the transaction"),
    "model.location": Text("交易地点与持卡人常用地点不符", "place of use unlike the cardholder's usual places"),
    "model.detector_signal": Text("检测器信号", "a detector signal"),
    "model.other": Text("模型综合判断风险较高", "the model's overall assessment"),
}

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("hab_ratio", "model.amount_above_habit"), ("hab_z", "model.amount_above_habit"),
    ("hab_high", "model.amount_above_habit"), ("card_amount", "model.amount_above_habit"),
    ("card_mean", "model.amount_above_habit"), ("book_cust_avg", "model.amount_above_habit"),
    ("amount", "model.amount_high"), ("book_amount", "model.amount_high"), ("drain_ratio", "model.amount_high"),
    ("tl_", "model.terminal_known_fraud"), ("book_term_risk", "model.terminal_known_fraud"),
    ("term_fraud", "model.terminal_known_fraud"), ("book_term_nb", "model.terminal_traffic"),
    ("term_", "model.terminal_traffic"), ("card_fraud_known", "model.card_known_fraud"),
    ("cust_fraud_known", "model.card_known_fraud"), ("cl_", "model.card_known_fraud"),
    ("card_count", "model.card_velocity"),
    ("card_sum", "model.card_velocity"), ("card_secs", "model.card_velocity"), ("hab_", "model.card_velocity"),
    ("book_cust_nb", "model.card_velocity"), ("acct_outflow", "model.card_velocity"),
    ("card_terminals", "model.card_velocity"), ("hour", "model.unusual_time"), ("night", "model.unusual_time"),
    ("weekend", "model.unusual_time"), ("book_night", "model.unusual_time"),
    ("book_weekend", "model.unusual_time"), ("cust_km", "model.location"), ("card_km", "model.location"),
    ("card_speed", "model.location"), ("card_new", "model.location"), ("sig_", "model.detector_signal"),
)
_ORDERED = tuple(sorted(_PREFIXES, key=lambda p: -len(p[0])))


def reason_for(feature: str) -> str:
    """The reason code of a model feature (``model.other`` when no family matches)."""
    for prefix, code in _ORDERED:
        if feature.startswith(prefix):
            return code
    return "model.other"


def reason_text(code: str) -> Text:
    return REASONS.get(code, REASONS["model.other"])
