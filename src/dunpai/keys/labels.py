"""The keys a Dunpai deployment needs, by label, and how ``dunpai keys init`` creates them."""

from __future__ import annotations

from dataclasses import dataclass

from dunpai.keys.errors import KeyNotFound
from dunpai.keys.model import KeyInfo, KeyKind
from dunpai.keys.store import KeyStore

AUDIT_SIGNING = "audit-signing"
DATA_KEK = "data-kek"
PAN_TOKEN = "pan-token"  # noqa: S105 (a key label, not a secret)
ID_TOKEN = "id-token"  # noqa: S105
EVIDENCE_SIGNING = "evidence-signing"


@dataclass(frozen=True)
class StandardKey:
    label: str
    kind: KeyKind
    purpose: str


def standard_keys(gm: bool = False) -> tuple[StandardKey, ...]:
    """``gm=True`` picks SM4 / HMAC-SM3 where the store supports them (software store; GM tokens)."""
    mac: KeyKind = "hmac-sm3" if gm else "hmac-sha256"
    return (
        StandardKey(AUDIT_SIGNING, "ed25519", "signs audit-chain checkpoints"),
        StandardKey(DATA_KEK, "sm4-128" if gm else "aes-256", "wraps the data keys of sealed personal data"),
        StandardKey(PAN_TOKEN, mac, "keyed tokens of card numbers"),
        StandardKey(ID_TOKEN, mac, "keyed tokens of ID-card numbers for look-ups"),
        StandardKey(EVIDENCE_SIGNING, "ed25519", "signs evidence bundles (publish its public key: keys public)"),
    )


def ensure_standard_keys(store: KeyStore, gm: bool = False) -> list[KeyInfo]:
    """Generate whichever standard keys are missing; returns the ones created (idempotent)."""
    created = []
    for key in standard_keys(gm):
        try:
            store.find(key.label)
        except KeyNotFound:
            created.append(store.generate(key.label, key.kind))
    return created
