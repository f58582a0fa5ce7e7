"""Counterfeit card (case S1): a skimmed copy used while the genuine card is in the owner's pocket.

EMV facts (a chip card read by stripe, a chip counter out of order), geography (two card-present
uses too far apart, beyond the uncertainty of either place, the spread of the places reported for
the terminal and the card's own usual spread, for a card whose places do not jump like that
routinely; the card far from the customer's phone), the
cash-out pattern (the balance drained soon after a deposit elsewhere) and the point-of-compromise
job's output (the card was exposed at a skimmed terminal and not yet reissued; the terminal itself
is flagged) — read from the ``ExposureEnricher``'s ``card_exposed`` and ``terminal_flagged``.
"""

from __future__ import annotations

from collections.abc import Mapping

from dunpai.core.i18n import Text
from dunpai.risk.detectors.base import Detector, SignalSpec

HOUR = 3600.0
CP = ("card_present",)
CARD = ("card_present", "card_not_present")


def _impossible_travel(f: Mapping[str, float]) -> bool:
    """Too far for the time, beyond the card's own spread and beyond how far the places reported
    for this terminal spread (an id given at many places is no fixed point), for a card whose
    places do not jump like that routinely."""
    km = f["card_km_from_last_cp"]
    net = km - f.get("term_place_spread_km", 0.0)
    return (net > max(50.0, 3.0 * f["card_radius_km"]) and f["card_speed_kmh"] * net / km > 300
            and f["card_impossible_30d"] < 1.5)


COUNTERFEIT = Detector("counterfeit", (
    SignalSpec(
        "sig_chip_card_stripe_read", "counterfeit.chip_read_by_stripe",
        Text("芯片卡在支持芯片的终端上以磁条方式读取（伪卡典型特征）",
             "chip card read by magnetic stripe at a chip-capable terminal (classic counterfeit sign)"),
        CP, lambda f: f["chip_card_read_by_stripe"] > 0,
    ),
    SignalSpec(
        "sig_impossible_travel", "counterfeit.impossible_travel",
        Text("两次刷卡地点相距过远，时间内无法到达",
             "two card-present uses too far apart for the time between them"),
        CP, _impossible_travel,
    ),
    SignalSpec(
        "sig_card_far_from_phone", "counterfeit.card_far_from_phone",
        Text("刷卡地点远离客户手机银行最近所在位置",
             "card used far from where the customer's phone app was just seen"),
        CP, lambda f: f["cust_km_from_app"] > 30 and f["cust_app_secs"] < 6 * HOUR,
    ),
    SignalSpec(
        "sig_drain_after_deposit", "counterfeit.drain_after_deposit",
        Text("存款后短时间内在异地取走几乎全部余额",
             "almost the whole balance withdrawn elsewhere soon after a deposit"),
        CP, lambda f: (f["withdrawal"] > 0 and f["drain_ratio"] >= 0.8 and f["acct_deposit_secs"] < 24 * HOUR
                       and f["card_deposit_km"] > 20),
    ),
    SignalSpec(
        "sig_atc_anomaly", "counterfeit.atc_anomaly",
        Text("芯片交易计数器倒退或异常跳跃", "the chip's transaction counter went backwards or jumped"),
        CP, lambda f: f["card_atc_backwards"] > 0 or f["card_atc_jump"] > 50,
    ),
    SignalSpec(
        "sig_exposed_card", "counterfeit.exposed_card",
        Text("该卡曾在疑似被装侧录器的终端使用，尚未换卡",
             "the card was used at a terminal suspected of skimming and has not been reissued"),
        CARD, lambda f: f.get("card_exposed", 0.0) > 0,  # absent without the exposure enricher
    ),
    SignalSpec(
        "sig_at_flagged_terminal", "counterfeit.at_flagged_terminal",
        Text("在疑似被装侧录器、待排查的终端上使用",
             "used at a terminal flagged as a suspected skimming point, pending inspection"),
        CP, lambda f: f.get("terminal_flagged", 0.0) > 0,
    ),
))
