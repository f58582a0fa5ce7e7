"""A client that also talks to users on other deployments, through the bridge.

Remote users are addressed ``user@deployment``. Directory look-ups, one-time-key claims, sends and
file copies go as ``fed1`` envelopes to the bridge's device on the user's own service; the bridge
answers the same way. The Olm session is between the two users' devices: the bridge relays the
ciphertext and the public keys, and cannot read or alter the content (Olm authenticates it, and the
envelope inside names both parties and their keys). Remote contacts are pinned under their full
address (trust on first use; compare safety numbers to be sure).
"""

from __future__ import annotations

import asyncio
from typing import Any

from dunpai.comms.bridge import wire
from dunpai.comms.bridge.policy import split_address
from dunpai.comms.client.client import EXTENSION_CONTENT_TYPES, CommsClient, Received
from dunpai.comms.errors import CommsError, DecryptionFailed, Forbidden, NotFound, UntrustedDevice
from dunpai.comms.keys_port import verify_user_signature
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.attachments import FileKey
from dunpai.comms.protocol.canonical import b64d, device_keys_bytes
from dunpai.comms.protocol.olm import RemoteDevice

BRIDGE_USER = "bridge"
_REFUSALS: dict[str, type[CommsError]] = {"forbidden": Forbidden, "not_found": NotFound}


class FederatedClient(CommsClient):
    bridge_user = BRIDGE_USER
    bridge_timeout_s = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fed_pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # -- requests to the bridge --------------------------------------------------------------------
    async def _bridge(self, op: str, **fields: Any) -> dict[str, Any]:
        rid = self.new_id()
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

    async def remote_devices(self, address: str) -> list[RemoteDevice]:
        """The remote user's devices, with Olm sessions ready."""
        user, _ = split_address(address)
        answer = await self._bridge("query", to=address)
        devices = [self._verified_device(address, user, d) for d in answer["devices"]]
        missing = [d.device_id for d in devices if not self.state.olm.has_session(d)]
        if missing:  # a second round trip only when a new session is needed
            answer = await self._bridge("query", to=address, claim=missing)
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
        if content.get("type") == "text" and isinstance(content.get("body"), str):
            self.inbox.put_nowait(Received("text", address, device_id, mid, d.sent_at, text=content["body"]))
        elif content.get("type") == "file":
            self.state.files[mid] = content
            self.inbox.put_nowait(Received("file", address, device_id, mid, d.sent_at,
                                           file=FileKey.from_content(content)))
        elif content.get("type") in EXTENSION_CONTENT_TYPES:  # location, call signalling, media keys
            self.inbox.put_nowait(Received(str(content["type"]), address, device_id, mid, d.sent_at,
                                           content=dict(content)))
        else:
            raise DecryptionFailed("unknown content type")
