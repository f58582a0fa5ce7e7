"""API keys with roles and tenants. Keys are stored only as SHA-256 digests and never logged.

A key is listed and revoked by its id: the first 12 hex digits of its digest (never the key).
Revocation is effective at once, in this process and in running servers (``revocations.py``)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from dunpai.api.revocations import Revocations, signal_revocation
from dunpai.audit import AuditPort
from dunpai.core.config import ApiKeySettings
from dunpai.core.errors import FieldProblem, InvalidInput, NotFound, StateError, Unauthenticated, Unavailable
from dunpai.core.roles import ROLES, require
from dunpai.risk.storage import repository as repo

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    tenant: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(db: Engine, name: str, role: str, tenant: str = "default", audit: AuditPort | None = None) -> str:
    """Make a new key, store its digest, return the key (shown once). The creation is audited."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = "dpk_" + secrets.token_urlsafe(32)
    with db.begin() as conn:
        repo.insert_api_key_txn(conn, digest(key), name, role, tenant, time.time())
    if audit is not None:
        audit.append("cli", "api_key.create", f"{tenant}/api_key/{name}", {"role": role, "digest": digest(key)[:12]})
    return key


KEY_ID_LENGTH = 12


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``dunpai apikey list`` shows it (never the key itself)."""

    key_id: str
    name: str
    role: str
    tenant: str
    created_at: float | None
    revoked_at: float | None
    source: str  # "database" or "settings" (a key given by digest in the settings file)

    def to_dict(self) -> dict[str, object]:
        return {"key_id": self.key_id, "name": self.name, "role": self.role, "tenant": self.tenant,
                "created_at": self.created_at, "revoked_at": self.revoked_at, "source": self.source}


def list_api_keys(db: Engine, configured: tuple[ApiKeySettings, ...] = ()) -> list[KeyInfo]:
    with db.connect() as conn:
        rows = repo.api_keys_txn(conn)
    out = [KeyInfo(r.key_sha256[:KEY_ID_LENGTH], r.name, r.role, r.tenant, r.created_at, r.revoked_at, "database")
           for r in rows]
    out += [KeyInfo(k.key_sha256[:KEY_ID_LENGTH], k.name, k.role, k.tenant, None, None, "settings")
            for k in configured]
    return out


def revoke_api_key(db: Engine, key_id: str, *, actor: str = "cli", audit: AuditPort | None = None,
                   data_dir: Path | None = None, configured: tuple[ApiKeySettings, ...] = ()) -> KeyInfo:
    """Revoke the stored key whose id (digest prefix, at least 8 hex digits) is ``key_id``; audited;
    running servers stop accepting it on their next request. Raises ``NotFound``, ``InvalidInput``
    (ambiguous or malformed id) or ``StateError`` (a settings-file key: remove it from the file)."""
    key_id = key_id.strip().lower()
    if not 8 <= len(key_id) <= 64 or any(ch not in "0123456789abcdef" for ch in key_id):
        raise InvalidInput("a key id is 8 to 64 hex digits", problems=[FieldProblem("key_id", "8-64 hex digits")])
    if any(k.key_sha256.startswith(key_id) for k in configured):
        raise StateError("this key is given in the settings file: remove it there and restart", key_id=key_id)
    with db.begin() as conn:
        matches = [r for r in repo.api_keys_txn(conn) if r.key_sha256.startswith(key_id)]
        if not matches:
            raise NotFound("no such API key", key_id=key_id)
        if len(matches) > 1:
            raise InvalidInput("the key id matches several keys", problems=[
                FieldProblem("key_id", "give more digits")])
        row = matches[0]
        at = time.time()
        if not repo.revoke_api_key_txn(conn, row.key_sha256, at):
            raise StateError("the key is revoked already", key_id=key_id)
        signal_revocation(conn, data_dir)
    if audit is not None:
        audit.append(actor, "api_key.revoke", f"{row.tenant}/api_key/{row.name}",
                     {"role": row.role, "digest": row.key_sha256[:KEY_ID_LENGTH]})
    return KeyInfo(row.key_sha256[:KEY_ID_LENGTH], row.name, row.role, row.tenant, row.created_at, at, "database")


class Authenticator:
    def __init__(self, db: Engine, configured: tuple[ApiKeySettings, ...] = (),
                 revocations: Revocations | None = None) -> None:
        self.db = db
        self.configured = {k.key_sha256: Principal(k.name, k.role, k.tenant) for k in configured}
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._known: dict[str, Principal] = {}  # the last verified look-up of each key, for a database outage
        self.revocations = revocations

    def principal(self, headers: Mapping[str, str]) -> Principal:
        """The caller named by the request's ``Authorization: Bearer`` or ``X-API-Key`` header."""
        header = headers.get("authorization", "")
        key = header[7:].strip() if header.lower().startswith("bearer ") else headers.get("x-api-key", "")
        if not key:
            raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
        d = digest(key)
        found = self.configured.get(d)
        if found is not None:
            return found
        signal = self.revocations.changed() if self.revocations is not None else None
        if signal is not None:
            self._cache.clear()
            if signal == "revoked":
                self._known.clear()
        cached = self._cache.get(d)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            with self.db.connect() as conn:
                row = repo.api_key_txn(conn, d)
        except SQLAlchemyError:
            # The database is down: a key verified before (and not revoked since, as far as this process
            # was told) still decides, so the card switch gets its stand-in answers; an unknown key waits.
            known = self._known.get(d)
            if known is not None:
                return known
            raise Unavailable("API keys cannot be checked now; try again shortly") from None
        if row is None:
            self._known.pop(d, None)
            raise Unauthenticated("unknown or revoked API key")
        principal = Principal(*row)
        self._cache[d] = (principal, now + CACHE_SECONDS)  # re-read now and then even without a signal
        self._known[d] = principal
        return principal

    def forget(self) -> None:
        """Drop every cached look-up (a key was revoked in this process)."""
        self._cache.clear()
        self._known.clear()


__all__ = ["ROLES", "Authenticator", "KeyInfo", "Principal", "create_api_key", "digest", "list_api_keys",
           "require", "revoke_api_key"]
