"""S2 — the phishing SMS and trojan; and the mobile shield in decisions: a valid signature from a
long-enrolled device lowers risk; missing, invalid or brand-new raises it; ``verify`` asks for one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from dunpai.risk.events.schemas import DeviceEvent, Login, MobileTransfer
from dunpai.risk.shield import MemoryShieldRepository, ShieldApp, ShieldEnricher, ShieldService

from .helpers import Replay, engine_with, hits

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=CST)
CHALLENGE = "enrol-challenge-1"


def _transfer(event_id: str, when: datetime, amount: int, payee: str = "payee-known", device: str = "phone-1",
              balance: int = 7_000_000) -> MobileTransfer:
    return MobileTransfer(event_id=event_id, event_time=when, account_id="acct-1", customer_id="cust-1",
                          device_id=device, payee_id=payee, payee_name="王五", amount=Decimal(amount),
                          balance_before=Decimal(balance))


def _setup(enrolled_days_ago: float = 60) -> tuple[Replay, ShieldApp, ShieldService]:
    service = ShieldService(MemoryShieldRepository())
    app = ShieldApp("cust-1", "phone-1", "ecdsa-p256")
    service.enrol(app.enrolment_request(CHALLENGE), (T0 - timedelta(days=enrolled_days_ago)).timestamp(), CHALLENGE)
    replay = Replay(engine_with(ShieldEnricher(service)))
    # Two months of ordinary life on the enrolled phone.
    replay.decide(Login(event_id="l0", event_time=T0 - timedelta(days=59), customer_id="cust-1",
                        device_id="phone-1"))
    for i in range(6):
        when = T0 - timedelta(days=50 - 8 * i)
        replay.decide(app.signed(_transfer(f"h{i}", when, 80_000)))
    return replay, app, service


def test_signed_transfer_from_long_enrolled_device_is_allowed() -> None:
    replay, app, _ = _setup()
    decision = replay.decide(app.signed(_transfer("t1", T0, 600_000, payee="payee-new")))
    assert decision.action == "allow", decision.reasons
    assert "sig_shield_trusted" in decision.signals and "sig_no_shield" not in decision.signals


def test_unsigned_large_transfer_asks_for_the_shield() -> None:
    replay, _, _ = _setup()
    decision = replay.decide(_transfer("t1", T0, 600_000))
    assert decision.action == "verify"
    assert "S2.shield_required" in hits(decision)
    assert "手机盾" in decision.customer_message.zh and "mobile shield" in decision.customer_message.en


def test_tampered_or_replayed_signature_is_held() -> None:
    replay, app, _ = _setup()
    signed = app.signed(_transfer("t1", T0, 50_000))
    assert replay.decide(signed).action == "allow"
    assert replay.decide(signed).action == "allow"  # the same event resent: not a replay
    replayed = signed.model_copy(update={"event_id": "t2", "event_time": T0 + timedelta(seconds=30)})
    decision = replay.decide(replayed)
    assert decision.action == "delay" and "S2.shield_invalid" in hits(decision)
    tampered = app.signed(_transfer("t3", T0 + timedelta(minutes=1), 50_000)).model_copy(
        update={"payee_id": "mule-account"})
    assert "S2.shield_invalid" in hits(replay.decide(tampered))


def test_revoked_device_signature_is_held() -> None:
    replay, app, service = _setup()
    service.revoke(app.key_id, (T0 - timedelta(hours=1)).timestamp(), "customer reported the phone stolen")
    decision = replay.decide(app.signed(_transfer("t1", T0, 50_000)))
    assert decision.action == "delay" and "sig_shield_invalid" in decision.signals


def test_brand_new_shield_device_is_cooling_off() -> None:
    replay, _, service = _setup()
    newcomer = ShieldApp("cust-1", "phone-2")
    service.enrol(newcomer.enrolment_request(CHALLENGE), (T0 - timedelta(hours=2)).timestamp(), CHALLENGE)
    decision = replay.decide(newcomer.signed(_transfer("t1", T0, 900_000, payee="payee-new", device="phone-2")))
    assert "sig_shield_new_device" in decision.signals
    assert decision.action in ("delay", "restrict")


def test_trojan_takeover_is_stopped() -> None:
    """The traffic-police SMS: a remote-control app, a SIM swap, a new device logs in at night and
    empties the account to a new payee without a valid shield signature."""
    replay, _, _ = _setup()
    night = T0.replace(hour=2) + timedelta(days=1)
    replay.decide(DeviceEvent(event_id="d1", event_time=night - timedelta(hours=3), customer_id="cust-1",
                              device_id="phone-1", action="remote_access_app", detail="com.remote.viewer"))
    replay.decide(DeviceEvent(event_id="d2", event_time=night - timedelta(hours=2), customer_id="cust-1",
                              device_id="phone-1", action="sim_change"))
    replay.decide(Login(event_id="l1", event_time=night - timedelta(minutes=10), customer_id="cust-1",
                        device_id="phone-x"))
    decision = replay.decide(_transfer("t1", night, 6_000_000, payee="mule-1", device="phone-x",
                                       balance=6_100_000))
    assert decision.action == "restrict"
    assert {"sig_new_device", "sig_recent_sim_change", "sig_remote_control_app", "sig_new_payee_large",
            "sig_drain", "sig_login_then_pay", "sig_no_shield"} <= set(decision.signals)
    assert "S2.takeover_combo" in hits(decision)
