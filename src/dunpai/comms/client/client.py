"""The asyncio client library: enrol, log in, send and receive end-to-end encrypted messages,
groups and files. The service only ever sees ciphertext.

Deliveries are processed in order by one task: de-duplicated on (sender, device, message id) before
decryption, decrypted, state saved (sealed), then acknowledged - so a crash or reconnect can only
cause a redelivery, which is then recognised and not shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.comms.client.connection import Connection
from dunpai.comms.client.state import LocalState, save_state
from dunpai.comms.errors import CommsError, DecryptionFailed, UntrustedDevice
from dunpai.comms.keys_port import DeviceKeys, verify_user_signature
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.attachments import FileKey, decrypt_file, encrypt_file, new_blob_id
from dunpai.comms.protocol.canonical import auth_bytes, b64d, b64e, device_keys_bytes, revoke_bytes
from dunpai.comms.protocol.metadata import is_media, strip_metadata
from dunpai.comms.protocol.olm import RemoteDevice
from dunpai.comms.protocol.safety import qr_payload, safety_number

ONE_TIME_KEY_TARGET = 50
# E2E content types handed to the application as they are (validated by their own modules:
# dunpai.comms.media.sframe.MediaKey, dunpai.comms.calls.signalling).
# location: comms.location.share; receipt, group_meta: comms.client.group_meta and comms.app.messenger.
EXTENSION_CONTENT_TYPES = frozenset({"media_key", "call", "location", "receipt", "group_meta"})


@dataclass(frozen=True)
class Received:
    kind: str  # "text" | "file"
    sender: str
    sender_device: str
    mid: str
    sent_at: int
    group_id: str | None = None
    text: str | None = None
    file: FileKey | None = None
    content: dict[str, Any] | None = None  # the decrypted content (EXTENSION_CONTENT_TYPES: signalling, keys …)


@dataclass
class Stats:
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def _new_id() -> str:
    return "m" + os.urandom(12).hex()


class CommsClient:
    def __init__(self, url: str, keys: DeviceKeys, state: LocalState, *, state_path: Path | None = None,
                 clock: Callable[[], float] = time.time, ssl_context: ssl.SSLContext | None = None,
                 new_id: Callable[[], str] = _new_id) -> None:
        self.url = url
        self.keys = keys
        self.state = state
        self.state_path = state_path
        self.clock = clock
        self.ssl_context = ssl_context
        self.new_id = new_id
        self.inbox: asyncio.Queue[Received] = asyncio.Queue()
        self.events: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)  # group events, errors of acks
        self.stats = Stats()
        self.revoked = False
        self.conn: Connection | None = None
        self._deliveries: asyncio.Queue[f.Deliver] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._senders: dict[tuple[str, str], RemoteDevice] = {}
        self._verified: set[tuple[str, ...]] = set()
        self._new_sessions = 0
        self._ackable: list[int] = []
        self._ack_task: asyncio.Task[None] | None = None
        self.ack_delay_s = 0.05
        self._group_devices: dict[str, tuple[str, list[RemoteDevice]]] = {}

    @property
    def user(self) -> str:
        return self.state.user

    @property
    def device_id(self) -> str:
        return self.state.device_id

    # -- connection and enrolment -------------------------------------------------------------------
    async def connect(self) -> None:
        self.conn = await Connection.open(self.url, self._on_push, self.ssl_context)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._process())

    def _c(self) -> Connection:
        if self.conn is None:
            raise CommsError("not connected")
        return self.conn

    async def register(self, invite: str | None) -> None:
        c, olm = self._c(), self.state.olm
        user_key = b64e(self.keys.public_key())
        device_sig = b64e(self.keys.sign(device_keys_bytes(self.user, self.device_id, olm.curve25519, olm.ed25519)))
        await c.request(f.Register, user=self.user, device_id=self.device_id, user_key=user_key,
                        device_keys=f.DeviceKeysBody(curve25519=olm.curve25519, ed25519=olm.ed25519),
                        device_sig=device_sig, invite=invite,
                        auth_sig=olm.sign(auth_bytes(c.challenge, self.user, self.device_id, "register")))
        self.state.registered = True
        self.state.contacts.setdefault(self.user, {"key": user_key, "verified": True})
        await self._top_up_keys(fallback=True)
        self.save()

    async def login(self) -> None:
        c = self._c()
        await c.request(f.Login, user=self.user, device_id=self.device_id,
                        auth_sig=self.state.olm.sign(auth_bytes(c.challenge, self.user, self.device_id, "login")))
        await self._top_up_keys(fallback=False)

    async def _top_up_keys(self, fallback: bool) -> None:
        have = (await self._c().request(f.KeysUpload))["one_time_keys"]
        if have < ONE_TIME_KEY_TARGET // 2 or fallback:
            keys = self.state.olm.new_one_time_keys(max(0, ONE_TIME_KEY_TARGET - have))
            fb = self.state.olm.new_fallback_key() if fallback else None
            await self._c().request(f.KeysUpload, one_time_keys=[f.SignedKey(**k) for k in keys],
                                    fallback_key=f.SignedKey(**fb) if fb else None)
            self.save()

    async def close(self) -> None:
        for task in (self._worker, self._ack_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._ack_task = None
        await self._flush_acks()  # best effort; anything not acknowledged is simply delivered again
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    def save(self) -> None:
        if self.state_path is not None:
            save_state(self.state, self.state_path, self.keys)

    # -- directory and trust -----------------------------------------------------------------------
    async def devices_of(self, users: list[str]) -> list[RemoteDevice]:
        """Active devices of ``users`` whose keys are signed by the user's (pinned) signing key."""
        out: list[RemoteDevice] = []
        for i in range(0, len(users), 100):
            result = await self._c().request(f.KeysQuery, users=users[i : i + 100])
            for d in result["devices"]:
                pinned = self._pin(d["user"], d["user_key"])
                proof = (d["user"], d["device_id"], d["curve25519"], d["ed25519"], d["user_key"], d["device_sig"])
                if proof not in self._verified:  # each (device keys, signature) is checked once
                    try:
                        verify_user_signature(pinned, device_keys_bytes(*proof[:4]), b64d(d["device_sig"]))
                    except (CommsError, ValueError):
                        self.stats.errors.append(f"unsigned device {d['user']}/{d['device_id']} ignored")
                        continue
                    self._verified.add(proof)
                out.append(RemoteDevice(d["user"], d["device_id"], d["curve25519"], d["ed25519"]))
        return out

    def _pin(self, user: str, user_key: str) -> bytes:
        """Trust on first use; a changed signing key is refused until verified again out of band."""
        contact = self.state.contacts.setdefault(user, {"key": user_key, "verified": False})
        if contact["key"] != user_key:
            raise UntrustedDevice(f"the signing key of {user} changed; verify the safety number again")
        return b64d(user_key)

    def forget_devices(self, user: str) -> None:
        """Drop what is cached about ``user``'s devices (after their signing key was re-pinned)."""
        self._senders = {k: d for k, d in self._senders.items() if k[0] != user}
        self._verified = {p for p in self._verified if p[0] != user}
        self._group_devices.clear()

    async def user_key(self, user: str) -> bytes:
        if user not in self.state.contacts:
            await self.devices_of([user])
        if user not in self.state.contacts:
            raise UntrustedDevice(f"no keys known for {user}")
        return b64d(self.state.contacts[user]["key"])

    async def safety_number(self, user: str) -> tuple[str, str]:
        """(60-digit safety number, QR payload) for comparing keys with ``user`` out of band."""
        theirs, mine = await self.user_key(user), self.keys.public_key()
        return safety_number(self.user, mine, user, theirs), qr_payload(self.user, mine, user, theirs)

    async def mark_verified(self, user: str, expected_safety_number: str) -> None:
        number, _ = await self.safety_number(user)
        if "".join(number.split()) != "".join(expected_safety_number.split()):
            raise UntrustedDevice("safety numbers do not match")
        self.state.contacts[user]["verified"] = True
        self.save()

    async def revoke_device(self, device_id: str) -> None:
        await self._c().request(f.DeviceRevoke, device_id=device_id,
                                sig=b64e(self.keys.sign(revoke_bytes(self.user, device_id))))

    # -- 1:1 ----------------------------------------------------------------------------------------
    async def _ensure_sessions(self, devices: list[RemoteDevice]) -> list[RemoteDevice]:
        olm = self.state.olm
        missing = [d for d in devices if not olm.has_session(d)]
        by_ref = {(d.user, d.device_id): d for d in missing}
        for i in range(0, len(missing), 100):
            refs = [f.DeviceRef(user=d.user, device_id=d.device_id) for d in missing[i : i + 100]]
            for claim in (await self._c().request(f.KeysClaim, devices=refs))["claims"]:
                try:
                    olm.start_session(by_ref[(claim["user"], claim["device_id"])], claim)
                except (CommsError, ValueError, KeyError):
                    self.stats.errors.append(f"bad one-time key from {claim.get('user')}")
        return [d for d in devices if olm.has_session(d)]

    async def send_olm(self, devices: list[RemoteDevice], content: dict[str, Any], mid: str | None = None) -> str:
        mid = mid or self.new_id()
        ready = await self._ensure_sessions(devices)
        messages = [f.ToDevice(user=d.user, device_id=d.device_id, payload=self.state.olm.encrypt(d, mid, content))
                    for d in ready]
        if messages:
            for i in range(0, len(messages), 1000):
                await self._c().request(f.Send, msg_id=mid, messages=messages[i : i + 1000])
        self.save()
        return mid

    async def send_content(self, user: str, content: dict[str, Any], mid: str | None = None) -> str:
        """Send to ``user``'s devices and my other devices; a given ``mid`` makes a resend idempotent."""
        users = sorted({user, self.user})
        devices = [d for d in await self.devices_of(users) if (d.user, d.device_id) != (self.user, self.device_id)]
        if not any(d.user == user for d in devices):
            raise UntrustedDevice(f"{user} has no verified active device")
        return await self.send_olm(devices, content, mid)

    async def send_text(self, user: str, text: str) -> str:
        return await self.send_content(user, {"type": "text", "body": text})

    # -- groups ---------------------------------------------------------------------------------------
    async def group_create(self, group_id: str) -> None:
        await self._c().request(f.GroupCreate, group_id=group_id)

    async def group_add(self, group_id: str, user: str, role: str = "member") -> None:
        await self._c().request(f.GroupAdd, group_id=group_id, user=user, role=role)

    async def group_remove(self, group_id: str, user: str) -> None:
        await self._c().request(f.GroupRemove, group_id=group_id, user=user)

    async def group_role(self, group_id: str, user: str, role: str) -> None:
        await self._c().request(f.GroupRole, group_id=group_id, user=user, role=role)

    async def group_info(self, group_id: str) -> dict[str, Any]:
        return await self._c().request(f.GroupInfo, group_id=group_id)

    async def group_list(self) -> list[str]:
        return list((await self._c().request(f.GroupList))["groups"])

    async def group_send_content(self, group_id: str, content: dict[str, Any], mid: str | None = None) -> str:
        info = await self.group_info(group_id)
        cached = self._group_devices.get(group_id)
        if cached is not None and cached[0] == info["devices_digest"]:
            devices = cached[1]  # same members, same devices (the service's digest says so)
        else:
            devices = [d for d in await self.devices_of([m["user"] for m in info["members"]])
                       if (d.user, d.device_id) != (self.user, self.device_id)]
            self._group_devices[group_id] = (info["devices_digest"], devices)
        devset = frozenset((d.user, d.device_id) for d in devices)
        groups, now = self.state.groups, self.clock()
        if groups.needs_rotation(group_id, devset, now):
            room_key = groups.rotate(group_id, devset, now)
            await self.send_olm(devices, room_key)
        mid = mid or self.new_id()
        await self._c().request(f.GroupSend, group_id=group_id, msg_id=mid,
                                payload=groups.encrypt(group_id, mid, content))
        self.save()
        return mid

    async def group_send_text(self, group_id: str, text: str) -> str:
        return await self.group_send_content(group_id, {"type": "text", "body": text})

    # -- media relay --------------------------------------------------------------------------------
    async def relay_ticket(self, mode: str, *, group_id: str | None = None, call_id: str | None = None,
                           peer: str | None = None, priority: int | None = None) -> dict[str, Any]:
        """A relay ticket from the service: ``{ticket, session, mode, priority, expires_ms, relay}``."""
        return await self._c().request(f.RelayTicket, mode=mode, group_id=group_id, call_id=call_id, peer=peer,
                                       priority=priority)

    # -- files ----------------------------------------------------------------------------------------
    async def upload_file(self, data: bytes, name: str, mime: str, strip: bool = True,
                          progress: Callable[[int, int], None] | None = None) -> FileKey:
        """Strip location metadata (media), encrypt and upload; ``progress(chunks done, total)``."""
        if strip and is_media(data):
            data = strip_metadata(data)
        ref, chunks = encrypt_file(data, new_blob_id(), name, mime)
        for i, chunk in enumerate(chunks):
            await self._c().request(f.BlobPut, blob_id=ref.blob_id, index=i, total=len(chunks), data=b64e(chunk))
            if progress is not None:
                progress(i + 1, len(chunks))
        return ref

    async def send_file(self, to: str, data: bytes, name: str, mime: str, *, group: bool = False) -> FileKey:
        ref = await self.upload_file(data, name, mime)
        if group:
            await self.group_send_content(to, ref.to_content())
        else:
            await self.send_content(to, ref.to_content())
        return ref

    async def fetch_file(self, ref: FileKey) -> bytes:
        chunks = [b64d((await self._c().request(f.BlobGet, blob_id=ref.blob_id, index=i))["data"])
                  for i in range(ref.chunks)]
        return decrypt_file(ref, chunks)

    # -- receiving ------------------------------------------------------------------------------------
    def _on_push(self, frame: Any) -> None:
        if isinstance(frame, f.Deliver):
            self._deliveries.put_nowait(frame)
        else:
            if isinstance(frame, f.Revoked):
                self.revoked = True
            with contextlib.suppress(asyncio.QueueFull):  # nobody reading: drop, never grow unbounded
                self.events.put_nowait(frame)

    async def receive(self, timeout: float = 10.0) -> Received:
        async with asyncio.timeout(timeout):
            return await self.inbox.get()

    async def _process(self) -> None:
        """Handle deliveries in order. State is saved (sealed) before anything is acknowledged, and
        acknowledgements go out in one batch ``ack_delay_s`` later (not awaited: a lost one only
        causes a redelivery, which is de-duplicated) - so a burst of messages costs one ack frame
        and acks never delay the decryption of the messages behind them."""
        handled: list[int] = []
        while True:
            d = await self._deliveries.get()
            try:
                await self._handle(d)
            except (CommsError, ValueError, KeyError, TypeError) as exc:
                self.stats.rejected += 1
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            handled.append(d.seq)
            if self._deliveries.empty() or len(handled) >= 500:
                self.save()
                self._ackable += handled
                handled = []
                if self._ack_task is None or self._ack_task.done():
                    self._ack_task = asyncio.create_task(self._ack_later())

    async def _ack_later(self) -> None:
        await asyncio.sleep(self.ack_delay_s)
        await self._flush_acks()

    async def _flush_acks(self) -> None:
        seqs, self._ackable = self._ackable, []
        for i in range(0, len(seqs), 1000):
            if self.conn is not None:
                with contextlib.suppress(CommsError):
                    await self.conn.notify(f.Ack, seqs=seqs[i : i + 1000])

    async def _sender_device(self, user: str, device_id: str) -> RemoteDevice:
        cached = self._senders.get((user, device_id))
        if cached is not None:
            return cached
        for d in await self.devices_of([user]):
            self._senders[(d.user, d.device_id)] = d
        found = self._senders.get((user, device_id))
        if found is None:
            raise UntrustedDevice("sender device unknown or revoked")
        return found

    async def _handle(self, d: f.Deliver) -> None:
        key = f"{d.sender_user}/{d.sender_device}/{d.group_id or ''}/{d.msg_id}"
        if key in self.state.seen:
            self.stats.duplicates += 1
            return
        if d.group_id is None:
            sender = await self._sender_device(d.sender_user, d.sender_device)
            envelope = self.state.olm.decrypt(sender, d.payload)
            if d.payload.startswith("olm1.0."):  # a new session used up one of our one-time keys
                self._new_sessions += 1
                if self._new_sessions >= ONE_TIME_KEY_TARGET // 5:
                    self._new_sessions = 0
                    await self._top_up_keys(fallback=False)
        else:
            envelope = self.state.groups.decrypt(d.group_id, d.sender_user, d.sender_device, d.payload)
        if envelope["mid"] != d.msg_id:
            raise DecryptionFailed("message id does not match the encrypted envelope")
        self.state.mark_seen(key)
        content = envelope["content"]
        kind = content.get("type")
        if kind == "room_key" and d.group_id is None:
            self.state.groups.add_inbound(str(content["group_id"]), d.sender_user, d.sender_device, content)
            return
        if kind == "text" and isinstance(content.get("body"), str):
            self.inbox.put_nowait(Received("text", d.sender_user, d.sender_device, d.msg_id, d.sent_at, d.group_id,
                                           text=content["body"], content=dict(content)))
        elif kind == "file":
            ref = FileKey.from_content(content)
            self.state.files[d.msg_id] = content
            self.inbox.put_nowait(Received("file", d.sender_user, d.sender_device, d.msg_id, d.sent_at, d.group_id,
                                           file=ref, content=dict(content)))
        elif kind in EXTENSION_CONTENT_TYPES:
            self.inbox.put_nowait(Received(str(kind), d.sender_user, d.sender_device, d.msg_id, d.sent_at,
                                           d.group_id, content=dict(content)))
        else:
            raise DecryptionFailed("unknown content type")
