"""Per-frame media encryption: round trip, per-sender keys, rekey on membership change, replay."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunpai.comms.errors import DecryptionFailed, MalformedFrame, ReplayDetected
from dunpai.comms.media.sframe import (
    HEADER_LEN,
    FrameOpener,
    FrameSealer,
    MediaKey,
    ReplayWindow,
    derive_sender_key,
    new_media_key,
    parse_header,
)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def key(epoch: int = 1, roster: tuple[str, ...] = ("a", "b", "c"), seed: int = 1) -> MediaKey:
    return new_media_key("tg", epoch, roster, seeded(seed).randbytes)


def test_round_trip_names_sender() -> None:
    k = key()
    sealer = FrameSealer(k, "b")
    opener = FrameOpener(k)
    for i in range(5):
        frame = sealer.seal(b"voice %d" % i)
        assert opener.open(frame) == ("b", b"voice %d" % i)
        h = parse_header(frame)
        assert (h.version, h.epoch, h.slot, h.counter) == (1, 1, 1, i)
        assert len(frame) == HEADER_LEN + len(b"voice 0") + 16


def test_senders_have_distinct_keys() -> None:
    k = key()
    ka, kb = derive_sender_key(k, "a"), derive_sender_key(k, "b")
    assert ka.key != kb.key and ka.salt != kb.salt
    # same payload and counter from two senders give unrelated ciphertexts
    fa, fb = FrameSealer(k, "a").seal(b"x" * 60), FrameSealer(k, "b").seal(b"x" * 60)
    assert fa[HEADER_LEN:] != fb[HEADER_LEN:]


def test_sender_cannot_be_impersonated_by_header_edit() -> None:
    k = key()
    frame = bytearray(FrameSealer(k, "a").seal(b"hello"))
    frame[6] = 1  # claim slot 1 ("b")
    with pytest.raises(DecryptionFailed):
        FrameOpener(k).open(bytes(frame))


@pytest.mark.parametrize("pos", [0 + 1, 5, 7, HEADER_LEN, HEADER_LEN + 3, -1])
def test_tampering_is_rejected(pos: int) -> None:
    k = key()
    frame = bytearray(FrameSealer(k, "a").seal(b"hello world"))
    frame[pos] ^= 0x01
    with pytest.raises(DecryptionFailed):
        FrameOpener(k).open(bytes(frame))


def test_replay_is_rejected_and_reordering_within_window_accepted() -> None:
    k = key()
    sealer = FrameSealer(k, "a")
    frames = [sealer.seal(b"f%d" % i) for i in range(200)]
    opener = FrameOpener(k)
    opener.open(frames[0])
    with pytest.raises(ReplayDetected):
        opener.open(frames[0])
    for i in (5, 3, 4, 2, 1):
        opener.open(frames[i])
    with pytest.raises(ReplayDetected):
        opener.open(frames[3])
    opener.open(frames[199])
    with pytest.raises(ReplayDetected):  # older than the 128-frame window
        opener.open(frames[60])
    opener.open(frames[150])


def test_forged_frame_does_not_advance_replay_window() -> None:
    k = key()
    sealer = FrameSealer(k, "a")
    good = sealer.seal(b"one")
    forged = bytearray(FrameSealer(k, "a", first_counter=10_000).seal(b"x"))
    forged[-1] ^= 1
    opener = FrameOpener(k)
    with pytest.raises(DecryptionFailed):
        opener.open(bytes(forged))
    assert opener.open(good) == ("a", b"one")


def test_member_who_left_cannot_decrypt_later_frames() -> None:
    k1 = key(1, ("a", "b", "c"), seed=1)
    c_opener = FrameOpener(k1)
    b_opener = FrameOpener(k1)
    assert c_opener.open(FrameSealer(k1, "a").seal(b"before")) == ("a", b"before")
    # c leaves: a new key with a fresh secret goes (over E2E) only to a and b
    k2 = new_media_key("tg", 2, ("a", "b"), os.urandom)
    b_opener.add_key(k2)
    later = FrameSealer(k2, "a").seal(b"after c left")
    assert b_opener.open(later) == ("a", b"after c left")
    with pytest.raises(DecryptionFailed):
        c_opener.open(later)
    # even knowing the old secret, a forged header with the new epoch does not decrypt
    guess = FrameOpener(MediaKey("tg", 2, k1.secret, ("a", "b")))
    with pytest.raises(DecryptionFailed):
        guess.open(later)


def test_joiner_cannot_decrypt_earlier_frames() -> None:
    k1 = key(1, ("a", "b"))
    early = FrameSealer(k1, "a").seal(b"before d joined")
    k2 = new_media_key("tg", 2, ("a", "b", "d"), os.urandom)
    with pytest.raises(DecryptionFailed):
        FrameOpener(k2).open(early)


def test_forget_old_epochs() -> None:
    k1, k2 = key(1), key(2, seed=2)
    opener = FrameOpener(k1, k2)
    f1 = FrameSealer(k1, "a").seal(b"old")
    opener.forget_epochs_before(2)
    with pytest.raises(DecryptionFailed):
        opener.open(f1)


def test_non_participant_cannot_seal() -> None:
    with pytest.raises(DecryptionFailed):
        FrameSealer(key(), "mallory")


def test_key_content_round_trip_and_validation() -> None:
    k = key()
    assert MediaKey.from_content(k.to_content()) == k
    assert "secret" not in repr(k)
    with pytest.raises(MalformedFrame):
        MediaKey.from_content({**k.to_content(), "format": "dunpai-media-key-v0"})
    with pytest.raises(MalformedFrame):
        MediaKey.from_content({**k.to_content(), "epoch": "1"})
    with pytest.raises(ValueError):
        MediaKey("tg", 1, b"short", ("a",))
    with pytest.raises(ValueError):
        MediaKey("tg", 1, b"k" * 32, ("a", "a"))


def test_malformed_and_wrong_version_frames() -> None:
    k = key()
    with pytest.raises(MalformedFrame):
        FrameOpener(k).open(b"\x01" * 10)
    frame = bytearray(FrameSealer(k, "a").seal(b"x"))
    frame[0] = 2
    with pytest.raises(MalformedFrame):
        FrameOpener(k).open(bytes(frame))


def test_replay_window_unit() -> None:
    w = ReplayWindow(4)
    for c in (0, 1, 3):
        w.accept(c)
    w.accept(2)
    with pytest.raises(ReplayDetected):
        w.accept(2)
    w.accept(10)
    with pytest.raises(ReplayDetected):
        w.check(6)  # age 4 >= window 4
    w.check(7)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=10), st.integers(0, 2))
def test_round_trip_property(payloads: list[bytes], who: int) -> None:
    k = key()
    user = k.roster[who]
    sealer, opener = FrameSealer(k, user), FrameOpener(k)
    for p in payloads:
        assert opener.open(sealer.seal(p)) == (user, p)
