"""A device's commands: enrol, verify a contact, send and receive, files, groups, the terminal client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dunpai.cli.common import JsonOpt, console, new_app, print_json, terminal_prompt
from dunpai.cli.comms.common import ConfigOpt, HomeOpt, device_settings, fail, run, session, show
from dunpai.comms.client import group_meta
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.client.home import DeviceConfig, new_client, open_client
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol.attachments import FileKey
from dunpai.core.errors import DunpaiError

group_app = new_app("群组 / groups")
ToOpt = Annotated[str | None, typer.Option("--to", help="收件人 / recipient user", show_default=False)]
GroupOpt = Annotated[str | None, typer.Option("--group", help="群组 / group id", show_default=False)]


def register(server: Annotated[str, typer.Option(help="服务地址 / service URL, e.g. wss://host:8765")],
             user: Annotated[str, typer.Option(help="用户名 / user id")],
             invite_code: Annotated[str | None, typer.Option("--invite", help="邀请码（新用户） / invite code "
                                                            "(a new user)", show_default=False)] = None,
             device: Annotated[str, typer.Option(help="设备编号 / device id")] = "d1",
             home: HomeOpt = None,
             pkcs11_module: Annotated[str | None, typer.Option(
                 help="密钥芯片 PKCS#11 模块 / PKCS#11 module (key chip)", show_default=False)] = None,
             token_label: Annotated[str | None, typer.Option(
                 help="密钥芯片令牌标签 / token label (key chip)", show_default=False)] = None,
             config: ConfigOpt = None) -> None:
    """用邀请码注册本设备 / enrol this device (a new user needs an invite code)."""
    cfg = device_settings(home, config)
    device_cfg = DeviceConfig(server, user, device, "pkcs11" if pkcs11_module else "software", pkcs11_module,
                              token_label)
    try:
        client = new_client(cfg.comms_home, device_cfg, cfg.keystore, terminal_prompt())
    except DunpaiError as exc:
        raise fail(exc) from exc

    async def main() -> None:
        await client.connect()
        try:
            await client.register(invite_code)
        finally:
            await client.close()

    run(main)
    console.print(f"已注册 / registered {user}/{device}")


def verify(contact: Annotated[str, typer.Argument(help="联系人 / contact user")],
           code: Annotated[str | None, typer.Option(help="对方念出的安全码 / their safety number",
                                                    show_default=False)] = None,
           home: HomeOpt = None) -> None:
    """显示或核对安全码 / show, or confirm, the safety number with a contact."""

    async def action(c: CommsClient) -> None:
        number, qr = await c.safety_number(contact)
        if code is None:
            console.print(f"安全码 / safety number ({c.user} ⇄ {contact}):\n[bold]{number}[/bold]")
            console.print(f"二维码内容 / QR payload: {qr}")
        else:
            await c.mark_verified(contact, code)
            console.print(f"[green]已验证 / verified[/green] {contact}")

    session(home, action)


def _one_of(to: str | None, group: str | None) -> None:
    if (to is None) == (group is None):
        raise typer.BadParameter("give exactly one of --to / --group / 只能指定 --to 或 --group 之一")


def send(text: Annotated[str, typer.Argument(help="消息 / message text")], to: ToOpt = None, group: GroupOpt = None,
         home: HomeOpt = None) -> None:
    """发送消息 / send a message."""
    _one_of(to, group)

    async def action(c: CommsClient) -> str:
        return await (c.group_send_text(await group_meta.find(c, group), text) if group
                      else c.send_text(str(to), text))

    console.print(f"已发送 / sent {session(home, action)}")


def receive(wait: Annotated[float, typer.Option(help="等待秒数 / seconds to wait")] = 2.0,
            as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """接收并显示消息 / receive and show messages."""

    async def action(c: CommsClient) -> tuple[list[Received], dict[str, str]]:
        got: list[Received] = []
        while True:
            try:
                m = await c.receive(wait)
            except TimeoutError:
                return got, dict(c.state.group_names)
            if m.kind == "group_meta" and m.group_id is not None and m.content is not None:
                await group_meta.learn_name(c, m.group_id, m.sender, m.content)  # names travel end to end
            got.append(m)

    messages, names = session(home, action)
    if as_json:
        typer.echo(json.dumps([{"kind": m.kind, "sender": m.sender, "device": m.sender_device, "group": m.group_id,
                                "group_name": names.get(m.group_id or ""), "mid": m.mid, "text": m.text,
                                "file": m.file.name if m.file else None}
                               for m in messages], ensure_ascii=False))
        return
    for m in messages:
        show(m, names)
    if not messages:
        console.print("没有新消息 / no new messages")


def send_file(path: Annotated[Path, typer.Argument(help="文件 / file", exists=True, dir_okay=False)],
              to: ToOpt = None, group: GroupOpt = None,
              keep_metadata: Annotated[bool, typer.Option(
                  help="保留照片位置等元数据 / keep location metadata")] = False,
              home: HomeOpt = None) -> None:
    """加密发送文件（照片/视频先去除位置信息） / send a file encrypted (photos/videos: location removed)."""
    _one_of(to, group)
    data = path.read_bytes()

    async def action(c: CommsClient) -> FileKey:
        ref = await c.upload_file(data, path.name, "application/octet-stream", strip=not keep_metadata)
        await (c.group_send_content(await group_meta.find(c, group), ref.to_content()) if group
               else c.send_content(str(to), ref.to_content()))
        return ref

    ref = session(home, action)
    console.print(f"已发送 / sent {path.name}: {ref.size} bytes in {ref.chunks} chunk(s)")


def fetch_file(mid: Annotated[str, typer.Argument(help="消息编号 / message id")],
               out: Annotated[Path, typer.Option(help="保存到 / save to")], home: HomeOpt = None) -> None:
    """下载并校验收到的文件 / download, check and decrypt a received file."""

    async def action(c: CommsClient) -> bytes:
        content = c.state.files.get(mid)
        if content is None:
            raise CommsError(f"no received file with message id {mid}; run `receive` first")
        return await c.fetch_file(FileKey.from_content(content))

    data = session(home, action)
    out.write_bytes(data)
    console.print(f"已保存 / saved {out} ({len(data)} bytes, 完整性已校验 / integrity checked)")


def revoke(device: Annotated[str, typer.Argument(help="设备编号 / device id")], home: HomeOpt = None) -> None:
    """吊销本用户的一台设备（如丢失的手机） / revoke one of your devices (e.g. a lost phone)."""
    session(home, lambda c: c.revoke_device(device))
    console.print(f"已吊销 / revoked {device}")


def tui(home: HomeOpt = None) -> None:
    """终端客户端 / terminal client (Textual)."""
    from dunpai.comms.tui import run_tui

    cfg = device_settings(home)
    try:
        client = open_client(cfg.comms_home, cfg.keystore, terminal_prompt())
    except DunpaiError as exc:
        raise fail(exc) from exc
    run_tui(client)


GroupArg = Annotated[str, typer.Argument(help="群组名称或编号 / group name (on this device) or id")]
UserArg = Annotated[str, typer.Argument(help="用户 / user")]


@group_app.command("create")
def group_create(name: Annotated[str, typer.Argument(help="群组名称（端到端加密，服务端看不到） / group name (end to "
                                                          "end encrypted: the service never sees it)")],
                 home: HomeOpt = None) -> None:
    """创建群组：服务端只知道随机编号 / create a group; the service knows it only by a random id."""

    async def action(c: CommsClient) -> str:
        return await group_meta.create_group(c, name)

    group_id = session(home, action)
    console.print(f"已创建 / created {name} ({group_id})")


@group_app.command("add")
def group_add(group: GroupArg, user: UserArg,
              role: Annotated[str, typer.Option(help="角色 / role: member, admin")] = "member",
              home: HomeOpt = None) -> None:
    """邀请成员（并把群名端到端发给新成员） / add a member (owner/admin); the name goes to them end to end."""

    async def action(c: CommsClient) -> None:
        group_id = await group_meta.find(c, group)
        await group_meta.add_member(c, group_id, user, c.state.group_names.get(group_id, group_id), role)

    session(home, action)
    console.print(f"已加入 / added {user}")


@group_app.command("remove")
def group_remove(group: GroupArg, user: UserArg, home: HomeOpt = None) -> None:
    """移除成员（之后的消息对其不可读） / remove a member (later messages are unreadable to them)."""
    async def action(c: CommsClient) -> None:
        await c.group_remove(await group_meta.find(c, group), user)

    session(home, action)
    console.print(f"已移除 / removed {user}")


@group_app.command("role")
def group_role(group: GroupArg, user: UserArg,
               role: Annotated[str, typer.Argument(help="角色 / role: owner, admin, member")],
               home: HomeOpt = None) -> None:
    """设置角色 / set a member's role (owner only)."""
    async def action(c: CommsClient) -> None:
        await c.group_role(await group_meta.find(c, group), user, role)

    session(home, action)


@group_app.command("info")
def group_info(group: GroupArg, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """群组成员 / group members."""

    async def action(c: CommsClient) -> dict[str, Any]:
        group_id = await group_meta.find(c, group)
        return {**await c.group_info(group_id), "name": c.state.group_names.get(group_id)}

    info: dict[str, Any] = session(home, action)
    if as_json:
        print_json(info)
        return
    for m in info["members"]:
        console.print(f"{m['user']}  {m['role']}")


@group_app.command("list")
def group_list(as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """我的群组（编号与本机已知的名称） / my groups: id and the name this device learnt end to end."""

    async def action(c: CommsClient) -> list[dict[str, Any]]:
        return [{"group_id": g, "name": c.state.group_names.get(g)} for g in await c.group_list()]

    groups: list[dict[str, Any]] = session(home, action)
    if as_json:
        print_json(groups)
        return
    for g in groups:
        typer.echo(f"{g['group_id']}  {g['name'] or ''}".rstrip())
