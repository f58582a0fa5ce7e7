"""Calls and push-to-talk in the terminal client (终端客户端的通话与对讲).

Glue between the Textual app (:mod:`dunpai.comms.tui`) and the library, with no logic of its own:

* calls: :class:`~dunpai.comms.calls.agent.CallAgent` (signalling, keys, tickets, media) and the
  whole-call routine the CLI uses (:mod:`dunpai.comms.calls.run`): once connected, say the WAV file
  (or the microphone), then write what each other participant said as ``<user>.wav`` in the output
  directory (or play it on the speaker);
* talk-groups: relay access and group media keys from :mod:`dunpai.comms.media.sessions`, floor
  control and talk-bursts with :class:`~dunpai.comms.media.ptt_client.PttClient`; each burst heard
  is written as ``ptt-<group>-NN-<talker>.wav``.

A terminal reports key presses but not key releases, so push-to-talk is a toggle: F2 asks for the
floor, F2 again releases it (or leaves the queue); talking from a WAV file releases the floor when
the file ends, and a Floor Revoke (pre-emption, maximum talk time) stops the talk at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from dunpai.comms.calls import run as call_run
from dunpai.comms.calls import signalling as sg
from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.media import codec, sessions
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import MediaKey

CALL_HELP = ("/call 用户 · /answer · /reject · /hangup (F3) · /mute /unmute (F4) · /join 群 [通话ID [用户…]] · "
             "/ptt 群 · /talk (F2) · /emergency · /leave · /audio wav 路径|mic|none · /speaker on|off · "
             "/video 路径|none · /out 目录")

Say = Callable[[str], None]


@dataclass
class AudioSettings:
    """What calls and talk-bursts send and where what is heard goes (as the CLI's options)."""

    wav: Path | None = None           # say this WAV file (any rate, 16-bit)
    mic: bool = False                 # or the microphone
    speaker: bool = False             # play what is heard on the speaker (besides writing WAV files)
    video: Path | None = None         # send this video file: calls become video calls
    out_dir: Path = Path("call-heard")
    pace: float = 1.0                 # 1 = real time
    max_call_s: float = 3600.0        # a call is hung up after this long

    def plan(self) -> call_run.CallPlan:
        """The CLI's call plan (checks the files exist); the sound device is checked when chosen."""
        return call_run.CallPlan(self.out_dir, self.wav, self.video, self.mic, self.speaker, self.max_call_s,
                                 self.pace)


class IncomingCall(ModalScreen[bool | None]):
    """来电提示 / incoming-call prompt: accept (Y) or reject (N)."""

    DEFAULT_CSS = """
    IncomingCall { align: center middle; }
    #ring { width: 56; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
    #ring Horizontal { height: auto; margin-top: 1; }
    #ring Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [("y", "answer(True)", "接听 / accept"),
                                             ("n", "answer(False)", "拒接 / reject")]

    def __init__(self, caller: str, media: str) -> None:
        super().__init__()
        self.caller, self.media = caller, media

    def compose(self) -> ComposeResult:
        what = "视频 / video" if self.media == "video" else "语音 / voice"
        with Vertical(id="ring"):
            yield Static(f"来电 / incoming {what} call: [b]{self.caller}[/b]")
            with Horizontal():
                yield Button("接听 / accept (Y)", id="accept", variant="success")
                yield Button("拒接 / reject (N)", id="reject", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)


@dataclass
class TalkGroup:
    """This user on one talk-group: floor state as the relay reports it, and the talk-bursts."""

    group_id: str
    ptt: PttClient
    epoch: int
    audio: AudioSettings
    say: Say
    changed: Callable[[], None]
    holder: str | None = None          # who holds the floor (talker identity from the relay)
    position: int | None = None        # my queue position while waiting
    state: str = "idle"                # idle | requested | queued | talking
    written: int = 0                   # bursts already written to files
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _speaker: Any = None

    async def start(self) -> None:
        await self.ptt.connect()
        self.holder = self.ptt.talker
        if self.audio.speaker:
            from dunpai.comms.media.sound import Speaker

            self._speaker = Speaker()
            decoders: dict[str, codec.OpusDecoder] = {}

            def play(sender: str, _counter: int, packet: bytes) -> None:
                self._speaker.play(decoders.setdefault(sender, codec.OpusDecoder()).decode(packet))

            self.ptt.on_frame = play
        self._tasks.append(asyncio.create_task(self._read()))

    async def close(self) -> None:
        if self.state != "idle":
            with contextlib.suppress(CommsError, OSError):
                await self.release()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, CommsError, OSError):
                await t
        await self.ptt.close()
        if self._speaker is not None:
            self._speaker.close()
        self.write_bursts(final=True)

    def rekey(self, key: MediaKey) -> None:
        if key.epoch > self.epoch:
            self.ptt.rekey(key)
            self.epoch = key.epoch

    async def toggle(self, *, emergency: bool = False) -> None:
        """Ask for the floor, or release it (leave the queue) when already asked or talking."""
        if self.state != "idle":
            await self.release()
            return
        if self.audio.wav is None and not self.audio.mic:
            raise ValueError("没有要讲的声音 / nothing to say: /audio wav PATH or /audio mic")
        if self.audio.wav is not None and not self.audio.wav.is_file():
            raise ValueError(f"wav: {self.audio.wav} does not exist")
        self._stop.clear()
        await self.ptt.request_floor(emergency=emergency)
        self.state = "requested"
        self.changed()

    async def release(self) -> None:
        self._stop.set()
        self.state, self.position = "idle", None
        await self.ptt.release_floor()
        self.changed()

    async def _read(self) -> None:
        me = self.ptt.user
        while True:
            msg = await self.ptt.events.get()
            kind, talker = msg.get("type"), msg.get("talker")
            if kind == "floor_granted":
                self.holder, self.state, self.position = me, "talking", None
                self.say(f"#{self.group_id} 获得话权 / floor granted: 请讲 / talk")
                self._tasks = [t for t in self._tasks if not t.done()]
                self._tasks.append(asyncio.create_task(self._talk()))
            elif kind == "floor_queued":
                self.holder, self.state, self.position = talker, "queued", msg.get("position")
                self.say(f"#{self.group_id} 排队第 {self.position} 位 / queue position {self.position}")
            elif kind in ("floor_taken", "floor_status"):
                self.holder = talker
                if kind == "floor_taken":
                    self.say(f"#{self.group_id} {talker} 正在讲话 / is talking")
                if self.state == "talking" and talker != me:
                    self.state = "idle"
            elif kind == "floor_idle":
                self.holder = None
                self.write_bursts()
            elif kind == "floor_deny":
                self.state = "idle"
                self.say(f"#{self.group_id} 话权被拒 / floor denied ({msg.get('cause', '')})")
            elif kind == "floor_revoke":
                self._stop.set()
                self.say(f"#{self.group_id} 话权被收回 / floor revoked ({msg.get('cause', '')})")
            elif kind == "error":
                self.say(f"! #{self.group_id} {msg.get('message')}")
            self.changed()

    async def _talk(self) -> None:
        try:
            if self.audio.mic:
                from dunpai.comms.media.sound import microphone_frames

                enc = codec.OpusEncoder()
                async for frame in microphone_frames(self.audio.max_call_s):
                    if self._stop.is_set():
                        break
                    for sealed in self.ptt.seal_packets(enc.encode(frame)):
                        await self.ptt.send_frame(sealed)
            elif self.audio.wav is not None:
                await self.ptt.talk(codec.read_wav(self.audio.wav), pace=self.audio.pace, stop=self._stop)
        except (CommsError, OSError, ValueError) as exc:
            self.say(f"! #{self.group_id} {exc}")
        finally:
            if self.state == "talking":
                with contextlib.suppress(CommsError, OSError):
                    await self.release()
                self.say(f"#{self.group_id} 已释放话权 / floor released")

    def write_bursts(self, *, final: bool = False) -> None:
        """Write the finished talk-bursts heard (all of them when ``final``)."""
        bursts = self.ptt.bursts if final or self.holder is None else self.ptt.bursts[:-1]
        for i in range(self.written, len(bursts)):
            path = self.audio.out_dir / f"ptt-{self.group_id}-{i + 1:02d}-{bursts[i].talker}.wav"
            codec.write_wav(path, bursts[i].pcm())
            self.say(f"#{self.group_id} 收到 / heard {bursts[i].talker}: {path}")
        self.written = max(self.written, len(bursts))

    def status(self) -> str:
        floor = self.holder or "空闲 / idle"
        mine = {"requested": "请求中 / requesting", "talking": "我在讲 / talking",
                "queued": f"排队第 {self.position} 位 / queue position {self.position}"}.get(self.state, "")
        return f"对讲 / talk-group #{self.group_id} · 话权 / floor: {floor}" + (f" · {mine}" if mine else "")


class CallsController:
    """Calls and push-to-talk for one logged-in client; ``say`` writes a line in the app's log,
    ``changed`` redraws the status bar. Messages that are not call signalling go to ``show``."""

    def __init__(self, app: App[Any], client: CommsClient, audio: AudioSettings, *, say: Say,
                 show: Callable[[Received], None], changed: Callable[[], None], relay_url: str | None = None,
                 ring_timeout_ms: int = sg.RING_TIMEOUT_MS) -> None:
        self.app, self.client, self.audio = app, client, audio
        self.say, self.show, self.changed = say, show, changed
        self.relay_url = relay_url
        self.agent = CallAgent(client, relay_url=relay_url, ring_timeout_ms=ring_timeout_ms, on_other=self._other)
        self.talkgroup: TalkGroup | None = None
        self.group_keys: dict[str, MediaKey] = {}   # newest talk-group media key received, per group
        self.reports: list[call_run.CallReport] = []
        self._plan: call_run.CallPlan | None = None
        self._prompt: IncomingCall | None = None
        self._conversation: asyncio.Task[None] | None = None   # the current call's talk-and-record task
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.agent.start()
        self._spawn(self._events())

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, CommsError, OSError):
                await t
        if self.talkgroup is not None:
            await self.talkgroup.close()
        await self.agent.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await coro
            except (CommsError, OSError, ValueError) as exc:
                self.say(f"! {exc}")
            finally:
                self.changed()

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- commands -----------------------------------------------------------------------------------
    async def command(self, cmd: str, args: list[str]) -> bool:
        """Run a call or talk-group command; False when ``cmd`` is not one."""
        if cmd == "/call" and len(args) == 1:
            await self.place(args[0])
        elif cmd in ("/answer", "/reject") and not args:
            await self.answer(cmd == "/answer")
        elif cmd == "/hangup" and not args:
            await self.hangup()
        elif cmd in ("/mute", "/unmute") and not args:
            await self.mute(cmd == "/mute")
        elif cmd == "/join" and args:
            await self.join_call(args[0], args[1] if len(args) > 1 else "main", set(args[2:]))
        elif cmd == "/ptt" and len(args) == 1:
            await self.join_talkgroup(args[0])
        elif cmd in ("/talk", "/emergency") and not args:
            await self.toggle_talk(emergency=cmd == "/emergency")
        elif cmd == "/leave" and not args:
            await self.leave_talkgroup()
        elif cmd in ("/audio", "/speaker", "/video", "/out") and args:
            self.configure(cmd, args)
        else:
            return False
        self.changed()
        return True

    def configure(self, cmd: str, args: list[str]) -> None:
        from dunpai.comms.media.sound import require_sound_device

        a = self.audio
        if cmd == "/audio" and args == ["mic"]:
            require_sound_device("microphone")
            a.wav, a.mic = None, True
        elif cmd == "/audio" and args == ["none"]:
            a.wav, a.mic = None, False
        elif cmd == "/audio" and len(args) == 2 and args[0] == "wav":
            path = Path(args[1]).expanduser()
            if not path.is_file():
                raise ValueError(f"wav: {path} does not exist")
            a.wav, a.mic = path, False
        elif cmd == "/speaker" and args in (["on"], ["off"]):
            if args == ["on"]:
                require_sound_device("speaker")
            a.speaker = args == ["on"]
        elif cmd == "/video" and len(args) == 1:
            a.video = None if args == ["none"] else Path(args[0]).expanduser()
            if a.video is not None and not a.video.is_file():
                a.video = None
                raise ValueError(f"video: {args[0]} does not exist")
        elif cmd == "/out" and len(args) == 1:
            a.out_dir = Path(args[0]).expanduser()
        else:
            raise ValueError(CALL_HELP)
        source = f"WAV {a.wav}" if a.wav else "麦克风 / microphone" if a.mic else "无 / none"
        self.say(f"声音 / audio: {source}; 扬声器 / speaker: {'on' if a.speaker else 'off'}; "
                 f"视频 / video: {a.video or 'none'}; 输出 / out: {a.out_dir}")

    async def place(self, peer: str) -> None:
        plan = self.audio.plan()  # checked before anyone is rung
        self._plan = plan
        call_id = await self.agent.place(peer, media=plan.media)
        self.say(f"正在呼叫 / calling {peer} ({call_id}) …")

    async def answer(self, accept: bool) -> None:
        if self._prompt is not None and self.app.screen is self._prompt:
            self._prompt.dismiss(None)  # answered by command: close the prompt without answering twice
        self._prompt = None
        if accept:
            self._plan = self.audio.plan()
            await self.agent.accept()
        else:
            await self.agent.reject()
            self.say("已拒接 / rejected")

    async def hangup(self) -> None:
        if self.agent.phone.call is None:
            self.say("! 没有通话 / no call")
            return
        await self.agent.hangup()

    async def mute(self, muted: bool) -> None:
        if self.agent.phone.call is None:
            self.say("! 没有通话 / no call")
            return
        await self.agent.mute(muted)
        self.say("已静音 / muted" if muted else "已取消静音 / unmuted")

    async def toggle_mute(self) -> None:
        call = self.agent.phone.call
        await self.mute(not (call is not None and call.muted))

    async def join_call(self, group_id: str, call_id: str, expect: set[str]) -> None:
        """Join (or start) a group call; talk once the ``expect``-ed participants are there (as the
        CLI's ``--expect``), stay until /hangup."""
        plan = self.audio.plan()
        await self.agent.join_group(group_id, call_id, media=plan.media)
        self.say(f"已加入群通话 / joined group call #{group_id} ({call_id})")
        self._conversation = self._spawn(self._converse(expect - {self.client.user}, plan))

    async def join_talkgroup(self, group_id: str) -> None:
        if self.talkgroup is not None:
            await self.leave_talkgroup()
        url, ticket = await sessions.relay_access(self.client, group_id, self.relay_url, None)
        key = self.group_keys.get(group_id)
        info = await self.client.group_info(group_id)
        if key is None or sorted(key.roster) != sorted(str(m["user"]) for m in info["members"]):
            # no key yet, or members changed since: a fresh key for the current members (as `ptt talk`)
            key = await sessions.new_group_key(self.client, group_id, os.urandom, time.time())
            self.group_keys[group_id] = key
        tg = TalkGroup(group_id, PttClient(url, ticket, key, self.client.user), key.epoch, self.audio, self.say,
                       self.changed)
        await tg.start()
        self.talkgroup = tg
        self.say(f"已加入对讲组 / joined talk-group #{group_id} — F2 讲话 / to talk")

    async def toggle_talk(self, *, emergency: bool = False) -> None:
        if self.talkgroup is None:
            raise ValueError("先加入对讲组 / join a talk-group first: /ptt GROUP")
        await self.talkgroup.toggle(emergency=emergency)

    async def leave_talkgroup(self) -> None:
        tg, self.talkgroup = self.talkgroup, None
        if tg is not None:
            await tg.close()
            self.say(f"已离开对讲组 / left talk-group #{tg.group_id}")

    # -- what arrives -------------------------------------------------------------------------------
    def _other(self, m: Received) -> None:
        if m.kind == "media_key" and m.group_id is not None and m.content is not None:
            key = MediaKey.from_content(m.content)
            known = self.group_keys.get(m.group_id)
            if key.group_id == m.group_id and (known is None or key.epoch >= known.epoch):
                self.group_keys[m.group_id] = key
                if self.talkgroup is not None and self.talkgroup.group_id == m.group_id:
                    self.talkgroup.rekey(key)
            return
        self.show(m)

    async def _events(self) -> None:
        while True:
            ev = await self.agent.events.get()
            self._on_event(ev)
            self.changed()

    def _on_event(self, ev: sg.Event) -> None:
        call = self.agent.phone.call
        if ev.kind == "incoming":
            media = call.media if call is not None else "audio"
            self.say(f"来电 / incoming call from {ev.who} — /answer 或 / or /reject")
            self._prompt = IncomingCall(str(ev.who), media)
            self.app.push_screen(self._prompt, self._prompted)
        elif ev.kind == "connected":
            self.say(f"已接通 / connected with {ev.who}")
            plan, self._plan = self._plan or self.audio.plan(), None
            self._conversation = self._spawn(self._converse({str(ev.who)}, plan))
        elif ev.kind == "ended":
            labels = {"hangup": "已挂断 / hung up", "remote_hangup": "对方已挂断 / the other side hung up",
                      "rejected": "被拒绝 / rejected", "busy": "对方忙 / busy",
                      "timeout": "无人接听 / no answer", "missed": "未接来电 / missed call"}
            self.say(f"通话结束 / call ended: {labels.get(str(ev.reason), str(ev.reason))}")
            if self._conversation is not None:
                # the call is over: stop its routine now (it writes what was heard), so that it can
                # never hang up a call that arrives later
                self._conversation.cancel()
                self._conversation = None
            if self._prompt is not None and self.app.screen is self._prompt:
                self._prompt.dismiss(None)
            self._prompt = None
        elif ev.kind == "muted":
            self.say(f"{ev.who} {'已静音 / muted' if ev.muted else '取消静音 / unmuted'}")
        elif ev.kind in ("joined", "left") and ev.who != self.client.user:
            self.say(f"{ev.who} {'加入 / joined' if ev.kind == 'joined' else '离开 / left'}")
        elif ev.kind == "busy_refused":
            self.say(f"{ev.who} 来电，忙线 / called while you were busy")

    def _prompted(self, accept: bool | None) -> None:
        self._prompt = None
        if accept is not None:
            self._spawn(self.answer(accept))

    async def _converse(self, peers: set[str], plan: call_run.CallPlan) -> None:
        """The CLI's call routine: talk, stay until hung up, write what was heard."""
        report = call_run.CallReport("connected", self.agent.phone.call.call_id if self.agent.phone.call else None)
        try:
            await call_run.converse(self.agent, plan, peers, report)
        finally:
            self.reports.append(report)
            for h in report.heard:
                files = " ".join(str(h[k]) for k in ("wav", "mkv") if k in h)
                self.say(f"收到 / heard {h['sender']}: {h['audio_frames']} audio frames {files}")

    def status(self) -> str:
        parts = []
        call = self.agent.phone.call
        if call is not None:
            who = f"#{call.group_id}" if call.group_id else str(call.peer)
            phase = {sg.CallPhase.RINGING_OUT: "呼叫中 / calling", sg.CallPhase.RINGING_IN: "来电 / incoming",
                     sg.CallPhase.ACTIVE: "通话中 / in call"}[call.phase]
            parts.append(f"{phase} {who}" + (" · 静音 / muted" if call.muted else ""))
        if self.talkgroup is not None:
            parts.append(self.talkgroup.status())
        return " | ".join(parts) or "无通话 / no call"
