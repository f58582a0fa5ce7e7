"""The bridge process: one device on each deployment, relaying federation envelopes.

The bridge is an ordinary enrolled user (``bridge``) on every deployment it joins, connected over
mutual TLS with pinned certificates. Users send it ``fed1`` envelopes; it checks the policy, audits
the crossing (metadata only) and forwards, on the other deployment, the end-to-end ciphertext to the
recipient's device together with the sender's public device keys. It copies encrypted file blobs
chunk by chunk. It never holds a content key: Olm sessions run between the users' devices.

Spanning groups (members on several deployments, defined in the policy): members fetch the roster
(``roster``), share their Megolm session key with each member device as an ordinary Olm message
through the bridge (``send`` with ``group``), and hand the bridge one Megolm ciphertext per message
(``group``), which it fans out to every member device on every deployment. Calls and push-to-talk:
``media_ticket`` admits a member to the bridge's media link (:mod:`dunpai.comms.bridge.media_link`),
which joins them to the host deployment's relay; media keys are E2E content like any other. The
relay tickets come from the host deployment's service, which issues them to the bridge's account
on behalf of the member (``relay_ticket`` with ``on_behalf``): the bridge never holds a relay secret.
A member on the host deployment itself gets its relay's URL and such a ticket directly.
"""

from __future__ import annotations

import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.comms.bridge import wire
from dunpai.comms.bridge.audit import CrossingLog
from dunpai.comms.bridge.media_link import LinkTickets, relay_request
from dunpai.comms.bridge.policy import BridgePolicy, split_address
from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState, load_state
from dunpai.comms.errors import CommsError, Forbidden, NotConfigured, NotFound
from dunpai.comms.keys_port import DeviceKeys, MemoryKeys
from dunpai.comms.media.ticket_policy import call_session_id
from dunpai.comms.protocol import frames as f

BRIDGE_USER = "bridge"
BRIDGE_DEVICE = "b1"
_CALL_ID = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")


def _mid() -> str:
    return "b" + os.urandom(12).hex()


class BridgeSide(CommsClient):
    """The bridge's device on one deployment: deliveries go to the bridge, never to Olm."""

    def __init__(self, deployment: str, url: str, relay: Bridge, keys: DeviceKeys,
                 ssl_context: ssl.SSLContext | None, state: LocalState | None = None,
                 state_path: Path | None = None) -> None:
        super().__init__(url, keys, state or LocalState.new(BRIDGE_USER, BRIDGE_DEVICE), ssl_context=ssl_context,
                         state_path=state_path)
        self.deployment = deployment
        self.relay = relay

    async def _handle(self, d: f.Deliver) -> None:
        await self.relay.handle(self.deployment, d)

    async def raw_send(self, user: str, device_id: str, payload: str) -> dict[str, Any]:
        return await self._c().request(f.Send, msg_id=_mid(), messages=[
            f.ToDevice(user=user, device_id=device_id, payload=payload)])

    async def request(self, frame_type: type[Any], **fields: Any) -> dict[str, Any]:
        return await self._c().request(frame_type, **fields)


@dataclass
class Bridge:
    policy: BridgePolicy
    log: CrossingLog
    clock: Callable[[], float] = time.time
    sides: dict[str, BridgeSide] = field(default_factory=dict)
    links: LinkTickets | None = None  # the media link's tickets (calls and push-to-talk), if it runs

    async def join(self, deployment: str, url: str, invite: str | None, *,
                   ssl_context: ssl.SSLContext | None = None, keys: DeviceKeys | None = None,
                   state_path: Path | None = None) -> BridgeSide:
        """Connect to ``deployment``: log in with the saved device state, or enrol with ``invite``."""
        if deployment not in self.policy.deployments:
            raise Forbidden(f"deployment {deployment!r} is not in the bridge policy")
        keys = keys or MemoryKeys()
        known = state_path is not None and state_path.exists()
        state = load_state(state_path, keys) if known and state_path is not None else None
        side = BridgeSide(deployment, url, self, keys, ssl_context, state, state_path)
        await side.connect()
        if known:
            await side.login()
        else:
            await side.register(invite)
        self.sides[deployment] = side
        return side

    async def close(self) -> None:
        for side in self.sides.values():
            await side.close()
        self.sides.clear()

    def _side(self, deployment: str) -> BridgeSide:
        side = self.sides.get(deployment)
        if side is None:
            raise Forbidden(f"deployment {deployment!r} is not connected to this bridge")
        return side

    async def handle(self, origin: str, d: f.Deliver) -> None:
        side = self._side(origin)
        sender = f"{d.sender_user}@{origin}"
        if d.group_id is not None or not wire.is_federation(d.payload):
            self.log.record(self.clock(), "unknown", sender, "", "", len(d.payload), "dropped")
            return
        env = wire.decode(d.payload)
        rid = str(env.get("rid", ""))[:64]
        op, service, size = str(env["op"]), str(env.get("service", "message")), 0
        group = env.get("group")
        target = str(env.get("to", "")) or (str(group) if isinstance(group, str) else "")
        try:
            if group is not None and (not isinstance(group, str) or not 1 <= len(group) <= 64):
                raise Forbidden("group must be a spanning group name")
            if op == "query":
                claim = env.get("claim", [])
                if not isinstance(claim, list) or len(claim) > 100 or not all(isinstance(c, str) for c in claim):
                    raise Forbidden("claim must be a list of at most 100 device ids")
                result = await self._query(sender, wire.text(env, "to"), set(claim), group)
            elif op == "send":
                size = len(wire.text(env, "payload", f.MAX_PAYLOAD_CHARS))
                result = await self._send(side, d, sender, env, size, group)
            elif op == "file":
                service = "file"
                result, size = await self._file(side, sender, env, group)
            elif op == "roster":
                result = self._roster(sender, wire.text(env, "group", 64))
            elif op == "group":
                size = len(wire.text(env, "payload", f.MAX_PAYLOAD_CHARS))
                result = await self._group(d, sender, wire.text(env, "group", 64), env, size)
            elif op == "media_ticket":
                service = str(env.get("mode", ""))
                result = await self._media_ticket(sender, env)
                target = str(result.get("session", target))
            else:
                raise Forbidden(f"the bridge does not accept {op!r} from users")
        except CommsError as exc:
            self.log.record(self.clock(), op, sender, target, service, size, "refused", exc.code)
            await side.raw_send(d.sender_user, d.sender_device,
                                wire.encode("refused", rid=rid, code=exc.code, reason=exc.message))
            return
        self.log.record(self.clock(), op, sender, target, service, size, "allowed")
        await side.raw_send(d.sender_user, d.sender_device, wire.encode(
            "query_result" if op == "query" else "result", rid=rid, **result))

    def _authorize(self, sender: str, target: str, service: str | None, size: int, group: str | None) -> None:
        """Spanning-group traffic is allowed between the group's members (also within one
        deployment: the bridge distributes the group); anything else by the ``allow`` rules."""
        if group is None:
            self.policy.check(sender, target, service, size)
        else:
            self.policy.check_group(group, sender, service or "message", size, recipient=target or None)

    async def _query(self, sender: str, target: str, claim: set[str], group: str | None = None) -> dict[str, Any]:
        """The target's active devices; a one-time key is claimed only for the devices in ``claim``
        (those the sender has no session with), so plain look-ups never drain one-time keys."""
        self._authorize(sender, target, None if group is None else "message", 0, group)
        user, dep = split_address(target)
        remote = self._side(dep)
        devices = (await remote.request(f.KeysQuery, users=[user]))["devices"]
        if not devices:
            raise NotFound(f"{target} has no active device")
        wanted = [f.DeviceRef(user=user, device_id=x["device_id"]) for x in devices if x["device_id"] in claim]
        claims = (await remote.request(f.KeysClaim, devices=wanted))["claims"] if wanted else []
        by_device = {c["device_id"]: c for c in claims}
        return {"to": target, "devices": [{**x, "claim": by_device.get(x["device_id"])} for x in devices]}

    async def _sender_keys(self, side: BridgeSide, d: f.Deliver) -> dict[str, Any]:
        mine = [x for x in (await side.request(f.KeysQuery, users=[d.sender_user]))["devices"]
                if x["device_id"] == d.sender_device]
        if not mine:
            raise NotFound("the sending device is not active")
        return {k: mine[0][k] for k in ("curve25519", "ed25519", "device_sig", "user_key")}

    async def _send(self, side: BridgeSide, d: f.Deliver, sender: str, env: dict[str, Any],
                    size: int, group: str | None = None) -> dict[str, Any]:
        target, service = wire.text(env, "to"), wire.text(env, "service")
        if service not in ("message", "file"):
            raise Forbidden(f"{service!r} is not relayed as a message")
        self._authorize(sender, target, "message", size, group)
        if service == "file":
            self._authorize(sender, target, "file", 0, group)
        user, dep = split_address(target)
        keys = await self._sender_keys(side, d)
        out = wire.encode("deliver", **{"from": sender}, device=d.sender_device, msg_id=wire.text(env, "msg_id", 64),
                          payload=wire.text(env, "payload", f.MAX_PAYLOAD_CHARS), sender_keys=keys)
        result = await self._side(dep).raw_send(user, wire.text(env, "device", 64), out)
        if result["refused"]:
            raise NotFound(f"{target} device is not active")
        return {"msg_id": env["msg_id"], "queued": result["queued"]}

    def _roster(self, sender: str, group: str) -> dict[str, Any]:
        g = self.policy.member_group(group, sender)
        return {"group": g.name, "members": list(g.members), "services": sorted(g.services), "floor": g.floor}

    async def _group(self, d: f.Deliver, sender: str, group: str, env: dict[str, Any],
                     size: int) -> dict[str, Any]:
        """Fan one Megolm ciphertext out to every other member device of a spanning group."""
        g = self.policy.check_group(group, sender, "message", size)
        mid, payload = wire.text(env, "msg_id", 64), wire.text(env, "payload", f.MAX_PAYLOAD_CHARS)
        out = wire.encode("deliver", **{"from": sender}, device=d.sender_device, msg_id=mid, payload=payload,
                          group=g.name)
        delivered, missing = 0, []
        for member in g.members:
            user, dep = split_address(member)
            remote = self.sides.get(dep)
            if remote is None:
                missing.append(member)
                continue
            for x in (await remote.request(f.KeysQuery, users=[user]))["devices"]:
                if member == sender and x["device_id"] == d.sender_device:
                    continue
                result = await remote.raw_send(user, x["device_id"], out)
                delivered += 0 if result["refused"] else 1
        return {"msg_id": mid, "delivered": delivered, "unreachable": missing}

    async def relay_access(self, host: str, session: str, user: str, priority: int,
                           mode: str) -> tuple[str | None, str]:
        """(relay URL the host service names, relay ticket) for ``user`` in a bridge ``session``,
        issued by the host deployment's service to the bridge's account on the member's behalf."""
        got = await self._side(host).request(f.RelayTicket, mode=mode, priority=priority, on_behalf=user,
                                              **relay_request(session, mode))
        relay = got.get("relay")
        return (relay if isinstance(relay, str) else None), str(got["ticket"])

    async def _media_ticket(self, sender: str, env: dict[str, Any]) -> dict[str, Any]:
        """Admission for a spanning talk-group / group call, or a 1:1 call hosted by ``host`` (by
        default ``peer``'s deployment). The host deployment's relay is the only media and floor
        server: members on another deployment get a link ticket for the bridge's media link, members
        on the host deployment that relay's URL and a ticket from their own service."""
        mode = env.get("mode")
        if mode not in ("ptt", "call"):
            raise Forbidden("mode must be 'ptt' or 'call'")
        _, own = split_address(sender)
        peer = env.get("peer")
        if peer is None:
            g = self.policy.check_group(wire.text(env, "group", 64), sender, str(mode))
            host, session, priority = g.floor, g.name, g.priority(sender)
        else:
            if mode != "call":
                raise Forbidden("a peer is given only for a 1:1 call")
            call = wire.text(env, "call", 64)
            if not _CALL_ID.match(call):
                raise Forbidden("call must be an unguessable id of 16-64 letters, digits, '_' or '-'")
            self.policy.check(sender, wire.text(env, "peer"), "call")
            host = str(env.get("host") or split_address(str(peer))[1])
            if host not in (own, split_address(str(peer))[1]):
                raise Forbidden("a 1:1 call is hosted by the deployment of one of its two parties")
            session, priority = call_session_id(sender, str(peer), call), 1  # the same for both parties
        if host == own:
            relay, ticket = await self.relay_access(host, session, sender, priority, str(mode))
            if relay is None:
                raise NotConfigured(f"the service of {host!r} names no media relay")
            return {"url": relay, "ticket": ticket, "session": session, "mode": mode, "host": host}
        if self.links is None:
            raise NotConfigured("this bridge has no media link")
        answer = {"url": self.links.url_for(own), "ticket": self.links.issue(host, session, sender, priority,
                                                                             str(mode)),
                  "session": session, "mode": mode, "host": host}
        if own in self.links.cbr_keys:  # reach the link through a constant-rate tunnel pinned to this key
            answer["cbr_key"] = self.links.cbr_keys[own].hex()
        return answer

    async def _file(self, side: BridgeSide, sender: str, env: dict[str, Any],
                    group: str | None = None) -> tuple[dict[str, Any], int]:
        """Copy an encrypted blob to the recipient's deployment (``to``), or for a spanning group to
        every other deployment with members."""
        blob_id, chunks = wire.text(env, "blob_id", 64), env.get("chunks")
        if not isinstance(chunks, int) or not 1 <= chunks <= 4096:
            raise Forbidden("file chunk count out of range")
        if group is None:
            target = wire.text(env, "to")
            self.policy.check(sender, target, "file")  # before copying anything
            deployments = [split_address(target)[1]]
        else:
            g = self.policy.check_group(group, sender, "file")
            own = split_address(sender)[1]
            deployments = sorted({split_address(m)[1] for m in g.members} - {own})
        remotes, total = [self._side(dep) for dep in deployments], 0
        for i in range(chunks):
            got = await side.request(f.BlobGet, blob_id=blob_id, index=i)
            total += len(got["data"]) * 3 // 4
            # stops copying as soon as it is over the limit
            self._authorize(sender, str(env.get("to", "")), "file", total, group)
            for remote in remotes:
                await remote.request(f.BlobPut, blob_id=blob_id, index=i, total=chunks, data=got["data"])
        return {"blob_id": blob_id}, total
