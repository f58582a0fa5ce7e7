"""Federation envelopes (``fed1.<json>``) exchanged between users' devices and the bridge.

They travel as ordinary store-and-forward payloads to or from the bridge's device on each
deployment, so neither service needs to know about federation. What they carry is routing only:
addresses, device ids, public keys, message ids, blob ids - and the end-to-end ciphertext
(``olm1...``) the bridge cannot read. Ops (client -> bridge): ``query``, ``send``, ``file``, and for
spanning groups and media ``roster``, ``group`` (one Megolm ciphertext, fanned out by the bridge),
``media_ticket`` (admission to the bridge's media link); (bridge -> client): ``query_result``,
``result``, ``refused``, ``deliver``.
"""

from __future__ import annotations

import json
from typing import Any

from dunpai.comms.errors import MalformedFrame

PREFIX = "fed1."
OPS = frozenset({"query", "send", "file", "roster", "group", "media_ticket", "query_result", "result", "refused",
                 "deliver"})


def encode(op: str, **fields: Any) -> str:
    if op not in OPS:
        raise MalformedFrame(f"unknown federation op {op!r}")
    return PREFIX + json.dumps({"op": op, **fields}, separators=(",", ":"), sort_keys=True)


def is_federation(payload: str) -> bool:
    return payload.startswith(PREFIX)


def decode(payload: str) -> dict[str, Any]:
    if not is_federation(payload):
        raise MalformedFrame("not a federation envelope")
    try:
        obj = json.loads(payload[len(PREFIX):])
    except ValueError as exc:
        raise MalformedFrame("federation envelope is not JSON") from exc
    if not isinstance(obj, dict) or obj.get("op") not in OPS:
        raise MalformedFrame("federation envelope has no known op")
    return obj


def text(obj: dict[str, Any], key: str, limit: int = 256) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedFrame(f"federation field {key!r} is missing or malformed")
    return value
