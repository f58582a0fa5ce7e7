"""API keys with roles and tenants. Keys are stored only as SHA-256 digests and never logged."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from dunpai.audit import AuditPort
from dunpai.core.config import ApiKeySettings
from dunpai.core.errors import Unauthenticated
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


class Authenticator:
    def __init__(self, db: Engine, configured: tuple[ApiKeySettings, ...] = ()) -> None:
        self.db = db
        self.configured = {k.key_sha256: Principal(k.name, k.role, k.tenant) for k in configured}
        self._cache: dict[str, tuple[Principal, float]] = {}

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
        cached = self._cache.get(d)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        with self.db.connect() as conn:
            row = repo.api_key_txn(conn, d)
        if row is None:
            raise Unauthenticated("unknown or revoked API key")
        principal = Principal(*row)
        self._cache[d] = (principal, now + CACHE_SECONDS)  # a revoked key stops working within this
        return principal


__all__ = ["ROLES", "Authenticator", "Principal", "create_api_key", "digest", "require"]
