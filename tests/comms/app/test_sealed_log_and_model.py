"""The app's on-device history (sealed segments, tamper detection, compaction) and the conversation
model folded from it (unread counts, marks, search, snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dunpai.comms.app.model import State
from dunpai.comms.app.sealed_log import HistoryDamaged, HistoryStore
from dunpai.comms.keys_port import MemoryKeys


def _msg(mid: str, conv: str, sender: str, out: bool, text: str, at: int = 1) -> dict[str, object]:
    return {"t": "msg", "mid": mid, "conv": conv, "sender": sender, "device": "d1", "out": out, "at": at,
            "kind": "text", "text": text, "status": "queued" if out else ""}


def test_history_round_trips_and_holds_nothing_in_clear(tmp_path: Path) -> None:
    keys = MemoryKeys()
    store = HistoryStore(tmp_path / "h", keys, "alice/d1")
    assert store.load() == []
    records = [_msg("m1", "u:bob", "alice", True, "机密：转账暂停"), {"t": "status", "mid": "m1", "status": "sent"}]
    for r in records:
        store.append(r)
    store.flush()
    store.append(_msg("m2", "u:bob", "bob", False, "好的 understood"))
    store.close()
    assert HistoryStore(tmp_path / "h", keys, "alice/d1").load() == [*records, _msg("m2", "u:bob", "bob", False,
                                                                                  "好的 understood")]
    for path in (tmp_path / "h").iterdir():
        raw = path.read_bytes()
        assert "机密".encode() not in raw and b"understood" not in raw and b"bob" not in raw
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_history_of_another_key_or_owner_is_refused(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h", MemoryKeys(), "alice/d1")
    store.append(_msg("m1", "u:bob", "alice", True, "x"))
    store.close()
    with pytest.raises(HistoryDamaged):
        HistoryStore(tmp_path / "h", MemoryKeys(), "alice/d1").load()


@pytest.mark.parametrize("attack", ["flip", "remove-middle", "swap", "rename"])
def test_tampered_removed_or_reordered_segments_are_detected(tmp_path: Path, attack: str) -> None:
    keys = MemoryKeys()
    store = HistoryStore(tmp_path / "h", keys, "alice/d1")
    for i in range(3):
        store.append(_msg(f"m{i}", "u:bob", "alice", True, f"text {i}"))
        store.flush()
    segs = sorted((tmp_path / "h").iterdir())
    if attack == "flip":
        raw = bytearray(segs[1].read_bytes())
        raw[-5] ^= 1
        segs[1].write_bytes(bytes(raw))
    elif attack == "remove-middle":
        segs[1].unlink()
    elif attack == "swap":
        a, b = segs[1].read_bytes(), segs[2].read_bytes()
        segs[1].write_bytes(b)
        segs[2].write_bytes(a)
    else:
        segs[2].rename(segs[2].with_name("h-00000009.sealed"))
    with pytest.raises(HistoryDamaged):
        HistoryStore(tmp_path / "h", keys, "alice/d1").load()


def test_compaction_keeps_the_state_and_drops_old_segments(tmp_path: Path) -> None:
    keys = MemoryKeys()
    store = HistoryStore(tmp_path / "h", keys, "alice/d1")
    state = State("alice")
    for i in range(5):
        for r in (_msg(f"m{i}", "u:bob", "bob", False, f"hello {i}"), {"t": "rcpt", "mid": f"m{i}", "user": "bob",
                                                                        "what": "read"}):
            state.apply(r)
            store.append(r)
        store.flush()
    state.apply({"t": "seen", "conv": "u:bob", "mid": "m2"})
    store.compact(state.snapshot())
    store.append(_msg("m9", "u:bob", "alice", True, "after"))
    store.close()
    assert len(list((tmp_path / "h").iterdir())) == 2
    again = State("alice")
    for r in HistoryStore(tmp_path / "h", keys, "alice/d1").load():
        again.apply(r)
    state.apply(_msg("m9", "u:bob", "alice", True, "after"))
    assert again.conversations() == state.conversations()
    assert again.messages("u:bob") == state.messages("u:bob")


def test_unread_counts_marks_and_search() -> None:
    s = State("alice")
    members = {"alice": "owner", "bob": "member", "carol": "member"}
    s.apply({"t": "conv", "conv": "g:g1", "kind": "group", "name": "值班", "members": members})
    s.apply(_msg("a1", "g:g1", "alice", True, "会议改到三点"))
    s.apply(_msg("b1", "g:g1", "bob", False, "收到"))
    s.apply(_msg("c1", "g:g1", "carol", False, "Noted"))
    assert s.conversations()[0]["unread"] == 2
    assert s.apply(_msg("b1", "g:g1", "bob", False, "收到")) is False  # a duplicate is shown once
    s.apply({"t": "status", "mid": "a1", "status": "sent"})
    view = s.messages("g:g1")[0]
    assert view["mark"] == "sent"
    s.apply({"t": "rcpt", "mid": "a1", "user": "bob", "what": "delivered"})
    assert s.messages("g:g1")[0]["mark"] == "sent"        # carol has not got it yet
    s.apply({"t": "rcpt", "mid": "a1", "user": "carol", "what": "read"})
    s.apply({"t": "rcpt", "mid": "a1", "user": "bob", "what": "read"})
    assert s.messages("g:g1")[0]["mark"] == "read"
    s.apply({"t": "seen", "conv": "g:g1", "mid": "b1"})
    assert s.conversations()[0]["unread"] == 1
    assert [h["mid"] for h in s.search("三点")] == ["a1"]
    assert [h["mid"] for h in s.search("noted")] == ["c1"]
    assert s.search("  ") == []
    s.apply(_msg("a2", "u:bob", "alice", True, "queued one"))
    assert s.messages("u:bob")[0]["mark"] == "queued"
