"""The comms service's logic: enrolment, challenge login, key directory, queues, groups, blobs.

Transport-free: each method takes the authenticated principal and a validated frame and returns a
result dict, or raises a ``CommsError``. Deliveries that a call produces are returned as queue rows
for the transport to push. The service checks signatures on public keys; it never holds a key that
could decrypt anything.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dunpai.comms.errors import (
    AuthFailed,
    Conflict,
    DeviceRevoked,
    Forbidden,
    InviteInvalid,
    MalformedFrame,
    NotConfigured,
    NotFound,
    RateLimited,
    TooLarge,
    UntrustedDevice,
)
from dunpai.comms.keys_port import verify_user_signature
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.canonical import auth_bytes, b64d, b64e, device_keys_bytes, one_time_key_bytes, revoke_bytes
from dunpai.comms.protocol.olm import verify_device_signature
from dunpai.comms.server.store import SqlStore

Clock = Callable[[], float]


@dataclass(frozen=True)
class ServiceConfig:
    open_registration: bool = False
    queue_ttl_s: int = 7 * 86400
    blob_ttl_s: int = 30 * 86400
    max_blob_chunks: int = 4096
    max_one_time_keys: int = 100
    claims_per_minute: int = 600
    messages_per_minute: int = 300  # per user, each Send or GroupSend frame (one frame reaches many devices)
    message_burst: int = 120  # messages a user may send at once before the per-minute rate applies
    max_blob_bytes: int = 100 * 1024 * 1024  # a file's declared size (chunks x chunk size)
    user_blob_bytes: int = 1024 * 1024 * 1024  # what one user's live files may be declared to hold together
    invite_ttl_s: int = 7 * 86400
    active_check_s: float = 1.0
    relay: RelayPolicy | None = None  # media relay tickets (push-to-talk, calls); None: not offered


@dataclass(frozen=True)
class Principal:
    user: str
    device_id: str


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class GroupChange:
    group_id: str
    epoch: int
    members: dict[str, str]
    change: str
    notify: list[str] = field(default_factory=list)


def invite_hash(code: str) -> str:
    return hashlib.sha256(("dunpai-invite-v1:" + code).encode()).hexdigest()


class CommsService:
    def __init__(self, store: SqlStore, clock: Clock, config: ServiceConfig | None = None) -> None:
        self.store = store
        self.clock = clock
        self.config = config or ServiceConfig()
        self._claims: dict[Principal, _Bucket] = {}
        self._messages: dict[str, _Bucket] = {}  # per user: every device of theirs shares it
        self._acks: list[tuple[str, str, list[int]]] = []
        self._active: dict[Principal, float] = {}  # device -> when it was last seen not revoked

    # -- enrolment and authentication ---------------------------------------------------------------
    def create_invite(self, code: str | None = None) -> str:
        code = code or secrets.token_urlsafe(16)
        now = self.clock()
        self.store.add_invite(invite_hash(code), now, now + self.config.invite_ttl_s)
        return code

    def register(self, nonce: str, frame: f.Register) -> Principal:
        keys = frame.device_keys
        verify_device_signature(keys.ed25519, auth_bytes(nonce, frame.user, frame.device_id, "register"),
                                frame.auth_sig)
        known_key = self.store.user_key(frame.user)
        user_key = known_key if known_key is not None else frame.user_key
        if known_key is not None and known_key != frame.user_key:
            raise Conflict("that user exists with a different signing key")
        try:
            verify_user_signature(b64d(user_key), device_keys_bytes(frame.user, frame.device_id, keys.curve25519,
                                                                    keys.ed25519), b64d(frame.device_sig))
        except (ValueError, AuthFailed) as exc:
            raise UntrustedDevice("device keys are not signed by the user's signing key") from exc
        existing = self.store.device(frame.user, frame.device_id)
        if existing is not None:
            if existing["revoked_at"] is not None:
                raise DeviceRevoked("this device was revoked")
            raise Conflict("that device is already registered; log in instead")
        invite: str | None = None
        if known_key is None and not self.config.open_registration:
            if frame.invite is None:
                raise InviteInvalid("an invite code is needed to join this deployment")
            invite = invite_hash(frame.invite)
        device = {"device_id": frame.device_id, "curve25519": keys.curve25519, "ed25519": keys.ed25519,
                  "device_sig": frame.device_sig}
        if not self.store.add_user_and_device(frame.user, None if known_key else frame.user_key, device,
                                              self.clock(), invite):
            raise InviteInvalid("the invite code is unknown, used or expired")
        return Principal(frame.user, frame.device_id)

    def login(self, nonce: str, frame: f.Login) -> Principal:
        device = self.store.device(frame.user, frame.device_id)
        if device is None:
            raise AuthFailed("unknown device or bad signature")
        if device["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked")
        try:
            verify_device_signature(device["ed25519"], auth_bytes(nonce, frame.user, frame.device_id, "login"),
                                    frame.auth_sig)
        except UntrustedDevice as exc:
            raise AuthFailed("unknown device or bad signature") from exc
        return Principal(frame.user, frame.device_id)

    def check_active(self, who: Principal) -> None:
        """Raise ``DeviceRevoked`` for a revoked device. A revocation made through this service
        object takes effect at once; one made by another service process within ``active_check_s``."""
        now = self.clock()
        checked = self._active.get(who)
        if checked is not None and now - checked < self.config.active_check_s:
            return
        device = self.store.device(who.user, who.device_id)
        if device is None or device["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked")
        self._active[who] = now

    def revoke(self, who: Principal, frame: f.DeviceRevoke) -> Principal:
        user_key = self.store.user_key(who.user)
        target = self.store.device(who.user, frame.device_id)
        if user_key is None or target is None:
            raise NotFound("no such device")
        try:
            verify_user_signature(b64d(user_key), revoke_bytes(who.user, frame.device_id), b64d(frame.sig))
        except ValueError as exc:
            raise AuthFailed("revocation must be signed by the user's signing key") from exc
        self.store.revoke_device(who.user, frame.device_id, self.clock())
        self._active.pop(Principal(who.user, frame.device_id), None)
        return Principal(who.user, frame.device_id)

    # -- key directory ------------------------------------------------------------------------------
    def upload_keys(self, who: Principal, frame: f.KeysUpload) -> dict[str, Any]:
        device = self.store.device(who.user, who.device_id)
        if device is None or device["revoked_at"] is not None:
            raise DeviceRevoked("this device was revoked")
        have = self.store.count_keys(who.user, who.device_id)
        if have + len(frame.one_time_keys) > self.config.max_one_time_keys:
            raise TooLarge(f"at most {self.config.max_one_time_keys} one-time keys may be stored")
        for key, fallback in [*((k, False) for k in frame.one_time_keys),
                              *(((frame.fallback_key, True),) if frame.fallback_key else ())]:
            verify_device_signature(device["ed25519"], one_time_key_bytes(
                who.user, who.device_id, key.key_id, key.key, fallback), key.sig)
        self.store.add_keys(who.user, who.device_id, [k.model_dump() for k in frame.one_time_keys], False)
        if frame.fallback_key is not None:
            self.store.add_keys(who.user, who.device_id, [frame.fallback_key.model_dump()], True)
        return {"one_time_keys": self.store.count_keys(who.user, who.device_id)}

    def query_keys(self, frame: f.KeysQuery) -> dict[str, Any]:
        devices = [
            {"user": d["user_id"], "device_id": d["device_id"], "curve25519": d["curve25519"],
             "ed25519": d["ed25519"], "device_sig": d["device_sig"], "user_key": d["signing_key"]}
            for d in self.store.active_devices(sorted(set(frame.users)))
        ]
        return {"devices": devices}

    def claim_keys(self, who: Principal, frame: f.KeysClaim) -> dict[str, Any]:
        self._take_claim_tokens(who, len(frame.devices))
        claims = []
        for ref in frame.devices:
            device = self.store.device(ref.user, ref.device_id)
            if device is None or device["revoked_at"] is not None:
                continue
            key = self.store.claim_key(ref.user, ref.device_id)
            if key is not None:
                claims.append({"user": ref.user, "device_id": ref.device_id, **key})
        return {"claims": claims}

    def _take_claim_tokens(self, who: Principal, n: int) -> None:
        """Token bucket per claiming device: caps how fast anyone can drain others' one-time keys."""
        now = self.clock()
        rate = self.config.claims_per_minute / 60.0
        bucket = self._claims.get(who) or _Bucket(float(self.config.claims_per_minute), now)
        bucket.tokens = min(float(self.config.claims_per_minute), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        self._claims[who] = bucket
        if bucket.tokens < n:
            raise RateLimited("too many key claims; try again later")
        bucket.tokens -= n

    def _take_message_token(self, user: str) -> None:
        """Token bucket per user: ``message_burst`` at once, then ``messages_per_minute``."""
        now, cfg = self.clock(), self.config
        rate = cfg.messages_per_minute / 60.0
        bucket = self._messages.get(user) or _Bucket(float(cfg.message_burst), now)
        bucket.tokens = min(float(cfg.message_burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        self._messages[user] = bucket
        if bucket.tokens < 1:
            raise RateLimited("too many messages; try again later")
        bucket.tokens -= 1
        if len(self._messages) > 100_000:  # bounded memory: the oldest bucket is forgotten (it refilled)
            self._messages.pop(next(iter(self._messages)))

    # -- store-and-forward --------------------------------------------------------------------------
    def _row(self, who: Principal, to: tuple[str, str], msg_id: str, payload: str, group_id: str | None,
             ttl_s: int | None) -> dict[str, Any]:
        now = self.clock()
        ttl = min(ttl_s or self.config.queue_ttl_s, self.config.queue_ttl_s)
        return {"user_id": to[0], "device_id": to[1], "sender_user": who.user, "sender_device": who.device_id,
                "msg_id": msg_id, "group_id": group_id, "payload": payload, "sent_at": int(now * 1000),
                "expires_at": now + ttl}

    def send(self, who: Principal, frame: f.Send) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self._take_message_token(who.user)
        users = sorted({m.user for m in frame.messages})
        active = {(d["user_id"], d["device_id"]) for d in self.store.active_devices(users)}
        rows, refused = [], []
        for m in frame.messages:
            if (m.user, m.device_id) in active:
                rows.append(self._row(who, (m.user, m.device_id), frame.msg_id, m.payload, None, frame.ttl_s))
            else:
                refused.append({"user": m.user, "device_id": m.device_id})
        queued = self.store.enqueue(rows)
        return {"queued": len(queued), "duplicates": len(rows) - len(queued), "refused": refused}, queued

    def group_send(self, who: Principal, frame: f.GroupSend) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        _, members = self._group_for_member(frame.group_id, who)
        self._take_message_token(who.user)
        targets = [(d["user_id"], d["device_id"]) for d in self.store.active_devices(sorted(members))]
        rows = [self._row(who, to, frame.msg_id, frame.payload, frame.group_id, frame.ttl_s)
                for to in targets if to != (who.user, who.device_id)]
        queued = self.store.enqueue(rows)
        return {"queued": len(queued), "duplicates": len(rows) - len(queued)}, queued

    def pending(self, who: Principal, after_seq: int, limit: int = 500) -> list[dict[str, Any]]:
        self.flush_acks()
        return self.store.pending(who.user, who.device_id, after_seq, limit)

    def ack(self, who: Principal, frame: f.Ack) -> dict[str, Any]:
        """Record acknowledgements; they are applied in batches by :meth:`flush_acks` (a crash before
        that only causes a redelivery, which clients de-duplicate)."""
        self._acks.append((who.user, who.device_id, list(frame.seqs)))
        return {"acked": len(frame.seqs)}

    def flush_acks(self) -> int:
        items, self._acks = self._acks, []
        return self.store.ack_many(items) if items else 0

    def expire(self) -> int:
        return self.store.expire(self.clock())

    # -- groups -------------------------------------------------------------------------------------
    def _group_for_member(self, group_id: str, who: Principal) -> tuple[int, dict[str, str]]:
        group = self.store.group(group_id)
        if group is None or who.user not in group[1]:
            raise NotFound("no such group")  # never say whether a group exists to non-members
        return group

    def create_group(self, who: Principal, frame: f.GroupCreate) -> GroupChange:
        if not self.store.create_group(frame.group_id, who.user, self.clock()):
            raise Conflict("that group id is taken")
        return GroupChange(frame.group_id, 1, {who.user: "owner"}, "created", [who.user])

    def add_member(self, who: Principal, frame: f.GroupAdd) -> GroupChange:
        _, members = self._group_for_member(frame.group_id, who)
        mine = members[who.user]
        if mine == "member" or (frame.role != "member" and mine != "owner"):
            raise Forbidden("only owners and admins add members; only owners grant roles")
        if frame.user in members:
            raise Conflict("already a member")
        if self.store.user_key(frame.user) is None:
            raise NotFound("no such user")
        epoch = self.store.set_member(frame.group_id, frame.user, frame.role)
        members = {**members, frame.user: frame.role}
        return GroupChange(frame.group_id, epoch, members, "added", sorted(members))

    def remove_member(self, who: Principal, frame: f.GroupRemove) -> GroupChange:
        _, members = self._group_for_member(frame.group_id, who)
        if frame.user not in members:
            raise NotFound("not a member")
        mine, theirs = members[who.user], members[frame.user]
        leaving = frame.user == who.user
        if not leaving and (mine == "member" or (mine == "admin" and theirs != "member")):
            raise Forbidden("not allowed to remove that member")
        if theirs == "owner" and sum(r == "owner" for r in members.values()) == 1 and len(members) > 1:
            raise Forbidden("the last owner cannot leave a group that still has members")
        epoch = self.store.set_member(frame.group_id, frame.user, None)
        notify = sorted(members)
        members = {u: r for u, r in members.items() if u != frame.user}
        return GroupChange(frame.group_id, epoch, members, "removed", notify)

    def set_role(self, who: Principal, frame: f.GroupRole) -> GroupChange:
        _, members = self._group_for_member(frame.group_id, who)
        if members.get(who.user) != "owner":
            raise Forbidden("only owners change roles")
        if frame.user not in members:
            raise NotFound("not a member")
        epoch = self.store.set_member(frame.group_id, frame.user, frame.role)
        members = {**members, frame.user: frame.role}
        return GroupChange(frame.group_id, epoch, members, "role", sorted(members))

    def group_info(self, who: Principal, group_id: str) -> dict[str, Any]:
        """Members and roles, plus a digest of the members' active device keys: a client whose
        cached device list has the same digest need not query the directory again."""
        epoch, members = self._group_for_member(group_id, who)
        digest = hashlib.sha256()
        for d in self.store.active_devices(sorted(members)):
            digest.update(f"{d['user_id']}/{d['device_id']}/{d['curve25519']}/{d['ed25519']}/"
                          f"{d['device_sig']}/{d['signing_key']}\n".encode())
        return {"group_id": group_id, "epoch": epoch, "devices_digest": digest.hexdigest(),
                "members": [{"user": u, "role": r} for u, r in sorted(members.items())]}

    def group_list(self, who: Principal) -> dict[str, Any]:
        return {"groups": self.store.groups_of(who.user)}

    # -- media relay tickets ------------------------------------------------------------------------
    def relay_ticket(self, who: Principal, frame: f.RelayTicket) -> dict[str, Any]:
        """A relay ticket for a talk-group or call of which ``who`` is a member (policy: ticket_policy.py)."""
        if self.config.relay is None:
            raise NotConfigured("this service issues no relay tickets (no relay secret configured)")
        if frame.on_behalf is not None:  # the bridge, for a member across it (policy: ticket_policy.py)
            return self.config.relay.grant_delegated(who.user, frame, self.clock())
        role = None if frame.group_id is None else self._group_for_member(frame.group_id, who)[1][who.user]
        peer_exists = frame.peer is not None and self.store.user_key(frame.peer) is not None
        return self.config.relay.grant(who.user, frame, role, peer_exists, self.clock())

    # -- blobs (opaque ciphertext) -----------------------------------------------------------------
    def put_chunk(self, who: Principal, frame: f.BlobPut) -> dict[str, Any]:
        if frame.total > self.config.max_blob_chunks or frame.index >= frame.total:
            raise TooLarge("blob has too many chunks or the index is out of range")
        try:
            data = b64d(frame.data)
        except ValueError as exc:
            raise MalformedFrame("blob data is not base64") from exc
        if len(data) > f.BLOB_CHUNK_BYTES:
            raise TooLarge("blob chunk too large")
        meta = self.store.blob(frame.blob_id)
        if meta is not None and (meta["owner"] != who.user or meta["total"] != frame.total):
            raise Conflict("blob id already used")
        now = self.clock()
        if meta is None:  # a new file: its declared size, and the owner's storage, are bounded up front
            declared = frame.total * f.BLOB_CHUNK_BYTES
            if declared > self.config.max_blob_bytes:
                raise TooLarge(f"a file may hold at most {self.config.max_blob_bytes // (1024 * 1024)} MiB")
            held = self.store.declared_chunks(who.user, now) * f.BLOB_CHUNK_BYTES
            if held + declared > self.config.user_blob_bytes:
                raise TooLarge("your file storage quota is full; files expire after "
                               f"{self.config.blob_ttl_s // 86400} days")
        if not self.store.put_chunk(frame.blob_id, who.user, frame.total, frame.index, data, now,
                                    now + self.config.blob_ttl_s):
            raise Conflict("chunk already uploaded")
        return {"blob_id": frame.blob_id, "index": frame.index}

    def get_chunk(self, frame: f.BlobGet) -> dict[str, Any]:
        meta = self.store.blob(frame.blob_id)
        data = self.store.chunk(frame.blob_id, frame.index) if meta else None
        if meta is None or data is None:
            raise NotFound("no such blob chunk")
        return {"blob_id": frame.blob_id, "index": frame.index, "total": meta["total"], "data": b64e(data)}
