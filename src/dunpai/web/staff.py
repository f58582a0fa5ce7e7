"""Console staff users and sign-in sessions.

Passwords are stored only as Argon2id hashes (argon2-cffi's defaults, RFC 9106). A session is a
random 256-bit token in an HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256,
with a per-session CSRF token that every form posts back. Sessions expire after 8 hours.

The sign-in form has its own CSRF token before any session exists: ``GET /signin`` puts a random
token in an HttpOnly, SameSite=Strict cookie and in the form, and ``POST /signin`` needs both to
match, so no other site can sign a browser in (into the attacker's account, say). Wrong passwords
are throttled per user name and per client, and a lock-out is audited and alerted (``throttle.py``).

Why no session or CSRF library: the maintained ones for Starlette keep the session in a signed
cookie (Starlette's ``SessionMiddleware``: no server-side revocation, so a stolen cookie lives until
it expires) or defend forms with double-submit cookies (``starlette-csrf``, ``asgi-csrf``), which
OWASP ranks below a synchronizer token bound to a server-side session. A bank's console needs
sign-out and disabling a user to end sessions at once, so sessions stay rows here; every
primitive comes from a library (``argon2-cffi``, ``secrets``, ``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from dunpai.core.errors import Conflict, InvalidInput, Unauthenticated
from dunpai.core.roles import STAFF_ROLES
from dunpai.risk.cases.tables import staff_sessions, staff_users

ROLES = STAFF_ROLES
SESSION_SECONDS = 8 * 3600.0
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("dunpai-timing-equaliser")


@dataclass(frozen=True)
class StaffUser:
    username: str
    tenant: str
    display_name: str
    role: str
    employee_id: str
    branch_id: str

    @property
    def name(self) -> str:
        return self.username


@dataclass(frozen=True)
class Session:
    user: StaffUser
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff(db: Engine, username: str, password: str, role: str, *, tenant: str = "default",
                 display_name: str | None = None, employee_id: str | None = None, branch_id: str = "hq",
                 now: float = 0.0) -> StaffUser:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise InvalidInput("a console password has at least 10 characters")
    user = StaffUser(username, tenant, display_name or username, role, employee_id or username, branch_id)
    with db.begin() as conn:
        if conn.execute(select(staff_users.c.username).where(staff_users.c.username == username)).first():
            raise Conflict("this user name is taken", username=username)
        conn.execute(insert(staff_users).values(
            username=username, tenant=tenant, display_name=user.display_name, role=role,
            employee_id=user.employee_id, branch_id=branch_id, password_hash=_HASHER.hash(password), created_at=now))
    return user


def authenticate(db: Engine, username: str, password: str) -> StaffUser:
    """Raises ``Unauthenticated`` (one message for unknown user and wrong password)."""
    with db.connect() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.username == username,
                                                     staff_users.c.disabled_at.is_(None))).first()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        raise Unauthenticated("wrong user name or password") from None
    if row is None:
        raise Unauthenticated("wrong user name or password")
    if _HASHER.check_needs_rehash(row.password_hash):
        with db.begin() as conn:
            conn.execute(update(staff_users).where(staff_users.c.username == username)
                         .values(password_hash=_HASHER.hash(password)))
    return StaffUser(row.username, row.tenant, row.display_name, row.role, row.employee_id, row.branch_id)


def find_user(db: Engine, username: str) -> StaffUser | None:
    """The staff user of that name (disabled or not), for auditing and alerting on it."""
    with db.connect() as conn:
        row = conn.execute(select(staff_users).where(staff_users.c.username == username)).first()
    if row is None:
        return None
    return StaffUser(row.username, row.tenant, row.display_name, row.role, row.employee_id, row.branch_id)


def open_session(db: Engine, user: StaffUser, now: float) -> tuple[str, str]:
    """Returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with db.begin() as conn:
        conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at < now))
        conn.execute(insert(staff_sessions).values(token_sha256=_digest(token), username=user.username, csrf=csrf,
                                                   created_at=now, expires_at=now + SESSION_SECONDS))
    return token, csrf


def session(db: Engine, token: str, now: float) -> Session | None:
    with db.connect() as conn:
        row = conn.execute(select(staff_sessions, staff_users).join(
            staff_users, staff_users.c.username == staff_sessions.c.username).where(
            staff_sessions.c.token_sha256 == _digest(token), staff_sessions.c.expires_at > now,
            staff_users.c.disabled_at.is_(None))).first()
    if row is None:
        return None
    user = StaffUser(row.username, row.tenant, row.display_name, row.role, row.employee_id, row.branch_id)
    return Session(user, row.csrf, float(row.expires_at))


def close_session(db: Engine, token: str) -> None:
    with db.begin() as conn:
        conn.execute(delete(staff_sessions).where(staff_sessions.c.token_sha256 == _digest(token)))
