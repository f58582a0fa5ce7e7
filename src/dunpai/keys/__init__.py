"""Key custody: one key-store contract (PKCS#11 token or encrypted software file), envelope
encryption recipes (AES-256-GCM, SM4-GCM), keyed tokens and masks for card numbers."""

from dunpai.keys.envelope import ENVELOPE_VERSION, Envelope
from dunpai.keys.errors import (
    DecryptionFailed,
    InvalidSignature,
    KeyExists,
    KeyNotFound,
    KeyStoreError,
)
from dunpai.keys.factory import open_keystore
from dunpai.keys.labels import AUDIT_SIGNING, DATA_KEK, ID_TOKEN, PAN_TOKEN, ensure_standard_keys
from dunpai.keys.model import KEY_KINDS, KeyInfo, KeyKind, KeyState, parse_key_id
from dunpai.keys.softhsm import SoftHsmToken, find_softhsm_module, temporary_softhsm_token
from dunpai.keys.software_file import Argon2Params
from dunpai.keys.store import KeyStore
from dunpai.keys.suites import SUITE_NAMES, SuiteName
from dunpai.keys.tokens import KeyedTokenizer, PanTokenizer, mask_pan, normalise_pan

Sealer = Envelope

__all__ = [
    "AUDIT_SIGNING",
    "DATA_KEK",
    "ENVELOPE_VERSION",
    "ID_TOKEN",
    "KEY_KINDS",
    "PAN_TOKEN",
    "SUITE_NAMES",
    "Argon2Params",
    "DecryptionFailed",
    "Envelope",
    "InvalidSignature",
    "KeyExists",
    "KeyInfo",
    "KeyKind",
    "KeyNotFound",
    "KeyState",
    "KeyStore",
    "KeyStoreError",
    "KeyedTokenizer",
    "PanTokenizer",
    "Sealer",
    "SoftHsmToken",
    "SuiteName",
    "ensure_standard_keys",
    "find_softhsm_module",
    "mask_pan",
    "normalise_pan",
    "open_keystore",
    "parse_key_id",
    "temporary_softhsm_token",
]
