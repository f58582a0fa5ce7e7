"""The app end to end in real headless Chromium: two users (three for groups), each with their own
app process and browser, on one loopback deployment (service + relay process).

Tests run in order and share the deployment: messages, an image, the safety QR code, groups,
push-to-talk, a call carrying a WAV file, history after restarts, offline queueing, a key change;
the last test searches the service's database and log and every app's files for each plaintext.
Screenshots of each screen are taken in Chinese and English, wide (1280×800) and narrow (390×844).
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.common import free_port

from dunpai.comms.media import codec
from tests.comms.app.conftest import launch, shoot
from tests.comms.app.harness import AppProc, Loopback, has_gps, photo_with_gps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}
SPOKEN = "Branch seven. The customer is here. Please call back."
PLAINTEXTS: list[str] = []     # every plaintext the tests send, searched for on disk at the end


class User:
    """One person: their app process and their browser window."""

    def __init__(self, name: str, root: Path, lb: Loopback, browser: Any, invite: str, shots: bool = False) -> None:
        self.name, self.lb, self.browser = name, lb, browser
        self.app = AppProc(root / name).start()
        self.ctx: Any = None
        self.page: Any = None
        self.heard: list[bytes] = []
        self.conv_open: str | None = None
        if shots:
            self.variants("enrol")
        self.open_page()
        p = self.page
        p.wait_for_selector("#enrol:not([hidden])")
        p.fill("#enrol-server", lb.url)
        p.fill("#enrol-user", name)
        p.fill("#enrol-invite", invite)
        p.click("#enrol-submit")
        p.wait_for_selector("#online-state[data-online='1']", timeout=20_000)

    def open_page(self, viewport: dict[str, int] = WIDE, lang: str = "zh") -> None:
        if self.ctx is not None:
            self.ctx.close()
        self.ctx = self.browser.new_context(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-GB")
        self.ctx.grant_permissions(["microphone", "camera"], origin=self.app.origin)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("websocket", self._tap)
        self.page.add_init_script(f"localStorage.setItem('dunpai-lang', '{lang}')")
        self.page.goto(self.app.url)
        self.page.wait_for_selector("body[data-ready='1']")

    def variants(self, name: str, ready: str = "body[data-ready='1']") -> None:
        """Screenshots of the current screen in both languages, wide and narrow (the page is opened
        again for each; the app keeps its state). Ends on the Chinese wide page."""
        for lang, size, viewport in (("en", "wide", WIDE), ("en", "narrow", NARROW), ("zh", "narrow", NARROW),
                                     ("zh", "wide", WIDE)):
            self.open_page(viewport, lang)
            conv = f".conv[data-conv='{self.conv_open}']"
            if self.conv_open and self.page.locator(conv).count():
                self.page.click(conv)
                self.page.wait_for_selector("#conversation:not([hidden])")
            self.page.wait_for_selector(ready)
            self.page.wait_for_timeout(150)
            shoot(self.page, f"{name}-{lang}-{size}")

    def _tap(self, ws: Any) -> None:
        """What the app sends this window to play (binary 0x02 ‖ PCM): the test listens in."""
        ws.on("framereceived", lambda data: self.heard.append(data) if isinstance(data, bytes) and data[:1] == b"\x02"
              else None)

    def restart(self) -> None:
        self.app.stop()
        self.app.start()
        self.open_page()
        self.page.wait_for_selector("#online-state[data-online='1']", timeout=20_000)

    def open_conv(self, name: str) -> None:
        self.page.click(f".conv:has-text('{name}')")
        self.page.wait_for_selector(f"#conv-title:has-text('{name}')")
        self.conv_open = str(self.page.get_attribute(".conv.active", "data-conv"))

    def chat_with(self, user: str) -> None:
        self.page.click("#new-chat-btn")
        self.page.fill("#new-chat-user", user)
        self.page.click("#new-chat-open")
        self.page.wait_for_selector(f"#conv-title:text-is('{user}')")
        self.conv_open = f"u:{user}"

    def say(self, text: str) -> None:
        PLAINTEXTS.append(text)
        self.page.fill("#composer-text", text)
        self.page.keyboard.press("Enter")
        self.page.wait_for_selector(f".msg.out:has-text('{text}')")

    def mark_of(self, text: str) -> str:
        return str(self.page.get_attribute(f".msg.out:has-text('{text}') .mark", "data-mark"))

    def wait_mark(self, text: str, mark: str, timeout: float = 15_000) -> None:
        self.page.wait_for_selector(f".msg.out:has-text('{text}') .mark[data-mark='{mark}']", timeout=timeout)

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call from inside the page (same origin, the page's session cookie)."""
        return self.page.evaluate(
            """async ([path, body]) => {
                const opts = body === null ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                    body: JSON.stringify(body)};
                const r = await fetch(path, opts); return [r.status, await r.json()];
            }""", [path, body])

    def close(self) -> None:
        if self.ctx is not None:
            self.ctx.close()
        self.app.stop()


@pytest.fixture(scope="module")
def world(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from dunpai.comms.media.speech import espeak_available, speak

    root = tmp_path_factory.mktemp("app-e2e")
    wav = root / "spoken.wav"
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (scripts/system-deps.sh installs it)")
    codec.write_wav(wav, speak(SPOKEN))
    lb = Loopback(root / "service", free_port()).start()
    talker = launch(playwright, fake_audio=wav)   # alice's microphone says the WAV file
    plain = launch(playwright)
    users: dict[str, User] = {}
    try:
        users["alice"] = User("alice", root, lb, talker, lb.invites[0])
        users["bob"] = User("bob", root, lb, plain, lb.invites[1])
        users["carol"] = User("carol", root, lb, plain, lb.invites[2], shots=True)
        yield {"root": root, "lb": lb, "wav": wav, "browsers": (talker, plain), "playwright": playwright, **users}
    finally:
        for u in users.values():
            u.close()
        talker.close()
        plain.close()
        lb.stop()


def test_send_and_receive_live_with_unread_count_and_marks(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    alice.chat_with("bob")
    alice.say("你好 Bob，三点开会")
    bob.page.wait_for_selector(".conv[data-conv='u:alice'] .unread:text-is('1')")   # live, unread
    assert "三点开会" in bob.page.inner_text(".conv[data-conv='u:alice'] .conv-last")
    alice.wait_mark("你好 Bob，三点开会", "delivered")
    bob.open_conv("alice")
    bob.page.wait_for_selector(".msg.in:has-text('你好 Bob，三点开会')")
    alice.wait_mark("你好 Bob，三点开会", "read")                                    # read receipt
    assert bob.page.locator(".conv[data-conv='u:alice'] .unread").count() == 0
    bob.say("收到 received")
    alice.page.wait_for_selector(".msg.in:has-text('收到 received')")
    # search on the device
    alice.page.fill("#search", "三点")
    alice.page.wait_for_selector("#search-results .hit:has-text('三点开会')")
    alice.page.fill("#search", "")
    assert not alice.errors and not bob.errors


def test_image_is_sent_with_preview_and_arrives_without_gps(world: dict[str, Any]) -> None:
    alice, bob, root = world["alice"], world["bob"], world["root"]
    photo = root / "branch-photo.jpg"
    photo.write_bytes(photo_with_gps())
    assert has_gps(photo.read_bytes())
    PLAINTEXTS.append("branch-photo.jpg")
    alice.page.set_input_files("#file-input", str(photo))
    alice.page.wait_for_selector(".msg.out[data-kind='file'] img.thumb")          # preview made on the device
    alice.page.wait_for_selector(".msg.out[data-kind='file'] .mark[data-mark='delivered'], "
                                 ".msg.out[data-kind='file'] .mark[data-mark='read']")
    bob.page.wait_for_selector(".msg.in[data-kind='file'] img.thumb", timeout=15_000)
    with bob.page.expect_download() as dl:
        bob.page.click(".msg.in[data-kind='file'] a.file-link")
    received = Path(dl.value.path()).read_bytes()
    assert received[:2] == b"\xff\xd8" and not has_gps(received)
    assert b"DunpaiPhone" not in received and b"secret-maker-note" not in received
    from PIL import Image

    with Image.open(io.BytesIO(received)) as img:
        assert img.size == (32, 24)


def test_safety_qr_code_decodes_to_the_payload_both_sides_compute(world: dict[str, Any]) -> None:
    import zxingcpp
    from PIL import Image

    alice, bob = world["alice"], world["bob"]
    alice.page.click("#verify-btn")
    alice.page.wait_for_selector("#safety-qr svg")
    png = alice.page.locator("#safety-qr svg").screenshot()
    found = {b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))}
    assert len(found) == 1  # one code (a reader may report the same symbol twice)
    status, theirs = bob.api("/api/safety?user=alice")
    assert status == 200
    payload = found.pop()
    assert payload.startswith("dunpai-sn:1:")

    def pairs(text: str) -> set[tuple[str, str]]:
        parts = text.split(":")
        return {(parts[2], parts[3]), (parts[4], parts[5])}

    assert pairs(payload) == pairs(theirs["qr"])   # the same two users and keys as bob's app holds
    # bob points his camera at alice's screen: Chromium's fake camera plays a video of her QR code;
    # his app reads the frames and checks the code names exactly both users' keys
    video = world["root"] / "alice-qr.y4m"
    _y4m(png, video)
    camera = launch(world["playwright"], fake_video=video)
    try:
        ctx = camera.new_context(viewport=WIDE)
        ctx.grant_permissions(["camera"], origin=bob.app.origin)
        page = ctx.new_page()
        page.goto(bob.app.url)
        page.click(".conv[data-conv='u:alice']")
        page.click("#verify-btn")
        page.wait_for_selector("#safety-state")
        assert "✔" not in page.inner_text("#safety-state")
        page.click("#verify-scan")
        page.wait_for_selector("#safety-state:has-text('✔')", timeout=20_000)
    finally:
        camera.close()
    status, result = bob.api("/api/safety?user=alice")
    assert status == 200 and result["verified"] is True
    status, result = bob.api("/api/verify-scan", {"user": "alice", "image": _data_url(_blank_png())})
    assert status == 200 and result == {"found": False}
    digits = alice.page.get_attribute("#safety-digits", "data-number")
    assert digits == theirs["number"] and len(digits.replace(" ", "")) == 60
    alice.page.click("#verify-confirm")
    alice.page.wait_for_selector("#safety-state:has-text('✔')")
    alice.page.click("#dialog-close")
    alice.page.wait_for_selector("#conv-badge[data-verified='1']")


def _y4m(png: bytes, path: Path, frames: int = 10) -> None:
    """A short grey-scale Y4M video of a picture (what a camera pointed at a screen would see)."""
    from PIL import Image

    img = Image.new("L", (640, 480), 255)
    qr = Image.open(io.BytesIO(png)).convert("L")
    qr.thumbnail((440, 440))
    img.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    y = np.asarray(img, dtype=np.uint8).tobytes()
    chroma = bytes([128]) * (320 * 240)
    with path.open("wb") as fh:
        fh.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            fh.write(b"FRAME\n" + y + chroma + chroma)


def _blank_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (64, 64), 255).save(out, format="PNG")
    return out.getvalue()


def _data_url(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_group_create_rename_remove_member_who_then_reads_nothing(world: dict[str, Any]) -> None:
    alice, bob, carol = world["alice"], world["bob"], world["carol"]
    p = alice.page
    p.click("#new-group-btn")
    p.fill("#new-group-name", "风控值班")
    p.fill("#new-group-members", "bob, carol")
    p.click("#new-group-create")
    p.wait_for_selector("#conv-title:text-is('风控值班')")
    PLAINTEXTS.append("风控值班")
    alice.say("值班表已更新")
    for u in (bob, carol):
        u.page.wait_for_selector(".conv:has-text('风控值班')", timeout=15_000)
        u.open_conv("风控值班")
        u.page.wait_for_selector(".msg.in:has-text('值班表已更新')")
    p.click("#members-btn")
    p.wait_for_selector("#member-list .member[data-user='carol']")
    p.fill("#group-rename-name", "夜间值班")
    p.click("#group-rename")
    PLAINTEXTS.append("夜间值班")
    p.wait_for_selector("#conv-title:text-is('夜间值班')")
    bob.page.wait_for_selector("#conv-title:text-is('夜间值班')", timeout=15_000)   # the name came E2E
    p.click("#member-list .member[data-user='carol'] button.remove")
    p.wait_for_selector("#member-list .member[data-user='carol']", state="detached")
    p.click("#dialog-close")
    carol.page.wait_for_selector("#removed-banner:not([hidden])", timeout=15_000)
    alice.say("卡罗尔看不到这条")
    bob.page.wait_for_selector(".msg.in:has-text('卡罗尔看不到这条')")
    carol.page.wait_for_timeout(1000)
    assert carol.page.locator(".msg:has-text('卡罗尔看不到这条')").count() == 0
    status, _ = carol.api("/api/send", {"conv": carol_conv(carol), "text": "还在吗"})
    assert status == 404                                                             # refused on the device


def carol_conv(carol: User) -> str:
    return str(carol.page.get_attribute(".conv.active", "data-conv"))


def test_push_to_talk_floor_to_one_speaker_and_emergency_preemption(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    for u in (alice, bob):
        u.open_conv("夜间值班")
    alice.page.click("#ptt-open-btn")
    alice.page.wait_for_selector("#ptt-screen:not([hidden]) #floor-state[data-event='joined']")
    bob.page.click("#ptt-open-btn")
    bob.page.wait_for_selector("#ptt-screen:not([hidden]) #floor-state[data-event='joined']")
    bob.page.locator("#ptt-btn").dispatch_event("pointerdown")                      # bob holds to talk
    bob.page.wait_for_selector("#floor-state[data-state='talking'][data-holder='bob']")
    alice.page.wait_for_selector("#floor-state[data-holder='bob']")
    shoot(alice.page, "ptt-listening-zh-wide")
    alice.page.locator("#ptt-emergency").dispatch_event("pointerdown")              # emergency pre-emption
    alice.page.wait_for_selector("#floor-state[data-state='talking'][data-holder='alice'][data-emergency='1']")
    bob.page.wait_for_selector("#floor-state[data-holder='alice'][data-emergency='1']")
    assert bob.page.get_attribute("#floor-state", "data-state") == "idle"
    shoot(bob.page, "ptt-preempted-zh-wide")
    alice.page.locator("#ptt-emergency").dispatch_event("pointerup")
    bob.page.wait_for_selector("#floor-state[data-holder='']")
    for u in (alice, bob):
        u.page.click("#ptt-leave")
        u.page.wait_for_selector("#ptt-screen", state="hidden")


def test_call_carries_the_microphone_wav_to_the_other_side(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    alice.open_conv("bob")
    bob.open_conv("alice")
    bob.heard.clear()
    alice.page.click("#call-btn")
    bob.page.wait_for_selector("#call-state[data-phase='ringing_in']", timeout=15_000)
    bob.variants("call-incoming", "#call-state[data-phase='ringing_in']")
    bob.page.click("#call-accept")
    alice.page.wait_for_selector("#call-state[data-phase='active']", timeout=15_000)
    bob.page.wait_for_selector("#call-state[data-phase='active']")
    sent = codec.read_wav(world["wav"])
    deadline = time.monotonic() + 30
    while len(bob.heard) * codec.FRAME_SAMPLES < 2.5 * len(sent) and time.monotonic() < deadline:
        bob.page.wait_for_timeout(200)  # (Playwright delivers the socket frames while it waits)
    alice.variants("call-active", "#call-state[data-phase='active']")   # (her microphone stops here)
    alice.page.click("#call-hangup")
    bob.page.wait_for_selector("#call-screen", state="hidden", timeout=15_000)
    heard = np.concatenate([np.frombuffer(f[1:], dtype="<i2") for f in bob.heard]).astype(np.int16)
    # the fake microphone plays the file in a loop from an unknown point: look for it over one length
    score = codec.similarity(sent, heard, max_lag=len(sent))
    (world["root"] / "call-similarity.json").write_text(json.dumps({"similarity": score, "frames": len(bob.heard)}))
    assert score > 0.5, score


def test_history_survives_both_apps_restarting(world: dict[str, Any]) -> None:
    alice, bob = world["alice"], world["bob"]
    alice.restart()
    bob.restart()
    for u, peer, text in ((alice, "bob", "收到 received"), (bob, "alice", "你好 Bob，三点开会")):
        u.page.wait_for_selector(f".conv[data-conv='u:{peer}']")
        u.open_conv(peer)
        u.page.wait_for_selector(f".msg:has-text('{text}')")
        assert u.page.locator(".msg[data-kind='file'] img.thumb").count() == 1
    alice.page.wait_for_selector(".conv:has-text('夜间值班')")
    alice.page.fill("#search", "值班表")
    alice.page.wait_for_selector("#search-results .hit:has-text('值班表已更新')")
    alice.page.fill("#search", "")


def test_offline_messages_queue_and_go_out_when_the_service_returns(world: dict[str, Any]) -> None:
    alice, bob, lb = world["alice"], world["bob"], world["lb"]
    alice.open_conv("bob")
    lb.stop()
    alice.page.wait_for_selector("#online-state[data-online='0']", timeout=15_000)
    alice.say("断网时写的消息")
    assert alice.mark_of("断网时写的消息") == "queued"
    alice.variants("offline-queued", "#online-state[data-online='0']")
    lb.start()
    alice.page.wait_for_selector("#online-state[data-online='1']", timeout=20_000)
    alice.wait_mark("断网时写的消息", "read", timeout=20_000)   # bob has the conversation open
    bob.page.wait_for_selector(".msg.in:has-text('断网时写的消息')")


def test_screens_in_both_languages_wide_and_narrow(world: dict[str, Any]) -> None:
    alice = world["alice"]
    for lang in ("zh", "en"):
        for size, viewport in (("wide", WIDE), ("narrow", NARROW)):
            alice.open_page(viewport, lang)
            tag = f"{lang}-{size}"
            shoot(alice.page, f"conversations-{tag}")
            alice.page.click(".conv[data-conv='u:bob']")
            alice.page.wait_for_selector(".msg:has-text('收到 received')")
            shoot(alice.page, f"chat-{tag}")
            alice.page.click("#verify-btn")
            alice.page.wait_for_selector("#safety-qr svg")
            shoot(alice.page, f"verify-{tag}")
            alice.page.click("#dialog-close")
            if size == "narrow":
                alice.page.click("#back-btn")
            alice.page.click(".conv:has-text('夜间值班')")
            alice.page.click("#members-btn")
            alice.page.wait_for_selector("#member-list .member")
            shoot(alice.page, f"group-{tag}")
            alice.page.click("#dialog-close")
            alice.page.click("#loc-btn")
            alice.page.fill("#loc-lat", "22.8170")
            alice.page.fill("#loc-lon", "108.3669")
            alice.page.select_option("#loc-precision", "km")
            alice.page.click("#loc-send")
            alice.page.wait_for_selector(".msg.out[data-kind='location'] svg.map")
            shoot(alice.page, f"location-{tag}")
            alice.page.click("#ptt-open-btn")
            alice.page.wait_for_selector("#ptt-screen:not([hidden])")
            shoot(alice.page, f"ptt-{tag}")
            alice.page.click("#ptt-leave")
            alice.page.wait_for_selector("#ptt-screen", state="hidden")
            if size == "narrow":
                alice.page.click("#back-btn")
            alice.page.fill("#search", "三点")
            alice.page.wait_for_selector("#search-results .hit")
            shoot(alice.page, f"search-{tag}")
            alice.page.fill("#search", "")
    assert not alice.errors


def test_key_change_warns_and_blocks_sending_until_acknowledged(world: dict[str, Any]) -> None:
    """Bob loses his device and keys; the operator resets his account and he enrols anew (new keys).
    Alice, who verified him, sees a warning and cannot send until she acknowledges it."""
    alice, lb, root, plain = world["alice"], world["lb"], world["root"], world["browsers"][1]
    world["bob"].close()
    db = sqlite3.connect(lb.dir / "comms.db")
    with db:  # the operator's account reset (no command for it yet): the user's rows go
        for table in ("comms_one_time_keys", "comms_queue", "comms_group_members", "comms_devices", "comms_users"):
            db.execute(f"DELETE FROM {table} WHERE user_id = 'bob'")
    db.close()
    world["bob"] = User("bob", root / "bob-new-phone", lb, plain, lb.invites[3])
    alice.open_page()
    alice.open_conv("bob")
    PLAINTEXTS.append("新手机上能收到吗")
    alice.page.fill("#composer-text", "新手机上能收到吗")
    alice.page.keyboard.press("Enter")
    alice.page.wait_for_selector("#keychange-banner:not([hidden])", timeout=15_000)
    alice.wait_mark("新手机上能收到吗", "blocked")
    assert alice.page.get_attribute("#conv-badge", "data-verified") == "0"
    alice.variants("keychange", "#keychange-banner:not([hidden])")
    alice.page.click("#keychange-ack")
    try:
        alice.wait_mark("新手机上能收到吗", "delivered", timeout=10_000)
    except Exception:
        print("MARK", alice.mark_of("新手机上能收到吗"), world["bob"].api("/api/state"))
        raise
    alice.page.wait_for_selector("#keychange-banner", state="hidden")


def test_nothing_new_in_clear_on_the_service_or_in_the_apps_files(world: dict[str, Any]) -> None:
    root: Path = world["root"]
    for u in ("alice", "carol"):
        world[u].app.stop()
    world["bob"].app.stop()
    world["lb"].stop()
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix not in (".wav", ".jpg", ".out", ".url")]
    assert any(p.name.endswith(".sealed") for p in files)
    blobs = {p: p.read_bytes() for p in files}
    for text in PLAINTEXTS:
        for needle in {text.encode("utf-8"), json.dumps(text).encode("ascii")}:
            hits = [str(p.relative_to(root)) for p, data in blobs.items() if needle in data]
            assert not hits, f"{text!r} in clear in {hits}"
    # nor the photo's camera model or maker note (its EXIF block) anywhere on the service or devices
    assert not any(b"DunpaiPhone" in data or b"secret-maker-note" in data for data in blobs.values())
