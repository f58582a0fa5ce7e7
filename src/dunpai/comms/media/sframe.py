"""Per-frame end-to-end media encryption (the SFrame idea, RFC 9605, simplified and versioned).

A call or talk-group has a **group media key** (32 random bytes and an epoch) that travels only
inside the existing E2E channel (Olm/Megolm content ``{"type":"media_key", …}``, see
:func:`MediaKey.to_content`). Each sender derives its own AES-128-GCM key and nonce salt from it
with HKDF-SHA256, bound to the epoch and the sender's slot in the key's roster, so two senders
never share a (key, nonce) pair.

Wire form of one frame (what the relay sees)::

    version(1) = 0x01 | epoch(4, big-endian) | slot(2) | counter(8) | AES-GCM(ciphertext ‖ tag 16)

The 15-byte header is the associated data. The relay learns the epoch, the sender's slot and a
counter — nothing else. A new key (new epoch, fresh random secret) is made whenever a participant
joins or leaves, so someone who left holds no key for later frames. Receivers reject replays with
a per-sender sliding window over the counter; failures are opaque (:class:`DecryptionFailed`).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dunpai.comms.errors import DecryptionFailed, MalformedFrame, ReplayDetected

FRAME_VERSION = 1
KEY_FORMAT = "dunpai-media-key-v1"
HEADER = struct.Struct(">BIHQ")
HEADER_LEN = HEADER.size  # 15
TAG_LEN = 16
REPLAY_WINDOW = 128
MAX_COUNTER = 2**64 - 1
RandomBytes = Callable[[int], bytes]


@dataclass(frozen=True)
class MediaKey:
    """A call/talk-group key for one epoch. ``roster`` fixes every sender's slot."""

    group_id: str
    epoch: int
    secret: bytes = field(repr=False)
    roster: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.secret) != 32 or not 0 <= self.epoch < 2**32 or len(self.roster) >= 2**16:
            raise ValueError("media key: 32-byte secret, 32-bit epoch, < 65536 senders")
        if len(set(self.roster)) != len(self.roster):
            raise ValueError("media key roster has duplicates")

    def slot_of(self, user: str) -> int:
        try:
            return self.roster.index(user)
        except ValueError:
            raise DecryptionFailed("not a participant of this media key") from None

    def to_content(self) -> dict[str, object]:
        """The E2E message content that distributes this key (never sent outside Olm/Megolm)."""
        return {"type": "media_key", "format": KEY_FORMAT, "group_id": self.group_id, "epoch": self.epoch,
                "secret": base64.b64encode(self.secret).decode(), "roster": list(self.roster)}

    @classmethod
    def from_content(cls, content: Mapping[str, object]) -> MediaKey:
        if content.get("type") != "media_key" or content.get("format") != KEY_FORMAT:
            raise MalformedFrame("not a dunpai-media-key-v1 content")
        roster, epoch, gid, secret = (content.get("roster"), content.get("epoch"),
                                      content.get("group_id"), content.get("secret"))
        if not (isinstance(roster, list) and all(isinstance(u, str) for u in roster) and isinstance(epoch, int)
                and isinstance(gid, str) and isinstance(secret, str)):
            raise MalformedFrame("media key content has wrong field types")
        return cls(gid, epoch, base64.b64decode(secret, validate=True), tuple(roster))


def new_media_key(group_id: str, epoch: int, roster: Sequence[str], random_bytes: RandomBytes) -> MediaKey:
    """A fresh key for ``epoch``; call on every join or leave (``random_bytes`` = ``secrets.token_bytes``)."""
    return MediaKey(group_id, epoch, random_bytes(32), tuple(roster))


@dataclass(frozen=True)
class SenderKey:
    key: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    epoch: int
    slot: int


def derive_sender_key(mk: MediaKey, user: str) -> SenderKey:
    slot = mk.slot_of(user)
    info = b"dunpai-media-v1:sender:" + mk.group_id.encode() + b":" + struct.pack(">IH", mk.epoch, slot)
    okm = HKDF(algorithm=hashes.SHA256(), length=28, salt=b"dunpai-media-v1", info=info).derive(mk.secret)
    return SenderKey(okm[:16], okm[16:], mk.epoch, slot)


def _nonce(salt: bytes, counter: int) -> bytes:
    return bytes(a ^ b for a, b in zip(salt, counter.to_bytes(12, "big"), strict=True))


class FrameSealer:
    """Encrypts one sender's frames; the counter only grows (a counter is never reused)."""

    def __init__(self, mk: MediaKey, user: str, *, first_counter: int = 0) -> None:
        self._sk = derive_sender_key(mk, user)
        self._aead = AESGCM(self._sk.key)
        self._counter = first_counter

    @property
    def epoch(self) -> int:
        return self._sk.epoch

    def seal(self, payload: bytes) -> bytes:
        if self._counter > MAX_COUNTER:
            raise ValueError("frame counter exhausted: rotate the media key")
        header = HEADER.pack(FRAME_VERSION, self._sk.epoch, self._sk.slot, self._counter)
        ct = self._aead.encrypt(_nonce(self._sk.salt, self._counter), payload, header)
        self._counter += 1
        return header + ct


@dataclass(frozen=True)
class FrameHeader:
    version: int
    epoch: int
    slot: int
    counter: int


def parse_header(frame: bytes) -> FrameHeader:
    """What the relay may read: version, epoch, sender slot, counter. Raises on a malformed frame."""
    if len(frame) < HEADER_LEN + TAG_LEN:
        raise MalformedFrame("media frame too short")
    version, epoch, slot, counter = HEADER.unpack_from(frame)
    if version != FRAME_VERSION:
        raise MalformedFrame(f"media frame version {version} is not supported; supported: [1]")
    return FrameHeader(version, epoch, slot, counter)


class ReplayWindow:
    """Sliding window over counters: accepts each counter once, refuses ones older than the window."""

    def __init__(self, size: int = REPLAY_WINDOW) -> None:
        self._size = size
        self._top = -1
        self._seen = 0  # bit i set = counter (top - i) seen

    def check(self, counter: int) -> None:
        if counter > self._top:
            return
        age = self._top - counter
        if age >= self._size or (self._seen >> age) & 1:
            raise ReplayDetected("media frame replayed or too old")

    def accept(self, counter: int) -> None:
        self.check(counter)
        if counter > self._top:
            shift = counter - self._top
            self._seen = ((self._seen << shift) | 1) & ((1 << self._size) - 1)
            self._top = counter
        else:
            self._seen |= 1 << (self._top - counter)


class FrameOpener:
    """Decrypts frames for one participant; holds the keys of the epochs it was given."""

    def __init__(self, *keys: MediaKey) -> None:
        self._keys: dict[int, MediaKey] = {}
        self._aeads: dict[tuple[int, int], tuple[AESGCM, SenderKey]] = {}
        self._windows: dict[tuple[int, int], ReplayWindow] = {}
        for k in keys:
            self.add_key(k)

    def add_key(self, mk: MediaKey) -> None:
        self._keys[mk.epoch] = mk
        for user in mk.roster:
            sk = derive_sender_key(mk, user)
            self._aeads[(mk.epoch, sk.slot)] = (AESGCM(sk.key), sk)

    def forget_epochs_before(self, epoch: int) -> None:
        for e in [e for e in self._keys if e < epoch]:
            del self._keys[e]
        self._aeads = {k: v for k, v in self._aeads.items() if k[0] >= epoch}
        self._windows = {k: v for k, v in self._windows.items() if k[0] >= epoch}

    def open(self, frame: bytes) -> tuple[str, bytes]:
        """(sender, payload). Raises :class:`DecryptionFailed` (opaque) or :class:`ReplayDetected`."""
        h = parse_header(frame)
        entry = self._aeads.get((h.epoch, h.slot))
        if entry is None:
            raise DecryptionFailed("media frame could not be decrypted")
        aead, sk = entry
        window = self._windows.setdefault((h.epoch, h.slot), ReplayWindow())
        window.check(h.counter)
        try:
            payload = aead.decrypt(_nonce(sk.salt, h.counter), frame[HEADER_LEN:], frame[:HEADER_LEN])
        except InvalidTag:
            raise DecryptionFailed("media frame could not be decrypted") from None
        window.accept(h.counter)
        return self._keys[h.epoch].roster[h.slot], payload
