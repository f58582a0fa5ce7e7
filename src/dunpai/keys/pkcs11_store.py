"""PKCS#11 key store: keys live on a token or HSM (SoftHSM2 in tests and by default).

Private and secret keys are generated on the token with ``CKA_SENSITIVE=true`` and
``CKA_EXTRACTABLE=false``: the token refuses to reveal or export them, and every signature, MAC,
wrap and ECDH happens inside it. Key metadata (label, kind, version, creation time, tombstones of
destroyed versions) is kept on the same token as private ``CKO_DATA`` objects, so a token carries
everything needed to use it. Works with any PKCS#11 v2.40 module that offers the mechanisms below.

Mechanisms: EC_EDWARDS_KEY_PAIR_GEN + EDDSA (ed25519), EC_KEY_PAIR_GEN + ECDSA over a host-side
SHA-256 digest (ec-p256; SoftHSM2 lacks CKM_ECDSA_SHA256), ECDH1_DERIVE (derive), AES_KEY_GEN +
AES_GCM (wrap), GENERIC_SECRET_KEY_GEN + SHA256_HMAC (MAC). SM4/SM3 kinds need a token that has them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error, SignatureInvalid, SignatureLenRange
from pkcs11.mechanisms import KDF, GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from dunpai.keys import primitives
from dunpai.keys.errors import DecryptionFailed, InvalidSignature, KeyExists, KeyNotFound, KeyStoreError
from dunpai.keys.model import (
    Backend,
    KeyInfo,
    KeyKind,
    KeyRecord,
    active_by_label,
    active_info,
    check_kind,
    check_label,
    info_by_id,
    infos_from_records,
    next_version,
)
from dunpai.keys.suites import NONCE_LEN

APPLICATION = "dunpai-keys"
OID_P256 = "1.2.840.10045.3.1.7"
OID_ED25519 = "1.3.101.112"
SUPPORTED: frozenset[KeyKind] = frozenset({"ed25519", "ec-p256", "aes-256", "hmac-sha256"})
_PUBLIC_LEN = {"ed25519": 32, "ec-p256": 65}
Clock = Callable[[], datetime]

_SECRET_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Pkcs11KeyStore:
    """A :class:`~dunpai.keys.store.KeyStore` on a PKCS#11 token (one logged-in R/W session, serialised)."""

    def __init__(self, module_path: str, token_label: str, pin: str, *, clock: Clock = _utc_now) -> None:
        try:
            lib = pkcs11.lib(module_path)
            token = lib.get_token(token_label=token_label)
            self._session = token.open(rw=True, user_pin=pin)
        except PKCS11Error as exc:
            # The PKCS#11 error name says what failed (no token, wrong PIN); it carries no secret.
            raise KeyStoreError(f"cannot open the PKCS#11 token ({type(exc).__name__})") from None
        self._clock = clock
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, ObjectClass], Any] = {}
        self._public: dict[str, bytes] = {}
        self._records: list[KeyRecord] = []
        self._closed = False
        self.reload()

    @property
    def backend(self) -> Backend:
        return "pkcs11"

    # -- metadata ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read key metadata from the token (picks up another process's rotation)."""
        with self._lock:
            self._check_open()
            records = []
            for obj in self._session.get_objects({Attribute.CLASS: ObjectClass.DATA,
                                                  Attribute.APPLICATION: APPLICATION}):
                try:
                    doc = json.loads(bytes(obj[Attribute.VALUE]))
                    records.append(KeyRecord(check_label(doc["label"]), check_kind(doc["kind"]),
                                             int(doc["version"]), datetime.fromisoformat(doc["created_at"]),
                                             bool(doc["destroyed"])))
                except (KeyError, TypeError, ValueError) as exc:
                    raise KeyStoreError("damaged key metadata on the token") from exc
            self._records = records
            self._objects.clear()
            self._public.clear()

    def _write_record(self, rec: KeyRecord) -> None:
        for obj in self._session.get_objects({Attribute.CLASS: ObjectClass.DATA,
                                              Attribute.APPLICATION: APPLICATION,
                                              Attribute.LABEL: rec.key_id}):
            obj.destroy()
        doc = {"label": rec.label, "kind": rec.kind, "version": rec.version,
               "created_at": rec.created_at.isoformat(), "destroyed": rec.destroyed}
        self._session.create_object({
            Attribute.CLASS: ObjectClass.DATA,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.APPLICATION: APPLICATION,
            Attribute.LABEL: rec.key_id,
            Attribute.VALUE: json.dumps(doc).encode(),
        })

    def _check_open(self) -> None:
        if self._closed:
            raise KeyStoreError("the key store is closed")

    def list(self) -> list[KeyInfo]:
        with self._lock:
            self._check_open()
            return infos_from_records(self._records, "pkcs11")

    def get(self, key_id: str) -> KeyInfo:
        return info_by_id(self.list(), key_id)

    def find(self, label: str) -> KeyInfo:
        return active_by_label(self.list(), label)

    def _object(self, key_id: str, object_class: ObjectClass) -> Any:
        cached = self._objects.get((key_id, object_class))
        if cached is not None:
            return cached
        try:
            obj = self._session.get_key(object_class=object_class, id=key_id.encode())
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise KeyNotFound("no such key") from None
        self._objects[(key_id, object_class)] = obj
        return obj

    # -- life cycle ----------------------------------------------------------------------------

    def _create_on_token(self, key_id: str, kind: KeyKind) -> None:
        kid = key_id.encode()
        s = self._session
        if kind in ("ed25519", "ec-p256"):
            key_type = KeyType.EC_EDWARDS if kind == "ed25519" else KeyType.EC
            oid = OID_ED25519 if kind == "ed25519" else OID_P256
            params = s.create_domain_parameters(
                key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(oid)}, local=True
            )
            caps = MechanismFlag.SIGN | MechanismFlag.VERIFY
            if kind == "ec-p256":
                caps |= MechanismFlag.DERIVE
            gen = Mechanism.EC_EDWARDS_KEY_PAIR_GEN if kind == "ed25519" else Mechanism.EC_KEY_PAIR_GEN
            params.generate_keypair(
                capabilities=caps,
                mechanism=gen,
                private_template=_SECRET_TEMPLATE,
                public_template={Attribute.TOKEN: True},
                id=kid, label=key_id, store=True,
            )
        elif kind == "aes-256":
            caps = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
            s.generate_key(KeyType.AES, 256, capabilities=caps, template=_SECRET_TEMPLATE,
                           id=kid, label=key_id, store=True)
        elif kind == "hmac-sha256":
            caps = MechanismFlag.SIGN | MechanismFlag.VERIFY
            s.generate_key(KeyType.GENERIC_SECRET, 256, capabilities=caps, template=_SECRET_TEMPLATE,
                           id=kid, label=key_id, store=True)
        else:
            raise KeyStoreError(f"this PKCS#11 backend does not support {kind} keys")

    def _add_version(self, label: str, kind: KeyKind) -> KeyInfo:
        rec = KeyRecord(label, kind, next_version(self._records, label), self._clock())
        try:
            self._create_on_token(rec.key_id, kind)
            self._write_record(rec)
        except PKCS11Error as exc:
            raise KeyStoreError(f"the token refused to create the key ({type(exc).__name__})") from None
        self._records.append(rec)
        return active_info(rec, "pkcs11")

    def generate(self, label: str, kind: KeyKind) -> KeyInfo:
        check_label(label)
        kind = check_kind(kind)
        if kind not in SUPPORTED:
            raise KeyStoreError(f"this PKCS#11 backend does not support {kind} keys")
        with self._lock:
            self.reload()
            if any(r.label == label and not r.destroyed for r in self._records):
                raise KeyExists("a live key with this label exists; rotate it instead")
            return self._add_version(label, kind)

    def rotate(self, label: str) -> KeyInfo:
        with self._lock:
            self.reload()
            live = [r for r in self._records if r.label == label and not r.destroyed]
            if not live:
                raise KeyNotFound("no such key")
            return self._add_version(label, max(live, key=lambda r: r.version).kind)

    def destroy(self, key_id: str) -> None:
        with self._lock:
            self.reload()
            rec = next((r for r in self._records if r.key_id == key_id and not r.destroyed), None)
            if rec is None:
                raise KeyNotFound("no such key")
            for obj in self._session.get_objects({Attribute.ID: key_id.encode()}):
                obj.destroy()
            tomb = KeyRecord(rec.label, rec.kind, rec.version, rec.created_at, destroyed=True)
            self._write_record(tomb)
            self._records = [tomb if r is rec else r for r in self._records]
            self._objects.clear()
            self._public.clear()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._objects.clear()
                self._public.clear()
                self._session.close()

    # -- operations ----------------------------------------------------------------------------

    def _kind(self, key_id: str) -> KeyKind:
        return self.get(key_id).kind

    def public_key(self, key_id: str) -> bytes:
        kind = self._kind(key_id)
        if kind not in _PUBLIC_LEN:
            raise KeyStoreError(f"a {kind} key has no public half")
        cached = self._public.get(key_id)
        if cached is not None:
            return cached
        with self._lock:
            point = bytes(self._object(key_id, ObjectClass.PUBLIC_KEY)[Attribute.EC_POINT])
        n = _PUBLIC_LEN[kind]
        # CKA_EC_POINT is a DER OCTET STRING around the raw point (some tokens omit the wrapper).
        if len(point) == n + 2 and point[0] == 0x04 and point[1] == n:
            point = point[2:]
        if len(point) != n:
            raise KeyStoreError("unexpected EC point encoding on the token")
        self._public[key_id] = point
        return point

    def sign(self, key_id: str, data: bytes) -> bytes:
        kind = self._kind(key_id)
        with self._lock:
            if kind == "ed25519":
                private = self._object(key_id, ObjectClass.PRIVATE_KEY)
                return bytes(private.sign(data, mechanism=Mechanism.EDDSA))
            if kind == "ec-p256":
                private = self._object(key_id, ObjectClass.PRIVATE_KEY)
                return bytes(private.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA))
            if kind == "hmac-sha256":
                key = self._object(key_id, ObjectClass.SECRET_KEY)
                return bytes(key.sign(data, mechanism=Mechanism.SHA256_HMAC))
        raise KeyStoreError(f"a {kind} key cannot sign")

    def verify(self, key_id: str, data: bytes, signature: bytes) -> None:
        """Signatures are checked on the host against the token's public key (public data, so
        this is as sound as asking the token, and several times faster); MACs inside the token."""
        kind = self._kind(key_id)
        if kind in ("ed25519", "ec-p256"):
            primitives.verify_with_public(kind, self.public_key(key_id), data, signature)
            return
        if kind != "hmac-sha256":
            raise KeyStoreError(f"a {kind} key cannot verify")
        with self._lock:
            try:
                ok = self._object(key_id, ObjectClass.SECRET_KEY).verify(
                    data, signature, mechanism=Mechanism.SHA256_HMAC)
            except (SignatureInvalid, SignatureLenRange):
                ok = False
            except PKCS11Error:
                ok = False
        if not ok:
            raise InvalidSignature()

    def wrap(self, key_id: str, key_material: bytes) -> bytes:
        if self._kind(key_id) != "aes-256":
            raise KeyStoreError("only aes-256 keys wrap")
        primitives.check_material_length(key_material)
        nonce = os.urandom(NONCE_LEN)
        with self._lock:
            body = self._object(key_id, ObjectClass.SECRET_KEY).encrypt(
                key_material, mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, primitives.wrap_aad(key_id)))
        return bytes([primitives.WRAP_VERSION]) + nonce + bytes(body)

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        nonce, body = primitives.split_wrapped(wrapped)
        try:
            if self._kind(key_id) != "aes-256":
                raise DecryptionFailed()
            with self._lock:
                return bytes(self._object(key_id, ObjectClass.SECRET_KEY).decrypt(
                    body, mechanism=Mechanism.AES_GCM,
                    mechanism_param=GCMParams(nonce, primitives.wrap_aad(key_id))))
        except (PKCS11Error, KeyNotFound):
            raise DecryptionFailed() from None

    def derive(
        self, key_id: str, peer_public_key: bytes, *, info: bytes, length: int = 32, salt: bytes | None = None
    ) -> bytes:
        if self._kind(key_id) != "ec-p256":
            raise KeyStoreError("only ec-p256 keys derive")
        primitives.check_derive_args(length, info)
        primitives.p256_point(peer_public_key)  # validate before the token sees it
        with self._lock:
            secret = self._object(key_id, ObjectClass.PRIVATE_KEY).derive_key(
                KeyType.GENERIC_SECRET, 256, mechanism_param=(KDF.NULL, None, peer_public_key),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, Attribute.TOKEN: False})
            try:
                shared = bytes(secret[Attribute.VALUE])
            finally:
                secret.destroy()
        return primitives.hkdf(shared, info=info, length=length, salt=salt)
