"""`dunpai comms`: run the service, enrol devices, verify contacts, send and receive, groups, files,
and the demo. Mounted by the main CLI; also runnable as ``python -m dunpai.comms.cli``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.client.home import DeviceConfig, new_client, open_client
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol.attachments import FileKey

app = typer.Typer(help="P2SC 端到端加密通信 / P2SC end-to-end encrypted communication", no_args_is_help=True)
group_app = typer.Typer(help="群组 / groups", no_args_is_help=True)
app.add_typer(group_app, name="group")
console = Console()
T = TypeVar("T")

DEFAULT_DB = "sqlite:///.dunpai/comms.db"
Home = Annotated[Path, typer.Option("--home", envvar="DUNPAI_COMMS_HOME",
                                    help="设备目录 / device directory")]
DEFAULT_HOME = Path(".dunpai/comms-device")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except CommsError as exc:  # escape: "[code]" is not Rich markup
        console.print(f"[red]错误 / error[/red] {escape(f'[{exc.code}] {exc.message}')}")
        raise typer.Exit(2) from exc


async def _with_client(home: Path, action: Callable[[CommsClient], Awaitable[T]]) -> T:
    client = open_client(home)
    await client.connect()
    try:
        await client.login()
        return await action(client)
    finally:
        await client.close()


def _show(m: Received) -> None:
    where = f"#{m.group_id} " if m.group_id else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.sent_at / 1000))
    if m.kind == "text":
        console.print(f"[dim]{when}[/dim] {where}[bold]{m.sender}[/bold]/{m.sender_device}: {m.text}")
    elif m.file is not None:
        console.print(f"[dim]{when}[/dim] {where}[bold]{m.sender}[/bold]: 文件 / file {m.file.name} "
                      f"({m.file.size} bytes) — dunpai comms fetch-file {m.mid}")


@app.command()
def serve(db: str = typer.Option(DEFAULT_DB, envvar="DUNPAI_COMMS_DB", help="数据库 / database URL"),
          host: str = "127.0.0.1", port: int = 8765,
          tls_cert: Annotated[Path | None, typer.Option(help="TLS 证书 / certificate (PEM)")] = None,
          tls_key: Annotated[Path | None, typer.Option(help="TLS 私钥 / private key (PEM)")] = None,
          log: Annotated[Path | None, typer.Option(help="日志文件 / log file")] = None,
          schema: str | None = typer.Option(None, help="PostgreSQL schema"),
          relay_url: Annotated[str | None, typer.Option(help="告知客户端的媒体中继地址 / media relay URL told to "
                                                              "clients")] = None,
          relay_key_env: Annotated[str, typer.Option(help="中继密钥环境变量；设置后签发中继入场券 / variable "
                                                          "holding the relay secret; when set, the service issues "
                                                          "relay tickets")] = "DUNPAI_RELAY_SECRET",
          relay_ticket_ttl: Annotated[int, typer.Option(help="入场券有效秒数 / relay ticket lifetime (s)")] = 600,
          ) -> None:
    """运行通信服务 / run the comms service."""
    import os
    import ssl

    from dunpai.comms.local import attach_log, start_service
    from dunpai.comms.media.ticketing import RelayPolicy
    from dunpai.comms.server.service import ServiceConfig

    config = None
    if os.environ.get(relay_key_env):
        if not 1 <= relay_ticket_ttl <= 86_400:
            raise typer.BadParameter("1 … 86400", param_hint="--relay-ticket-ttl")
        config = ServiceConfig(relay=RelayPolicy(_relay_key(relay_key_env), url=relay_url, ttl_s=relay_ticket_ttl))

    ctx = None
    if tls_cert and tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(tls_cert, tls_key)
    if log:
        attach_log(log)
    if db.startswith("sqlite:///"):
        Path(db[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        svc = await start_service(db, host=host, port=port, ssl_context=ctx, schema=schema, config=config)
        console.print(f"服务运行中 / serving on {svc.url} (Ctrl-C 停止 / to stop)")
        if config is None:
            console.print(f"未设置 {relay_key_env}：不签发中继入场券 / {relay_key_env} not set: no relay tickets")
        try:
            await asyncio.Event().wait()
        finally:
            await svc.stop()

    with contextlib.suppress(KeyboardInterrupt):
        _run(main)


@app.command()
def invite(db: str = typer.Option(DEFAULT_DB, envvar="DUNPAI_COMMS_DB"), count: int = 1,
           schema: str | None = None) -> None:
    """生成一次性邀请码（在服务端运行） / create single-use invite codes (run on the service host)."""
    from dunpai.comms.server.service import CommsService
    from dunpai.comms.server.store import SqlStore

    if db.startswith("sqlite:///"):
        Path(db[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    store = SqlStore.open(db, time.time(), schema)
    service = CommsService(store, time.time)
    for _ in range(count):
        console.print(service.create_invite())
    store.close()


@app.command()
def register(server: Annotated[str, typer.Option(help="服务地址 / service URL, e.g. wss://host:8765")],
             user: Annotated[str, typer.Option(help="用户名 / user id")],
             invite_code: Annotated[str | None, typer.Option("--invite", help="邀请码 / invite code")] = None,
             device: str = "d1", home: Home = DEFAULT_HOME,
             pkcs11_module: str | None = typer.Option(None, help="PKCS#11 模块 / module (key chip)"),
             token_label: str | None = None) -> None:
    """用邀请码注册本设备 / enrol this device (a new user needs an invite code)."""
    cfg = DeviceConfig(server, user, device, "pkcs11" if pkcs11_module else "software", pkcs11_module, token_label)
    client = new_client(home, cfg)

    async def main() -> None:
        await client.connect()
        try:
            await client.register(invite_code)
        finally:
            await client.close()

    _run(main)
    console.print(f"已注册 / registered {user}/{device}")


@app.command()
def verify(contact: str, code: str | None = typer.Option(None, help="对方念出的安全码 / their safety number"),
           home: Home = DEFAULT_HOME) -> None:
    """显示或核对安全码 / show, or confirm, the safety number with a contact."""

    async def action(c: CommsClient) -> None:
        number, qr = await c.safety_number(contact)
        if code is None:
            console.print(f"安全码 / safety number ({c.user} ⇄ {contact}):\n[bold]{number}[/bold]")
            console.print(f"二维码内容 / QR payload: {qr}")
        else:
            await c.mark_verified(contact, code)
            console.print(f"[green]已验证 / verified[/green] {contact}")

    _run(lambda: _with_client(home, action))


@app.command()
def send(text: str, to: str | None = typer.Option(None, help="收件人 / recipient user"),
         group: str | None = typer.Option(None, help="群组 / group id"), home: Home = DEFAULT_HOME) -> None:
    """发送消息 / send a message."""
    if (to is None) == (group is None):
        raise typer.BadParameter("give exactly one of --to / --group")

    async def action(c: CommsClient) -> str:
        return await (c.group_send_text(group, text) if group else c.send_text(str(to), text))

    console.print(f"已发送 / sent {_run(lambda: _with_client(home, action))}")


@app.command()
def receive(wait: float = typer.Option(2.0, help="等待秒数 / seconds to wait"),
            as_json: bool = typer.Option(False, "--json"), home: Home = DEFAULT_HOME) -> None:
    """接收并显示消息 / receive and show messages."""

    async def action(c: CommsClient) -> list[Received]:
        got = []
        while True:
            try:
                got.append(await c.receive(wait))
            except TimeoutError:
                return got

    messages = _run(lambda: _with_client(home, action))
    if as_json:
        print(json.dumps([{"kind": m.kind, "sender": m.sender, "device": m.sender_device, "group": m.group_id,
                           "mid": m.mid, "text": m.text, "file": m.file.name if m.file else None}
                          for m in messages], ensure_ascii=False))
        return
    for m in messages:
        _show(m)
    if not messages:
        console.print("没有新消息 / no new messages")


@app.command("send-file")
def send_file(path: Path, to: str | None = typer.Option(None), group: str | None = typer.Option(None),
              keep_metadata: bool = typer.Option(False, help="保留照片位置等元数据 / keep location metadata"),
              home: Home = DEFAULT_HOME) -> None:
    """加密发送文件（照片/视频先去除位置信息） / send a file encrypted (photos/videos: location removed)."""
    if (to is None) == (group is None):
        raise typer.BadParameter("give exactly one of --to / --group")
    data = path.read_bytes()

    async def action(c: CommsClient) -> FileKey:
        ref = await c.upload_file(data, path.name, "application/octet-stream", strip=not keep_metadata)
        await (c.group_send_content(group, ref.to_content()) if group else c.send_content(str(to), ref.to_content()))
        return ref

    ref = _run(lambda: _with_client(home, action))
    console.print(f"已发送 / sent {path.name}: {ref.size} bytes in {ref.chunks} chunk(s)")


@app.command("fetch-file")
def fetch_file(mid: str, out: Annotated[Path, typer.Option(help="保存到 / save to")],
               home: Home = DEFAULT_HOME) -> None:
    """下载并校验收到的文件 / download, check and decrypt a received file."""

    async def action(c: CommsClient) -> bytes:
        content = c.state.files.get(mid)
        if content is None:
            raise CommsError(f"no received file with message id {mid}; run `receive` first")
        return await c.fetch_file(FileKey.from_content(content))

    data = _run(lambda: _with_client(home, action))
    out.write_bytes(data)
    console.print(f"已保存 / saved {out} ({len(data)} bytes, 完整性已校验 / integrity checked)")


@app.command()
def revoke(device: str, home: Home = DEFAULT_HOME) -> None:
    """吊销本用户的一台设备（如丢失的手机） / revoke one of your devices (e.g. a lost phone)."""
    _run(lambda: _with_client(home, lambda c: c.revoke_device(device)))
    console.print(f"已吊销 / revoked {device}")


def _group(home: Path, fn: Callable[[CommsClient], Awaitable[Any]]) -> Any:
    return _run(lambda: _with_client(home, fn))


@group_app.command("create")
def group_create(group_id: str, home: Home = DEFAULT_HOME) -> None:
    """创建群组 / create a group."""
    _group(home, lambda c: c.group_create(group_id))
    console.print(f"已创建 / created {group_id}")


@group_app.command("add")
def group_add(group_id: str, user: str, role: str = "member", home: Home = DEFAULT_HOME) -> None:
    """邀请成员 / add a member (owner/admin)."""
    _group(home, lambda c: c.group_add(group_id, user, role))
    console.print(f"已加入 / added {user}")


@group_app.command("remove")
def group_remove(group_id: str, user: str, home: Home = DEFAULT_HOME) -> None:
    """移除成员（之后的消息对其不可读） / remove a member (later messages are unreadable to them)."""
    _group(home, lambda c: c.group_remove(group_id, user))
    console.print(f"已移除 / removed {user}")


@group_app.command("role")
def group_role(group_id: str, user: str, role: str, home: Home = DEFAULT_HOME) -> None:
    """设置角色 / set a member's role (owner only)."""
    _group(home, lambda c: c.group_role(group_id, user, role))


@group_app.command("info")
def group_info(group_id: str, home: Home = DEFAULT_HOME) -> None:
    """群组成员 / group members."""
    info = _group(home, lambda c: c.group_info(group_id))
    for m in info["members"]:
        console.print(f"{m['user']}  {m['role']}")


@group_app.command("list")
def group_list(home: Home = DEFAULT_HOME) -> None:
    """我的群组 / my groups."""
    for g in _group(home, lambda c: c.group_list()):
        console.print(g)


@app.command()
def demo(json_path: Annotated[Path | None, typer.Option("--json", help="写出结果 / write the result as JSON")] = None,
         workdir: Annotated[Path, typer.Option(help="演示数据目录 / demo directory")] = Path(".dunpai/comms-demo"),
         ) -> None:
    """演示：三位用户、群组、带 GPS 的照片、移除成员 / demo on loopback with three users."""
    from dunpai.comms.demo import main

    result = main(json_path, workdir, say=console.print)
    console.print("\n[bold]服务端数据库里只有这些 / what the service's database holds:[/bold]")
    for table, info in result.server_tables.items():
        console.print(f"  {table}: {info['rows']} rows")
        for row in info["sample"][:1]:
            console.print(f"    {row}")
    if json_path:
        console.print(f"结果 / result: {json_path}")


@app.command()
def tui(home: Home = DEFAULT_HOME) -> None:
    """终端客户端 / terminal client (Textual)."""
    from dunpai.comms.tui import run_tui

    run_tui(open_client(home))


@app.command()
def deploy(directory: Annotated[Path, typer.Option("--dir", help="部署目录 / deployment directory")],
           name: str = typer.Option("private", help="部署名 / deployment name"),
           db: str | None = typer.Option(None, help="数据库，默认 SQLite / database URL (default SQLite)"),
           host: str = typer.Option("127.0.0.1", help="监听地址（默认仅本机） / listen address (loopback)"),
           port: int = 8765, admin: str = typer.Option("admin", help="管理员用户名 / administrator"),
           invites: int = typer.Option(10, help="邀请码数量 / invite codes"),
           bridge_port: int = typer.Option(0, help="网桥双向 TLS 端口 / mutual-TLS port for the bridge"),
           schema: str | None = typer.Option(None, help="PostgreSQL schema"),
           relay_port: int = typer.Option(0, help="媒体中继端口，0 为任意空闲端口 / media relay port "
                                                  "(0: any free port)")) -> None:
    """一条命令部署并启动私有通信服务（可重复运行） / deploy and start a private service (idempotent)."""
    from dunpai.comms.deploy.manage import deploy as do_deploy

    try:
        r = do_deploy(directory, name=name, db=db, host=host, port=port, admin=admin, invites=invites,
                      bridge_port=bridge_port, schema=schema, relay_port=relay_port)
    except CommsError as exc:
        console.print(f"[red]错误 / error[/red] [{exc.code}] {exc.message}")
        raise typer.Exit(2) from exc
    state = "已启动 / started" if r.started else "已在运行 / already running"
    console.print(f"{state}: {r.config.name} {r.url} (pid {r.pid})")
    if r.relay_url:
        console.print(f"媒体中继 / media relay: {r.relay_url}")
    if r.admin_enrolled_now:
        console.print(f"管理员已注册 / administrator enrolled: {r.config.admin} ({directory / 'admin'})")
    console.print(f"邀请码 / invite codes ({len(r.invites)}): {directory / 'secrets' / 'invites.txt'}")


@app.command()
def stop(directory: Annotated[Path, typer.Option("--dir", help="部署目录 / deployment directory")]) -> None:
    """停止部署的服务 / stop a deployment's service."""
    from dunpai.comms.deploy.process import stop as do_stop

    if do_stop(directory.resolve()):
        console.print("已停止 / stopped")
    else:
        console.print("未在运行 / not running")


ptt_app = typer.Typer(help="对讲 / push-to-talk", no_args_is_help=True)
app.add_typer(ptt_app, name="ptt")
RelayUrl = Annotated[str | None, typer.Option("--relay", help="媒体中继地址，默认用服务告知的 / media relay URL "
                                                           "(default: the one the service names)")]
RelayTicket = Annotated[str | None, typer.Option("--ticket", envvar="DUNPAI_RELAY_TICKET",
                                                 help="中继入场券，默认向服务申请 / relay ticket (default: "
                                                      "asked from the service)")]


def _relay_key(key_env: str) -> bytes:
    import os

    try:
        secret = bytes.fromhex(os.environ.get(key_env, ""))
    except ValueError:
        secret = b""
    if len(secret) < 32:
        console.print(f"[red]错误 / error[/red] {key_env}: 需要至少 32 字节的十六进制密钥 / "
                      "needs a hex secret of at least 32 bytes")
        raise typer.Exit(2)
    return secret


@ptt_app.command("ticket")
def ptt_ticket(group_id: str, user: str, priority: int = typer.Option(1, help="优先级 0–255 / priority"),
               ttl_hours: float = typer.Option(12.0, help="有效小时数 / valid for hours"),
               key_env: str = typer.Option("DUNPAI_RELAY_SECRET", help="中继密钥环境变量 / relay secret variable"),
               ) -> None:
    """签发中继入场券（运维，无服务时） / issue a relay ticket by hand (operator; the service issues them
    to members when it has the relay secret)."""
    from dunpai.comms.media.tickets import Ticket, issue_ticket

    if not 0 <= priority <= 255:
        console.print("[red]错误 / error[/red] priority 0–255")
        raise typer.Exit(2)
    expires = int(time.time() * 1000 + ttl_hours * 3_600_000)
    typer.echo(issue_ticket(_relay_key(key_env), Ticket(group_id, user, priority, expires)))


@ptt_app.command("talk")
def ptt_talk(group_id: str, wav: Path, relay: RelayUrl = None, ticket: RelayTicket = None,
             new_key: bool = typer.Option(False, "--new-key", help="总是生成并端到端分发新媒体密钥（成员变化时自动） / "
                                                                   "always make and send a new media key (automatic "
                                                                   "when members changed)"),
             emergency: bool = typer.Option(False, help="紧急呼叫（抢占） / emergency (pre-empts)"),
             wait: float = typer.Option(2.0, help="等待已有媒体密钥秒数 / seconds to wait for an existing media key"),
             home: Home = DEFAULT_HOME) -> None:
    """按下通话：把 WAV 文件讲给对讲组 / push to talk: speak a WAV file to the talk-group."""
    import os

    from dunpai.comms.media import sessions

    if not wav.is_file():
        raise typer.BadParameter(f"{wav} does not exist", param_hint="WAV")

    async def action(c: CommsClient) -> sessions.TalkReport:
        url, tk = await sessions.relay_access(c, group_id, relay, ticket)
        key = await sessions.key_for_talking(c, group_id, wait_s=wait, random_bytes=os.urandom, now_s=time.time(),
                                             force_new=new_key, on_other=_show)
        return await sessions.talk_wav(c, key, url, tk, wav, emergency=emergency)

    r = _run(lambda: _with_client(home, action))
    cut = "，被抢占 / revoked" if r.revoked else ""
    console.print(f"已发送 / sent {r.frames} frames ({r.seconds:.2f} s), epoch {r.epoch}{cut}")


@ptt_app.command("listen")
def ptt_listen(group_id: str, relay: RelayUrl = None, ticket: RelayTicket = None,
               out_dir: Annotated[Path, typer.Option(help="WAV 输出目录 / WAV output directory")] = Path("ptt-heard"),
               seconds: float = typer.Option(30.0, help="收听秒数 / seconds to listen"),
               wait: float = typer.Option(10.0, help="等待媒体密钥秒数 / seconds to wait for the media key"),
               home: Home = DEFAULT_HOME) -> None:
    """收听对讲组，每段讲话写成 WAV / listen to the talk-group, one WAV per talk-burst."""
    from dunpai.comms.media import sessions

    async def action(c: CommsClient) -> list[Path]:
        url, tk = await sessions.relay_access(c, group_id, relay, ticket)
        key = await sessions.wait_media_key(c, group_id, wait, _show)
        return await sessions.listen_wav(c, key, url, tk, out_dir, seconds)

    for p in _run(lambda: _with_client(home, action)):
        console.print(f"收到 / heard: {p}")


call_app = typer.Typer(help="语音/视频通话 / voice and video calls", no_args_is_help=True)
app.add_typer(call_app, name="call")
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
        console.print(f"[red]错误 / error[/red] {escape(f'[{exc.code}]')} 没有声音设备 / {exc.message}")
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


@call_app.command("place")
def call_place(peer: str, wav: CallWav = None, video_in: CallVideo = None,
               out_dir: CallOut = Path("call-heard"), seconds: CallSeconds = 60.0, pace: CallPace = 1.0,
               muted: CallMuted = False, mic: CallMic = False, speaker: CallSpeaker = False,
               ring_timeout: Annotated[float, typer.Option(help="振铃超时秒数 / ring timeout (s)")] = 30.0,
               relay: RelayUrl = None, home: Home = DEFAULT_HOME) -> None:
    """拨打一对一通话 / place a 1:1 call (voice; video with --video)."""
    from dunpai.comms.calls.run import place_call

    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted)
    if not 1 <= ring_timeout <= 300:
        raise typer.BadParameter("1 … 300", param_hint="--ring-timeout")
    _call_report(_run(lambda: _with_client(home, lambda c: place_call(c, peer, plan, ring_timeout_s=ring_timeout,
                                                                      relay_url=relay, on_other=_show))))


@call_app.command("answer")
def call_answer(wav: CallWav = None, video_in: CallVideo = None, out_dir: CallOut = Path("call-heard"),
                seconds: CallSeconds = 60.0, pace: CallPace = 1.0, muted: CallMuted = False, mic: CallMic = False,
                speaker: CallSpeaker = False,
                wait: Annotated[float, typer.Option(help="等待来电秒数 / seconds to wait for a call")] = 30.0,
                reject: Annotated[bool, typer.Option(help="拒接 / reject the call")] = False,
                relay: RelayUrl = None, home: Home = DEFAULT_HOME) -> None:
    """等待并接听（或拒接）来电 / wait for a call and answer (or reject) it."""
    from dunpai.comms.calls.run import answer_call

    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted)
    if not 0 < wait <= 3600:
        raise typer.BadParameter("(0, 3600]", param_hint="--wait")
    _call_report(_run(lambda: _with_client(home, lambda c: answer_call(c, plan, wait_s=wait, reject=reject,
                                                                       relay_url=relay, on_other=_show))))


@call_app.command("join")
def call_join(group_id: str, call_id: Annotated[str, typer.Option(help="群通话标识 / group call id")] = "main",
              wav: CallWav = None, video_in: CallVideo = None, out_dir: CallOut = Path("call-heard"),
              seconds: CallSeconds = 60.0, pace: CallPace = 1.0, muted: CallMuted = False, mic: CallMic = False,
              speaker: CallSpeaker = False, relay: RelayUrl = None,
              expect: Annotated[list[str] | None, typer.Option(help="先等这些参与者加入再讲（可重复） / wait for "
                                                                    "these participants before talking "
                                                                    "(repeatable)")] = None,
              home: Home = DEFAULT_HOME) -> None:
    """加入（或发起）群组通话，--seconds 后离开 / join (or start) a group call; leave after --seconds."""
    import re

    from dunpai.comms.calls.run import join_group_call

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", call_id):
        raise typer.BadParameter("letters, digits, _ . - (≤ 64)", param_hint="--call-id")
    plan = _plan(out_dir, wav, video_in, mic, speaker, seconds, pace, muted, tuple(expect or ()))
    _call_report(_run(lambda: _with_client(home, lambda c: join_group_call(c, group_id, call_id, plan,
                                                                           relay_url=relay, on_other=_show))))


@app.command("bridge")
def bridge(config: Annotated[Path, typer.Option("--config", help="网桥配置 bridge.yaml / bridge configuration")],
           ) -> None:
    """运行私网⇄公网安全网桥（只转发密文） / run the private⇄public bridge (relays ciphertext only)."""
    from dunpai.comms.bridge.run import load_bridge_config, run_bridge

    cfg = load_bridge_config(config)
    (cfg.root / "state").mkdir(parents=True, exist_ok=True, mode=0o700)

    async def main() -> None:
        stop = asyncio.Event()
        names = ", ".join(link.name for link in cfg.links)
        console.print(f"网桥运行中 / bridge running: {names} (Ctrl-C 停止 / to stop)")
        await run_bridge(cfg, stop)

    with contextlib.suppress(KeyboardInterrupt):
        _run(main)


@app.command("relay")
def relay(host: str = "127.0.0.1", port: int = 8766,
          key_env: Annotated[str, typer.Option(help="存放中继密钥（十六进制）的环境变量 / environment variable "
                                                      "holding the relay secret (hex, 32+ bytes)")]
          = "DUNPAI_RELAY_SECRET") -> None:
    """运行媒体中继（对讲、通话） / run the media relay (push-to-talk, calls)."""
    from dunpai.comms.media.local import start_relay

    secret = _relay_key(key_env)

    async def main() -> None:
        running = await start_relay(secret, host=host, port=port)
        console.print(f"媒体中继 / media relay: ws://{host}:{running.port}")
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command("demo-ptt")
def demo_ptt(workdir: Annotated[Path, typer.Option(help="输出目录（WAV 与 JSON） / output directory (WAV and JSON)")]
             = Path(".dunpai/ptt-demo"),
             pace: Annotated[float, typer.Option(help="语音节奏，1 = 实时 / speech pacing, 1 = real time")] = 1.0,
             ) -> None:
    """演示：对讲组、话权请求、紧急抢占、端到端加密语音 / push-to-talk talk-group demo on loopback."""
    from dunpai.comms.media.demo_ptt import main as ptt_main

    r = ptt_main(workdir, pace=pace, say=console.print)
    console.print("\n[bold]各听众收到的语音 / what each listener heard:[/bold]")
    for h in r.heard:
        console.print(f"  {h['listener']:>9} ← {h['talker']:<9} {h['frames']:>4} frames "
                      f"{h['packet_sizes']} B  相似度 / similarity {h['similarity']}  {workdir / h['wav']}")
    rl = r.relay
    console.print(f"中继处理 / relay handled {rl['media_frames_handled']} frames of {rl['frame_sizes']} B; "
                  f"含地址的消息 / messages with an address: {rl['messages_with_an_address']}; "
                  f"解码尝试相似度 / decode-attempt similarity {rl['decode_attempt_similarity']}")
    console.print(f"结果 / result: {workdir / 'ptt-demo.json'}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":
    main()
