"""The bridge's crossing log: append-only JSON lines, hash-chained, metadata only.

Each crossing (allowed or refused) records time, operation, sender and recipient addresses,
service, size in bytes and the decision - never content, keys or network addresses. Each line
carries the SHA-256 of the previous line, so a removed or edited line breaks the chain
(:func:`verify_log`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dunpai.comms.errors import CommsError

GENESIS = "0" * 64


class AuditBroken(CommsError):
    code = "audit_broken"


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


@dataclass
class CrossingLog:
    path: Path

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._prev = GENESIS
        if self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            if lines:
                self._prev = _digest(lines[-1])

    def record(self, at: float, op: str, sender: str, recipient: str, service: str, size: int,
               decision: str, reason: str = "") -> None:
        entry: dict[str, Any] = {"v": 1, "at": round(at, 3), "op": op, "from": sender, "to": recipient,
                                 "service": service, "bytes": size, "decision": decision, "reason": reason,
                                 "prev": self._prev}
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        self._prev = _digest(line)


def verify_log(path: Path) -> list[dict[str, Any]]:
    """All entries, after checking the chain; raises ``AuditBroken``."""
    prev, out = GENESIS, []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = json.loads(line)
        if entry.get("prev") != prev:
            raise AuditBroken(f"crossing log broken at line {n}")
        prev = _digest(line)
        out.append(entry)
    return out
