"""A client that also talks to users on other deployments, through the bridge.

Remote users are addressed ``user@deployment``. Directory look-ups, one-time-key claims, sends and
file copies go as ``fed1`` envelopes to the bridge's device on the user's own service; the bridge
answers the same way. The Olm session is between the two users' devices: the bridge relays the
ciphertext and the public keys, and cannot read or alter the content (Olm authenticates it, and the
envelope inside names both parties and their keys). Remote contacts are pinned under their full
address (trust on first use; compare safety numbers to be sure).

Spanning groups (members on several deployments, defined in the bridge policy) use Megolm like
local groups, under the group id ``span:<name>`` and with full addresses as sender names: the
sender shares its session key with every member device as an Olm message through the bridge, then
hands the bridge one Megolm ciphertext per message, which the bridge fans out. The bridge holds no
group key. Media keys for a spanning talk-group are ordinary group content (``media_key``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from dunpai.comms.bridge import wire
from dunpai.comms.bridge.policy import split_address
from dunpai.comms.client.client import EXTENSION_CONTENT_TYPES, CommsClient, Received
from dunpai.comms.errors import (
    CommsError,
    DecryptionFailed,
    Forbidden,
    NotConfigured,
    NotFound,
    UntrustedDevice,
)
from dunpai.comms.keys_port import verify_user_signature
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.attachments import FileKey
from dunpai.comms.protocol.canonical import b64d, device_keys_bytes
from dunpai.comms.protocol.megolm import GroupCrypto
from dunpai.comms.protocol.olm import RemoteDevice
from dunpai.comms.protocol.padding import pad_json

BRIDGE_USER = "bridge"
SPAN_PREFIX = "span:"
_REFUSALS: dict[str, type[CommsError]] = {"forbidden": Forbidden, "not_found": NotFound,
                                          "not_configured": NotConfigured}


@dataclass(frozen=True)
class MediaAdmission:
    url: str                    # the bridge's media link (or its constant-rate tunnel)
    ticket: str = field(repr=False)
    cbr_key: bytes | None = None  # the tunnel's static X25519 public key, to pin


def span_encrypt(groups: GroupCrypto, group_id: str, sender: str, device_id: str, mid: str,
                 content: dict[str, Any]) -> str:
    """Megolm-encrypt with the outbound session of ``group_id`` like ``GroupCrypto.encrypt``, naming
    the sender by its full ``user@deployment`` address (what members elsewhere know it as)."""
    out = groups.outbound[group_id]
    body = {"v": 1, "group_id": group_id, "mid": mid, "sender": sender, "sender_device": device_id,
            "content": content}
    message = out.session.encrypt(pad_json(body))
    out.sent += 1
    return f"megolm1.{out.session.session_id}.{message.to_base64()}"


class FederatedClient(CommsClient):
    bridge_user = BRIDGE_USER
    bridge_timeout_s = 15.0

    def __init__(self, *args: Any, home: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.home = home  # this device's deployment: needed for spanning groups
        self._fed_pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def address(self) -> str:
        if self.home is None:
            raise NotConfigured("spanning groups need the client's home deployment (home=...)")
        return f"{self.user}@{self.home}"

    # -- requests to the bridge --------------------------------------------------------------------
    async def _bridge(self, op: str, **fields: Any) -> dict[str, Any]:
        rid = self.new_id()
        fields = {k: v for k, v in fields.items() if v is not None}
        bridges = await self._bridge_devices()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._fed_pending[rid] = future
        try:
            await self._c().request(f.Send, msg_id=rid, messages=[
                f.ToDevice(user=self.bridge_user, device_id=b.device_id, payload=wire.encode(op, rid=rid, **fields))
                for b in bridges[:1]])
            async with asyncio.timeout(self.bridge_timeout_s):
                answer = await future
        finally:
            self._fed_pending.pop(rid, None)
        if answer["op"] == "refused":
            raise _REFUSALS.get(str(answer.get("code")), CommsError)(str(answer.get("reason", "refused by the bridge")))
        return answer

    async def _bridge_devices(self) -> list[Any]:
        result = await self._c().request(f.KeysQuery, users=[self.bridge_user])
        if not result["devices"]:
            raise NotFound("this deployment has no bridge")
        return [RemoteDevice(d["user"], d["device_id"], d["curve25519"], d["ed25519"]) for d in result["devices"]]

    def _verified_device(self, address: str, user: str, d: dict[str, Any]) -> RemoteDevice:
        """Check the device's keys are signed by the (pinned) user key of ``address``."""
        pinned = self._pin(address, str(d["user_key"]))
        try:
            verify_user_signature(pinned, device_keys_bytes(user, d["device_id"], d["curve25519"], d["ed25519"]),
                                  b64d(d["device_sig"]))
        except (CommsError, ValueError) as exc:
            raise UntrustedDevice(f"device keys of {address} are not signed by its user key") from exc
        return RemoteDevice(user, str(d["device_id"]), str(d["curve25519"]), str(d["ed25519"]))

    async def remote_devices(self, address: str, group: str | None = None) -> list[RemoteDevice]:
        """The remote user's devices, with Olm sessions ready (``group``: as a fellow member of
        that spanning group)."""
        user, _ = split_address(address)
        answer = await self._bridge("query", to=address, group=group)
        devices = [self._verified_device(address, user, d) for d in answer["devices"]]
        missing = [d.device_id for d in devices if not self.state.olm.has_session(d)]
        if missing:  # a second round trip only when a new session is needed
            answer = await self._bridge("query", to=address, claim=missing, group=group)
            devices = [self._verified_device(address, user, d) for d in answer["devices"]]
            for d, raw in zip(devices, answer["devices"], strict=True):
                if not self.state.olm.has_session(d) and raw.get("claim") is not None:
                    self.state.olm.start_session(d, raw["claim"])
        out = [d for d in devices if self.state.olm.has_session(d)]
        if not out:
            raise UntrustedDevice(f"{address} has no verified active device")
        return out

    async def send_remote_content(self, address: str, content: dict[str, Any], service: str = "message") -> str:
        mid = self.new_id()
        for device in await self.remote_devices(address):
            payload = self.state.olm.encrypt(device, mid, content)
            await self._bridge("send", to=address, device=device.device_id, msg_id=mid, payload=payload,
                               service=service)
        self.save()
        return mid

    # -- spanning groups, calls and push-to-talk -------------------------------------------------------
    async def span_roster(self, group: str) -> list[str]:
        """The members (``user@deployment``) of spanning group ``group``; members only."""
        return [str(m) for m in (await self._bridge("roster", group=group))["members"]]

    async def span_send_content(self, group: str, content: dict[str, Any]) -> str:
        """Send ``content`` to every member of spanning group ``group`` (Megolm; a fresh session,
        shared over Olm, whenever the member devices changed)."""
        me, gid = self.address, SPAN_PREFIX + group
        devices = [(m, d) for m in await self.span_roster(group) if m != me
                   for d in await self._member_devices(m, group)]
        devset = frozenset((m, d.device_id) for m, d in devices)
        groups, now = self.state.groups, self.clock()
        if groups.needs_rotation(gid, devset, now):
            room_key, kmid = groups.rotate(gid, devset, now), self.new_id()
            for m, d in devices:
                await self._bridge("send", to=m, device=d.device_id, msg_id=kmid, service="message", group=group,
                                   payload=self.state.olm.encrypt(d, kmid, room_key))
        mid = self.new_id()
        await self._bridge("group", group=group, msg_id=mid,
                           payload=span_encrypt(groups, gid, me, self.device_id, mid, content))
        self.save()
        return mid

    async def _member_devices(self, address: str, group: str) -> list[RemoteDevice]:
        """A member's devices; none for a member not enrolled yet (the session rotates once they are)."""
        try:
            return await self.remote_devices(address, group=group)
        except NotFound:
            return []

    async def span_send_file(self, group: str, data: bytes, name: str, mime: str) -> FileKey:
        """Upload ``data`` encrypted, have the bridge copy the blob to the other members' deployments,
        and send its key to the group (Megolm)."""
        ref = await self.upload_file(data, name, mime)
        await self._bridge("file", group=group, blob_id=ref.blob_id, chunks=ref.chunks)
        await self.span_send_content(group, ref.to_content())
        return ref

    async def span_send_text(self, group: str, text: str) -> str:
        return await self.span_send_content(group, {"type": "text", "body": text})

    async def media_ticket(self, *, mode: str = "ptt", group: str | None = None, call: str | None = None,
                           peer: str | None = None, host: str | None = None) -> tuple[str, str]:
        """(URL, ticket) to join a spanning talk-group (``group``), a spanning group call
        (``mode="call", group``) or a 1:1 call with ``peer`` (``mode="call", call, peer``; hosted by
        ``host``, by default the peer's deployment). Use them like a relay URL and ticket: the bridge's
        media link when another deployment hosts the media, else one's own relay (the ticket from
        one's own service, through the bridge)."""
        admission = await self.media_admission(mode=mode, group=group, call=call, peer=peer, host=host)
        if admission.cbr_key is not None:
            raise NotConfigured("this bridge's media link runs at constant rate: use media_admission and "
                                "a CbrTunnelClient")
        return admission.url, admission.ticket

    async def media_admission(self, *, mode: str = "ptt", group: str | None = None, call: str | None = None,
                              peer: str | None = None, host: str | None = None) -> MediaAdmission:
        """Like :meth:`media_ticket`, plus the pinned key of the link's constant-rate tunnel if it has
        one (then connect through ``CbrTunnelClient(url, cbr_key)``)."""
        answer = await self._bridge("media_ticket", mode=mode, group=group, call=call, peer=peer, host=host)
        key = answer.get("cbr_key")
        return MediaAdmission(str(answer["url"]), str(answer["ticket"]),
                              bytes.fromhex(key) if isinstance(key, str) else None)

    async def send_remote_text(self, address: str, text: str) -> str:
        return await self.send_remote_content(address, {"type": "text", "body": text})

    async def send_remote_file(self, address: str, data: bytes, name: str, mime: str) -> FileKey:
        ref = await self.upload_file(data, name, mime)
        await self._bridge("file", to=address, blob_id=ref.blob_id, chunks=ref.chunks)
        await self.send_remote_content(address, ref.to_content(), service="file")
        return ref

    # -- deliveries from the bridge ------------------------------------------------------------------
    async def _handle(self, d: f.Deliver) -> None:
        if d.sender_user != self.bridge_user or d.group_id is not None or not wire.is_federation(d.payload):
            await super()._handle(d)
            return
        env = wire.decode(d.payload)
        if env["op"] in ("query_result", "result", "refused"):
            future = self._fed_pending.get(str(env.get("rid")))
            if future is not None and not future.done():
                future.set_result(env)
            return
        if env["op"] == "deliver":
            await self._remote_deliver(d, env)

    async def _remote_deliver(self, d: f.Deliver, env: dict[str, Any]) -> None:
        if "group" in env:
            await self._span_deliver(d, env)
            return
        address, device_id = wire.text(env, "from"), wire.text(env, "device", 64)
        mid = wire.text(env, "msg_id", 64)
        key = f"{address}/{device_id}//{mid}"
        if key in self.state.seen:
            self.stats.duplicates += 1
            return
        user, _ = split_address(address)
        keys = env.get("sender_keys")
        if not isinstance(keys, dict):
            raise DecryptionFailed("federated delivery without sender keys")
        sender = self._verified_device(address, user, {**keys, "device_id": device_id})
        envelope = self.state.olm.decrypt(sender, wire.text(env, "payload", f.MAX_PAYLOAD_CHARS))
        if envelope["mid"] != mid:
            raise DecryptionFailed("message id does not match the encrypted envelope")
        self.state.mark_seen(key)
        content = envelope["content"]
        if content.get("type") == "room_key":  # a spanning group's session key, from a fellow member
            if not str(content.get("group_id", "")).startswith(SPAN_PREFIX):
                raise DecryptionFailed("room key for a group that does not span deployments")
            self.state.groups.add_inbound(str(content["group_id"]), address, device_id, content)
            return
        self._to_inbox(content, address, device_id, mid, d.sent_at, None)

    async def _span_deliver(self, d: f.Deliver, env: dict[str, Any]) -> None:
        group, address = wire.text(env, "group", 64), wire.text(env, "from")
        device_id, mid = wire.text(env, "device", 64), wire.text(env, "msg_id", 64)
        key = f"{address}/{device_id}/{SPAN_PREFIX}{group}/{mid}"
        if key in self.state.seen:
            self.stats.duplicates += 1
            return
        split_address(address)
        envelope = self.state.groups.decrypt(SPAN_PREFIX + group, address, device_id,
                                             wire.text(env, "payload", f.MAX_PAYLOAD_CHARS))
        if envelope["mid"] != mid:
            raise DecryptionFailed("message id does not match the encrypted envelope")
        self.state.mark_seen(key)
        self._to_inbox(envelope["content"], address, device_id, mid, d.sent_at, group)

    def _to_inbox(self, content: dict[str, Any], address: str, device_id: str, mid: str, sent_at: int,
                  group: str | None) -> None:
        if content.get("type") == "text" and isinstance(content.get("body"), str):
            self.inbox.put_nowait(Received("text", address, device_id, mid, sent_at, group, text=content["body"]))
        elif content.get("type") == "file":
            self.state.files[mid] = content
            self.inbox.put_nowait(Received("file", address, device_id, mid, sent_at, group,
                                           file=FileKey.from_content(content)))
        elif content.get("type") in EXTENSION_CONTENT_TYPES:  # location, call signalling, media keys
            self.inbox.put_nowait(Received(str(content["type"]), address, device_id, mid, sent_at, group,
                                           content=dict(content)))
        else:
            raise DecryptionFailed("unknown content type")
