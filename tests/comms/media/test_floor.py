"""Floor control (MCPTT-style): every transition, queue order, pre-emption, timers, talker drop."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunpai.comms.media import floor as fl
from dunpai.comms.media.floor import Cause, FloorConfig, FloorError, Kind, Phase

MEMBERS = {"a": 1, "b": 1, "c": 5, "d": 3, "boss": 9}
CFG = FloorConfig(max_talk_ms=10_000, media_timeout_ms=1_000, revoke_grace_ms=300, queue_limit=3)


def group(present: tuple[str, ...] = ("a", "b", "c", "d", "boss"), config: FloorConfig = CFG) -> fl.FloorState:
    s = fl.new_talk_group("tg1", MEMBERS, config)
    for u in present:
        s = fl.join(s, u, 0).state
    return s


def kinds(tr: fl.Transition, user: str) -> list[Kind]:
    return [m.kind for m in tr.to(user)]


def test_idle_request_is_granted_and_listeners_see_talker() -> None:
    tr = fl.request(group(), "a", 10)
    assert tr.state.phase is Phase.TAKEN and tr.state.talker is not None
    assert tr.state.talker.user == "a" and tr.state.talker.burst == 1
    assert kinds(tr, "a") == [Kind.GRANTED]
    for u in ("b", "c", "d", "boss"):
        [m] = tr.to(u)
        assert m.kind is Kind.TAKEN and m.talker == "a" and m.burst == 1


def test_only_one_talker_second_request_is_queued() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.request(s, "b", 5)
    assert tr.state.talker is not None and tr.state.talker.user == "a"
    [m] = tr.to("b")
    assert m.kind is Kind.QUEUED and m.position == 1 and m.talker == "a"
    assert tr.to("a") == []


def test_repeated_request_by_talker_confirms_grant() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.request(s, "a", 1)
    assert tr.state == s and kinds(tr, "a") == [Kind.GRANTED]


def test_repeated_request_while_queued_keeps_position() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "b", 1).state
    tr = fl.request(s, "b", 2)
    assert tr.state == s and tr.to("b")[0].position == 1


def test_queue_order_priority_then_arrival() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "b", 1).state      # prio 1
    tr = fl.request(s, "d", 2)           # prio 3 goes ahead of b
    assert [w.user for w in tr.state.queue] == ["d", "b"]
    assert tr.to("d")[0].position == 1
    assert [(m.kind, m.position) for m in tr.to("b")] == [(Kind.QUEUED, 2)]  # b told it moved
    s = fl.request(tr.state, "c", 3).state  # prio 5 first
    assert [w.user for w in s.queue] == ["c", "d", "b"]


def test_equal_priority_is_first_come_first_served() -> None:
    s = fl.request(group(), "d", 0).state
    s = fl.request(s, "b", 1).state
    s = fl.request(s, "a", 2).state
    assert [w.user for w in s.queue] == ["b", "a"]


def test_queue_full_is_denied() -> None:
    s = fl.request(group(), "a", 0).state
    for i, u in enumerate(("b", "c", "d")):
        s = fl.request(s, u, i).state
    tr = fl.request(s, "boss", 9)
    [m] = tr.to("boss")
    assert m.kind is Kind.DENIED and m.cause is Cause.QUEUE_FULL and tr.state == s


def test_queueing_off_denies() -> None:
    s = fl.request(group(config=FloorConfig(queueing=False)), "a", 0).state
    tr = fl.request(s, "c", 1)
    [m] = tr.to("c")
    assert m.kind is Kind.DENIED and m.cause is Cause.QUEUEING_OFF and m.talker == "a"


def test_release_grants_head_of_queue() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "b", 1).state
    s = fl.request(s, "c", 2).state
    tr = fl.release(s, "a", 50)
    assert tr.state.talker is not None and tr.state.talker.user == "c" and tr.state.talker.burst == 2
    assert kinds(tr, "c") == [Kind.GRANTED]
    assert [m.talker for m in tr.to("a")] == ["c"]
    assert [(m.kind, m.position) for m in tr.to("b")] == [(Kind.TAKEN, None), (Kind.QUEUED, 1)]
    assert [w.user for w in tr.state.queue] == ["b"]


def test_release_with_empty_queue_goes_idle() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.release(s, "a", 5)
    assert tr.state.phase is Phase.IDLE and tr.state.talker is None
    assert all(m.kind is Kind.IDLE and m.cause is Cause.RELEASED for m in tr.messages)
    assert set(tr.messages[0].recipients) == {"a", "b", "c", "d", "boss"}


def test_release_by_waiting_user_cancels_request() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "c", 1).state
    s = fl.request(s, "b", 2).state
    tr = fl.release(s, "c", 3)
    assert [w.user for w in tr.state.queue] == ["b"]
    assert [(m.kind, m.position) for m in tr.to("b")] == [(Kind.QUEUED, 1)]


def test_release_by_bystander_is_a_no_op() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.release(s, "b", 1)
    assert tr.state == s and tr.messages == ()


def test_emergency_preempts_talker_after_grace() -> None:
    s = fl.request(group(), "boss", 0).state           # highest ordinary priority
    tr = fl.request(s, "a", 10, emergency=True)
    assert tr.state.phase is Phase.REVOKING
    [rev] = tr.to("boss")
    assert rev.kind is Kind.REVOKED and rev.cause is Cause.PREEMPTED
    assert tr.to("a")[0].kind is Kind.QUEUED and tr.to("a")[0].position == 1
    fl.verify_talker(tr.state, "boss")                  # still talking during the grace period
    assert fl.tick(tr.state, 10 + 299).state == tr.state
    done = fl.tick(tr.state, 10 + 300)
    assert done.state.talker is not None and done.state.talker.user == "a" and done.state.talker.emergency
    assert done.to("a")[0].kind is Kind.GRANTED and done.to("a")[0].emergency
    assert [(m.kind, m.talker, m.emergency) for m in done.to("boss")] == [(Kind.TAKEN, "a", True)]
    with pytest.raises(FloorError):
        fl.verify_talker(done.state, "boss")


def test_preempted_talker_releasing_hands_floor_at_once() -> None:
    s = fl.request(group(), "c", 0).state
    s = fl.request(s, "b", 1).state
    s = fl.request(s, "d", 2, emergency=True).state
    tr = fl.release(s, "c", 3)
    assert tr.state.talker is not None and tr.state.talker.user == "d"
    assert [w.user for w in tr.state.queue] == ["b"]


def test_emergency_does_not_preempt_emergency() -> None:
    s = fl.request(group(), "a", 0, emergency=True).state
    tr = fl.request(s, "boss", 1, emergency=True)
    assert tr.state.phase is Phase.TAKEN and tr.to("a") == []
    assert tr.to("boss")[0].kind is Kind.QUEUED


def test_ordinary_higher_priority_queues_without_preempting() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.request(s, "boss", 1)
    assert tr.state.phase is Phase.TAKEN and tr.to("a") == []


def test_queued_user_escalating_to_emergency_preempts() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "c", 1).state
    s = fl.request(s, "b", 2).state
    tr = fl.request(s, "b", 3, emergency=True)
    assert [w.user for w in tr.state.queue] == ["b", "c"] and tr.state.phase is Phase.REVOKING
    assert [m.position for m in tr.to("c")] == [2]


def test_emergency_beats_full_queue() -> None:
    s = fl.request(group(), "a", 0).state
    for i, u in enumerate(("b", "c", "d")):
        s = fl.request(s, u, i).state
    tr = fl.request(s, "boss", 5, emergency=True)
    assert tr.state.queue[0].user == "boss" and tr.state.phase is Phase.REVOKING


def test_max_talk_time_revokes_then_frees() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "b", 1).state
    for t in range(0, 10_000, 500):
        s = fl.media(s, "a", t)
        assert fl.tick(s, t).messages == ()
    tr = fl.tick(s, 10_000)
    [m] = tr.messages
    assert m.kind is Kind.REVOKED and m.cause is Cause.MAX_TALK_TIME and m.recipients == ("a",)
    s = fl.media(tr.state, "a", 10_100)
    done = fl.tick(s, 10_300)
    assert done.state.talker is not None and done.state.talker.user == "b"


def test_talker_without_media_times_out_and_frees_floor() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.media(s, "a", 200)
    assert fl.tick(s, 1_199).messages == ()
    tr = fl.tick(s, 1_200)
    assert tr.state.phase is Phase.IDLE
    assert {m.cause for m in tr.messages} == {Cause.MEDIA_TIMEOUT}


def test_talker_disconnect_frees_floor_to_queue() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "b", 1).state
    tr = fl.leave(s, "a", 2)
    assert tr.state.talker is not None and tr.state.talker.user == "b"
    assert "a" not in tr.state.present and all("a" not in m.recipients for m in tr.messages)


def test_talker_disconnect_with_empty_queue_idles() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.leave(s, "a", 2)
    assert tr.state.phase is Phase.IDLE and {m.cause for m in tr.messages} == {Cause.LEFT}


def test_queued_user_disconnect_leaves_queue() -> None:
    s = fl.request(group(), "a", 0).state
    s = fl.request(s, "c", 1).state
    s = fl.request(s, "b", 2).state
    tr = fl.leave(s, "c", 3)
    assert [w.user for w in tr.state.queue] == ["b"] and tr.to("b")[0].position == 1


def test_late_joiner_gets_current_talk_burst() -> None:
    s = fl.request(group(present=("a", "b")), "a", 0).state
    tr = fl.join(s, "c", 5)
    [m] = tr.to("c")
    assert m.kind is Kind.STATUS and m.talker == "a" and m.burst == 1
    idle = fl.join(group(present=("a",)), "b", 0)
    assert idle.to("b")[0].talker is None


def test_late_joiner_then_receives_later_grants() -> None:
    s = fl.request(group(present=("a", "b")), "a", 0).state
    s = fl.join(s, "c", 5).state
    tr = fl.release(s, "a", 6)
    assert kinds(tr, "c") == [Kind.IDLE]


def test_non_member_and_absent_member_are_refused() -> None:
    s = group(present=("a",))
    with pytest.raises(FloorError):
        fl.request(s, "mallory", 0)
    with pytest.raises(FloorError):
        fl.join(s, "mallory", 0)
    with pytest.raises(FloorError):
        fl.request(s, "b", 0)  # member, not connected


def test_media_from_non_talker_is_refused() -> None:
    s = fl.request(group(), "a", 0).state
    with pytest.raises(FloorError):
        fl.media(s, "b", 1)
    with pytest.raises(FloorError):
        fl.media(group(), "a", 1)


def test_remove_member_talking_frees_floor_and_forbids_later_requests() -> None:
    s = fl.request(group(), "a", 0).state
    tr = fl.remove_member(s, "a", 1)
    assert tr.state.phase is Phase.IDLE and "a" not in tr.state.members
    with pytest.raises(FloorError):
        fl.request(tr.state, "a", 2)
    s2 = fl.join(fl.add_member(tr.state, "e", 2), "e", 3).state
    assert fl.request(s2, "e", 4).state.talker is not None


def test_invalid_config_and_priorities() -> None:
    with pytest.raises(ValueError):
        FloorConfig(max_talk_ms=0)
    with pytest.raises(ValueError):
        fl.new_talk_group("g", {"a": 256})
    with pytest.raises(ValueError):
        fl.add_member(group(), "x", -1)


def test_inputs_are_not_mutated_and_wire_form() -> None:
    s = group()
    before = (s.members.copy() if isinstance(s.members, dict) else dict(s.members), s.queue, s.present)
    tr = fl.request(s, "a", 0)
    assert (dict(s.members), s.queue, s.present) == before and s.phase is Phase.IDLE
    wire = tr.to("b")[0].to_wire("tg1")
    assert wire == {"v": 1, "type": "floor_taken", "group_id": "tg1", "talker": "a", "burst": 1}


OPS = st.lists(st.tuples(st.sampled_from(["req", "emg", "rel", "leave", "join", "media", "tick"]),
                         st.sampled_from(sorted(MEMBERS)), st.integers(0, 400)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_invariants_under_random_operations(ops: list[tuple[str, str, int]]) -> None:
    s = group()
    now = 0
    for op, user, dt in ops:
        now += dt
        try:
            if op == "req":
                tr = fl.request(s, user, now)
            elif op == "emg":
                tr = fl.request(s, user, now, emergency=True)
            elif op == "rel":
                tr = fl.release(s, user, now)
            elif op == "leave":
                tr = fl.leave(s, user, now)
            elif op == "join":
                tr = fl.join(s, user, now)
            elif op == "media":
                tr = fl.Transition(fl.media(s, user, now))
            else:
                tr = fl.tick(s, now)
        except FloorError:
            continue
        s = tr.state
        # one talker at most; the talker is never queued; queue sorted, no duplicates
        users = [w.user for w in s.queue]
        assert len(users) == len(set(users)) and len(users) <= CFG.queue_limit + 1
        assert s.talker is None or s.talker.user not in users
        assert users == [w.user for w in sorted(s.queue, key=lambda w: (-w.priority, w.arrival))]
        assert (s.talker is None) == (s.phase is Phase.IDLE)
        assert s.queue == () or s.talker is not None  # nobody waits on an idle floor
        for m in tr.messages:
            assert set(m.recipients) <= s.present | {user}
        grants = [m for m in tr.messages if m.kind is Kind.GRANTED]
        assert len(grants) <= 1
