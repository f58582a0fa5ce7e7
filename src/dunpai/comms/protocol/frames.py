"""Wire frames of the comms protocol, version 1 (see ``docs/comms-protocol.md``).

Every frame is one WebSocket *text* message holding a JSON object with ``v`` (protocol version),
``type`` and the type's fields. Each type is a frozen pydantic model with ``extra="forbid"`` and
bounded sizes; :func:`parse_client_frame` / :func:`parse_server_frame` raise ``MalformedFrame``,
``UnsupportedVersion`` or ``UnknownType`` - never anything else - for bad input.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from dunpai.comms.errors import MalformedFrame, UnknownType, UnsupportedVersion

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
MAX_FRAME_BYTES = 1_048_576
MAX_PAYLOAD_CHARS = 262_144
BLOB_CHUNK_BYTES = 256 * 1024

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
B64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/=_\-]*$", max_length=4096)]
Payload = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PAYLOAD_CHARS)]
ReqId = Annotated[int, Field(ge=0, le=2**53)]
Address = Annotated[str, StringConstraints(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}@[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]  # user@deployment
Role = Literal["owner", "admin", "member"]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    v: Literal[1] = 1


class _Request(_Frame):
    id: ReqId


class DeviceKeysBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    curve25519: B64
    ed25519: B64


class SignedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    key_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    key: B64
    sig: B64


class DeviceRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    user: Name
    device_id: Name


class ToDevice(DeviceRef):
    payload: Payload


# ---- client -> service -------------------------------------------------------------------------


class Register(_Request):
    type: Literal["register"] = "register"
    user: Name
    device_id: Name
    user_key: B64
    device_keys: DeviceKeysBody
    device_sig: B64
    auth_sig: B64
    invite: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class Login(_Request):
    type: Literal["login"] = "login"
    user: Name
    device_id: Name
    auth_sig: B64


class KeysUpload(_Request):
    type: Literal["keys_upload"] = "keys_upload"
    one_time_keys: Annotated[list[SignedKey], Field(max_length=100)] = []
    fallback_key: SignedKey | None = None


class KeysQuery(_Request):
    type: Literal["keys_query"] = "keys_query"
    users: Annotated[list[Name], Field(min_length=1, max_length=100)]


class KeysClaim(_Request):
    type: Literal["keys_claim"] = "keys_claim"
    devices: Annotated[list[DeviceRef], Field(min_length=1, max_length=100)]


class Send(_Request):
    type: Literal["send"] = "send"
    msg_id: Name
    messages: Annotated[list[ToDevice], Field(min_length=1, max_length=1000)]
    ttl_s: Annotated[int, Field(ge=1, le=30 * 86400)] | None = None


class GroupSend(_Request):
    type: Literal["group_send"] = "group_send"
    group_id: Name
    msg_id: Name
    payload: Payload
    ttl_s: Annotated[int, Field(ge=1, le=30 * 86400)] | None = None


class Ack(_Request):
    type: Literal["ack"] = "ack"
    seqs: Annotated[list[Annotated[int, Field(ge=0, le=2**62)]], Field(min_length=1, max_length=1000)]


class GroupCreate(_Request):
    type: Literal["group_create"] = "group_create"
    group_id: Name


class GroupAdd(_Request):
    type: Literal["group_add"] = "group_add"
    group_id: Name
    user: Name
    role: Role = "member"


class GroupRemove(_Request):
    type: Literal["group_remove"] = "group_remove"
    group_id: Name
    user: Name


class GroupRole(_Request):
    type: Literal["group_role"] = "group_role"
    group_id: Name
    user: Name
    role: Role


class GroupInfo(_Request):
    type: Literal["group_info"] = "group_info"
    group_id: Name


class GroupList(_Request):
    type: Literal["group_list"] = "group_list"


class BlobPut(_Request):
    type: Literal["blob_put"] = "blob_put"
    blob_id: Name
    index: Annotated[int, Field(ge=0, le=100_000)]
    total: Annotated[int, Field(ge=1, le=100_000)]
    data: Annotated[str, StringConstraints(max_length=(BLOB_CHUNK_BYTES * 4) // 3 + 8)]


class BlobGet(_Request):
    type: Literal["blob_get"] = "blob_get"
    blob_id: Name
    index: Annotated[int, Field(ge=0, le=100_000)]


class DeviceRevoke(_Request):
    type: Literal["device_revoke"] = "device_revoke"
    device_id: Name
    sig: B64


class Ping(_Request):
    type: Literal["ping"] = "ping"


class RelayTicket(_Request):
    """Ask for a media relay ticket: a talk-group (``ptt``) or a call (``call``) — a group call
    (``group_id`` + ``call_id``) or a 1:1 call (``peer`` + ``call_id``). See docs/comms-protocol.md."""

    type: Literal["relay_ticket"] = "relay_ticket"
    mode: Literal["ptt", "call"]
    group_id: Name | None = None
    call_id: Name | None = None
    peer: Name | None = None
    priority: Annotated[int, Field(ge=0, le=255)] | None = None
    # a bridge account asking for a member of a spanning group or call across the bridge
    on_behalf: Address | None = None


CLIENT_FRAMES: dict[str, type[_Request]] = {
    str(m.model_fields["type"].default): m
    for m in (
        Register, Login, KeysUpload, KeysQuery, KeysClaim, Send, GroupSend, Ack, GroupCreate, GroupAdd,
        GroupRemove, GroupRole, GroupInfo, GroupList, BlobPut, BlobGet, DeviceRevoke, Ping, RelayTicket,
    )
}

# ---- service -> client -------------------------------------------------------------------------


class Challenge(_Frame):
    type: Literal["challenge"] = "challenge"
    nonce: B64


class Ok(_Frame):
    type: Literal["ok"] = "ok"
    id: ReqId
    result: dict[str, Any] = {}


class Error(_Frame):
    type: Literal["error"] = "error"
    id: ReqId | None = None
    code: Annotated[str, StringConstraints(max_length=64)]
    message: Annotated[str, StringConstraints(max_length=1024)]


class Deliver(_Frame):
    type: Literal["deliver"] = "deliver"
    seq: int
    sender_user: Name
    sender_device: Name
    msg_id: Name
    group_id: Name | None = None
    payload: Payload
    sent_at: int


class GroupEvent(_Frame):
    type: Literal["group_event"] = "group_event"
    group_id: Name
    epoch: int
    members: list[dict[str, str]]
    change: Annotated[str, StringConstraints(max_length=32)]


class Revoked(_Frame):
    type: Literal["revoked"] = "revoked"
    device_id: Name


SERVER_FRAMES: dict[str, type[_Frame]] = {
    "challenge": Challenge, "ok": Ok, "error": Error, "deliver": Deliver,
    "group_event": GroupEvent, "revoked": Revoked,
}


def _parse(raw: str | bytes, table: dict[str, Any]) -> Any:
    if isinstance(raw, bytes):
        raise MalformedFrame("binary frames are not part of the protocol; send JSON text")
    if len(raw) > MAX_FRAME_BYTES:
        raise MalformedFrame("frame too large")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise MalformedFrame("frame is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise MalformedFrame("frame must be a JSON object")
    version = obj.get("v")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise UnsupportedVersion(
            f"protocol version {version!r} is not supported; supported: {list(SUPPORTED_VERSIONS)}"
        )
    kind = obj.get("type")
    model = table.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise UnknownType(f"unknown frame type {str(kind)[:64]!r}")
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "$"
        raise MalformedFrame(f"invalid {kind} frame: {where}: {first['msg']}") from exc


def request_id_of(raw: str | bytes) -> int | None:
    """Best-effort request id of a frame that failed validation, so the error can name it."""
    try:
        obj = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= 2**53 else None


def parse_client_frame(raw: str | bytes) -> Any:
    return _parse(raw, CLIENT_FRAMES)


def parse_server_frame(raw: str | bytes) -> Any:
    return _parse(raw, SERVER_FRAMES)


def encode(frame: BaseModel) -> str:
    return frame.model_dump_json(exclude_none=True)
