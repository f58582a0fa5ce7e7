"""SQL storage for the comms service (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

Every method is one short transaction. Methods return plain tuples/dicts; nothing here decides policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from dunpai.comms.errors import CommsError, Conflict
from dunpai.comms.server import tables as t
from dunpai.core.db import make_engine
from dunpai.core.migrate import COMMS_ROOT
from dunpai.core.migrate import upgrade as migrate

# Databases made before the comms tables joined the Alembic history kept their own version table.
_LEGACY_VERSION_TABLE = "comms_schema_version"


def _qualified(schema: str | None) -> str:
    return f'"{schema}".{_LEGACY_VERSION_TABLE}' if schema else _LEGACY_VERSION_TABLE


def _legacy_version(conn: Connection, schema: str | None) -> int | None:
    if not inspect(conn).has_table(_LEGACY_VERSION_TABLE, schema=schema):
        return None
    query = f"SELECT coalesce(max(version), 0) FROM {_qualified(schema)}"  # noqa: S608 - fixed names only
    return int(conn.execute(text(query)).scalar_one())


# Hot statements, built once (building a statement costs more than running it on SQLite).
_ACTIVE_DEVICES = (
    select(t.devices, t.users.c.signing_key)
    .join(t.users, t.users.c.user_id == t.devices.c.user_id)
    .where(t.devices.c.user_id.in_(bindparam("users", expanding=True)), t.devices.c.revoked_at.is_(None))
    .order_by(t.devices.c.user_id, t.devices.c.device_id)
)
_DEVICE = select(t.devices).where(t.devices.c.user_id == bindparam("u"), t.devices.c.device_id == bindparam("d"))
_PENDING = (
    select(t.queue)
    .where(t.queue.c.user_id == bindparam("u"), t.queue.c.device_id == bindparam("d"),
           t.queue.c.seq > bindparam("after"))
    .order_by(t.queue.c.seq).limit(bindparam("limit"))
)
_QUEUED_FOR_MSG = select(t.queue.c.user_id, t.queue.c.device_id).where(
    t.queue.c.sender_user == bindparam("su"), t.queue.c.sender_device == bindparam("sd"),
    t.queue.c.msg_id == bindparam("m"))
_ENQUEUE = insert(t.queue).returning(t.queue.c.seq, sort_by_parameter_order=True)


class SqlStore:
    def __init__(self, engine: Engine, schema: str | None = None) -> None:
        self.schema = schema
        self.engine = engine.execution_options(schema_translate_map={None: schema}) if schema else engine

    @classmethod
    def open(cls, url: str, now: float, schema: str | None = None) -> SqlStore:
        """Open (creating or upgrading the schema through the Alembic history's ``comms`` tree).
        ``now`` is kept for callers; migrations record no time of their own."""
        engine = make_engine(url)
        legacy = None
        with engine.begin() as conn:
            if schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            legacy = _legacy_version(conn, schema)
        if legacy is not None and legacy > 1:
            raise CommsError(f"comms database schema {legacy} is newer than this software")
        migrate(engine, "comms", schema=schema, stamp_first=COMMS_ROOT if legacy == 1 else None)
        if legacy is not None:
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE {_qualified(schema)}"))
        return cls(engine, schema)

    def close(self) -> None:
        self.engine.dispose()

    # -- invites ------------------------------------------------------------------------------------
    def add_invite(self, code_sha256: str, now: float, expires_at: float) -> None:
        with self.engine.begin() as c:
            c.execute(insert(t.invites).values(code_sha256=code_sha256, created_at=now, expires_at=expires_at))

    # -- users and devices --------------------------------------------------------------------------
    def user_key(self, user: str) -> str | None:
        with self.engine.connect() as c:
            return c.execute(select(t.users.c.signing_key).where(t.users.c.user_id == user)).scalar_one_or_none()

    def device(self, user: str, device_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(_DEVICE, {"u": user, "d": device_id}).mappings().first()
            return dict(row) if row else None

    def add_user_and_device(self, user: str, signing_key: str | None, device: dict[str, Any], now: float,
                            invite_sha256: str | None) -> bool:
        """Create the device (and the user when ``signing_key`` is given), consuming the invite in the
        same transaction. Returns False when the invite was not usable; raises ``Conflict`` when the
        user or device was created concurrently (by another service process)."""
        try:
            return self._add_user_and_device(user, signing_key, device, now, invite_sha256)
        except IntegrityError as exc:
            raise Conflict("that user or device was registered concurrently") from exc

    def _add_user_and_device(self, user: str, signing_key: str | None, device: dict[str, Any], now: float,
                             invite_sha256: str | None) -> bool:
        with self.engine.begin() as c:
            if invite_sha256 is not None:
                res = c.execute(
                    update(t.invites)
                    .where(t.invites.c.code_sha256 == invite_sha256, t.invites.c.used_by.is_(None),
                           t.invites.c.expires_at > now)
                    .values(used_by=user, used_at=now)
                )
                if res.rowcount != 1:
                    return False
            if signing_key is not None:
                c.execute(insert(t.users).values(user_id=user, signing_key=signing_key, created_at=now))
            c.execute(insert(t.devices).values(user_id=user, created_at=now, revoked_at=None, **device))
            return True

    def revoke_device(self, user: str, device_id: str, now: float) -> None:
        with self.engine.begin() as c:
            c.execute(update(t.devices).where(t.devices.c.user_id == user, t.devices.c.device_id == device_id)
                      .values(revoked_at=now))
            for table in (t.one_time_keys, t.queue):
                c.execute(delete(table).where(table.c.user_id == user, table.c.device_id == device_id))

    def active_devices(self, users: Sequence[str]) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(_ACTIVE_DEVICES, {"users": list(users)}).mappings().all()
            return [dict(r) for r in rows]

    # -- one-time keys ------------------------------------------------------------------------------
    def add_keys(self, user: str, device_id: str, keys: Iterable[dict[str, str]], fallback: bool) -> None:
        rows = [{"user_id": user, "device_id": device_id, "fallback": int(fallback), **k} for k in keys]
        if not rows:
            return
        with self.engine.begin() as c:
            if fallback:
                c.execute(delete(t.one_time_keys).where(t.one_time_keys.c.user_id == user,
                                                        t.one_time_keys.c.device_id == device_id,
                                                        t.one_time_keys.c.fallback == 1))
            existing = set(c.execute(select(t.one_time_keys.c.key_id).where(
                t.one_time_keys.c.user_id == user, t.one_time_keys.c.device_id == device_id,
                t.one_time_keys.c.fallback == int(fallback))).scalars())
            fresh = [r for r in rows if r["key_id"] not in existing]
            if fresh:
                c.execute(insert(t.one_time_keys), fresh)

    def count_keys(self, user: str, device_id: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.one_time_keys).where(
                t.one_time_keys.c.user_id == user, t.one_time_keys.c.device_id == device_id,
                t.one_time_keys.c.fallback == 0)).scalar_one())

    def claim_key(self, user: str, device_id: str) -> dict[str, Any] | None:
        """Take one one-time key (deleted on claim); the fallback key when none is left."""
        k = t.one_time_keys
        with self.engine.begin() as c:
            row = c.execute(select(k).where(k.c.user_id == user, k.c.device_id == device_id)
                            .order_by(k.c.fallback, k.c.key_id).limit(1)).mappings().first()
            if row is None:
                return None
            if not row["fallback"]:
                c.execute(delete(k).where(k.c.user_id == user, k.c.device_id == device_id,
                                          k.c.fallback == 0, k.c.key_id == row["key_id"]))
            return {"key_id": row["key_id"], "key": row["key"], "sig": row["sig"],
                    "fallback": bool(row["fallback"])}

    # -- store-and-forward --------------------------------------------------------------------------
    def enqueue(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert queue rows, skipping any already queued with the same (recipient, sender, msg_id)
        (a resent request); returns the rows inserted, with their ``seq``."""
        if not rows:
            return []
        first = rows[0]
        with self.engine.begin() as c:
            seen = {tuple(x) for x in c.execute(_QUEUED_FOR_MSG, {
                "su": first["sender_user"], "sd": first["sender_device"], "m": first["msg_id"]}).all()}
            fresh = [r for r in rows if (r["user_id"], r["device_id"]) not in seen]
            if not fresh:
                return []
            seqs = c.execute(_ENQUEUE, fresh).scalars().all()
            return [{**r, "seq": seq} for r, seq in zip(fresh, seqs, strict=True)]

    def pending(self, user: str, device_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(_PENDING, {"u": user, "d": device_id, "after": after_seq, "limit": limit}).mappings()
            return [dict(r) for r in rows]

    def pending_for(self, user: str, device_id: str) -> list[dict[str, Any]]:
        return self.pending(user, device_id, 0, 10_000)

    def ack(self, user: str, device_id: str, seqs: Sequence[int]) -> int:
        q = t.queue
        with self.engine.begin() as c:
            res = c.execute(delete(q).where(q.c.user_id == user, q.c.device_id == device_id, q.c.seq.in_(list(seqs))))
            return int(res.rowcount)

    def ack_many(self, items: Sequence[tuple[str, str, Sequence[int]]]) -> int:
        """Several devices' acknowledgements in one transaction (one compiled statement, executemany)."""
        q = t.queue
        params = [{"u": user, "d": device_id, "s": seq} for user, device_id, seqs in items for seq in seqs]
        if not params:
            return 0
        stmt = delete(q).where(q.c.seq == bindparam("s"), q.c.user_id == bindparam("u"),
                               q.c.device_id == bindparam("d"))
        with self.engine.begin() as c:
            return int(c.execute(stmt, params).rowcount)

    def expire(self, now: float) -> int:
        with self.engine.begin() as c:
            n = c.execute(delete(t.queue).where(t.queue.c.expires_at <= now)).rowcount
            old = select(t.blobs.c.blob_id).where(t.blobs.c.expires_at <= now)
            c.execute(delete(t.blob_chunks).where(t.blob_chunks.c.blob_id.in_(old)))
            c.execute(delete(t.blobs).where(t.blobs.c.expires_at <= now))
            return int(n)

    # -- groups -------------------------------------------------------------------------------------
    def create_group(self, group_id: str, owner: str, now: float) -> bool:
        with self.engine.begin() as c:
            if c.execute(select(t.groups.c.group_id).where(t.groups.c.group_id == group_id)).first():
                return False
            c.execute(insert(t.groups).values(group_id=group_id, created_by=owner, created_at=now, epoch=1))
            c.execute(insert(t.group_members).values(group_id=group_id, user_id=owner, role="owner"))
            return True

    def group(self, group_id: str) -> tuple[int, dict[str, str]] | None:
        with self.engine.connect() as c:
            epoch = c.execute(select(t.groups.c.epoch).where(t.groups.c.group_id == group_id)).scalar_one_or_none()
            if epoch is None:
                return None
            members = c.execute(select(t.group_members.c.user_id, t.group_members.c.role).where(
                t.group_members.c.group_id == group_id)).all()
            return int(epoch), {u: r for u, r in members}

    def set_member(self, group_id: str, user: str, role: str | None) -> int:
        """Add, change or (role None) remove a member; bumps and returns the group's epoch."""
        m = t.group_members
        with self.engine.begin() as c:
            c.execute(delete(m).where(m.c.group_id == group_id, m.c.user_id == user))
            if role is not None:
                c.execute(insert(m).values(group_id=group_id, user_id=user, role=role))
            c.execute(update(t.groups).where(t.groups.c.group_id == group_id).values(epoch=t.groups.c.epoch + 1))
            return int(c.execute(select(t.groups.c.epoch).where(t.groups.c.group_id == group_id)).scalar_one())

    def groups_of(self, user: str) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(select(t.group_members.c.group_id).where(t.group_members.c.user_id == user)
                                  .order_by(t.group_members.c.group_id)).scalars())

    # -- blobs --------------------------------------------------------------------------------------
    def blob(self, blob_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.blobs).where(t.blobs.c.blob_id == blob_id)).mappings().first()
            return dict(row) if row else None

    def put_chunk(self, blob_id: str, owner: str, total: int, index: int, data: bytes, now: float,
                  expires_at: float) -> bool:
        with self.engine.begin() as c:
            if not c.execute(select(t.blobs.c.blob_id).where(t.blobs.c.blob_id == blob_id)).first():
                c.execute(insert(t.blobs).values(blob_id=blob_id, owner=owner, total=total, created_at=now,
                                                 expires_at=expires_at))
            if c.execute(select(t.blob_chunks.c.idx).where(
                    and_(t.blob_chunks.c.blob_id == blob_id, t.blob_chunks.c.idx == index))).first():
                return False
            c.execute(insert(t.blob_chunks).values(blob_id=blob_id, idx=index, data=data))
            return True

    def declared_chunks(self, owner: str, now: float) -> int:
        """Chunks the owner's live blobs were declared to hold (what their storage quota counts)."""
        with self.engine.connect() as c:
            total = c.execute(select(func.coalesce(func.sum(t.blobs.c.total), 0)).where(
                t.blobs.c.owner == owner, t.blobs.c.expires_at > now)).scalar_one()
            return int(total)

    def chunk(self, blob_id: str, index: int) -> bytes | None:
        with self.engine.connect() as c:
            data = c.execute(select(t.blob_chunks.c.data).where(
                tuple_(t.blob_chunks.c.blob_id, t.blob_chunks.c.idx) == (blob_id, index))).scalar_one_or_none()
            return bytes(data) if data is not None else None
