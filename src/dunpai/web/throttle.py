"""Console sign-in throttling: back-off per user name and per client, lock-out audited and alerted.

* **Per user name** (stored: it survives a restart and holds on every server): the first
  ``free`` wrong passwords in a row cost nothing; from then on each one locks the name for
  ``base_s`` seconds, doubling with each further failure up to ``max_s``. While a name is locked,
  sign-in is refused without looking at the password, so guessing cannot go on and the right
  password does not get in either. A success clears the count. Unknown names are counted alike,
  so a lock-out tells nobody whether a name exists.
* **Per client** (in memory only): more than ``client_free`` failures within ``client_window_s``
  from one client lock that client out for ``client_window_s``: one machine spraying many names.
  The client is known only by a keyed hash of its address with a key that lives in this process;
  the address itself is never stored or logged (Dunpai keeps no caller's address).

The moment a name is locked, the caller audits it and raises an alert (``web/app.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from dunpai.risk.cases.signin_tables import signin_failures

KEEP_S = 86_400.0  # failures older than a day are forgotten


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int = 5
    base_s: float = 60.0
    max_s: float = 3600.0
    client_free: int = 20
    client_window_s: float = 900.0


@dataclass(frozen=True)
class Failure:
    failures: int
    locked_for: float  # seconds the name is now locked (0: not locked)

    @property
    def locked_now(self) -> bool:
        return self.locked_for > 0


class SignInThrottle:
    def __init__(self, db: Engine, clock: Callable[[], float], policy: ThrottlePolicy | None = None) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or ThrottlePolicy()
        self._key = secrets.token_bytes(32)
        self._clients: dict[str, deque[float]] = {}
        self._client_locked: dict[str, float] = {}

    def client(self, address: str | None) -> str:
        """An opaque, process-local name for a client address."""
        return hmac.new(self._key, (address or "-").encode(), hashlib.sha256).hexdigest()[:32]

    def wait(self, username: str, client: str) -> float:
        """Seconds until ``username`` from ``client`` may try again (0: now)."""
        now = self.clock()
        with self.db.connect() as conn:
            row = conn.execute(select(signin_failures.c.locked_until)
                               .where(signin_failures.c.username == username)).first()
        user_wait = max(0.0, float(row.locked_until) - now) if row is not None else 0.0
        client_wait = max(0.0, self._client_locked.get(client, 0.0) - now)
        return max(user_wait, client_wait)

    def failed(self, username: str, client: str) -> Failure:
        """Count one wrong password; says whether this failure locked the name."""
        now, p = self.clock(), self.policy
        self._client_failed(client, now)
        with self.db.begin() as conn:
            conn.execute(delete(signin_failures).where(signin_failures.c.last_failed_at < now - KEEP_S))
            row = conn.execute(select(signin_failures).where(signin_failures.c.username == username)).first()
            failures = (int(row.failures) if row is not None else 0) + 1
            locked_for = 0.0 if failures < p.free else min(p.max_s, p.base_s * 2 ** (failures - p.free))
            values = {"failures": failures, "locked_until": now + locked_for, "last_failed_at": now}
            if row is None:
                conn.execute(insert(signin_failures).values(username=username, **values))
            else:
                conn.execute(update(signin_failures).where(signin_failures.c.username == username).values(**values))
        return Failure(failures, locked_for)

    def succeeded(self, username: str) -> None:
        with self.db.begin() as conn:
            conn.execute(delete(signin_failures).where(signin_failures.c.username == username))

    def _client_failed(self, client: str, now: float) -> None:
        p = self.policy
        recent = self._clients.setdefault(client, deque())
        recent.append(now)
        while recent and recent[0] < now - p.client_window_s:
            recent.popleft()
        if len(recent) > p.client_free:
            self._client_locked[client] = now + p.client_window_s
        if len(self._clients) > 100_000:  # bounded memory under a flood of addresses
            self._clients.pop(next(iter(self._clients)))
