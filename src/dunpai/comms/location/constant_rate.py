"""Constant-rate framing for push-to-talk and convoys (pure).

While a constant-rate channel is open, one frame leaves every ``interval_s`` whether anyone talks or
not, and every frame has the same size: a voice frame (Opus at constant bit-rate, at most
``payload_bytes``) or cover, padded and sealed with AES-256-GCM under a per-channel key, so an
observer of the link sees the same sizes and the same timing in both cases. The send times come
from a fixed schedule (``t0 + k * interval_s``), never from when someone speaks.

Frame on the wire: ``counter (8 bytes, big-endian) || AES-GCM(plaintext)``; plaintext is
``kind (1 byte: 1 voice, 0 cover) || length (2 bytes) || data || zero padding`` to ``1 + 2 +
payload_bytes``. The counter is the nonce and is bound as associated data; receivers reject
replays and reordering beyond the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dunpai.comms.errors import DecryptionFailed, TooLarge

LABEL = b"dunpai-cbr-v1"
VOICE, COVER = 1, 0


@dataclass(frozen=True)
class CbrConfig:
    interval_s: float = 0.02  # 20 ms Opus frames
    payload_bytes: int = 60  # Opus CBR frame size seen on this stack
    realtime: bool = True  # the sending thread asks for real-time scheduling (setting comms.constant_rate.realtime)

    @property
    def wire_bytes(self) -> int:
        return 8 + 3 + self.payload_bytes + 16


def send_times(t0: float, cfg: CbrConfig, count: int) -> list[float]:
    """The fixed schedule: when frames 0..count-1 leave."""
    return [t0 + k * cfg.interval_s for k in range(count)]


@dataclass
class CbrSender:
    key: bytes
    cfg: CbrConfig = field(default_factory=CbrConfig)
    counter: int = 0

    def frame(self, voice: bytes | None) -> bytes:
        """The next frame: ``voice`` if given, cover otherwise - the same size either way."""
        data = voice or b""
        if len(data) > self.cfg.payload_bytes:
            raise TooLarge(f"voice frame larger than {self.cfg.payload_bytes} bytes")
        plain = bytes([VOICE if voice is not None else COVER]) + len(data).to_bytes(2, "big") + data
        plain += b"\0" * (3 + self.cfg.payload_bytes - len(plain))
        nonce = self.counter.to_bytes(8, "big")
        self.counter += 1
        return nonce + AESGCM(self.key).encrypt(b"\0\0\0\0" + nonce, plain, LABEL + nonce)


@dataclass
class CbrReceiver:
    key: bytes
    cfg: CbrConfig = field(default_factory=CbrConfig)
    highest: int = -1

    def open(self, wire: bytes) -> bytes | None:
        """Voice data, or None for cover. Raises ``DecryptionFailed`` (tampered, replayed, wrong size)."""
        if len(wire) != self.cfg.wire_bytes:
            raise DecryptionFailed("frame has the wrong size")
        nonce, sealed = wire[:8], wire[8:]
        counter = int.from_bytes(nonce, "big")
        if counter <= self.highest:
            raise DecryptionFailed("replayed or reordered frame")
        try:
            plain = AESGCM(self.key).decrypt(b"\0\0\0\0" + nonce, sealed, LABEL + nonce)
        except InvalidTag as exc:
            raise DecryptionFailed("frame failed authentication") from exc
        self.highest = counter
        length = int.from_bytes(plain[1:3], "big")
        if plain[0] == COVER:
            return None
        return plain[3 : 3 + length]
