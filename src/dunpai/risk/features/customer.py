"""Per-customer online state: home and app location, devices, logins, device risk, payees, transfers.

Keyed by ``customer_id``. This is where card-present and mobile signals meet: the distance between
a card-present use and the customer's latest mobile-app location is the "card in the customer's
pocket" signal of a counterfeit card (case S1).
"""

from __future__ import annotations

from array import array
from typing import Any

from dunpai.risk.events.schemas import (
    CardNotPresent,
    CardPresent,
    DeviceEvent,
    Label,
    Login,
    MobileTransfer,
    StaffAccess,
)
from dunpai.risk.features.geo import haversine_km
from dunpai.risk.features.layout import BIG, NEVER, Features, Layout
from dunpai.risk.features.windows import decay_add, decay_groups, decay_to, recent_add, recent_seen, value_hash

DAY = 86400.0
_DEVICE_ACTIONS = {"sim_change": "sim_t", "remote_access_app": "remote_t", "overlay_app": "overlay_t",
                   "malware": "malware_t", "rooted": "malware_t"}


class CustomerStep:
    name = "customer"
    applies_to = (CardPresent, CardNotPresent, MobileTransfer, Login, DeviceEvent, Label)
    layout = Layout(
        ["ref", "home_lat", "home_lon", "home_w", "home_given", "app_t", "app_lat", "app_lon",
         "login_t", "login_dev", "login_new_dev", "sim_t", "remote_t", "overlay_t", "malware_t",
         "xfer_count_24h", "xfer_sum_24h", "xfer_count_30d", "xfer_sum_30d", "night_30d", "all_30d",
         "n_xfer", "fraud_t"],
        sets={"devices": 6, "payees": 16},
        defaults={"ref": NEVER, "app_t": NEVER, "login_t": NEVER, "sim_t": NEVER, "remote_t": NEVER,
                  "overlay_t": NEVER, "malware_t": NEVER, "fraud_t": NEVER},
    )
    _S = layout.slot
    _DECAY = decay_groups(((_S["xfer_count_24h"], DAY), (_S["xfer_sum_24h"], DAY), (_S["xfer_count_30d"], 30 * DAY),
              (_S["xfer_sum_30d"], 30 * DAY), (_S["night_30d"], 30 * DAY), (_S["all_30d"], 30 * DAY)))
    _FEATURES = (
        "cust_km_from_home", "cust_km_from_app", "cust_app_secs", "cust_new_device", "cust_device_age_secs",
        "cust_sim_change_secs", "cust_remote_app_secs", "cust_overlay_secs", "cust_malware_secs",
        "cust_login_secs", "cust_login_new_device", "cust_new_payee", "cust_xfer_count_24h",
        "cust_xfer_sum_24h", "cust_xfer_mean_30d", "cust_xfer_ratio", "cust_night_share", "cust_fraud_known",
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
        S = self._S
        if isinstance(event, Label):
            if event.fraud:
                s[S["fraud_t"]] = max(s[S["fraud_t"]], t)
            return s
        ref = s[S["ref"]]
        decay_to(s, self._DECAY, t - ref if ref > NEVER else 0.0)
        age = max(ref - t, 0.0)
        s[S["ref"]] = max(ref, t)
        since = self._since(s, t)
        out.update(since)
        out["cust_fraud_known"] = 1.0 if NEVER < s[S["fraud_t"]] <= t else 0.0
        loc = event.terminal_location if isinstance(event, CardPresent) else (
            None if isinstance(event, CardNotPresent) else event.location)
        self._location_features(s, event, loc, t, out)
        night = out.get("night", 0.0)
        decay_add(s, S["all_30d"], 30 * DAY, 1.0, age)
        decay_add(s, S["night_30d"], 30 * DAY, night, age)
        all30 = s[S["all_30d"]]
        out["cust_night_share"] = s[S["night_30d"]] / all30 if all30 > 1e-9 else 0.0
        dstart, dsize = self.layout.sets["devices"]
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
            s[S["login_t"]] = t
            s[S["login_new_dev"]] = out["cust_new_device"]
        elif isinstance(event, DeviceEvent) and event.action in _DEVICE_ACTIONS:
            s[S[_DEVICE_ACTIONS[event.action]]] = t
        if isinstance(event, MobileTransfer):
            self._transfer(s, event, t, age, out)
        else:
            for name in ("cust_new_payee", "cust_xfer_ratio"):
                out[name] = 0.0
            out["cust_xfer_count_24h"] = s[S["xfer_count_24h"]]
            out["cust_xfer_sum_24h"] = s[S["xfer_sum_24h"]]
            c30 = s[S["xfer_count_30d"]]
            out["cust_xfer_mean_30d"] = s[S["xfer_sum_30d"]] / c30 if c30 > 1e-9 else 0.0
        return s

    def _since(self, s: array[float], t: float) -> dict[str, float]:
        S = self._S

        def ago(slot: str) -> float:
            v = s[S[slot]]
            return t - v if NEVER < v <= t else BIG

        return {
            "cust_sim_change_secs": ago("sim_t"), "cust_remote_app_secs": ago("remote_t"),
            "cust_overlay_secs": ago("overlay_t"), "cust_malware_secs": ago("malware_t"),
            "cust_login_secs": ago("login_t"),
            "cust_login_new_device": s[S["login_new_dev"]] if NEVER < s[S["login_t"]] <= t else 0.0,
        }

    def _location_features(self, s: array[float], event: Any, loc: Any, t: float, out: Features) -> None:
        S = self._S
        home = event.customer_home if isinstance(event, CardPresent) else None
        if home is not None:
            s[S["home_lat"]], s[S["home_lon"]], s[S["home_w"]], s[S["home_given"]] = home.lat, home.lon, 1.0, 1.0
        out["cust_km_from_home"] = out["cust_km_from_app"] = 0.0
        out["cust_app_secs"] = BIG
        if loc is None:
            return
        if s[S["home_w"]] > 0:
            out["cust_km_from_home"] = haversine_km(s[S["home_lat"]], s[S["home_lon"]], loc.lat, loc.lon)
        if isinstance(event, CardPresent | CardNotPresent):
            app_t = s[S["app_t"]]
            if app_t > NEVER:
                out["cust_km_from_app"] = haversine_km(s[S["app_lat"]], s[S["app_lon"]], loc.lat, loc.lon)
                out["cust_app_secs"] = abs(t - app_t)
        elif t >= s[S["app_t"]]:
            s[S["app_t"]], s[S["app_lat"]], s[S["app_lon"]] = t, loc.lat, loc.lon
        if not s[S["home_given"]]:
            # Learn a usual area as the running mean of where the customer is seen (capped weight).
            w = min(s[S["home_w"]], 50.0)
            s[S["home_lat"]] = (s[S["home_lat"]] * w + loc.lat) / (w + 1)
            s[S["home_lon"]] = (s[S["home_lon"]] * w + loc.lon) / (w + 1)
            s[S["home_w"]] = w + 1

    def _transfer(self, s: array[float], event: MobileTransfer, t: float, age: float, out: Features) -> None:
        S = self._S
        amount = out["amount"]
        pstart, psize = self.layout.sets["payees"]
        h = value_hash(event.payee_id)
        out["cust_new_payee"] = 1.0 if recent_seen(s, pstart, psize, h) < 0 else 0.0
        recent_add(s, pstart, psize, h, t)
        c30 = s[S["xfer_count_30d"]]
        mean = s[S["xfer_sum_30d"]] / c30 if c30 > 1e-9 else 0.0
        out["cust_xfer_mean_30d"] = mean
        out["cust_xfer_ratio"] = amount / mean if mean > 0 and s[S["n_xfer"]] >= 2 else 0.0
        decay_add(s, S["xfer_count_24h"], DAY, 1.0, age)
        decay_add(s, S["xfer_sum_24h"], DAY, amount, age)
        decay_add(s, S["xfer_count_30d"], 30 * DAY, 1.0, age)
        decay_add(s, S["xfer_sum_30d"], 30 * DAY, amount, age)
        s[S["n_xfer"]] += 1
        out["cust_xfer_count_24h"] = s[S["xfer_count_24h"]]
        out["cust_xfer_sum_24h"] = s[S["xfer_sum_24h"]]
