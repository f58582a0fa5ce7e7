"""The pure part of the audit chain: canonical encodings, entry hashes, checkpoint messages.

entry_hash = H("dunpai-audit-entry" | format | canonical JSON of
              [seq, hash_alg, prev_hash, recorded_at, actor, action, subject, details])
where ``details`` is the canonical JSON text as stored, H is SHA-256 (or SM3 for GM/T deployments,
named per entry), and the first entry's ``prev_hash`` is all zeros. A checkpoint signs
"dunpai-audit-checkpoint" | format | canonical JSON of [seq, head_hash, key_id, signed_at].
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.keys.suites import HASH_NAMES, HashName, digest

ENTRY_FORMAT = 1
CHECKPOINT_FORMAT = 1
GENESIS = "0" * 64
MAX_TEXT = 200
MAX_DETAILS = 64 * 1024


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept, no NaN/Infinity: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_json_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("audit details hold a non-finite number",
                               problems=[FieldProblem(path, "finite")])
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput("audit details keys must be text",
                                   problems=[FieldProblem(path, "str keys")])
            _check_json_value(item, f"{path}.{key}")
        return
    raise InvalidInput("audit details must be JSON values",
                       problems=[FieldProblem(path, f"unsupported type {type(value).__name__}")])


def details_text(details: dict[str, Any]) -> str:
    if not isinstance(details, dict):
        raise InvalidInput("audit details must be a mapping", problems=[FieldProblem("details", "mapping")])
    _check_json_value(details, "details")
    text = canonical_json(details)
    if len(text) > MAX_DETAILS:
        raise InvalidInput("audit details too large", problems=[FieldProblem("details", "at most 64 KiB")])
    return text


def check_text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise InvalidInput(f"invalid audit {name}", problems=[FieldProblem(name, "1..200 characters")])
    return value


def timestamp(moment: datetime) -> str:
    """UTC, microseconds, fixed width: sorts as text and never depends on a database's time zone."""
    if moment.tzinfo is None:
        raise InvalidInput("audit time must be time-zone aware",
                           problems=[FieldProblem("recorded_at", "aware")])
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_hash_alg(name: str) -> HashName:
    for known in HASH_NAMES:
        if name == known:
            return known
    raise InvalidInput("unknown audit hash", problems=[FieldProblem("hash_alg", " or ".join(HASH_NAMES))])


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    format_version: int
    hash_alg: str
    prev_hash: str
    entry_hash: str
    recorded_at: str
    actor: str
    action: str
    subject: str
    details: str  # canonical JSON text

    @property
    def details_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.details)
        return loaded


def entry_hash(seq: int, hash_alg: str, prev_hash: str, recorded_at: str, actor: str, action: str,
               subject: str, details: str, format_version: int = ENTRY_FORMAT) -> str:
    body = canonical_json([seq, hash_alg, prev_hash, recorded_at, actor, action, subject, details])
    message = b"dunpai-audit-entry" + bytes([format_version & 0xFF]) + body.encode("utf-8")
    return digest(hash_alg, message).hex()


def recompute(entry: AuditEntry) -> str:
    return entry_hash(entry.seq, entry.hash_alg, entry.prev_hash, entry.recorded_at, entry.actor,
                      entry.action, entry.subject, entry.details, entry.format_version)


def checkpoint_message(seq: int, head_hash: str, key_id: str, signed_at: str,
                       format_version: int = CHECKPOINT_FORMAT) -> bytes:
    body = canonical_json([seq, head_hash, key_id, signed_at])
    return b"dunpai-audit-checkpoint" + bytes([format_version & 0xFF]) + body.encode("utf-8")


def row_to_entry(row: Any) -> AuditEntry:
    """An ``audit_entries`` row as the entry it stores."""
    return AuditEntry(
        seq=int(row.seq), format_version=int(row.format_version), hash_alg=row.hash_alg,
        prev_hash=row.prev_hash, entry_hash=row.entry_hash, recorded_at=row.recorded_at,
        actor=row.actor, action=row.action, subject=row.subject, details=row.details,
    )
