"""Mobile shield: valid, tampered, replayed, revoked, new device, and the edges around them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunpai.risk.events.schemas import MobileTransfer, Shield
from dunpai.risk.shield import (
    STATUS_CODES,
    BadShieldSignature,
    MissingShield,
    ReplayedShield,
    RevokedShieldKey,
    ShieldApp,
    ShieldEnricher,
    ShieldPolicy,
    ShieldRepository,
    ShieldService,
    StaleShield,
    TransferPayload,
    UnknownShieldKey,
    WrongCustomer,
)
from dunpai.risk.shield.crypto import Algorithm

from .helpers import T0

Make = Callable[..., MobileTransfer]
CHALLENGE = "chal-0001"


def enrolled(repo: ShieldRepository, algorithm: Algorithm = "ed25519", days_ago: float = 30,
             customer: str = "cust-1") -> tuple[ShieldService, ShieldApp]:
    service = ShieldService(repo)
    app = ShieldApp(customer, "dev-1", algorithm)
    enrolled_at = (T0 + timedelta(days=30 - days_ago)).timestamp()
    service.enrol(app.enrolment_request(CHALLENGE), enrolled_at, CHALLENGE)
    return service, app


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_valid_signature_from_long_enrolled_device(repo: ShieldRepository, transfer: Make,
                                                   algorithm: Algorithm) -> None:
    service, app = enrolled(repo, algorithm)
    verified = service.verify_transfer(app.signed(transfer()))
    assert verified.device.key_id == app.key_id
    assert verified.device_age_secs == pytest.approx(30 * 86400)
    assert not verified.cooling_off
    features = ShieldEnricher(service).enrich(app.signed(transfer("ev-2")), 0.0)
    assert features["shield_valid"] == 1.0 and features["shield_trusted"] == 1.0


@pytest.mark.parametrize("change", [
    {"amount": 1_790_001}, {"payee_id": "payee-evil"}, {"payee_name": "李四"}, {"currency": "USD"},
    {"account_id": "acct-2"}, {"kind": "payment"},
])
def test_tampered_payload_raises(repo: ShieldRepository, transfer: Make, change: dict[str, object]) -> None:
    service, app = enrolled(repo)
    signed = app.signed(transfer())
    tampered = signed.model_copy(update=change)
    with pytest.raises(BadShieldSignature):
        service.verify_transfer(tampered)
    assert service.check(tampered).status == "bad_signature"


def test_tampered_signature_and_garbage_raise(repo: ShieldRepository, transfer: Make) -> None:
    service, app = enrolled(repo)
    signed = app.signed(transfer())
    assert signed.shield is not None
    sig = signed.shield.signature
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    for bad in (flipped, "not*base64*at*all!!", "A" * 86):
        shield = signed.shield.model_copy(update={"signature": bad})
        with pytest.raises(BadShieldSignature):
            service.verify_transfer(signed.model_copy(update={"shield": shield}))


def test_replayed_nonce_raises_but_resend_of_same_event_is_accepted(repo: ShieldRepository,
                                                                      transfer: Make) -> None:
    service, app = enrolled(repo)
    first = app.signed(transfer("ev-1"), nonce="nonce-0001")
    service.verify_transfer(first)
    service.verify_transfer(first)  # the same event delivered twice (at-least-once): not a replay
    later = first.event_time + timedelta(seconds=5)
    replay = first.model_copy(update={"event_id": "ev-2", "event_time": later})
    with pytest.raises(ReplayedShield):
        service.verify_transfer(replay)
    assert service.check(replay).status == "replayed"


def test_revoked_device_raises_from_revocation_time_on(repo: ShieldRepository, transfer: Make) -> None:
    service, app = enrolled(repo)
    revoke_at = T0 + timedelta(days=30, hours=1)
    service.revoke(app.key_id, revoke_at.timestamp(), "phone lost")
    service.verify_transfer(app.signed(transfer("ev-before", when=revoke_at - timedelta(minutes=1))))
    with pytest.raises(RevokedShieldKey):
        service.verify_transfer(app.signed(transfer("ev-after", when=revoke_at + timedelta(minutes=1))))
    # A second, later revocation does not move the time forward.
    service.revoke(app.key_id, revoke_at.timestamp() + 999, "again")
    assert repo.get_device(app.key_id) is not None
    assert repo.get_device(app.key_id).revoked_at == revoke_at.timestamp()  # type: ignore[union-attr]


def test_new_device_is_cooling_off(repo: ShieldRepository, transfer: Make) -> None:
    service, app = enrolled(repo, days_ago=0.1)
    verified = service.verify_transfer(app.signed(transfer()))
    assert verified.cooling_off
    features = ShieldEnricher(service).enrich(app.signed(transfer("ev-2")), 0.0)
    assert features["shield_valid"] == 1.0
    assert features["shield_cooling_off"] == 1.0 and features["shield_trusted"] == 0.0


def test_missing_unknown_wrong_customer_and_stale(repo: ShieldRepository, transfer: Make) -> None:
    service, app = enrolled(repo)
    with pytest.raises(MissingShield):
        service.verify_transfer(transfer())
    stranger = ShieldApp("cust-1", "dev-x")
    with pytest.raises(UnknownShieldKey):
        service.verify_transfer(stranger.signed(transfer()))
    other = ShieldApp("cust-2", "dev-2")
    service.enrol(other.enrolment_request(CHALLENGE), T0.timestamp(), CHALLENGE)
    with pytest.raises(WrongCustomer):
        service.verify_transfer(other.signed(transfer()))
    late = transfer("ev-late")
    with pytest.raises(StaleShield):
        service.verify_transfer(app.signed(late, signed_at=late.event_time - timedelta(minutes=10)))
    with pytest.raises(StaleShield):
        service.verify_transfer(app.signed(late, signed_at=late.event_time + timedelta(minutes=10)))
    # A key enrolled after the transfer's event time did not exist then.
    with pytest.raises(UnknownShieldKey):
        service.verify_transfer(app.signed(transfer("ev-early", when=T0 - timedelta(days=1))))
    assert service.check(transfer()).status == "missing"
    assert ShieldEnricher(service).enrich(transfer("ev-9"), 0.0)["shield_status"] == STATUS_CODES["missing"]


def test_enrolment_requires_proof_of_possession(repo: ShieldRepository) -> None:
    service = ShieldService(repo)
    app = ShieldApp("cust-1", "dev-1")
    request = app.enrolment_request(CHALLENGE)
    with pytest.raises(BadShieldSignature):
        service.enrol(request, T0.timestamp(), "another-challenge")
    thief = ShieldApp("cust-1", "dev-1")
    forged = thief.enrolment_request(CHALLENGE)
    forged = dataclasses.replace(forged, public_key=app.public_key)  # someone else's key
    with pytest.raises(BadShieldSignature):
        service.enrol(forged, T0.timestamp(), CHALLENGE)
    device = service.enrol(request, T0.timestamp(), CHALLENGE)
    assert service.enrol(request, T0.timestamp(), CHALLENGE) == device  # idempotent
    assert [d.key_id for d in repo.devices_of("cust-1")] == [app.key_id]


def test_nonce_pruning(repo: ShieldRepository, transfer: Make) -> None:
    service, app = enrolled(repo)
    event = app.signed(transfer())
    service.verify_transfer(event)
    assert service.prune(event.event_time.timestamp() + 3600) == 1


def test_canonical_payload_known_answer(transfer: Make) -> None:
    t = transfer()
    payload = TransferPayload.build(t, key_id="shk_0", nonce="n-12345678", signed_at=t.event_time)
    expected = (
        b'dunpai-shield/v1\n{"account_id":"acct-1","amount":"1790000","currency":"CNY","customer_id":"cust-1",'
        b'"key_id":"shk_0","kind":"transfer","nonce":"n-12345678","payee_id":"payee-9","payee_name":"'
        + "张三".encode() + b'","signed_at_ms":1774988100000,"v":1}'
    )
    assert payload.canonical() == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(min_value=1, max_value=10**12), name=st.text(max_size=40),
       algorithm=st.sampled_from(["ed25519", "ecdsa-p256"]))
def test_round_trip_and_any_amount_change_fails(transfer: Make, amount: int, name: str,
                                                 algorithm: Algorithm) -> None:
    from dunpai.risk.shield import MemoryShieldRepository

    service, app = enrolled(MemoryShieldRepository(), algorithm)
    signed = app.signed(transfer(amount=amount, payee_name=name))
    service.verify_transfer(signed)
    with pytest.raises(BadShieldSignature):
        service.verify_transfer(signed.model_copy(update={"amount": amount + 1, "event_id": "ev-other"}))


def test_shield_block_is_schema_valid(transfer: Make) -> None:
    app = ShieldApp("cust-1", "dev-1", "ecdsa-p256")
    shield = app.sign(transfer())
    assert Shield.model_validate(shield.model_dump()) == shield
    ShieldPolicy(cooling_off_secs=0)
    with pytest.raises(ValueError):
        ShieldPolicy(max_age_secs=0)
