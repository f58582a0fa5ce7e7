"""Push-to-talk and calls from the command line: ``ptt ticket|talk|listen``, ``call place|answer|join``."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from dunpai.cli.common import console, new_app, settings
from dunpai.cli.comms.common import ConfigOpt, HomeOpt, RelayTicket, RelayUrl, device_settings, session, show
from dunpai.cli.comms.service import relay_secret_or_exit
from dunpai.comms.client import group_meta
from dunpai.comms.client.client import CommsClient
from dunpai.core.config import secret

ptt_app = new_app("对讲 / push-to-talk")
call_app = new_app("语音/视频通话 / voice and video calls")


def _operator_ticket(home: Path | None) -> str | None:
    """A relay ticket an operator handed out (DUNPAI_RELAY_TICKET), if any."""
    return secret(device_settings(home).comms.device.relay_ticket)


GroupArg = Annotated[str, typer.Argument(help="对讲组名称（本设备已知）或编号 / talk-group name (known on this "
                                                 "device) or id")]


def ptt_ticket(group_id: GroupArg, user: Annotated[str, typer.Argument(help="用户 / user")],
               priority: int = typer.Option(1, help="优先级 0–255 / priority"),
               ttl_hours: float = typer.Option(12.0, help="有效小时数 / valid for hours"),
               config: ConfigOpt = None,
               ) -> None:
    """签发中继入场券（运维，无服务时） / issue a relay ticket by hand (operator; the service issues them
    to members when it has the relay secret)."""
    from dunpai.comms.media.relay_ticket import Ticket, issue_ticket

    if not 0 <= priority <= 255:
        console.print("[red]错误 / error[/red] priority 0–255")
        raise typer.Exit(2)
    expires = int(time.time() * 1000 + ttl_hours * 3_600_000)
    key = relay_secret_or_exit(secret(settings(config).comms.service.relay_secret))
    typer.echo(issue_ticket(key, Ticket(group_id, user, priority, expires)))


def ptt_talk(group_id: GroupArg, wav: Annotated[Path, typer.Argument(help="WAV 文件 / WAV file")],
             relay: RelayUrl = None, ticket: RelayTicket = None,
             new_key: bool = typer.Option(False, "--new-key", help="总是生成并端到端分发新媒体密钥（成员变化时自动） / "
                                                                   "always make and send a new media key (automatic "
                                                                   "when members changed)"),
             emergency: bool = typer.Option(False, help="紧急呼叫（抢占） / emergency (pre-empts)"),
             wait: float = typer.Option(2.0, help="等待已有媒体密钥秒数 / seconds to wait for an existing media key"),
             home: HomeOpt = None) -> None:
    """按下通话：把 WAV 文件讲给对讲组 / push to talk: speak a WAV file to the talk-group."""
    from dunpai.comms.media import sessions

    if not wav.is_file():
        raise typer.BadParameter(f"{wav} does not exist", param_hint="WAV")

    async def action(c: CommsClient) -> sessions.TalkReport:
        group = await group_meta.find(c, group_id)  # its name on this device, or its id
        url, tk = await sessions.relay_access(c, group, relay, ticket or _operator_ticket(home))
        key = await sessions.key_for_talking(c, group, wait_s=wait, random_bytes=os.urandom, now_s=time.time(),
                                             force_new=new_key, on_other=show)
        return await sessions.talk_wav(c, key, url, tk, wav, emergency=emergency)

    r = session(home, action)
    cut = "，被抢占 / revoked" if r.revoked else ""
    console.print(f"已发送 / sent {r.frames} frames ({r.seconds:.2f} s), epoch {r.epoch}{cut}")


def ptt_listen(group_id: GroupArg, relay: RelayUrl = None, ticket: RelayTicket = None,
               out_dir: Annotated[Path, typer.Option(help="WAV 输出目录 / WAV output directory")] = Path("ptt-heard"),
               seconds: float = typer.Option(30.0, help="收听秒数 / seconds to listen"),
               wait: float = typer.Option(10.0, help="等待媒体密钥秒数 / seconds to wait for the media key"),
               home: HomeOpt = None) -> None:
    """收听对讲组，每段讲话写成 WAV / listen to the talk-group, one WAV per talk-burst."""
    from dunpai.comms.media import sessions

    async def action(c: CommsClient) -> list[Path]:
        group = await group_meta.find(c, group_id)
        url, tk = await sessions.relay_access(c, group, relay, ticket or _operator_ticket(home))
        key = await sessions.wait_media_key(c, group, wait, show)
        return await sessions.listen_wav(c, key, url, tk, out_dir, seconds)

    for p in session(home, action):
        console.print(f"收到 / heard: {p}")


CallWav = Annotated[Path | None, typer.Option("--wav", help="要讲的 WAV 文件 / WAV file to say")]
CallVideo = Annotated[Path | None, typer.Option("--video", help="要发送的视频文件（视频通话） / video file to send "
                                                                "(makes it a video call)")]
CallOut = Annotated[Path, typer.Option("--out-dir", help="收到的音视频输出目录 / where to write what was heard "
                                                         "(<user>.wav, <user>.mkv)")]
CallSeconds = Annotated[float, typer.Option("--seconds", help="通话最长秒数 / longest call duration (s)")]
CallPace = Annotated[float, typer.Option("--pace", help="发送节奏，1 = 实时 / send pacing, 1 = real time")]
CallMuted = Annotated[bool, typer.Option("--muted", help="静音加入（发送静音帧） / start muted (sends silence)")]
CallMic = Annotated[bool, typer.Option("--mic", help="用麦克风代替 WAV / use the microphone instead of a WAV file")]
CallSpeaker = Annotated[bool, typer.Option("--speaker", help="用扬声器播放 / play what is heard on the speaker")]


def _plan(out_dir: Path, wav: Path | None, video_in: Path | None, mic: bool, speaker: bool, seconds: float,
          pace: float, muted: bool, expect: tuple[str, ...] = ()) -> Any:
    from dunpai.comms.calls.run import CallPlan
    from dunpai.comms.media.sound import NoSoundDevice, require_sound_device

    try:
        plan = CallPlan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted, expect=expect)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:  # before logging in or ringing anyone
        for wanted, what in ((mic, "microphone"), (speaker, "speaker")):
            if wanted:
                require_sound_device(what)
    except NoSoundDevice as exc:
        console.print(f"[red]错误 / error[/red] {escape(f'[{exc.code}]')} 没有声音设备 / {escape(exc.message)}")
        raise typer.Exit(2) from exc
    return plan


def _call_report(r: Any) -> None:
    from dunpai.comms.calls.run import CallReport

    assert isinstance(r, CallReport)
    labels = {"connected": "已接通 / connected", "rejected": "被拒绝 / rejected", "busy": "对方忙 / busy",
              "timeout": "无人接听 / no answer (timeout)", "missed": "未接 / missed", "no_call": "没有来电 / no call"}
    console.print(f"{labels.get(r.outcome, r.outcome)} {r.call_id or ''}")
    if r.outcome != "connected":
        return
    console.print(f"已发送 / sent {r.sent_audio_frames} audio, {r.sent_video_frames} video frames; "
                  f"结束 / ended: {r.ended}")
    for h in r.heard:
        files = " ".join(str(h[k]) for k in ("wav", "mkv") if k in h)
        console.print(f"  收到 / heard {h['sender']}: {h['audio_frames']} audio, {h.get('video_frames', 0)} video "
                      f"frames {files}")


def call_place(peer: Annotated[str, typer.Argument(help="对方用户 / the user to call")],
               wav: CallWav = None, video_in: CallVideo = None,
               out_dir: CallOut = Path("call-heard"), seconds: CallSeconds = 60.0, pace: CallPace = 1.0,
               muted: CallMuted = False, mic: CallMic = False, speaker: CallSpeaker = False,
               ring_timeout: Annotated[float, typer.Option(help="振铃超时秒数 / ring timeout (s)")] = 30.0,
               relay: RelayUrl = None, home: HomeOpt = None) -> None:
    """拨打一对一通话 / place a 1:1 call (voice; video with --video)."""
    from dunpai.comms.calls.run import place_call

    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted)
    if not 1 <= ring_timeout <= 300:
        raise typer.BadParameter("1 … 300", param_hint="--ring-timeout")
    _call_report(session(home, lambda c: place_call(c, peer, plan, ring_timeout_s=ring_timeout,
                                                                      relay_url=relay, on_other=show)))


def call_answer(wav: CallWav = None, video_in: CallVideo = None, out_dir: CallOut = Path("call-heard"),
                seconds: CallSeconds = 60.0, pace: CallPace = 1.0, muted: CallMuted = False, mic: CallMic = False,
                speaker: CallSpeaker = False,
                wait: Annotated[float, typer.Option(help="等待来电秒数 / seconds to wait for a call")] = 30.0,
                reject: Annotated[bool, typer.Option(help="拒接 / reject the call")] = False,
                relay: RelayUrl = None, home: HomeOpt = None) -> None:
    """等待并接听（或拒接）来电 / wait for a call and answer (or reject) it."""
    from dunpai.comms.calls.run import answer_call

    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted)
    if not 0 < wait <= 3600:
        raise typer.BadParameter("(0, 3600]", param_hint="--wait")
    _call_report(session(home, lambda c: answer_call(c, plan, wait_s=wait, reject=reject,
                                                                       relay_url=relay, on_other=show)))


def call_join(group_id: Annotated[str, typer.Argument(help="群组名称或编号 / group name or id")],
              call_id: Annotated[str, typer.Option(help="群通话标识 / group call id")] = "main",
              wav: CallWav = None, video_in: CallVideo = None, out_dir: CallOut = Path("call-heard"),
              seconds: CallSeconds = 60.0, pace: CallPace = 1.0, muted: CallMuted = False, mic: CallMic = False,
              speaker: CallSpeaker = False, relay: RelayUrl = None,
              expect: Annotated[list[str] | None, typer.Option(help="先等这些参与者加入再讲（可重复） / wait for "
                                                                    "these participants before talking "
                                                                    "(repeatable)")] = None,
              home: HomeOpt = None) -> None:
    """加入（或发起）群组通话，--seconds 后离开 / join (or start) a group call; leave after --seconds."""
    from dunpai.comms.calls.run import join_group_call

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", call_id):
        raise typer.BadParameter("letters, digits, _ . - (≤ 64)", param_hint="--call-id")
    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted, tuple(expect or ()))
    async def action(c: CommsClient) -> Any:
        return await join_group_call(c, await group_meta.find(c, group_id), call_id, plan, relay_url=relay,
                                     on_other=show)

    _call_report(session(home, action))


ptt_app.command("ticket")(ptt_ticket)
ptt_app.command("talk")(ptt_talk)
ptt_app.command("listen")(ptt_listen)
call_app.command("place")(call_place)
call_app.command("answer")(call_answer)
call_app.command("join")(call_join)
