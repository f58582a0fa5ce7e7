"""The terminal client's calls and push-to-talk, driven with Textual's pilot against a real service
and relay on loopback; the other party uses the client library."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.calls.signalling import EndReason
from dunpai.comms.media import codec, sessions
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sound import sound_device_present
from dunpai.comms.tui import CommsApp
from dunpai.comms.tui_calls import AudioSettings, IncomingCall
from tests.comms.calls.call_helpers import call_stack, voice_like
from tests.comms.helpers import run

PACE = 0.25


async def until(pilot: Pilot[None], pred: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"not reached: {what}")


def prompted(app: CommsApp) -> bool:
    """The incoming-call prompt is up and laid out (its buttons can be clicked)."""
    screen = app.screen
    return isinstance(screen, IncomingCall) and screen.query_one("#accept").region.area > 0


def logged(app: CommsApp, text: str) -> bool:
    return any(text in line for line in app.query_one("#log").lines)  # type: ignore[attr-defined]


def callbar(app: CommsApp) -> str:
    return str(app.query_one("#callbar", Static).content)


async def command(pilot: Pilot[None], line: str) -> None:
    await pilot.click("#input")
    await pilot.press(*line, "enter")


def test_tui_places_a_call_answered_by_the_library_and_answers_one(tmp_path: Path) -> None:
    say_a, say_b = voice_like(1.5, 140, 21), voice_like(1.5, 220, 22)
    codec.write_wav(tmp_path / "a.wav", say_a)
    heard = tmp_path / "alice-heard"

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob")) as st:
            bob = CallAgent(st.users["bob"])
            await bob.start()
            app = CommsApp(st.users["alice"], connect=False,
                           audio=AudioSettings(wav=tmp_path / "a.wav", out_dir=heard, pace=PACE))
            try:
                async with app.run_test(size=(160, 40)) as pilot:
                    # alice calls bob from the terminal client; bob answers with the library
                    await command(pilot, "/call bob")
                    inc = await bob.wait_for("incoming")
                    assert inc.who == "alice"
                    await until(pilot, lambda: "呼叫中 / calling bob" in callbar(app), what="ringing shown")
                    await bob.accept()
                    assert bob.media is not None
                    await bob.media.wait_present({"alice", "bob"})
                    await until(pilot, lambda: "通话中 / in call bob" in callbar(app), what="in call shown")
                    nb = await bob.media.send_audio(say_b, pace=PACE)
                    want = len(say_a) // codec.FRAME_SAMPLES
                    media = bob.media
                    await until(pilot, lambda: "alice" in media.streams and len(media.streams["alice"].audio) >= want,
                                what="alice's audio")
                    # F4 mutes: bob is told
                    await pilot.press("f4")
                    muted = await bob.wait_for("muted")
                    assert (muted.who, muted.muted) == ("alice", True)
                    await until(pilot, lambda: "静音 / muted" in callbar(app), what="muted shown")
                    heard_by_bob = media.streams["alice"].pcm()
                    await bob.hangup()
                    assert (await bob.wait_for("ended")).reason is EndReason.HANGUP
                    await until(pilot, lambda: (heard / "bob.wav").is_file(), what="bob.wav written")
                    await until(pilot, lambda: logged(app, "对方已挂断 / the other side hung up"), what="ended")
                    assert codec.similarity(say_a, heard_by_bob) > 0.8
                    got = codec.read_wav(heard / "bob.wav")
                    assert codec.similarity(say_b, got[: nb * codec.FRAME_SAMPLES]) > 0.8
                    assert "无通话 / no call" in callbar(app)

                    # bob calls alice: the terminal client prompts; accept by click
                    await bob.place("alice")
                    await until(pilot, lambda: prompted(app), what="incoming prompt")
                    assert logged(app, "来电 / incoming call from bob")
                    await pilot.click("#accept")
                    assert (await bob.wait_for("connected")).who == "alice"
                    await until(pilot, lambda: not isinstance(app.screen, IncomingCall), what="prompt closed")
                    await bob.hangup()
                    assert (await bob.wait_for("ended")).reason is EndReason.HANGUP
                    await until(pilot, lambda: app.calls.agent.phone.call is None, what="call over")
                    # … and reject with the N key
                    await bob.place("alice")
                    await until(pilot, lambda: prompted(app), what="second prompt")
                    await pilot.press("n")
                    ended = await bob.wait_for("ended")
                    assert ended.reason is EndReason.REJECTED
                    # a ring the caller cancels closes the prompt
                    await bob.place("alice")
                    await until(pilot, lambda: prompted(app), what="third prompt")
                    await bob.hangup()
                    await until(pilot, lambda: not isinstance(app.screen, IncomingCall), what="cancelled ring")
            finally:
                await bob.stop()

    run(scenario(), timeout=90)


def test_tui_talk_group_floor_queue_grant_and_audio(tmp_path: Path) -> None:
    say_a, say_b = voice_like(1.5, 150, 23), voice_like(1.0, 230, 24)
    codec.write_wav(tmp_path / "a.wav", say_a)
    heard = tmp_path / "alice-heard"

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob")) as st:
            alice, bob = st.users["alice"], st.users["bob"]
            await alice.group_create("ops")
            await alice.group_add("ops", "bob")
            app = CommsApp(alice, connect=False, audio=AudioSettings(wav=tmp_path / "a.wav", out_dir=heard, pace=1.0))
            async with app.run_test(size=(160, 40)) as pilot:
                await command(pilot, "/ptt ops")
                await until(pilot, lambda: "对讲 / talk-group #ops · 话权 / floor: 空闲 / idle" in callbar(app),
                            what="joined")
                # bob takes the media key the terminal client sent over Megolm and holds the floor
                key = await sessions.wait_media_key(bob, "ops", 10)
                url, ticket = await sessions.relay_access(bob, "ops", None, None)
                bp = PttClient(url, ticket, key, "bob")
                await bp.connect()
                try:
                    await bp.request_floor()
                    await bp.expect("floor_granted")
                    await until(pilot, lambda: "floor: bob" in callbar(app), what="bob shown as talker")
                    # alice presses F2 while bob talks: queued, position shown
                    await pilot.press("f2")
                    await until(pilot, lambda: "排队第 1 位 / queue position 1" in callbar(app), what="queued")
                    await bp.talk(say_b, pace=PACE)
                    await bp.release_floor()
                    # the floor passes to alice: granted and shown; she says her WAV file and releases
                    await until(pilot, lambda: "floor: alice · 我在讲 / talking" in callbar(app), what="granted")
                    assert logged(app, "获得话权 / floor granted")
                    await bp.expect("floor_taken")
                    assert bp.talker == "alice"
                    await bp.expect("floor_idle", timeout=10)
                    await until(pilot, lambda: "floor: 空闲 / idle" in callbar(app), what="released")
                    await until(pilot, lambda: (heard / "ptt-ops-01-bob.wav").is_file(), what="bob's burst written")
                finally:
                    await bp.close()
                [burst] = [b for b in bp.bursts if b.talker == "alice"]
                assert codec.similarity(say_a, burst.pcm()) > 0.8
                got = codec.read_wav(heard / "ptt-ops-01-bob.wav")
                assert codec.similarity(say_b, got, max_lag=codec.SAMPLE_RATE) > 0.8
                if not sound_device_present():  # the microphone is refused at once, with the WAV alternative
                    await command(pilot, "/audio mic")
                    await until(pilot, lambda: logged(app, "no sound device for the microphone"), what="no mic")
                # without something to say, F2 asks for nothing and says why
                await command(pilot, "/audio none")
                await pilot.press("f2")
                await until(pilot, lambda: logged(app, "nothing to say"), what="no source refused")
                assert "我在讲" not in callbar(app) and "请求中" not in callbar(app)
                await command(pilot, "/leave")
                await until(pilot, lambda: app.calls.talkgroup is None, what="left")

    run(scenario(), timeout=90)


def test_tui_joins_a_group_call_and_hangs_up_with_f3(tmp_path: Path) -> None:
    say_a, say_b = voice_like(1.5, 130, 25), voice_like(1.5, 240, 26)
    codec.write_wav(tmp_path / "a.wav", say_a)
    heard = tmp_path / "alice-heard"

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob")) as st:
            await st.users["alice"].group_create("ops")
            await st.users["alice"].group_add("ops", "bob")
            bob = CallAgent(st.users["bob"])
            await bob.start()
            app = CommsApp(st.users["alice"], connect=False,
                           audio=AudioSettings(wav=tmp_path / "a.wav", out_dir=heard, pace=PACE))
            try:
                async with app.run_test(size=(160, 40)) as pilot:
                    # alice waits for bob (as --expect) before she talks
                    await command(pilot, "/join ops weekly bob")
                    await until(pilot, lambda: "通话中 / in call #ops" in callbar(app), what="in group call")
                    await bob.join_group("ops", "weekly")
                    assert bob.media is not None
                    media = bob.media
                    await media.wait_present({"alice", "bob"})
                    await until(pilot, lambda: bob.key is not None and bob.key.roster == ("alice", "bob"),
                                what="keyed")
                    await asyncio.sleep(0.3)
                    nb = await media.send_audio(say_b, pace=PACE)
                    want = len(say_a) // codec.FRAME_SAMPLES
                    await until(pilot, lambda: "alice" in media.streams and len(media.streams["alice"].audio) >= want,
                                what="alice's audio")
                    assert codec.similarity(say_a, media.streams["alice"].pcm()) > 0.8
                    await pilot.press("f3")
                    assert (await bob.wait_for("left")).who == "alice"
                    await until(pilot, lambda: (heard / "bob.wav").is_file(), what="bob.wav written")
                    got = codec.read_wav(heard / "bob.wav")
                    assert codec.similarity(say_b, got[-nb * codec.FRAME_SAMPLES:]) > 0.8
                    assert "无通话 / no call" in callbar(app)
            finally:
                await bob.stop()

    run(scenario(), timeout=90)
