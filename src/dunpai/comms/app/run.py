"""``dunpai comms app``: the composition root of the app and its launch.

Opens the device's key store (the PKCS#11 token or the software store, as the other clients do),
rebuilds the history, starts the client (connection, calls, talk-groups) and the local web server
on 127.0.0.1 with a fresh launch secret, prints the address to open (and opens the browser unless
told not to). A device directory not yet enrolled shows an enrolment page (service address, user,
invite code); the software key store is then created with the passphrase given at launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dunpai.comms.app.files import DEFAULT_LIMIT
from dunpai.comms.app.messenger import Messenger
from dunpai.comms.app.sealed_log import HistoryStore, lock_device
from dunpai.comms.app.voice import Voice
from dunpai.comms.calls.agent import CallAgent
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.home import DEVICE_FILE, STATE_FILE, DeviceConfig, load_config, open_keys, save_config
from dunpai.comms.client.state import LocalState, load_state
from dunpai.comms.errors import CommsError, Conflict, MalformedFrame
from dunpai.comms.keys_port import DeviceKeys
from dunpai.core.config import KeystoreSettings
from dunpai.keys.location import Prompt

HISTORY_DIR = "history"


@dataclass(frozen=True)
class AppOptions:
    home: Path
    port: int = 0
    relay_url: str | None = None
    file_limit: int = DEFAULT_LIMIT
    open_browser: bool = True
    url_file: Path | None = None
    keystore: KeystoreSettings = field(default_factory=KeystoreSettings)  # the settings' key store section


class AppHost:
    """The app's parts for one device directory; ``messenger`` is None until the device is enrolled."""

    def __init__(self, options: AppOptions, prompt: Prompt | None) -> None:
        self.options = options
        self.home = options.home
        self._prompt = prompt
        self.messenger: Messenger | None = None
        self.voice: Voice | None = None
        self.agent: CallAgent | None = None
        self.client: CommsClient | None = None
        self.subscribers: dict[int, Callable[[Any], None]] = {}
        self._lock: IO[str] | None = None

    @property
    def enrolled(self) -> bool:
        return (self.home / DEVICE_FILE).exists() and (self.home / STATE_FILE).exists()

    def lock(self) -> None:
        self._lock = lock_device(self.home)

    def _keys(self, cfg: DeviceConfig, create: bool) -> DeviceKeys:
        """The device's key store by the one convention (``dunpai.keys.location``), as the CLI opens it."""
        from dunpai.core.errors import DunpaiError

        try:
            return open_keys(self.home, cfg, create, keystore=self.options.keystore, prompt=self._prompt)
        except DunpaiError as exc:
            raise CommsError(str(exc)) from exc

    async def start(self) -> None:
        if not self.enrolled:
            return
        cfg = load_config(self.home)
        keys = self._keys(cfg, create=False)
        state = load_state(self.home / STATE_FILE, keys)
        await self._boot(CommsClient(cfg.server, keys, state, state_path=self.home / STATE_FILE))

    async def enrol(self, server: str, user: str, device_id: str, invite: str) -> None:
        if self.enrolled or self.messenger is not None:
            raise Conflict("this device is already enrolled")
        if not server.startswith(("ws://", "wss://")):
            raise MalformedFrame("server: a ws:// or wss:// address")
        if server.startswith("ws://") and not server.startswith(("ws://127.0.0.1", "ws://[::1]", "ws://localhost")):
            raise MalformedFrame("server: plain ws:// only on this machine; use wss://")
        cfg = DeviceConfig(server, user, device_id)
        keys = self._keys(cfg, create=True)
        client = CommsClient(server, keys, LocalState.new(user, device_id), state_path=self.home / STATE_FILE)
        await client.connect()
        try:
            await client.register(invite or None)
        finally:
            await client.close()
        save_config(self.home, cfg)
        await self._boot(client)
        if self.messenger is not None:
            self.messenger.emit({**self.messenger.snapshot(), "enrolled": True})

    async def _boot(self, client: CommsClient) -> None:
        history = HistoryStore(self.home / HISTORY_DIR, client.keys, f"{client.user}/{client.device_id}")
        messenger = Messenger(client, history, file_limit=self.options.file_limit)
        messenger.subscribers = self.subscribers
        messenger.load()
        agent = CallAgent(client, relay_url=self.options.relay_url, on_other=messenger.on_received)
        voice = Voice(client, agent, messenger.emit, messenger.emit, relay_url=self.options.relay_url)
        messenger.voice = voice
        self.client, self.messenger, self.agent, self.voice = client, messenger, agent, voice
        await messenger.start()  # connects; the agent reads what arrives once logged in
        await agent.start()
        await voice.start()

    async def stop(self) -> None:
        if self.agent is not None:
            with contextlib.suppress(CommsError, OSError):
                await self.agent.stop()
        if self.voice is not None:
            await self.voice.stop()
        if self.messenger is not None:
            await self.messenger.stop()
        if self.client is not None:
            with contextlib.suppress(CommsError, OSError):
                await self.client.close()
            self.client.save()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


def write_url_file(path: Path, url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(url + "\n")
    os.replace(tmp, path)


async def serve(options: AppOptions, prompt: Prompt | None, say: Callable[[str], None] = print) -> None:
    import uvicorn

    from dunpai.comms.app.web import Guard, create_web

    host = AppHost(options, prompt)
    host.lock()
    sock = bind(options.port)
    port = int(sock.getsockname()[1])
    guard = Guard(port)
    if not host.enrolled and prompt is not None and options.keystore.backend == "software" \
            and options.keystore.passphrase is None:
        prompt("密钥库口令 / key store passphrase", True)  # asked now, on the terminal, not while the page waits
    await host.start()
    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the app stops on its own signal handlers (below)
            yield

    server = Server(uvicorn.Config(create_web(host, guard), log_level="warning", access_log=False,
                                   ws_max_size=8 * 1024 * 1024, lifespan="off"))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.01)
        if host.messenger is not None:
            async with asyncio.timeout(10):
                await host.messenger.ready.wait()
        url = guard.launch_url()
        if options.url_file is not None:
            write_url_file(options.url_file, url)
        say(f"盾牌通信已就绪 / Dunpai app ready: {url}")
        if options.open_browser:
            import webbrowser

            webbrowser.open(url)
        await stop.wait()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await host.stop()
        if options.url_file is not None:
            options.url_file.unlink(missing_ok=True)


def terminal_prompt() -> Prompt | None:
    """Ask on the terminal once per question and remember the answer for this run (the enrolment
    page must not wait on the terminal); ``None`` without a terminal."""
    if not sys.stdin.isatty():
        return None
    answers: dict[str, str] = {}

    def ask(what: str, confirm: bool) -> str:
        if what not in answers:
            while True:
                value = getpass.getpass(f"{what}: ")
                if not confirm or getpass.getpass(f"{what} (再次 / again): ") == value:
                    break
            answers[what] = value
        return answers[what]

    return ask


def main(options: AppOptions) -> None:
    asyncio.run(serve(options, terminal_prompt()))
