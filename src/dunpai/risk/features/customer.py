"""Per-customer online state: home and app location, devices, logins, device risk, payees, transfers.

Keyed by ``customer_id``. This is where card-present and mobile signals meet: the distance between
a card-present use and the customer's latest mobile-app location is the "card in the customer's
pocket" signal of a counterfeit card (case S1).
"""

from __future__ import annotations

from array import array
from typing import Any, ClassVar

from dunpai.risk.events.schemas import (
    CardNotPresent,
    CardPresent,
    DeviceEvent,
    Label,
    Location,
    Login,
    MobileTransfer,
    StaffAccess,
)
from dunpai.risk.features.event import event_location
from dunpai.risk.features.geo import haversine_km
from dunpai.risk.features.layout import BIG, NEVER, Features, Layout
from dunpai.risk.features.windows import (
    DecayGroups,
    decay_add,
    decay_groups,
    decay_to,
    recent_add,
    recent_seen,
    value_hash,
)

DAY = 86400.0
_DEVICE_ACTIONS = {
    "sim_change": "sim_t",
    "remote_access_app": "remote_t",
    "overlay_app": "overlay_t",
    "malware": "malware_t",
    "rooted": "malware_t",
}


class CustomerStep:
    name: ClassVar[str] = "customer"
    applies_to: ClassVar[tuple[type, ...]] = (CardPresent, CardNotPresent, MobileTransfer, Login, DeviceEvent, Label)
    layout: ClassVar[Layout] = Layout(
        [
            "ref",
            "home_lat",
            "home_lon",
            "home_w",
            "home_given",
            "app_t",
            "app_lat",
            "app_lon",
            "login_t",
            "login_dev",
            "login_new_dev",
            "sim_t",
            "remote_t",
            "overlay_t",
            "malware_t",
            "xfer_count_24h",
            "xfer_sum_24h",
            "xfer_count_30d",
            "xfer_sum_30d",
            "night_30d",
            "all_30d",
            "n_xfer",
            "fraud_t",
            "frauds",
        ],
        sets={"devices": 6, "payees": 16},
        defaults={
            "ref": NEVER,
            "app_t": NEVER,
            "login_t": NEVER,
            "sim_t": NEVER,
            "remote_t": NEVER,
            "overlay_t": NEVER,
            "malware_t": NEVER,
            "fraud_t": NEVER,
        },
    )
    _S: ClassVar[dict[str, int]] = layout.slot
    _DECAY: ClassVar[DecayGroups] = decay_groups(
        (
            (_S["xfer_count_24h"], DAY),
            (_S["xfer_sum_24h"], DAY),
            (_S["xfer_count_30d"], 30 * DAY),
            (_S["xfer_sum_30d"], 30 * DAY),
            (_S["night_30d"], 30 * DAY),
            (_S["all_30d"], 30 * DAY),
        )
    )
    _FEATURES: ClassVar[tuple[str, ...]] = (
        "cust_km_from_home",
        "cust_km_from_app",
        "cust_app_secs",
        "cust_new_device",
        "cust_device_age_secs",
        "cust_sim_change_secs",
        "cust_remote_app_secs",
        "cust_overlay_secs",
        "cust_malware_secs",
        "cust_login_secs",
        "cust_login_new_device",
        "cust_new_payee",
        "cust_xfer_count_24h",
        "cust_xfer_sum_24h",
        "cust_xfer_mean_30d",
        "cust_xfer_ratio",
        "cust_night_share",
        "cust_fraud_known",
        "cust_frauds_known",
        "cust_secs_since_fraud",
    )

    def key(self, event: Any) -> str | None:
        if isinstance(event, StaffAccess):
            return None  # the customer a staff member looked up is not acting
        cid: str | None = event.customer_id
        return cid

    def feature_names(self) -> tuple[str, ...]:
        return self._FEATURES

    def update(self, state: array[float] | None, event: Any, t: float, out: Features) -> array[float]:
        s = self.layout.new() if state is None else array("d", state)
        if isinstance(event, Label):
            if event.fraud:
                s[U_FRAUD_T] = max(s[U_FRAUD_T], t)
                s[U_FRAUDS] += 1.0
            return s
        ref = s[U_REF]
        decay_to(s, self._DECAY, t - ref if ref > NEVER else 0.0)
        age = max(ref - t, 0.0)
        s[U_REF] = max(ref, t)
        out["cust_sim_change_secs"] = _ago(s[U_SIM_T], t)
        out["cust_remote_app_secs"] = _ago(s[U_REMOTE_T], t)
        out["cust_overlay_secs"] = _ago(s[U_OVERLAY_T], t)
        out["cust_malware_secs"] = _ago(s[U_MALWARE_T], t)
        out["cust_login_secs"] = _ago(s[U_LOGIN_T], t)
        out["cust_login_new_device"] = s[U_LOGIN_NEW_DEV] if NEVER < s[U_LOGIN_T] <= t else 0.0
        out["cust_fraud_known"] = 1.0 if NEVER < s[U_FRAUD_T] <= t else 0.0
        out["cust_frauds_known"] = s[U_FRAUDS]
        out["cust_secs_since_fraud"] = t - s[U_FRAUD_T] if NEVER < s[U_FRAUD_T] <= t else BIG
        self._location_features(s, event, event_location(event), t, out)
        night = out.get("night", 0.0)
        decay_add(s, U_ALL_30D, 30 * DAY, 1.0, age)
        decay_add(s, U_NIGHT_30D, 30 * DAY, night, age)
        all30 = s[U_ALL_30D]
        out["cust_night_share"] = s[U_NIGHT_30D] / all30 if all30 > 1e-9 else 0.0
        dstart, dsize = U_DEVICES
        device = None if isinstance(event, CardPresent) else event.device_id
        if device is not None:
            h = value_hash(device)
            first = recent_seen(s, dstart, dsize, h)
            out["cust_new_device"] = 1.0 if first < 0 else 0.0
            out["cust_device_age_secs"] = 0.0 if first < 0 else max(t - first, 0.0)
            if first < 0 or (isinstance(event, DeviceEvent) and event.action == "enrol"):
                # The set remembers when a device was *first* seen: that is its enrolment age.
                recent_add(s, dstart, dsize, h, t)
        else:
            out["cust_new_device"], out["cust_device_age_secs"] = 0.0, BIG
        if isinstance(event, Login):
            s[U_LOGIN_T] = t
            s[U_LOGIN_NEW_DEV] = out["cust_new_device"]
        elif isinstance(event, DeviceEvent) and event.action in _DEVICE_ACTIONS:
            s[self._S[_DEVICE_ACTIONS[event.action]]] = t
        if isinstance(event, MobileTransfer):
            self._transfer(s, event, t, age, out)
        else:
            for name in ("cust_new_payee", "cust_xfer_ratio"):
                out[name] = 0.0
            out["cust_xfer_count_24h"] = s[U_XFER_COUNT_24H]
            out["cust_xfer_sum_24h"] = s[U_XFER_SUM_24H]
            c30 = s[U_XFER_COUNT_30D]
            out["cust_xfer_mean_30d"] = s[U_XFER_SUM_30D] / c30 if c30 > 1e-9 else 0.0
        return s

    def _location_features(self, s: array[float], event: Any, loc: Location | None, t: float,
                           out: Features) -> None:
        home = event.customer_home if isinstance(event, (CardPresent, CardNotPresent, MobileTransfer)) else None
        if home is not None:
            s[U_HOME_LAT], s[U_HOME_LON], s[U_HOME_W], s[U_HOME_GIVEN] = home.lat, home.lon, 1.0, 1.0
        out["cust_km_from_home"] = out["cust_km_from_app"] = 0.0
        out["cust_app_secs"] = BIG
        if loc is None:
            return
        accuracy = loc.accuracy_km or 0.0
        if s[U_HOME_W] > 0:
            out["cust_km_from_home"] = max(haversine_km(s[U_HOME_LAT], s[U_HOME_LON], loc.lat, loc.lon) - accuracy, 0.0)
        if isinstance(event, CardNotPresent):
            return  # a merchant's registered address: not where the customer is
        if isinstance(event, CardPresent):
            app_t = s[U_APP_T]
            if app_t > NEVER:
                out["cust_km_from_app"] = haversine_km(s[U_APP_LAT], s[U_APP_LON], loc.lat, loc.lon)
                out["cust_app_secs"] = abs(t - app_t)
        elif t >= s[U_APP_T]:
            s[U_APP_T], s[U_APP_LAT], s[U_APP_LON] = t, loc.lat, loc.lon
        if not s[U_HOME_GIVEN]:
            # Learn a usual area as the running mean of where the customer is seen (capped weight).
            w = min(s[U_HOME_W], 50.0)
            s[U_HOME_LAT] = (s[U_HOME_LAT] * w + loc.lat) / (w + 1)
            s[U_HOME_LON] = (s[U_HOME_LON] * w + loc.lon) / (w + 1)
            s[U_HOME_W] = w + 1

    def _transfer(self, s: array[float], event: MobileTransfer, t: float, age: float, out: Features) -> None:
        amount = out["amount"]
        pstart, psize = U_PAYEES
        h = value_hash(event.payee_id)
        out["cust_new_payee"] = 1.0 if recent_seen(s, pstart, psize, h) < 0 else 0.0
        recent_add(s, pstart, psize, h, t)
        c30 = s[U_XFER_COUNT_30D]
        mean = s[U_XFER_SUM_30D] / c30 if c30 > 1e-9 else 0.0
        out["cust_xfer_mean_30d"] = mean
        out["cust_xfer_ratio"] = amount / mean if mean > 0 and s[U_N_XFER] >= 2 else 0.0
        decay_add(s, U_XFER_COUNT_24H, DAY, 1.0, age)
        decay_add(s, U_XFER_SUM_24H, DAY, amount, age)
        decay_add(s, U_XFER_COUNT_30D, 30 * DAY, 1.0, age)
        decay_add(s, U_XFER_SUM_30D, 30 * DAY, amount, age)
        s[U_N_XFER] += 1
        out["cust_xfer_count_24h"] = s[U_XFER_COUNT_24H]
        out["cust_xfer_sum_24h"] = s[U_XFER_SUM_24H]


def _ago(when: float, t: float) -> float:
    """Seconds since ``when`` (a slot time), or ``BIG`` when never or not yet."""
    return t - when if NEVER < when <= t else BIG


# Slot numbers as module constants: the hot path indexes arrays without dict look-ups.
_U_SLOTS = CustomerStep.layout.slot
U_DEVICES = CustomerStep.layout.sets["devices"]
U_PAYEES = CustomerStep.layout.sets["payees"]
U_SIM_T = _U_SLOTS["sim_t"]
U_REMOTE_T = _U_SLOTS["remote_t"]
U_OVERLAY_T = _U_SLOTS["overlay_t"]
U_MALWARE_T = _U_SLOTS["malware_t"]
U_ALL_30D = _U_SLOTS["all_30d"]
U_APP_LAT = _U_SLOTS["app_lat"]
U_APP_LON = _U_SLOTS["app_lon"]
U_APP_T = _U_SLOTS["app_t"]
U_FRAUD_T = _U_SLOTS["fraud_t"]
U_FRAUDS = _U_SLOTS["frauds"]
U_HOME_GIVEN = _U_SLOTS["home_given"]
U_HOME_LAT = _U_SLOTS["home_lat"]
U_HOME_LON = _U_SLOTS["home_lon"]
U_HOME_W = _U_SLOTS["home_w"]
U_LOGIN_NEW_DEV = _U_SLOTS["login_new_dev"]
U_LOGIN_T = _U_SLOTS["login_t"]
U_N_XFER = _U_SLOTS["n_xfer"]
U_NIGHT_30D = _U_SLOTS["night_30d"]
U_REF = _U_SLOTS["ref"]
U_XFER_COUNT_24H = _U_SLOTS["xfer_count_24h"]
U_XFER_COUNT_30D = _U_SLOTS["xfer_count_30d"]
U_XFER_SUM_24H = _U_SLOTS["xfer_sum_24h"]
U_XFER_SUM_30D = _U_SLOTS["xfer_sum_30d"]
