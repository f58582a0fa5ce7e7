"""The evidence chain of a case (pure): each item's hash covers its content's hash and the
previous item's hash, so no item can be changed, removed or slipped in without breaking the chain.

item_hash = SHA-256("dunpai-evidence-item" | 0x01 | canonical JSON of
            [case_id, seq, kind, name, media_type, content_sha256, prev_hash, added_by, added_at])

The first item's ``prev_hash`` is 64 zeros. Items are never updated or deleted (the store only
inserts); a correction is a new item that says what it corrects.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from dunpai.core.errors import StateError

ITEM_FORMAT = 1
GENESIS = "0" * 64
EvidenceKind = Literal["event", "decision", "device", "terminal", "footage_ref", "attachment", "note", "action",
                       "alert", "report", "notice"]
EVIDENCE_KINDS: tuple[str, ...] = ("event", "decision", "device", "terminal", "footage_ref", "attachment", "note",
                                   "action", "alert", "report", "notice")
_EXT = {"application/json": ".json", "application/pdf": ".pdf", "text/plain": ".txt"}
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class EvidenceItem:
    case_id: str
    seq: int
    kind: str
    name: str
    media_type: str
    content_sha256: str
    size: int
    prev_hash: str
    item_hash: str
    added_by: str
    added_at: str

    def header(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "name": self.name, "media_type": self.media_type,
                "content_sha256": self.content_sha256, "size": self.size, "prev_hash": self.prev_hash,
                "item_hash": self.item_hash, "added_by": self.added_by, "added_at": self.added_at}

    def file_name(self) -> str:
        ext = _EXT.get(self.media_type, ".bin")
        stem = _SAFE.sub("_", self.name)[:80].strip("_") or "item"
        return f"{self.seq:04d}-{self.kind}-{stem}{ext}"


def item_hash(case_id: str, seq: int, kind: str, name: str, media_type: str, content_sha256: str, prev_hash: str,
              added_by: str, added_at: str) -> str:
    body = canonical_json([case_id, seq, kind, name, media_type, content_sha256, prev_hash, added_by, added_at])
    return sha256_hex(b"dunpai-evidence-item|" + bytes([ITEM_FORMAT]) + b"|" + body.encode())


def next_item(case_id: str, head: EvidenceItem | None, kind: str, name: str, media_type: str, content: bytes,
              added_by: str, added_at: str) -> EvidenceItem:
    if kind not in EVIDENCE_KINDS:
        raise StateError("unknown evidence kind", kind=kind)
    seq = 1 if head is None else head.seq + 1
    prev = GENESIS if head is None else head.item_hash
    digest = sha256_hex(content)
    return EvidenceItem(case_id, seq, kind, name, media_type, digest, len(content), prev,
                        item_hash(case_id, seq, kind, name, media_type, digest, prev, added_by, added_at),
                        added_by, added_at)


def chain_problems(case_id: str, items: list[EvidenceItem]) -> list[str]:
    """Every break in a chain, in words (empty when intact)."""
    problems = []
    prev = GENESIS
    for expected_seq, it in enumerate(items, start=1):
        if it.seq != expected_seq:
            problems.append(f"evidence item {expected_seq}: missing (found item {it.seq} in its place)")
        if it.prev_hash != prev:
            problems.append(f"evidence item {it.seq}: does not follow the item before it")
        recomputed = item_hash(case_id, it.seq, it.kind, it.name, it.media_type, it.content_sha256, it.prev_hash,
                               it.added_by, it.added_at)
        if recomputed != it.item_hash:
            problems.append(f"evidence item {it.seq}: its record was altered")
        prev = it.item_hash
    return problems
