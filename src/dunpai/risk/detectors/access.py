"""Risky access (case S2's first steps): a login or a device enrolment that opens the door to a
takeover — from a new device far from home, or right after a remote-control app was found."""

from __future__ import annotations

from dunpai.core.i18n import Text
from dunpai.risk.detectors.base import Detector, SignalSpec

DAY = 86400.0
ACCESS = ("login", "device")

ACCESS_DETECTOR = Detector("access", (
    SignalSpec(
        "sig_access_new_device_far", "access.new_device_far",
        Text("新设备在远离客户常住地的地方登录或绑定", "a new device logs in or enrols far from the customer's home"),
        ACCESS, lambda f: f["cust_new_device"] > 0 and f["cust_km_from_home"] > 100,
    ),
    SignalSpec(
        "sig_access_after_remote_app", "access.after_remote_app",
        Text("发现远程控制或恶意应用后，新设备登录或绑定",
             "a new device logs in or enrols soon after a remote-control or malicious app was found"),
        ACCESS, lambda f: (
            f["cust_device_age_secs"] < DAY
            and min(f["cust_remote_app_secs"], f["cust_overlay_secs"], f["cust_malware_secs"]) < 7 * DAY),
    ),
))
