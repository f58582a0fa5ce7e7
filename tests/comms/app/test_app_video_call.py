"""A 1:1 video call in the page, end to end in headless Chromium: two users, each with their own app
process and browser, on one loopback deployment (service + relay process).

Alice's camera is Chromium's fake capture device playing a generated video (red left half, blue
right half, a white square moving across); Bob's is Chromium's own fake camera. Both apps reach the
relay through a tap that keeps every media frame the apps send, so the test can look for video in
clear where the service could see it. The call screen is photographed in Chinese and English, wide
(1280×800) and narrow (390×844), with the remote video showing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench import app_procs
from bench.app_procs import _wait_file
from bench.common import free_port

from dunpai.comms.media import video
from dunpai.comms.media.sframe import HEADER_LEN
from tests.comms.app.conftest import launch, shoot
from tests.comms.app.harness import AppProc, Loopback

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}
W, H = 320, 240
RED, BLUE = (210, 40, 40), (40, 60, 210)
# every VP8 key frame of a 320×240 picture carries these bytes (start code, width, height): in
# clear they would be in the relay's traffic once a second
VP8_KEY_320x240 = bytes.fromhex("9d012a") + W.to_bytes(2, "little") + H.to_bytes(2, "little")
NO_CAMERA = """
(() => {
  const md = navigator.mediaDevices, list = md.enumerateDevices.bind(md), get = md.getUserMedia.bind(md);
  md.enumerateDevices = async () => (await list()).filter((d) => d.kind !== "videoinput");
  md.getUserMedia = async (c) => {
    if (c && c.video) throw new DOMException("Requested device not found", "NotFoundError");
    return get(c);
  };
})();
"""


def write_y4m(path: Path, frames: int = 30) -> None:
    """Red left half, blue right half, a white square moving left to right (Y4M, 4:2:0, 10 fps)."""
    from PIL import Image

    chunks = []
    for i in range(frames):
        rgb = np.zeros((H, W, 3), dtype=np.uint8)
        rgb[:, : W // 2] = RED
        rgb[:, W // 2 :] = BLUE
        x = 8 + i * (W - 72) // frames
        rgb[96:144, x : x + 48] = 255
        ycc = Image.fromarray(rgb, "RGB").convert("YCbCr")  # full range, as C420jpeg
        y, cb, cr = (np.asarray(c, dtype=np.uint8) for c in ycc.split())
        sub = [np.asarray(Image.fromarray(c).resize((W // 2, H // 2), Image.Resampling.BILINEAR)) for c in (cb, cr)]
        chunks.append(b"FRAME\n" + y.tobytes() + sub[0].tobytes() + sub[1].tobytes())
    path.write_bytes(f"YUV4MPEG2 W{W} H{H} F10:1 Ip A1:1 C420jpeg\n".encode() + b"".join(chunks))


class RelayTap:
    """A WebSocket proxy in front of the relay, in its own thread: everything passes unchanged, and
    every binary (media) frame an app sends is kept."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.frames: list[bytes] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    def start(self) -> RelayTap:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the relay tap did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._loop.close()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        async with serve(self._pipe, "127.0.0.1", 0, compression=None, max_size=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()

    async def _pipe(self, app: Any) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async def forward(src: Any, dst: Any, keep: bool) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in src:
                    if keep and isinstance(message, bytes):
                        self.frames.append(message)
                    await dst.send(message)
            with contextlib.suppress(ConnectionClosed):
                await dst.close()

        with contextlib.suppress(OSError):
            async with connect(self.upstream, compression=None, max_size=None) as relay:
                await asyncio.gather(forward(app, relay, True), forward(relay, app, False))


@dataclass
class TappedApp(AppProc):
    """An app whose media goes through ``relay`` (``--relay``) instead of the relay the service names."""

    relay: str = ""

    def start(self) -> TappedApp:
        import subprocess
        import sys

        url_file = self.home.parent / f"{self.home.name}.url"
        url_file.unlink(missing_ok=True)
        self.home.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.home.parent / f"{self.home.name}.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dunpai.comms.app", "--home", str(self.home), "--no-browser",
             "--url-file", str(url_file), "--relay", self.relay], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.url = _wait_file(url_file, self.proc, "app").strip()
        return self


class Person:
    """One user: their app (media through the tap) and their browser window."""

    def __init__(self, name: str, root: Path, lb: app_procs.Loopback, relay: str, browser: Any, invite: str) -> None:
        self.name, self.browser = name, browser
        self.app = TappedApp(root / name, relay=relay).start()
        self.ctx: Any = None
        self.open_page(online=False)
        p = self.page
        p.wait_for_selector("#enrol:not([hidden])")
        p.fill("#enrol-server", lb.url)
        p.fill("#enrol-user", name)
        p.fill("#enrol-invite", invite)
        p.click("#enrol-submit")
        p.wait_for_selector("#online-state[data-online='1']", timeout=20_000)

    def open_page(self, init_script: str | None = None, online: bool = True) -> None:
        if self.ctx is not None:
            self.ctx.close()
        self.ctx = self.browser.new_context(viewport=WIDE, locale="zh-CN")
        self.ctx.grant_permissions(["microphone", "camera"], origin=self.app.origin)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.add_init_script("localStorage.setItem('dunpai-lang', 'zh')")
        if init_script is not None:
            self.page.add_init_script(init_script)
        self.page.goto(self.app.url)
        self.page.wait_for_selector("body[data-ready='1']")
        if online:
            self.page.wait_for_selector("#online-state[data-online='1']", timeout=20_000)

    def open_chat(self, peer: str) -> None:
        conv = self.page.locator(f".conv[data-conv='u:{peer}']")
        if conv.count():
            conv.click()
        else:
            self.page.click("#new-chat-btn")
            self.page.fill("#new-chat-user", peer)
            self.page.click("#new-chat-open")
        self.page.wait_for_selector(f"#conv-title:text-is('{peer}')")

    def frames(self) -> int:
        return int(self.page.get_attribute("#remote-video", "data-frames") or 0)

    def wait_frames(self, at_least: int, timeout: float = 60_000) -> None:
        self.page.wait_for_function("n => Number(document.querySelector('#remote-video').dataset.frames) >= n",
                                    arg=at_least, timeout=timeout)

    def settled_frames(self, tries: int = 20) -> int:
        """The frame count once it stops rising (one second without a new picture)."""
        for _ in range(tries):
            count = self.frames()
            self.page.wait_for_timeout(1000)
            if self.frames() == count:
                return count
        raise AssertionError(f"pictures still arriving after {tries} s")

    def remote_pixels(self) -> np.ndarray:
        """What the remote-video canvas shows now, as H×W×3."""
        import base64
        import io

        from PIL import Image

        url = self.page.evaluate("() => document.querySelector('#remote-video').toDataURL('image/png')")
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)

    def call_view(self) -> dict[str, Any]:
        state = self.page.evaluate("async () => (await fetch('/api/state')).json()")
        return dict(state["voice"]["call"])

    def close(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
        self.app.stop()


@pytest.fixture(scope="module")
def world(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("app-video")
    clip = root / "alice-camera.y4m"
    write_y4m(clip)
    lb = Loopback(root / "service", free_port()).start()
    tap = RelayTap(json.loads((lb.dir / "ready.json").read_text())["relay"]).start()
    filmed = launch(playwright, fake_video=clip)   # alice's camera plays the clip
    plain = launch(playwright)                       # bob's: Chromium's own fake camera
    people: dict[str, Person] = {}
    try:
        people["alice"] = Person("alice", root, lb, tap.url, filmed, lb.invites[0])
        people["bob"] = Person("bob", root, lb, tap.url, plain, lb.invites[1])
        yield {"root": root, "lb": lb, "tap": tap, **people}
    finally:
        for person in people.values():
            person.close()
        filmed.close()
        plain.close()
        tap.stop()
        lb.stop()


def looks_like_the_clip(picture: np.ndarray) -> bool:
    """Red-dominant left half and blue-dominant right half (below the moving square)."""
    if picture.shape != (H, W, 3):
        return False
    r1, g1, b1 = picture[160:, : W // 2 - 20].reshape(-1, 3).mean(axis=0)
    r2, g2, b2 = picture[160:, W // 2 + 20 :].reshape(-1, 3).mean(axis=0)
    return bool(r1 > max(g1, b1) + 60 and b2 > max(r2, g2) + 60)


def test_video_call_shows_the_callers_camera_in_the_other_app(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    alice.open_chat("bob")
    bob.open_chat("alice")
    alice.page.click("#video-call-btn")
    bob.page.wait_for_selector("#call-state[data-phase='ringing_in'][data-media='video']", timeout=15_000)
    bob.page.focus("#call-accept")          # by keyboard
    bob.page.keyboard.press("Enter")
    for person in (alice, bob):
        person.page.wait_for_selector("#call-state[data-phase='active']", timeout=15_000)
        person.page.wait_for_selector("#call-camera[aria-pressed='true']", timeout=15_000)
    # bob's page shows pictures decoded from alice's camera, and they keep coming
    bob.wait_frames(15)
    bob.page.wait_for_selector("#call-video[data-remote='live'] #remote-video:not([hidden])")
    first, count = bob.remote_pixels(), bob.frames()
    bob.wait_frames(count + 15)
    second = bob.remote_pixels()
    # alice's clip: red on the left, blue on the right (Chromium's own fake camera is neither)
    assert looks_like_the_clip(first) and looks_like_the_clip(second)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1   # the square moved: new pictures
    # and the other way round: bob's camera in alice's page
    alice.wait_frames(15)
    assert not looks_like_the_clip(alice.remote_pixels())
    # what the apps report: frames sent from the camera and pictures decoded for the page
    a, b = alice.call_view(), bob.call_view()
    assert a["media"] == b["media"] == "video"
    assert a["video"]["sent"] >= 15 and b["video"]["shown"] >= 15, (a, b)
    assert not alice.errors and not bob.errors


def test_call_screen_with_video_in_both_languages_wide_and_narrow(world: dict[str, Any]) -> None:
    bob = world["bob"]
    page = bob.page
    for lang in ("zh", "en"):
        if page.get_attribute("html", "lang") != ("zh-CN" if lang == "zh" else "en"):
            page.click("#lang-btn")
        for size, viewport in (("wide", WIDE), ("narrow", NARROW)):
            page.set_viewport_size(viewport)
            page.wait_for_selector("#call-video[data-remote='live']")
            page.wait_for_timeout(300)
            shoot(page, f"call-video-{lang}-{size}")
    page.set_viewport_size(WIDE)
    if page.get_attribute("html", "lang") != "zh-CN":
        page.click("#lang-btn")


def test_camera_off_stops_the_video_and_on_brings_it_back(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    alice.page.focus("#call-camera")
    alice.page.keyboard.press("Enter")
    alice.page.wait_for_selector("#call-camera[aria-pressed='false']")
    alice.page.wait_for_selector("#local-video", state="hidden")
    bob.page.wait_for_selector("#call-video[data-remote='none'] #remote-none:not([hidden])", timeout=15_000)
    # once what was on the way has arrived, nothing more comes while the camera is off
    sent, stopped = alice.call_view()["video"]["sent"], bob.settled_frames()
    bob.page.wait_for_timeout(1500)
    assert bob.frames() == stopped and alice.call_view()["video"]["sent"] == sent
    assert "alice" in bob.page.inner_text("#remote-none")
    alice.page.keyboard.press("Enter")                               # the button still has the focus
    alice.page.wait_for_selector("#call-camera[aria-pressed='true']")
    bob.wait_frames(stopped + 10)
    bob.page.wait_for_selector("#call-video[data-remote='live']")
    alice.page.click("#call-hangup")
    for person in (alice, bob):
        person.page.wait_for_selector("#call-screen", state="hidden", timeout=15_000)


def test_without_a_camera_the_call_is_voice_only_from_that_side_with_a_note(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    bob.open_page(NO_CAMERA)
    bob.open_chat("alice")
    alice.page.click("#video-call-btn")
    bob.page.wait_for_selector("#call-state[data-phase='ringing_in']", timeout=15_000)
    bob.page.click("#call-accept")
    bob.page.wait_for_selector("#camera-note:not([hidden])", timeout=15_000)
    assert "摄像头" in bob.page.inner_text("#camera-note")
    assert bob.page.is_disabled("#call-camera")
    bob.wait_frames(10)                                              # he still sees alice
    shoot(bob.page, "call-video-no-camera-zh-wide")
    bob.page.click("#lang-btn")
    assert "No camera" in bob.page.inner_text("#camera-note")
    shoot(bob.page, "call-video-no-camera-en-wide")
    alice.page.wait_for_selector("#call-state[data-phase='active']")
    alice.page.wait_for_selector("#remote-none:not([hidden])")
    alice.page.wait_for_timeout(1000)
    assert alice.frames() == 0 and alice.call_view()["video"]["shown"] == 0   # nothing came from bob
    bob.page.click("#call-hangup")
    for person in (alice, bob):
        person.page.wait_for_selector("#call-screen", state="hidden", timeout=15_000)
    assert not alice.errors and not bob.errors


def test_the_relay_and_the_files_hold_no_video_in_clear(world: dict[str, Any]) -> None:
    frames = list(world["tap"].frames)
    big = [f for f in frames if len(f) > 200]          # video fragments (sealed voice is 92 bytes)
    assert len(big) >= 40, len(big)
    assert not any(VP8_KEY_320x240 in f for f in frames)
    dec = video.VideoDecoder()
    pictures = [img for f in big for img in dec.decode(f[HEADER_LEN:])]
    pictures += [img for f in big for img in dec.decode(f[HEADER_LEN + 8 :])]  # past a fragment header too
    assert dec.invalid >= len(big) and not any(looks_like_the_clip(p) for p in pictures)
    # nor on disk: the service's database and log, both apps' device directories
    for person in ("alice", "bob"):
        world[person].app.stop()
    world["lb"].stop()
    root: Path = world["root"]
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".y4m", ".out", ".url")]
    assert any(p.name == "comms.db" for p in files) and any(p.name.endswith(".sealed") for p in files)
    hits = [str(p.relative_to(root)) for p in files if VP8_KEY_320x240 in p.read_bytes()]
    assert not hits, hits
