"""Account takeover (case S2): a phishing SMS plants a trojan and the account is drained.

Device facts (new device, SIM change, remote-control or overlay app), behaviour (login from a new
device then payments, new payee, draining, bursts, unusual hours) and the mobile shield: with the
``ShieldEnricher`` present, ``sig_no_shield`` means "no *valid* signature" and the shield's status
adds signals of its own. A missing signature counts only for customers who enrolled a shield.
"""

from __future__ import annotations

from collections.abc import Mapping

from dunpai.core.i18n import Text
from dunpai.risk.detectors.base import Detector, SignalSpec

HOUR, DAY = 3600.0, 86400.0
MOBILE = ("mobile_transfer",)
PAYMENTS = ("mobile_transfer", "card_not_present")


def _unsigned(f: Mapping[str, float]) -> bool:
    """No valid signature from a customer who enrolled a shield. Without the shield enricher
    (history replays) nobody is known to have enrolled, so a missing signature says nothing."""
    valid = f.get("shield_valid")
    return valid is not None and valid == 0 and f.get("shield_enrolled", 0.0) > 0


def _large(f: Mapping[str, float]) -> bool:
    """Large for this payer: three times its typical transfer once it has a history, else in the
    top tenth of the tenant's transfers (no fixed amount: banks and currencies differ)."""
    if f["payer_history_n"] >= 3:
        return f["payer_amount_gratio"] >= 3.0
    return f.get("pop_amount_pctl", 1.0) >= 0.9


def _risky_app_secs(f: Mapping[str, float]) -> float:
    return min(f["cust_remote_app_secs"], f["cust_overlay_secs"], f["cust_malware_secs"])


TAKEOVER = Detector("takeover", (
    SignalSpec(
        "sig_new_device", "takeover.new_device",
        Text("使用新设备或刚绑定的设备操作", "operated from a new or just-enrolled device"),
        MOBILE, lambda f: f["cust_device_age_secs"] < DAY,
    ),
    SignalSpec(
        "sig_recent_sim_change", "takeover.sim_change",
        Text("近期更换过SIM卡", "the SIM card was changed recently"),
        PAYMENTS, lambda f: f["cust_sim_change_secs"] < 3 * DAY,
    ),
    SignalSpec(
        "sig_remote_control_app", "takeover.remote_or_malware",
        Text("设备上发现远程控制、悬浮窗或恶意应用",
             "remote-control, overlay or malicious app found on the device"),
        PAYMENTS, lambda f: _risky_app_secs(f) < 7 * DAY,
    ),
    SignalSpec(
        "sig_new_payee_large", "takeover.new_payee_large",
        Text("向首次出现的收款人转出大额资金", "a large transfer to a payee never paid before"),
        MOBILE, lambda f: f["cust_new_payee"] > 0 and _large(f),
    ),
    SignalSpec(
        "sig_drain", "takeover.drain",
        Text("转出金额接近账户全部余额", "the transfer empties most of the balance"),
        PAYMENTS, lambda f: f["drain_ratio"] >= 0.8 and f.get("pop_amount_pctl", 1.0) >= 0.5,
    ),
    SignalSpec(
        "sig_login_then_pay", "takeover.login_new_device_then_pay",
        Text("新设备登录后立即支付", "payment right after a login from a new device"),
        MOBILE, lambda f: f["cust_login_new_device"] > 0 and f["cust_login_secs"] < HOUR,
    ),
    SignalSpec(
        "sig_burst_transfers", "takeover.burst",
        Text("短时间内连续多笔转出", "many transfers out in a short time"),
        MOBILE, lambda f: (f["payer_count_1h"] >= 4
                           and f["payer_count_1h"] >= 5.0 * (1.0 + f["payer_count_30d"] / 720.0) and _large(f)),
    ),
    SignalSpec(
        "sig_unusual_hour", "takeover.unusual_hour",
        Text("在客户不常用的深夜时段操作", "activity late at night, unusual for this customer"),
        MOBILE, lambda f: f["night"] > 0 and f["cust_night_share"] < 0.1,
    ),
    SignalSpec(
        "sig_no_shield", "takeover.no_shield",
        Text("转账未附带有效的手机盾签名", "the transfer carries no valid mobile-shield signature"),
        MOBILE, _unsigned,
    ),
    SignalSpec(
        "sig_shield_invalid", "takeover.shield_invalid",
        Text("手机盾签名无效、被篡改、重放或设备已注销",
             "the mobile-shield signature is invalid, tampered, replayed or revoked"),
        MOBILE, lambda f: f["shield_status"] >= 2,
    ),
    SignalSpec(
        "sig_shield_new_device", "takeover.shield_new_device",
        Text("手机盾设备刚绑定，仍在冷静期内",
             "the mobile-shield device was enrolled only recently (cooling-off period)"),
        MOBILE, lambda f: f["shield_cooling_off"] > 0,
    ),
    SignalSpec(
        "sig_shield_trusted", "takeover.shield_trusted",
        Text("由长期绑定设备的有效手机盾签名确认（降低风险）",
             "confirmed by a valid mobile-shield signature from a long-enrolled device (lowers risk)"),
        MOBILE, lambda f: f["shield_trusted"] > 0,
    ),
))
