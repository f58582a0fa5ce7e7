"""One device's end-to-end identity and its 1:1 (Olm) sessions, on vodozemac.

Pure: no I/O, no clock. The payload string the service relays is ``olm1.<type>.<base64>``; inside
it is a padded JSON envelope naming sender and recipient (user, device, keys) so a message cannot
be re-addressed, plus a message id for client-side de-duplication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vodozemac as vz

from dunpai.comms.errors import DecryptionFailed, UntrustedDevice
from dunpai.comms.protocol.canonical import b64d, b64e, one_time_key_bytes
from dunpai.comms.protocol.padding import pad_json, unpad_json

MAX_SESSIONS_PER_DEVICE = 5


@dataclass(frozen=True)
class RemoteDevice:
    """A device whose keys were checked against its user's signing key."""

    user: str
    device_id: str
    curve25519: str
    ed25519: str


class DeviceCrypto:
    """Olm account plus the Olm sessions with other devices."""

    def __init__(self, user: str, device_id: str, account: vz.Account | None = None) -> None:
        self.user = user
        self.device_id = device_id
        self.account = account if account is not None else vz.Account()
        self.sessions: dict[str, list[vz.Session]] = {}

    # -- identity -------------------------------------------------------------------------------
    @property
    def curve25519(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    @property
    def ed25519(self) -> str:
        return str(self.account.ed25519_key.to_base64())

    def sign(self, data: bytes) -> str:
        return str(self.account.sign(data).to_base64())

    def new_one_time_keys(self, count: int) -> list[dict[str, str]]:
        """Generate ``count`` one-time keys, signed by this device, and mark them published."""
        self.account.generate_one_time_keys(count)
        keys = [self._signed(kid, key.to_base64(), False) for kid, key in self.account.one_time_keys.items()]
        self.account.mark_keys_as_published()
        return keys

    def new_fallback_key(self) -> dict[str, str]:
        # present in vodozemac 0.10, missing from its type stubs
        self.account.generate_fallback_key()  # type: ignore[attr-defined]
        kid, key = next(iter(self.account.fallback_key.items()))  # type: ignore[attr-defined]
        signed = self._signed(kid, key.to_base64(), True)
        self.account.mark_keys_as_published()
        return signed

    def _signed(self, key_id: str, key: str, fallback: bool) -> dict[str, str]:
        sig = self.sign(one_time_key_bytes(self.user, self.device_id, key_id, key, fallback))
        return {"key_id": key_id, "key": key, "sig": sig}

    # -- sessions -------------------------------------------------------------------------------
    def has_session(self, device: RemoteDevice) -> bool:
        return bool(self.sessions.get(device.curve25519))

    def start_session(self, device: RemoteDevice, claimed: dict[str, Any]) -> None:
        """Open an outbound session from a claimed one-time (or fallback) key, after checking its
        signature by the device's Ed25519 key."""
        verify_device_signature(
            device.ed25519,
            one_time_key_bytes(device.user, device.device_id, claimed["key_id"], claimed["key"],
                               bool(claimed.get("fallback", False))),
            claimed["sig"],
        )
        session = self.account.create_outbound_session(
            vz.Curve25519PublicKey.from_base64(device.curve25519),
            vz.Curve25519PublicKey.from_base64(claimed["key"]),
        )
        self._remember(device.curve25519, session)

    def _remember(self, curve: str, session: vz.Session) -> None:
        sessions = [s for s in self.sessions.get(curve, []) if s.session_id != session.session_id]
        self.sessions[curve] = [session, *sessions][:MAX_SESSIONS_PER_DEVICE]

    def encrypt(self, device: RemoteDevice, mid: str, content: dict[str, Any]) -> str:
        sessions = self.sessions.get(device.curve25519)
        if not sessions:
            raise UntrustedDevice(f"no session with {device.user}/{device.device_id}; claim a key first")
        envelope = {
            "v": 1, "mid": mid, "sender": self.user, "sender_device": self.device_id,
            "sender_ed25519": self.ed25519, "recipient": device.user,
            "recipient_device": device.device_id, "recipient_ed25519": device.ed25519, "content": content,
        }
        msg_type, ciphertext = sessions[0].encrypt(pad_json(envelope)).to_parts()
        return f"olm1.{msg_type}.{b64e(ciphertext)}"

    def decrypt(self, sender: RemoteDevice, payload: str) -> dict[str, Any]:
        """Decrypt a payload from ``sender``; raises ``DecryptionFailed`` (tampered, replayed, wrong
        sender or recipient)."""
        try:
            tag, kind, body = payload.split(".", 2)
            msg_type = int(kind)
            if tag != "olm1" or msg_type not in (0, 1):
                raise ValueError(tag)
            message = vz.AnyOlmMessage.from_parts(msg_type, b64d(body))
        except (ValueError, vz.DecodeException) as exc:
            raise DecryptionFailed("message is not readable") from exc
        plaintext = self._decrypt_message(sender.curve25519, msg_type, message)
        envelope = unpad_json(plaintext)
        if (
            envelope.get("v") != 1
            or envelope.get("sender") != sender.user
            or envelope.get("sender_device") != sender.device_id
            or envelope.get("sender_ed25519") != sender.ed25519
            or envelope.get("recipient") != self.user
            or envelope.get("recipient_device") != self.device_id
            or envelope.get("recipient_ed25519") != self.ed25519
            or not isinstance(envelope.get("content"), dict)
            or not isinstance(envelope.get("mid"), str)
        ):
            raise DecryptionFailed("message is not addressed from that sender to this device")
        return envelope

    def _decrypt_message(self, curve: str, msg_type: int, message: vz.AnyOlmMessage) -> bytes:
        sessions = self.sessions.get(curve, [])
        try:
            if msg_type == 0:
                pre_key = message.to_pre_key()
                if pre_key is None:
                    raise DecryptionFailed("message could not be decrypted")
                for session in sessions:
                    if session.session_matches(pre_key):
                        return bytes(session.decrypt(message))
                session, plaintext = self.account.create_inbound_session(
                    vz.Curve25519PublicKey.from_base64(curve), pre_key
                )
                self._remember(curve, session)
                return bytes(plaintext)
        except (vz.OlmDecryptionException, vz.SessionCreationException, vz.KeyException,
                vz.DecodeException) as exc:
            raise DecryptionFailed("message could not be decrypted") from exc
        for session in sessions:
            try:
                plaintext = bytes(session.decrypt(message))
            except (vz.OlmDecryptionException, vz.DecodeException):
                continue
            self._remember(curve, session)
            return plaintext
        raise DecryptionFailed("message could not be decrypted")

    # -- persistence ----------------------------------------------------------------------------
    def to_state(self, pickle_key: bytes) -> dict[str, Any]:
        return {
            "account": self.account.pickle(pickle_key),
            "sessions": {c: [s.pickle(pickle_key) for s in ss] for c, ss in self.sessions.items()},
        }

    @classmethod
    def from_state(cls, user: str, device_id: str, state: dict[str, Any], pickle_key: bytes) -> DeviceCrypto:
        me = cls(user, device_id, vz.Account.from_pickle(state["account"], pickle_key))
        me.sessions = {c: [vz.Session.from_pickle(p, pickle_key) for p in ps]
                       for c, ps in state["sessions"].items()}
        return me


def verify_device_signature(ed25519: str, data: bytes, signature: str) -> None:
    """Verify a signature made by a device's Ed25519 key; raises ``UntrustedDevice``."""
    try:
        vz.Ed25519PublicKey.from_base64(ed25519).verify_signature(data, vz.Ed25519Signature.from_base64(signature))
    except (vz.SignatureException, vz.KeyException, vz.DecodeException, ValueError, TypeError) as exc:
        raise UntrustedDevice("device signature does not verify") from exc
