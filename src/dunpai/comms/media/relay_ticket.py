"""Relay admission tickets: the comms service vouches that a user may join a talk-group or call.

A ticket is ``base64url(body).base64url(HMAC-SHA256(relay secret, body))`` where body is the
canonical JSON ``{"expires_ms","format":"dunpai-relay-ticket-v1","group_id","mode","priority",
"user"}`` (``mode``: ``ptt`` for a talk-group under floor control, ``call`` for a full-duplex call).
The issuer (which knows group membership and authenticated the user) hands it over the user's
authenticated connection; the relay only checks the MAC and the expiry. A ticket names no network
address. Verification failures raise :class:`AuthFailed` with one opaque message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from dunpai.comms.errors import AuthFailed

TICKET_FORMAT = "dunpai-relay-ticket-v1"
MODES = frozenset({"ptt", "call"})


@dataclass(frozen=True)
class Ticket:
    group_id: str
    user: str
    priority: int
    expires_ms: int
    mode: str = "ptt"   # "ptt": talk-group with floor control; "call": full-duplex call


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _mac(secret: bytes, body: bytes) -> bytes:
    h = hmac.HMAC(secret, hashes.SHA256())
    h.update(body)
    return h.finalize()


def issue_ticket(secret: bytes, ticket: Ticket) -> str:
    if len(secret) < 32:
        raise ValueError("relay secret must be at least 32 bytes")
    if ticket.mode not in MODES:
        raise ValueError(f"ticket mode must be one of {sorted(MODES)}")
    body = json.dumps({"expires_ms": ticket.expires_ms, "format": TICKET_FORMAT, "group_id": ticket.group_id,
                       "mode": ticket.mode, "priority": ticket.priority, "user": ticket.user},
                      sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def verify_ticket(secret: bytes, token: str, now_ms: int) -> Ticket:
    """The ticket's claims, or :class:`AuthFailed` (bad MAC, expired, malformed: one answer)."""
    try:
        body_s, mac_s = token.split(".")
        body = _unb64(body_s)
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(body)
        h.verify(_unb64(mac_s))
        d = json.loads(body)
        t = Ticket(str(d["group_id"]), str(d["user"]), int(d["priority"]), int(d["expires_ms"]), str(d["mode"]))
        if d["format"] != TICKET_FORMAT or t.mode not in MODES:
            raise ValueError("format")
    except (ValueError, KeyError, TypeError, InvalidSignature):
        raise AuthFailed("relay ticket refused") from None
    if now_ms >= t.expires_ms:
        raise AuthFailed("relay ticket refused")
    return t
