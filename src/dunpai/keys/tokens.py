"""Card numbers never stored in clear: keyed tokens for joins and look-ups, masks for display.

A token is an HMAC (by a store key that never leaves the store) of the normalised value, written as
``<prefix><format>.<key version>.<32 hex digits>``, e.g. ``pan1.1.9f86d081884c7d659a2feaa0c55ad015``.
It is deterministic, so equal card numbers join; without the key it cannot be reversed or even
brute-forced over the (small) PAN space — why a plain hash is not enough (PCI DSS 3.5).
The mask keeps at most the first six and last four digits (PCI DSS 3.4), and hides at least six.
"""

from __future__ import annotations

import re

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.keys.model import parse_key_id
from dunpai.keys.store import KeyStore

TOKEN_FORMAT = 1
_TOKEN_BYTES = 16
_PAN = re.compile(r"^[0-9]{8,19}$")


def normalise_pan(pan: str) -> str:
    """Digits only (spaces and dashes removed); 8–19 digits (ISO/IEC 7812-1) or ``InvalidInput``."""
    digits = re.sub(r"[ \-]", "", pan) if isinstance(pan, str) else ""
    if not _PAN.match(digits):
        raise InvalidInput("invalid card number", problems=[FieldProblem("pan", "8 to 19 digits")])
    return digits


def mask_pan(pan: str) -> str:
    """``6222021234561234`` → ``622202******1234``: the last four, and as many of the first six as
    leave six digits hidden (``123456789012`` → ``12******9012``)."""
    digits = normalise_pan(pan)
    first = max(0, min(6, len(digits) - 10))
    return digits[:first] + "*" * (len(digits) - 4 - first) + digits[-4:]


class KeyedTokenizer:
    """Deterministic keyed tokens of short identifiers, under a MAC key (hmac-sha256 or hmac-sm3)."""

    def __init__(self, store: KeyStore, key_label: str, prefix: str) -> None:
        if not re.match(r"^[a-z]{1,8}$", prefix):
            raise ValueError("token prefix must be 1..8 lower-case letters")
        self._store = store
        self._label = key_label
        self._prefix = prefix

    def normalise(self, value: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("empty value", problems=[FieldProblem("value", "must not be empty")])
        return value.strip().upper()

    def _token(self, key_id: str, value: str) -> str:
        message = b"dunpai-token\x01" + self._prefix.encode() + b"\x00" + self.normalise(value).encode()
        mac = self._store.sign(key_id, message)[:_TOKEN_BYTES]
        _, version = parse_key_id(key_id)
        return f"{self._prefix}{TOKEN_FORMAT}.{version}.{mac.hex()}"

    def token(self, value: str) -> str:
        """The token under the active key version (what new rows store)."""
        return self._token(self._store.find(self._label).key_id, value)

    def candidates(self, value: str) -> list[str]:
        """Tokens under every live key version, newest first: look-ups during a re-tokenisation."""
        infos = sorted((i for i in self._store.list() if i.label == self._label), key=lambda i: -i.version)
        return [self._token(i.key_id, value) for i in infos]


class PanTokenizer(KeyedTokenizer):
    """Keyed tokens of primary account numbers (``pan1.<v>.<hex>``)."""

    def __init__(self, store: KeyStore, key_label: str = "pan-token") -> None:
        super().__init__(store, key_label, "pan")

    def normalise(self, value: str) -> str:
        return normalise_pan(value)

    def mask(self, pan: str) -> str:
        """``mask_pan``, so one object gives both forms (``risk.events.ingest``'s card protector)."""
        return mask_pan(pan)
