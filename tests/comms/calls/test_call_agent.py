"""1:1 and group voice calls through the client library on loopback: signalling over the E2E
channel, tickets from the service, media through the relay in call mode."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest
from tests.comms.calls.call_helpers import call_stack, voice_like
from tests.comms.helpers import run

from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.calls.signalling import EndReason, SignallingError
from dunpai.comms.errors import DecryptionFailed
from dunpai.comms.media import codec
from dunpai.comms.media.sframe import HEADER_LEN, FrameOpener

PACE = 0.25
ADDRESS = re.compile(rb"127\.0\.0\.1|localhost|::1|\b\d{1,3}(\.\d{1,3}){3}\b")


def rms(pcm: codec.PCM) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def test_one_to_one_call_ring_accept_audio_mute_busy_hangup(tmp_path: Path) -> None:
    handled: list[tuple[str, int, str | bytes]] = []

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob", "carol"), lambda d, c, m: handled.append((d, c, m))) as st:
            a, b, c = (CallAgent(st.users[u]) for u in ("alice", "bob", "carol"))
            for ag in (a, b, c):
                await ag.start()
            try:
                say_a, say_b = voice_like(2.0, 140, 1), voice_like(2.0, 210, 2)
                call_id = await a.place("bob")
                inc = await b.wait_for("incoming")
                assert (inc.call_id, inc.who) == (call_id, "alice")
                await b.accept()
                await a.wait_for("connected")
                assert a.media is not None and b.media is not None
                await asyncio.gather(a.media.wait_present({"alice", "bob"}), b.media.wait_present({"alice", "bob"}))
                # carol rings bob during the call: busy, and bob's call goes on
                await c.place("bob")
                ended = await c.wait_for("ended")
                assert ended.reason is EndReason.BUSY
                assert any(e.kind == "busy_refused" and e.who == "carol" for e in b.history)
                # full duplex: both talk at once
                na, nb = await asyncio.gather(a.media.send_audio(say_a, pace=PACE),
                                              b.media.send_audio(say_b, pace=PACE))
                # bob mutes: alice is told, and bob's stream goes on as silence of the same size
                await b.mute(True)
                muted = await a.wait_for("muted")
                assert (muted.who, muted.muted) == ("bob", True)
                nm = await b.media.send_audio(say_b[: codec.SAMPLE_RATE // 2], pace=PACE)
                await asyncio.sleep(0.3)
                heard_by_a, heard_by_b = a.media.streams["bob"], b.media.streams["alice"]
                assert len(heard_by_b.audio) == na and len(heard_by_a.audio) == nb + nm
                await a.hangup()
                assert (await b.wait_for("ended")).reason is EndReason.REMOTE_HANGUP
                assert a.phone.call is None and b.phone.call is None and b.media is None
                # fidelity: what each heard is what the other said
                pcm_ab = heard_by_b.pcm()
                assert codec.similarity(say_a, pcm_ab) > 0.8
                pcm_ba = heard_by_a.pcm()
                assert codec.similarity(say_b, pcm_ba[: nb * codec.FRAME_SAMPLES]) > 0.8
                assert rms(pcm_ba[(nb + 5) * codec.FRAME_SAMPLES :]) < 0.02 * rms(say_b)
                assert {len(p) for p in heard_by_a.audio} == {60}  # CBR Opus, muted or not
            finally:
                for ag in (a, b, c):
                    await ag.stop()

    run(scenario(), timeout=60)
    media = [m for d, _, m in handled if d == "in" and isinstance(m, bytes)]
    assert media and {len(m) for m in media} == {92}
    assert not any(ADDRESS.search(m if isinstance(m, bytes) else m.encode()) for d, _, m in handled if d == "out")
    attempt = codec.decode_packets([m[HEADER_LEN:] for m in media[:100]])
    assert codec.similarity(voice_like(2.0, 140, 1), attempt) < 0.2


def test_reject_timeout_and_refusals(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob")) as st:
            a = CallAgent(st.users["alice"], ring_timeout_ms=600)
            b = CallAgent(st.users["bob"], ring_timeout_ms=600)
            for ag in (a, b):
                await ag.start()
            try:
                with pytest.raises(SignallingError, match="no incoming call"):
                    await b.accept()
                await a.place("bob")
                await b.wait_for("incoming")
                await b.reject()
                assert (await a.wait_for("ended")).reason is EndReason.REJECTED
                # nobody answers: the caller's ring times out, the callee's becomes missed
                await a.place("bob")
                await b.wait_for("incoming")
                assert (await a.wait_for("ended", timeout=5)).reason is EndReason.TIMEOUT
                assert (await b.wait_for("ended", timeout=5)).reason is EndReason.MISSED
                with pytest.raises(SignallingError, match="cannot call yourself"):
                    await a.place("alice")
            finally:
                for ag in (a, b):
                    await ag.stop()

    run(scenario(), timeout=60)


def test_group_call_join_leave_rekey_and_leaver_cannot_decrypt(tmp_path: Path) -> None:
    handled: list[tuple[str, int, str | bytes]] = []

    async def scenario() -> None:
        async with call_stack(tmp_path, ("alice", "bob", "carol"), lambda d, c, m: handled.append((d, c, m))) as st:
            await st.users["alice"].group_create("ops")
            for u in ("bob", "carol"):
                await st.users["alice"].group_add("ops", u)
            ag = {u: CallAgent(st.users[u]) for u in ("alice", "bob", "carol")}
            for x in ag.values():
                await x.start()
            try:
                for u in ("alice", "bob", "carol"):
                    await ag[u].join_group("ops", "weekly")
                    await asyncio.sleep(0.2)

                async def settled(roster: tuple[str, ...]) -> None:
                    while not all(ag[u].key is not None and ag[u].key.roster == roster for u in roster):
                        await asyncio.sleep(0.05)

                await asyncio.wait_for(settled(("alice", "bob", "carol")), 10)
                epochs = {ag[u].key.epoch for u in ag}  # type: ignore[union-attr]
                assert len(epochs) == 1
                medias = {u: ag[u].media for u in ag}
                assert all(m is not None for m in medias.values())
                await asyncio.gather(*(m.wait_present(set(ag)) for m in medias.values() if m))
                say = voice_like(1.5, 180, 3)
                await medias["alice"].send_audio(say, pace=PACE)  # type: ignore[union-attr]
                await asyncio.sleep(0.3)
                for u in ("bob", "carol"):
                    assert codec.similarity(say, medias[u].streams["alice"].pcm()) > 0.8  # type: ignore[union-attr]
                carol_media = medias["carol"]
                assert carol_media is not None
                carol_opener: FrameOpener = carol_media._opener  # every key carol ever held
                # carol leaves: a new key for alice and bob only, sent over Olm to them
                await ag["carol"].hangup()
                assert (await ag["alice"].wait_for("left")).who == "carol"
                await asyncio.wait_for(settled(("alice", "bob")), 10)
                new_epoch = ag["alice"].key.epoch  # type: ignore[union-attr]
                assert new_epoch > epochs.pop()
                assert ag["carol"].key is not None and ag["carol"].key.epoch < new_epoch
                mark = len(handled)
                later = voice_like(1.0, 160, 4)
                await medias["alice"].send_audio(later, pace=PACE)  # type: ignore[union-attr]
                await asyncio.sleep(0.3)
                assert codec.similarity(later, medias["bob"].streams["alice"].pcm()[-len(later) - 4800:]) > 0.8  # type: ignore[union-attr]
                after = [m for d, _, m in handled[mark:] if d == "in" and isinstance(m, bytes)]
                assert len(after) >= 40
                opened = 0
                for frame in after:
                    try:
                        carol_opener.open(frame)
                        opened += 1
                    except DecryptionFailed:
                        pass
                assert opened == 0  # everything alice sent after carol left is unreadable to her
            finally:
                for x in ag.values():
                    await x.stop()

    run(scenario(), timeout=90)


def test_group_call_of_three_from_wav_files(tmp_path: Path) -> None:
    """`dunpai comms call join` as a library call: three members, each says a WAV file, each hears
    the other two."""
    from dunpai.comms.calls.run import CallPlan, join_group_call

    names = ("alice", "bob", "carol")
    says = {u: voice_like(1.5, 120 + 50 * i, 20 + i) for i, u in enumerate(names)}
    reports = {}

    async def scenario() -> None:
        async with call_stack(tmp_path, names) as st:
            await st.users["alice"].group_create("ops")
            for u in ("bob", "carol"):
                await st.users["alice"].group_add("ops", u)
            for u in names:
                codec.write_wav(tmp_path / f"{u}.wav", says[u])

            async def member(u: str, delay: float) -> None:
                await asyncio.sleep(delay)
                plan = CallPlan(tmp_path / f"heard-{u}", wav=tmp_path / f"{u}.wav", seconds=4, pace=0.5,
                                expect=names)
                reports[u] = await join_group_call(st.users[u], "ops", "daily", plan)

            await asyncio.gather(*(member(u, 0.3 * i) for i, u in enumerate(names)))

    run(scenario(), timeout=90)
    for u in names:
        r = reports[u]
        assert r.outcome == "connected" and r.ended == "hangup"
        heard = {h["sender"]: h for h in r.heard}
        assert set(heard) == set(names) - {u}
        for sender, h in heard.items():
            assert codec.similarity(says[sender], codec.read_wav(Path(h["wav"]))) > 0.8, (u, sender)
