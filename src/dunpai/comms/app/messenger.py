"""The app's client: conversations kept on the device, live and offline sending, receipts, groups,
files, verification and key-change warnings, on top of the comms client library.

One :class:`Messenger` per app process. It

* rebuilds the conversations from the sealed history at start and appends every change to it;
* keeps the service connection up (:meth:`_supervise`): reconnects with back-off, shows the state,
  and sends the queued messages in order when the service is back (a resend uses the same message
  id, so the service stores it once and the receiver shows it once);
* receives through the call agent (which takes call signalling and hands everything else here);
* sends delivery receipts in batches and read receipts when a conversation is open in a visible
  window (Olm, to the sender's devices and my own, which keeps my other devices' read state in step);
* blocks sending to a contact whose signing key changed until the user acknowledges the warning.

Everything the browser sees goes through :meth:`emit` to the subscribed windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from dunpai.comms.app import files
from dunpai.comms.app.model import Record, State, group_conv, user_conv
from dunpai.comms.app.sealed_log import HistoryStore
from dunpai.comms.client import group_meta
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError, MalformedFrame, NotFound, UntrustedDevice
from dunpai.comms.location.share import Precision, coarsen, location_content, parse_location
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.attachments import FileKey

log = logging.getLogger("dunpai.comms.app")
Emit = Callable[[dict[str, Any] | bytes], None]   # a window: JSON events, or audio to play
RECEIPT_DELAY_S = 0.05
USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
COMPACT_AFTER = 64          # segments in the history log before it is compacted at start


class KeyChanged(CommsError):
    code = "key_changed"


class Messenger:
    def __init__(self, client: CommsClient, history: HistoryStore, *, file_limit: int = files.DEFAULT_LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.history = history
        self.file_limit = file_limit
        self.clock = clock
        self.state = State(client.user)
        self.online = False
        self.last_error = ""
        self.key_changes: dict[str, str] = {}          # user -> the new signing key seen in the directory
        self.focus: dict[int, str] = {}                # window id -> conversation open in a visible window
        self.subscribers: dict[int, Emit] = {}
        self.voice: Any = None                         # dunpai.comms.app.voice.Voice, set by the composition
        self._outbox: deque[str] = deque()
        self._outbox_wake = asyncio.Event()
        self._uploads: dict[str, bytes] = {}
        self._receipts: dict[tuple[str, str], list[str]] = {}   # (to user, what) -> mids
        self._receipt_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self.ready = asyncio.Event()                   # history loaded and first connection attempt made

    # -- life cycle ---------------------------------------------------------------------------------
    def load(self) -> None:
        for rec in self.history.load():
            self.state.apply(rec)
        if self.history.segments > COMPACT_AFTER:
            self.history.compact(self.state.snapshot())
        for mid in self._queued_here():
            self._outbox.append(mid)

    def _queued_here(self) -> list[str]:
        mine = [m for m in self.state.msgs.values()
                if m.out and m.sender == self.client.user and m.device == self.client.device_id
                and m.state == "queued"]
        return [m.mid for m in sorted(mine, key=lambda m: m.n)]

    async def start(self) -> None:
        self.spawn(self._supervise())
        self.spawn(self._send_loop())
        self.spawn(self._group_events())

    async def stop(self) -> None:
        if self._receipt_timer is not None:  # receipts still waiting go out first (briefly)
            self._receipt_timer.cancel()
            sending = self._flush_receipts_now()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.gather(*sending, return_exceptions=True)
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, CommsError, OSError):
                await t
        self.history.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        async def guarded() -> Any:
            try:
                return await coro
            except (CommsError, OSError, ValueError) as exc:
                log.info("background task ended: %s", type(exc).__name__)
                self.emit({"type": "error", "code": getattr(exc, "code", "error"), "message": str(exc)})
                return None

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- what windows see ---------------------------------------------------------------------------
    def emit(self, event: dict[str, Any] | bytes) -> None:
        for send in list(self.subscribers.values()):
            send(event)

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "me": self.client.user, "device": self.client.device_id,
                "online": self.online, "error": self.last_error, "convs": self.state.conversations(),
                "contacts": self.contacts(), "file_limit": self.file_limit,
                "voice": self.voice.view() if self.voice is not None else None}

    def contacts(self) -> dict[str, Any]:
        out = {}
        for user, c in self.client.state.contacts.items():
            if user != self.client.user:
                changed = user in self.key_changes  # a verification was of the old key
                out[user] = {"verified": bool(c.get("verified")) and not changed, "key_changed": changed}
        for user in self.key_changes:
            out.setdefault(user, {"verified": False, "key_changed": True})
        return out

    def record(self, rec: Record) -> bool:
        """Fold a record into the state, keep it in the sealed history and tell the windows."""
        if not self.state.apply(rec):
            return False
        self.history.append(rec)
        mid = rec.get("mid")
        conv_id = rec.get("conv") or (self.state.msgs[str(mid)].conv if mid in self.state.msgs else None)
        if mid is not None and rec["t"] != "seen" and str(mid) in self.state.msgs:
            self.emit({"type": "msg", "msg": self.state.message_view(self.state.msgs[str(mid)])})
        if conv_id is not None:
            self.emit({"type": "conv", "conv": self.state.conv_view(self.state.conv(str(conv_id)))})
        return True

    # -- connection ---------------------------------------------------------------------------------
    def _set_online(self, online: bool, error: str = "") -> None:
        if (online, error) != (self.online, self.last_error):
            self.online, self.last_error = online, error
            self.emit({"type": "online", "online": online, "error": error})
        if online:
            self._connected.set()
        else:
            self._connected.clear()

    async def _supervise(self) -> None:
        delay = 0.25
        while not self.client.revoked:
            try:
                await self.client.connect()
                await self.client.login()
            except (CommsError, OSError, TimeoutError) as exc:
                self._set_online(False, type(exc).__name__)
                self.ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)
                continue
            delay = 0.25
            self._set_online(True)
            self.ready.set()
            self._outbox_wake.set()
            self.spawn(self._after_login())
            conn = self.client.conn
            if conn is not None:
                await conn.closed.wait()
            self._set_online(False, "disconnected")
        self._set_online(False, "device_revoked")

    def is_connected(self) -> bool:
        conn = self.client.conn
        return conn is not None and not conn.closed.is_set()

    async def _after_login(self) -> None:
        """Bring groups and contacts up to date with the service after (re)connecting."""
        groups = set(await self.client.group_list())
        for gid in groups:
            info = await self.client.group_info(gid)
            self._members(gid, {str(m["user"]): str(m["role"]) for m in info["members"]})
        for c in list(self.state.convs.values()):
            if c.kind == "group" and c.id[2:] not in groups and not c.removed:
                self.record({"t": "conv", "conv": c.id, "kind": "group", "removed": True})
        await self.check_keys([c.id[2:] for c in self.state.convs.values() if c.kind == "user"])

    def _members(self, group_id: str, members: dict[str, str]) -> None:
        conv = group_conv(group_id)
        c = self.state.convs.get(conv)
        removed = self.client.user not in members
        if c is None or c.members != members or c.removed != removed:
            self.record({"t": "conv", "conv": conv, "kind": "group", "members": members, "removed": removed})

    async def _group_events(self) -> None:
        while True:
            ev = await self.client.events.get()
            if isinstance(ev, f.GroupEvent):
                self._members(ev.group_id, {str(m["user"]): str(m["role"]) for m in ev.members})
            elif isinstance(ev, f.Revoked):
                self.emit({"type": "online", "online": False, "error": "device_revoked"})

    # -- contacts and keys --------------------------------------------------------------------------
    async def directory_keys(self, users: list[str]) -> dict[str, str]:
        """The signing key the service's directory names for each of ``users`` (unchecked)."""
        conn = self.client.conn
        if conn is None:
            raise CommsError("not connected")
        found: dict[str, str] = {}
        for i in range(0, len(users), 100):
            for d in (await conn.request(f.KeysQuery, users=users[i : i + 100]))["devices"]:
                found[str(d["user"])] = str(d["user_key"])
        return found

    async def check_keys(self, users: list[str]) -> None:
        """Compare each contact's pinned signing key with the directory's; flag the changed ones."""
        pinned = self.client.state.contacts
        keys = await self.directory_keys(sorted({u for u in users if u in pinned and u != self.client.user}))
        for user, key in keys.items():
            if pinned[user]["key"] != key and self.key_changes.get(user) != key:
                self.key_changes[user] = key
                self.emit({"type": "contacts", "contacts": self.contacts()})
                self.emit({"type": "keychange", "user": user, "verified": bool(pinned[user].get("verified"))})

    def acknowledge_key_change(self, user: str) -> None:
        """The user saw the warning: trust the new key (not verified) and send what was blocked."""
        key = self.key_changes.pop(user, None)
        if key is None:
            raise NotFound("no key change to acknowledge for that user")
        self.client.state.contacts[user] = {"key": key, "verified": False}
        self.client.forget_devices(user)
        self.client.save()
        for m in sorted(self.state.msgs.values(), key=lambda x: x.n):
            if m.conv == user_conv(user) and m.state == "blocked" and m.device == self.client.device_id:
                self.record({"t": "status", "mid": m.mid, "status": "queued"})
                self._outbox.append(m.mid)
        self._outbox_wake.set()
        self.emit({"type": "contacts", "contacts": self.contacts()})

    async def open_chat(self, user: str) -> str:
        if user == self.client.user:
            raise MalformedFrame("user: you cannot open a chat with yourself")
        devices = await self.client.devices_of([user])
        if not any(d.user == user for d in devices):
            raise NotFound(f"user: no such user with an active device: {user}")
        conv = user_conv(user)
        if conv not in self.state.convs:
            self.record({"t": "conv", "conv": conv, "kind": "user", "name": user})
        self.emit({"type": "contacts", "contacts": self.contacts()})
        return conv

    # -- sending ------------------------------------------------------------------------------------
    def _new_message(self, conv: str, kind: str, **fields: Any) -> str:
        c = self.state.convs.get(conv)
        if c is None:
            raise NotFound("conv: no such conversation")
        if c.removed:
            raise NotFound("conv: you are no longer a member of this group")
        mid = self.client.new_id()
        status = "blocked" if c.kind == "user" and c.id[2:] in self.key_changes else "queued"
        self.record({"t": "msg", "mid": mid, "conv": conv, "sender": self.client.user,
                     "device": self.client.device_id, "out": True, "at": int(self.clock() * 1000), "kind": kind,
                     "status": status, **fields})
        if status == "queued":
            self._outbox.append(mid)
            self._outbox_wake.set()
        return mid

    def send_text(self, conv: str, text: str) -> str:
        if not text.strip() or len(text) > 20_000:
            raise MalformedFrame("text: 1 to 20000 characters")
        return self._new_message(conv, "text", text=text)

    def send_location(self, conv: str, lat: float, lon: float, precision: Precision) -> str:
        loc = coarsen(lat, lon, precision, int(self.clock() * 1000))
        view = {"lat": loc.lat, "lon": loc.lon, "precision": loc.precision, "accuracy_m": loc.accuracy_m,
                "at": loc.at_ms}
        return self._new_message(conv, "location", loc=view)

    async def send_file(self, conv: str, data: bytes, name: str, mime: str) -> str:
        files.check_upload(name, mime, len(data), self.file_limit)
        clean = await asyncio.to_thread(files.prepare, data)   # metadata removed before anything else
        thumb = await asyncio.to_thread(files.preview, clean) if files.is_picture(mime) else None
        mid = self._new_message(conv, "file", file={"name": name, "size": len(clean), "mime": mime})
        self._uploads[mid] = clean
        if thumb is not None:
            self.record({"t": "thumb", "mid": mid, "data": thumb})
        return mid

    async def _send_loop(self) -> None:
        while True:
            await self._outbox_wake.wait()
            self._outbox_wake.clear()
            while self._outbox and self.is_connected():
                mid = self._outbox[0]
                m = self.state.msgs.get(mid)
                if m is None or m.state != "queued":
                    self._outbox.popleft()
                    continue
                try:
                    await self._transmit(mid)
                except KeyChanged:
                    self.record({"t": "status", "mid": mid, "status": "blocked"})
                except CommsError as exc:
                    if not self.is_connected():
                        break  # stays queued: sent when the service is back
                    self.record({"t": "status", "mid": mid, "status": "failed", "error": f"{exc.code}: {exc}"})
                else:
                    self.record({"t": "status", "mid": mid, "status": "sent"})
                self._outbox.popleft()

    async def _transmit(self, mid: str) -> None:
        m = self.state.msgs[mid]
        c = self.state.conv(m.conv)
        peer = c.id[2:]
        if c.kind == "user" and peer in self.key_changes:
            raise KeyChanged(f"the signing key of {peer} changed")
        content: dict[str, Any]
        if m.kind == "text":
            content = {"type": "text", "body": m.text}
        elif m.kind == "location" and m.loc is not None:
            loc = coarsen(float(m.loc["lat"]), float(m.loc["lon"]), m.loc["precision"], int(m.loc["at"]))
            content = location_content(loc)
        elif m.kind == "file" and m.file is not None:
            content = await self._upload(mid, m.file)
        else:
            raise MalformedFrame("nothing to send")
        try:
            if c.kind == "group":
                await self.client.group_send_content(peer, content, mid=mid)
            else:
                await self.client.send_content(peer, {**content, "to": peer}, mid=mid)
        except UntrustedDevice:
            if c.kind == "user" and self.is_connected():
                await self.check_keys([peer])
                if peer in self.key_changes:
                    raise KeyChanged(f"the signing key of {peer} changed") from None
            raise

    async def _upload(self, mid: str, file: dict[str, Any]) -> dict[str, Any]:
        if "blob_id" in file:
            return {k: v for k, v in file.items() if k != "to"}
        data = self._uploads.get(mid)
        if data is None:
            raise MalformedFrame("file: the app stopped before the file was sent; send it again")

        def progress(done: int, total: int) -> None:
            self.emit({"type": "progress", "mid": mid, "done": done, "total": total})

        ref = await self.client.upload_file(data, str(file["name"]), str(file["mime"]), strip=False,
                                            progress=progress)
        content = ref.to_content()
        self.record({"t": "file", "mid": mid, "file": content})
        self._uploads.pop(mid, None)
        return content

    async def fetch_file(self, mid: str) -> tuple[bytes, str, str]:
        m = self.state.msgs.get(mid)
        if m is None or m.file is None or "blob_id" not in m.file:
            raise NotFound("mid: no such file")
        if mid in self._uploads:
            return self._uploads[mid], str(m.file["name"]), str(m.file["mime"])
        data = await self.client.fetch_file(FileKey.from_content(m.file))
        return data, str(m.file["name"]), str(m.file["mime"])

    # -- receiving ----------------------------------------------------------------------------------
    def on_received(self, r: Received) -> None:
        """Everything the call agent does not handle itself (called in arrival order)."""
        me = self.client.user
        content = r.content or {}
        if r.kind in ("text", "file", "location"):
            self._on_message(r, content)
        elif r.kind == "receipt":
            self._on_receipt(r, content)
        elif r.kind == "group_meta" and r.group_id is not None:
            self.spawn(self._on_meta(r.group_id, r.sender, content))
        elif r.kind == "media_key" and self.voice is not None:
            self.voice.on_media_key(r)
        elif r.sender != me:
            log.info("ignored content of kind %s", r.kind)

    def _on_message(self, r: Received, content: dict[str, Any]) -> None:
        me = self.client.user
        if r.group_id is not None:
            conv = group_conv(r.group_id)
        elif r.sender == me:  # sent from my other device: the content names the other party
            to = content.get("to")
            if not isinstance(to, str) or not USER_RE.fullmatch(to):
                return
            conv = user_conv(to)
        else:
            conv = user_conv(r.sender)
        if conv not in self.state.convs:
            kind = "group" if r.group_id else "user"
            self.record({"t": "conv", "conv": conv, "kind": kind, "name": conv[2:] if kind == "user" else ""})
            if kind == "group":
                self.spawn(self.refresh_group(str(r.group_id)))
        rec: Record = {"t": "msg", "mid": r.mid, "conv": conv, "sender": r.sender, "device": r.sender_device,
                       "out": r.sender == me, "at": r.sent_at, "kind": r.kind}
        if r.sender == me:
            rec["status"] = "sent"
        if r.kind == "text":
            rec["text"] = r.text or ""
        elif r.kind == "file" and r.file is not None:
            rec["file"] = r.file.to_content()
        else:
            try:
                loc = parse_location(content)
            except MalformedFrame:
                return
            rec["loc"] = {"lat": loc.lat, "lon": loc.lon, "precision": loc.precision, "accuracy_m": loc.accuracy_m,
                          "at": loc.at_ms}
        if not self.record(rec):
            return
        if r.sender != me:
            self._queue_receipt(r.sender, "delivered", r.mid)
            if conv in self.focus.values():
                self.mark_read(conv)
        if r.file is not None and files.is_picture(r.file.mime) and r.file.size <= files.PREVIEW_MAX_INPUT:
            self.spawn(self._preview(r.mid))

    async def _preview(self, mid: str) -> None:
        data, _, _ = await self.fetch_file(mid)
        thumb = await asyncio.to_thread(files.preview, data)
        if thumb is not None:
            self.record({"t": "thumb", "mid": mid, "data": thumb})

    async def refresh_group(self, group_id: str) -> None:
        info = await self.client.group_info(group_id)
        self._members(group_id, {str(m["user"]): str(m["role"]) for m in info["members"]})

    async def _on_meta(self, group_id: str, sender: str, content: dict[str, Any]) -> None:
        name = group_meta.parse_meta(content)
        conv = self.state.convs.get(group_conv(group_id))
        if conv is None or sender not in conv.members:
            await self.refresh_group(group_id)
            conv = self.state.conv(group_conv(group_id))
        if conv.members.get(sender) in group_meta.RENAMING_ROLES and conv.name != name:
            self.record({"t": "conv", "conv": conv.id, "kind": "group", "name": name})

    def _on_receipt(self, r: Received, content: dict[str, Any]) -> None:
        what, mids = content.get("what"), content.get("mids")
        if what not in ("delivered", "read") or not isinstance(mids, list) or len(mids) > 1000:
            return
        me = self.client.user
        for mid in mids:
            m = self.state.msgs.get(str(mid))
            if m is None:
                continue
            if r.sender == me:  # my other device read these: read here too
                if what == "read" and not m.out:
                    self._seen(m.conv, m.mid)
                continue
            c = self.state.conv(m.conv)
            addressed = r.sender in c.members if c.kind == "group" else c.id == user_conv(r.sender)
            if m.out and m.sender == me and addressed:
                self.record({"t": "rcpt", "mid": m.mid, "user": r.sender, "what": what})

    # -- receipts -----------------------------------------------------------------------------------
    def _queue_receipt(self, to: str, what: str, mid: str) -> None:
        self._receipts.setdefault((to, what), []).append(mid)
        if self._receipt_timer is None:
            self._receipt_timer = asyncio.get_running_loop().call_later(RECEIPT_DELAY_S, self._flush_receipts_now)

    def _flush_receipts_now(self) -> list[asyncio.Task[Any]]:
        self._receipt_timer = None
        batches, self._receipts = self._receipts, {}
        sending = []
        for (to, what), mids in batches.items():
            for i in range(0, len(mids), 500):
                content = {"type": "receipt", "v": 1, "what": what, "mids": mids[i : i + 500]}
                if self.is_connected():
                    sending.append(self.spawn(self.client.send_content(to, content)))
        return sending

    def _seen(self, conv: str, mid: str) -> None:
        self.record({"t": "seen", "conv": conv, "mid": mid})

    def mark_read(self, conv: str) -> None:
        """Everything in ``conv`` is read: remember it and tell the senders (and my other devices)."""
        unread = self.state.unread_in(conv)
        if not unread:
            return
        self._seen(conv, unread[-1].mid)
        for m in unread:
            self._queue_receipt(m.sender, "read", m.mid)
