"""Call signalling state machine: ring, accept, reject, hang up, busy, mute, timeouts, group calls."""

from __future__ import annotations

import pytest

from dunpai.comms.calls import signalling as sg
from dunpai.comms.calls.signalling import CallMessage, CallPhase, EndReason, Phone, SignallingError
from dunpai.comms.errors import MalformedFrame


def deliver(step: sg.Step, sender: str, phone: Phone, now: int, group: str | None = None) -> sg.Step:
    """Deliver every message of ``step`` addressed to ``phone`` (through the content round trip)."""
    out = sg.Step(phone)
    for s in step.send:
        if s.to == phone.user or (group is not None and s.group == group):
            msg = CallMessage.from_content(s.message.to_content())
            out = sg.receive(out.phone, sender, msg, now, group_id=s.group)
    return out


def test_ring_accept_mute_hangup() -> None:
    a, b = Phone("a"), Phone("b")
    ring = sg.place_call(a, "c1", "b", 0, key={"type": "media_key"})
    a = ring.phone
    assert a.call is not None and a.call.phase is CallPhase.RINGING_OUT
    rb = deliver(ring, "a", b, 10)
    assert rb.phone.call is not None and rb.phone.call.phase is CallPhase.RINGING_IN
    assert rb.phone.call.key == {"type": "media_key"}
    assert [e.kind for e in rb.events] == ["incoming"]
    acc = sg.accept(rb.phone, 20)
    ra = deliver(acc, "b", a, 21)
    assert ra.phone.call is not None and ra.phone.call.phase is CallPhase.ACTIVE
    assert [e.kind for e in ra.events] == ["connected"]
    mute = sg.set_mute(ra.phone, True, 30)
    mb = deliver(mute, "a", acc.phone, 31)
    assert mb.phone.call is not None and mb.phone.call.peer_muted == {"a"}
    unmute = sg.set_mute(mute.phone, False, 32)
    assert deliver(unmute, "a", mb.phone, 33).phone.call.peer_muted == frozenset()  # type: ignore[union-attr]
    hang = sg.hangup(unmute.phone, 40)
    assert hang.phone.call is None and hang.events[0].reason is EndReason.HANGUP
    hb = deliver(hang, "a", mb.phone, 41)
    assert hb.phone.call is None and hb.events[0].reason is EndReason.REMOTE_HANGUP


def test_reject() -> None:
    ring = sg.place_call(Phone("a"), "c1", "b", 0)
    rej = sg.reject(deliver(ring, "a", Phone("b"), 1).phone, 2)
    assert rej.phone.ended == (("c1", EndReason.REJECTED),)
    ra = deliver(rej, "b", ring.phone, 3)
    assert ra.phone.call is None and ra.events[0].reason is EndReason.REJECTED


def test_busy() -> None:
    b = sg.place_call(Phone("b"), "c0", "z", 0).phone  # b is already calling z
    ring = sg.place_call(Phone("a"), "c1", "b", 1)
    rb = deliver(ring, "a", b, 2)
    assert rb.phone == b and [e.kind for e in rb.events] == ["busy_refused"]
    [busy] = rb.send
    assert busy.to == "a" and busy.message.action == "busy"
    ra = deliver(rb, "b", ring.phone, 3)
    assert ra.phone.call is None and ra.events[0].reason is EndReason.BUSY


def test_ring_timeout_both_sides() -> None:
    ring = sg.place_call(Phone("a"), "c1", "b", 0)
    b = deliver(ring, "a", Phone("b"), 5).phone
    assert sg.tick(ring.phone, 29_999).phone == ring.phone
    t = sg.tick(ring.phone, 30_000)
    assert t.events[0].reason is EndReason.TIMEOUT and t.send[0].message.action == "hangup"
    assert deliver(t, "a", b, 30_001).events[0].reason is EndReason.MISSED
    assert sg.tick(b, 30_005).events[0].reason is EndReason.MISSED
    active = sg.accept(b, 10).phone
    assert sg.tick(active, 10**9).phone == active  # an active call does not time out


def test_caller_cancels_before_answer() -> None:
    ring = sg.place_call(Phone("a"), "c1", "b", 0)
    b = deliver(ring, "a", Phone("b"), 1).phone
    cancel = sg.hangup(ring.phone, 2)
    assert deliver(cancel, "a", b, 3).events[0].reason is EndReason.MISSED


def test_refusals() -> None:
    ring = sg.place_call(Phone("a"), "c1", "b", 0)
    with pytest.raises(SignallingError):
        sg.place_call(ring.phone, "c2", "c", 1)
    with pytest.raises(SignallingError):
        sg.place_call(Phone("a"), "c1", "a", 0)
    with pytest.raises(SignallingError):
        sg.accept(ring.phone, 1)  # cannot accept your own outgoing call
    with pytest.raises(SignallingError):  # accept from a third party
        sg.receive(ring.phone, "mallory", CallMessage("c1", "accept"), 1)
    with pytest.raises(SignallingError):
        sg.set_mute(ring.phone, True, 1)
    with pytest.raises(SignallingError):
        sg.reject(Phone("b"), 0)
    # messages for unknown calls and our own echoes are ignored
    assert sg.receive(ring.phone, "b", CallMessage("other", "accept"), 1).phone == ring.phone
    assert sg.receive(ring.phone, "a", CallMessage("c1", "hangup"), 1).phone == ring.phone
    assert sg.hangup(Phone("a"), 0).phone == Phone("a")


def test_content_validation() -> None:
    good = CallMessage("c1", "ring", "video").to_content()
    assert CallMessage.from_content(good) == CallMessage("c1", "ring", "video")
    for bad in ({**good, "v": 2}, {**good, "action": "explode"}, {**good, "call_id": "../x"},
                {**good, "media": "fax"}, {**good, "muted": "yes"}, {**good, "extra": 1}, {**good, "type": "text"}):
        with pytest.raises(MalformedFrame):
            CallMessage.from_content(bad)


def test_group_call_join_leave_rekey() -> None:
    g = "ops"
    a = sg.join_group_call(Phone("a"), g, "gc1", 0)
    assert a.send[0].group == g and a.events[0].roster == ("a",)
    b = sg.join_group_call(Phone("b"), g, "gc1", 1)
    # a hears b join: adds b, answers with its own join, asks for a new key
    ra = deliver(b, "b", a.phone, 2, group=g)
    assert ra.phone.call is not None and ra.phone.call.participants == {"a", "b"}
    rekey = [e for e in ra.events if e.kind == "rekey"]
    assert rekey[0].roster == ("a", "b") and sg.is_key_maker(ra.phone, rekey[0])
    rb = deliver(ra, "a", b.phone, 3, group=g)
    assert rb.phone.call is not None and rb.phone.call.participants == {"a", "b"}
    assert not sg.is_key_maker(rb.phone, next(e for e in rb.events if e.kind == "rekey"))
    # a repeated join is idempotent
    assert deliver(ra, "a", rb.phone, 4, group=g).phone == rb.phone
    # b mutes, then leaves: a rekeys for itself alone
    m = sg.set_mute(rb.phone, True, 5)
    am = deliver(m, "b", ra.phone, 6, group=g)
    assert am.phone.call is not None and am.phone.call.peer_muted == {"b"}
    leave = sg.hangup(m.phone, 7)
    assert leave.send[0].message.action == "leave"
    al = deliver(leave, "b", am.phone, 8, group=g)
    assert al.phone.call is not None and al.phone.call.participants == {"a"}
    assert al.phone.call.peer_muted == frozenset()
    assert [e.kind for e in al.events] == ["left", "rekey"]


def test_group_message_must_come_through_its_group() -> None:
    a = sg.join_group_call(Phone("a"), "ops", "gc1", 0).phone
    with pytest.raises(SignallingError):
        sg.receive(a, "b", CallMessage("gc1", "join", group_id="ops"), 1, group_id=None)
    with pytest.raises(SignallingError):
        sg.receive(a, "b", CallMessage("gc1", "accept", group_id="ops"), 1, group_id="ops")
    # a ring while in a group call is answered busy
    r = sg.receive(a, "c", CallMessage("x1", "ring"), 2)
    assert r.send[0].message.action == "busy"
