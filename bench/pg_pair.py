"""A private PostgreSQL primary with a synchronous streaming standby, on 127.0.0.1, for killing one
node of the database under load (issue 18): the workers connect with a two-host URL and
``target_session_attrs=read-write``, so after the standby is promoted (what Patroni or a managed
service does; here :meth:`PgPair.promote`) they reconnect to it by themselves.

A commit returns only once the standby has the WAL on disk (``synchronous_standby_names``), so a
decision a worker acknowledged survives the primary's loss. Needs PostgreSQL's server programs
(Debian's ``postgresql`` package) and, when run as root, the ``postgres`` system user to own the
data directories. Everything lives in a temporary directory and is stopped by :meth:`PgPair.stop`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class Unavailable(RuntimeError):
    """This machine cannot run a private PostgreSQL pair (why, in the message)."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and shutil.which("initdb") is None:
        raise Unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    return Path(found[-1]).parent if found else Path(str(shutil.which("initdb"))).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgPair:
    """``start()``, then ``url``; ``kill_primary()`` (SIGKILL of its postmaster and backends),
    ``promote()``; ``stop()``."""

    def __init__(self) -> None:
        self.bin = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dunpai-pgpair-"))
        self.ports = (_free_port(), _free_port())
        self.dirs = (self.root / "primary", self.root / "standby")
        self._user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise Unavailable("running as root without runuser: PostgreSQL refuses to run as root")
            shutil.chown(self.root, "postgres")
            self._user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        hosts = "&".join(f"host=127.0.0.1:{p}" for p in self.ports)
        return f"postgresql+psycopg://postgres@/postgres?{hosts}&target_session_attrs=read-write&connect_timeout=2"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._user, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unavailable(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def _ctl(self, which: int, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dirs[which]), "-w", "-l",
                  str(self.root / f"node{which}.log"), *args)

    def start(self) -> PgPair:
        primary, standby = self.dirs
        self._run(str(self.bin / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-N")
        with (primary / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"port = {self.ports[0]}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       "wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = 'standby'\n"
                       "fsync = on\nshared_buffers = 32MB\n")
        with (primary / "pg_hba.conf").open("a", encoding="utf-8") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._ctl(0, "start")
        self._run(str(self.bin / "pg_basebackup"), "-D", str(standby), "-R", "-X", "stream", "-d",
                  f"host=127.0.0.1 port={self.ports[0]} user=postgres application_name=standby")
        with (standby / "postgresql.conf").open("a", encoding="utf-8") as conf:
            # promoted, it has no standby of its own: its commits must not wait for one; and it retries
            # a lost primary every 100 ms, not 5 s (a promotion waits for that pause to end)
            conf.write(f"port = {self.ports[1]}\nsynchronous_standby_names = ''\n"
                       "wal_retrieve_retry_interval = 100ms\n")
        self._ctl(1, "start")
        self._wait_sync()
        return self

    def _wait_sync(self, timeout: float = 30.0) -> None:
        """Until the primary reports its standby streaming synchronously."""
        from sqlalchemy import create_engine, text

        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.ports[0]}/postgres")
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby' "
                                         "AND sync_state = 'sync'")).first() is not None:
                        return
                if time.monotonic() > deadline:
                    raise Unavailable("the standby did not start streaming synchronously")
                time.sleep(0.1)
        finally:
            engine.dispose()

    def _pids(self, which: int) -> list[int]:
        """The node's postmaster and its backends (children), so SIGKILL takes the whole node down."""
        pid_file = self.dirs[which] / "postmaster.pid"
        if not pid_file.exists():
            return []
        master = int(pid_file.read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False)
        return [master, *(int(p) for p in children.stdout.split())]

    def kill_primary(self) -> None:
        for pid in self._pids(0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def promote(self) -> None:
        self._ctl(1, "promote")

    def stop(self) -> None:
        for which in (1, 0):
            if (self.dirs[which] / "postmaster.pid").exists():
                subprocess.run([*self._user, str(self.bin / "pg_ctl"), "-D", str(self.dirs[which]), "-m",
                                "immediate", "stop"], capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while any(self._pids(w) for w in (0, 1)) and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
