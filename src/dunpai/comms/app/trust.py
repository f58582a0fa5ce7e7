"""Verifying a contact in the app: the safety number (digits and QR text), comparing digits, and a
QR code scanned from the other user's screen. A contact whose key changed must be acknowledged first."""

from __future__ import annotations

from typing import Any

from dunpai.comms.app.messenger import KeyChanged, Messenger
from dunpai.comms.protocol.safety import qr_payload, safety_number, verify_qr_payload


async def _their_key(m: Messenger, user: str) -> bytes:
    if user in m.key_changes:
        raise KeyChanged(f"the signing key of {user} changed: acknowledge the warning first")
    return await m.client.user_key(user)


async def safety(m: Messenger, user: str) -> dict[str, Any]:
    theirs, mine = await _their_key(m, user), m.client.keys.public_key()
    contact = m.client.state.contacts.get(user, {})
    return {"user": user, "number": safety_number(m.client.user, mine, user, theirs),
            "qr": qr_payload(m.client.user, mine, user, theirs),
            "verified": bool(contact.get("verified")), "key_changed": user in m.key_changes}


async def verify_number(m: Messenger, user: str, number: str) -> None:
    await _their_key(m, user)
    await m.client.mark_verified(user, number)
    m.emit({"type": "contacts", "contacts": m.contacts()})


async def verify_scanned(m: Messenger, user: str, payload: str) -> None:
    """A QR code scanned from the other user's screen: it must name exactly our two keys."""
    theirs = await _their_key(m, user)
    verify_qr_payload(payload, m.client.user, m.client.keys.public_key(), user, theirs)
    m.client.state.contacts[user]["verified"] = True
    m.client.save()
    m.emit({"type": "contacts", "contacts": m.contacts()})
