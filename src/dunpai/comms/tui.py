"""Terminal client (Textual): conversations (contacts and groups), messages, file transfer, calls
and push-to-talk talk-groups.

Type a message and press Enter to send it to the open conversation. Commands:
``/to USER`` or ``/group GROUP`` open a conversation; ``/create G``, ``/add G USER``,
``/remove G USER`` manage groups; ``/file PATH`` sends a file (location metadata removed);
``/fetch MESSAGE-ID PATH`` saves a received file; ``/verify USER`` shows the safety number.
Typing goes to the message line from the start; a conversation chosen in the list (arrows, Enter or a
click) is where messages go. Conversations and messages are kept in the device's sealed history (the
same one the app keeps, :mod:`dunpai.comms.app.sealed_log`), so they are there again after a restart.
Calls and talk-groups (:mod:`dunpai.comms.tui_calls`): ``/call USER``, an incoming-call prompt
(accept / reject), ``/hangup`` (F3), ``/mute`` (F4), ``/join GROUP [CALL-ID]`` (group call),
``/ptt GROUP`` then F2 to ask for the floor and F2 again to release it; ``/audio``, ``/speaker``,
``/video``, ``/out`` choose WAV files or the sound device, as the CLI's options do.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, Input, ListItem, ListView, Log, Static

from dunpai.comms.app.model import State, group_conv, user_conv
from dunpai.comms.app.sealed_log import HistoryStore, lock_device
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol.attachments import FileKey
from dunpai.comms.tui_calls import CALL_HELP, AudioSettings, CallsController

HELP = ("/to 用户 · /group 群 · /create 群 · /add 群 用户 · /remove 群 用户 · /file 路径 · "
        "/fetch 消息ID 路径 · /verify 用户")


SHOWN_AT_START = 30  # messages from the history written to the log at start


class CommsApp(App[None]):
    AUTO_FOCUS = "#input"
    CSS = """
    #side { width: 28; border: round $accent; }
    #main { border: round $primary; }
    #status { height: auto; color: $text-muted; }
    #callbar { height: 1; color: $warning; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        ("ctrl+q", "quit", "退出 / quit"),
        ("f2", "talk", "对讲 / push-to-talk"),
        ("f3", "hangup", "挂断 / hang up"),
        ("f4", "mute", "静音 / mute"),
    ]

    def __init__(self, client: CommsClient, connect: bool = True, *, audio: AudioSettings | None = None,
                 relay_url: str | None = None, history: HistoryStore | None = None) -> None:
        super().__init__()
        self.client = client
        self.history = history
        self.past = State(client.user)
        self.connect_on_mount = connect
        self.target: tuple[str, str] | None = None  # ("user"|"group", id)
        self.conversations: list[tuple[str, str]] = []
        self.calls = CallsController(self, client, audio or AudioSettings(), say=self._write, show=self.show,
                                     changed=self._call_status, relay_url=relay_url)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal():
            yield ListView(id="side")
            with Vertical(id="main"):
                yield Log(id="log", highlight=False)
                yield Static(self.calls.status(), id="callbar")
                yield Static(f"{HELP}\n{CALL_HELP}", id="status")
                yield Input(placeholder="输入消息或命令 / type a message or /command", id="input")
        yield Footer()

    async def on_mount(self) -> None:
        self.title = f"盾牌通信 Dunpai — {self.client.user}/{self.client.device_id}"
        self._replay()
        if self.connect_on_mount:
            await self.client.connect()
            await self.client.login()
        for group in await self.client.group_list():
            self._add_conversation("group", group)
        await self.calls.start()  # receives everything: call signalling itself, the rest via show()

    async def on_unmount(self) -> None:
        await self.calls.stop()
        if self.history is not None:
            self.history.close()
        if self.connect_on_mount:  # closed here, on the app's own event loop (not after it ended)
            with contextlib.suppress(CommsError, OSError):
                await self.client.close()

    def _replay(self) -> None:
        """Conversations and the last messages from the sealed history."""
        if self.history is None:
            return
        for rec in self.history.load():
            self.past.apply(rec)
        for view in reversed(self.past.conversations()):
            kind, name = ("group", view["id"][2:]) if view["kind"] == "group" else ("user", view["id"][2:])
            self._add_conversation(kind, name)
        recent = sorted(self.past.msgs.values(), key=lambda m: m.n)[-SHOWN_AT_START:]
        if recent:
            self._write("— 历史 / history —")
        for m in recent:
            where = self._where(m.conv)
            body = m.text or f"[文件 / file] {(m.file or {}).get('name', '')}"
            self._write(f"{where}{'我 / me' if m.out else m.sender}: {body}")

    def _where(self, conv: str) -> str:
        c = self.past.convs.get(conv)
        if conv.startswith("g:"):
            return f"#{(c.name if c is not None and c.name else conv[2:])} "
        return f"@{conv[2:]} "

    def _keep(self, record: dict[str, object]) -> None:
        if self.history is not None and self.past.apply(record):
            self.history.append(record)

    def _write(self, line: str) -> None:
        self.query_one("#log", Log).write_line(line)

    def _add_conversation(self, kind: str, name: str) -> None:
        if (kind, name) in self.conversations:
            return
        self.conversations.append((kind, name))
        c = self.past.convs.get(group_conv(name) if kind == "group" else user_conv(name))
        label = f"# {c.name if kind == 'group' and c is not None and c.name else name}" if kind == "group" \
            else f"@ {name}"
        self.query_one("#side", ListView).append(ListItem(Static(label)))
        if self.target is None:
            self.target = (kind, name)  # the first conversation is the open one until another is chosen

    def _choose(self, index: int | None, announce: bool) -> None:
        if index is None or not 0 <= index < len(self.conversations):
            return
        if self.conversations[index] != self.target or announce:
            self.target = self.conversations[index]
            self._write(f"— 会话 / conversation: {self.target[1]} —")

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        self._choose(event.list_view.index, announce=False)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        self._choose(event.list_view.index, announce=True)
        self.query_one("#input", Input).focus()  # then type the reply at once

    def _call_status(self) -> None:
        with contextlib.suppress(NoMatches):
            self.query_one("#callbar", Static).update(self.calls.status())

    async def _guarded(self, action: Awaitable[None]) -> None:
        try:
            await action
        except (CommsError, OSError, ValueError) as exc:
            self._write(f"! {exc}")
        self._call_status()

    async def action_talk(self) -> None:
        await self._guarded(self.calls.toggle_talk())

    async def action_hangup(self) -> None:
        await self._guarded(self.calls.hangup())

    async def action_mute(self) -> None:
        await self._guarded(self.calls.toggle_mute())

    def show(self, m: Received) -> None:
        if m.group_id:
            self._add_conversation("group", m.group_id)
        else:
            self._add_conversation("user", m.sender)
        conv = group_conv(m.group_id) if m.group_id else user_conv(m.sender)
        where = self._where(conv) if m.group_id else ""
        if m.kind == "text":
            self._write(f"{where}{m.sender}: {m.text}")
            self._keep({"t": "msg", "mid": m.mid, "conv": conv, "sender": m.sender, "device": m.sender_device,
                        "out": m.sender == self.client.user, "at": m.sent_at, "kind": "text", "text": m.text or ""})
        elif m.file is not None:
            self._write(f"{where}{m.sender}: [文件 / file] {m.file.name} {m.file.size} B — /fetch {m.mid} <path>")
            self._keep({"t": "msg", "mid": m.mid, "conv": conv, "sender": m.sender, "device": m.sender_device,
                        "out": m.sender == self.client.user, "at": m.sent_at, "kind": "file",
                        "file": m.file.to_content()})

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        await self._guarded(self._command(text) if text.startswith("/") else self._send(text))

    async def _send(self, text: str) -> None:
        if self.target is None:
            self._write("! 先选择会话 / open a conversation first: /to USER or /group GROUP")
            return
        kind, name = self.target
        mid = await (self.client.group_send_text(name, text) if kind == "group"
                     else self.client.send_content(name, {"type": "text", "body": text, "to": name}))
        conv = group_conv(name) if kind == "group" else user_conv(name)
        self._keep({"t": "msg", "mid": mid, "conv": conv, "sender": self.client.user, "device": self.client.device_id,
                    "out": True, "at": int(time.time() * 1000), "kind": "text", "text": text, "status": "sent"})
        self._write(f"{self._where(conv) if kind == 'group' else '→ ' + name + ' '}我 / me: {text}")

    async def _command(self, line: str) -> None:
        cmd, *args = line.split()
        c = self.client
        if await self.calls.command(cmd, args):
            return
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
            groups = number.split()
            self._write(f"安全码 / safety number {c.user} ⇄ {args[0]}:")
            for row in range(0, len(groups), 4):  # 3 rows of 4 groups: never cut at the pane's edge
                self._write("    " + "  ".join(groups[row : row + 4]))
        else:
            self._write(f"! {HELP}")
            self._write(f"! {CALL_HELP}")


def run_tui(client: CommsClient) -> None:
    """Run the terminal client on a device home (its history beside the sealed state); the client
    is closed by the app itself, on its own event loop, so Ctrl+Q leaves cleanly."""
    history = None
    lock = None
    if client.state_path is not None:
        home = client.state_path.parent
        lock = lock_device(home)
        history = HistoryStore(home / "history", client.keys, f"{client.user}/{client.device_id}")
    try:
        CommsApp(client, history=history).run()
    finally:
        if lock is not None:
            lock.close()
