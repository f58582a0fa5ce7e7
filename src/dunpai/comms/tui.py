"""Terminal client (Textual): conversations (contacts and groups), messages, file transfer.

Type a message and press Enter to send it to the open conversation. Commands:
``/to USER`` or ``/group GROUP`` open a conversation; ``/create G``, ``/add G USER``,
``/remove G USER`` manage groups; ``/file PATH`` sends a file (location metadata removed);
``/fetch MESSAGE-ID PATH`` saves a received file; ``/verify USER`` shows the safety number.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, ListItem, ListView, Log, Static

from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol.attachments import FileKey

HELP = ("/to 用户 · /group 群 · /create 群 · /add 群 用户 · /remove 群 用户 · /file 路径 · "
        "/fetch 消息ID 路径 · /verify 用户")


class CommsApp(App[None]):
    CSS = """
    #side { width: 28; border: round $accent; }
    #main { border: round $primary; }
    #status { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [("ctrl+q", "quit", "退出 / quit")]

    def __init__(self, client: CommsClient, connect: bool = True) -> None:
        super().__init__()
        self.client = client
        self.connect_on_mount = connect
        self.target: tuple[str, str] | None = None  # ("user"|"group", id)
        self.conversations: list[tuple[str, str]] = []
        self._pump: asyncio.Task[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal():
            yield ListView(id="side")
            with Vertical(id="main"):
                yield Log(id="log", highlight=False)
                yield Static(HELP, id="status")
                yield Input(placeholder="输入消息或命令 / type a message or /command", id="input")
        yield Footer()

    async def on_mount(self) -> None:
        self.title = f"盾牌通信 Dunpai — {self.client.user}/{self.client.device_id}"
        if self.connect_on_mount:
            await self.client.connect()
            await self.client.login()
        for group in await self.client.group_list():
            self._add_conversation("group", group)
        self._pump = asyncio.create_task(self._receive_loop())

    async def on_unmount(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    def _write(self, line: str) -> None:
        self.query_one("#log", Log).write_line(line)

    def _add_conversation(self, kind: str, name: str) -> None:
        if (kind, name) in self.conversations:
            return
        self.conversations.append((kind, name))
        label = f"# {name}" if kind == "group" else f"@ {name}"
        self.query_one("#side", ListView).append(ListItem(Static(label)))

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        index = self.query_one("#side", ListView).index
        if index is not None and index < len(self.conversations):
            self.target = self.conversations[index]
            self._write(f"— 会话 / conversation: {self.target[1]} —")

    async def _receive_loop(self) -> None:
        while True:
            m = await self.client.inbox.get()
            self.show(m)

    def show(self, m: Received) -> None:
        if m.group_id:
            self._add_conversation("group", m.group_id)
        else:
            self._add_conversation("user", m.sender)
        where = f"#{m.group_id} " if m.group_id else ""
        if m.kind == "text":
            self._write(f"{where}{m.sender}: {m.text}")
        elif m.file is not None:
            self._write(f"{where}{m.sender}: [文件 / file] {m.file.name} {m.file.size} B — /fetch {m.mid} <path>")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        try:
            await self._command(text) if text.startswith("/") else await self._send(text)
        except (CommsError, OSError, ValueError) as exc:
            self._write(f"! {exc}")

    async def _send(self, text: str) -> None:
        if self.target is None:
            self._write("! 先选择会话 / open a conversation first: /to USER or /group GROUP")
            return
        kind, name = self.target
        await (self.client.group_send_text(name, text) if kind == "group" else self.client.send_text(name, text))
        self._write(f"{'#' + name + ' ' if kind == 'group' else '→ ' + name + ' '}我 / me: {text}")

    async def _command(self, line: str) -> None:
        cmd, *args = line.split()
        c = self.client
        if cmd in ("/to", "/group") and len(args) == 1:
            self.target = ("user" if cmd == "/to" else "group", args[0])
            self._add_conversation(*self.target)
            self._write(f"— 会话 / conversation: {args[0]} —")
        elif cmd == "/create" and len(args) == 1:
            await c.group_create(args[0])
            self._add_conversation("group", args[0])
            self._write(f"已创建 / created #{args[0]}")
        elif cmd in ("/add", "/remove") and len(args) == 2:
            await (c.group_add(*args) if cmd == "/add" else c.group_remove(*args))
            self._write(f"{cmd[1:]} {args[1]} @ #{args[0]}")
        elif cmd == "/file" and len(args) == 1 and self.target is not None:
            path = Path(args[0]).expanduser()
            ref = await c.upload_file(path.read_bytes(), path.name, "application/octet-stream")
            kind, name = self.target
            await (c.group_send_content(name, ref.to_content()) if kind == "group"
                   else c.send_content(name, ref.to_content()))
            self._write(f"已发送文件 / sent file {path.name} ({ref.size} B)")
        elif cmd == "/fetch" and len(args) == 2:
            content = c.state.files.get(args[0])
            if content is None:
                raise CommsError("no such received file")
            data = await c.fetch_file(FileKey.from_content(content))
            Path(args[1]).expanduser().write_bytes(data)
            self._write(f"已保存 / saved {args[1]} ({len(data)} B, 已校验 / checked)")
        elif cmd == "/verify" and len(args) == 1:
            number, _ = await c.safety_number(args[0])
            self._write(f"安全码 / safety number {c.user} ⇄ {args[0]}: {number}")
        else:
            self._write(f"! {HELP}")


def run_tui(client: CommsClient) -> None:
    app = CommsApp(client)
    try:
        app.run()
    finally:
        if client.conn is not None:
            asyncio.run(client.close())
