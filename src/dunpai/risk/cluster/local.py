"""A cluster on one machine standing in for several: the database's nodes (a PostgreSQL primary
with a synchronous streaming standby) and each decision worker run in network namespaces of their
own — hosts with their own addresses, joined by a bridge in a switch namespace, which this
machine also reaches (``dunpai cluster local``; ``docs/scale-out.md``). Needs root, iproute2 and
PostgreSQL's server programs; as root, the ``postgres`` system user owns the database's files.

Failover is PostgreSQL's own: a commit returns once the standby has its WAL on disk, the workers
connect with a two-host URL and ``target_session_attrs=read-write``, and after the standby is
promoted (what Patroni or a managed service does; here :meth:`PgNode.promote`) they find it.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dunpai.core.config import child_environment
from dunpai.core.errors import FieldProblem, InvalidInput, Unavailable

PG_PORT = 5432
STANDBY = "standby"
"""The standby's ``application_name``: the primary waits for it on every commit."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and shutil.which("initdb") is None:
        raise Unavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    return Path(found[-1]).parent if found else Path(str(shutil.which("initdb"))).parent


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, its programs run as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        raise Unavailable("running as root without runuser: PostgreSQL refuses to run as root")
    return ["runuser", "-u", "postgres", "--"]


def _call(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603 (fixed argv)


def _run(argv: list[str]) -> None:
    done = _call(argv)
    if done.returncode != 0:
        name = Path(argv[argv.index("--") + 1] if "--" in argv else argv[0]).name
        raise Unavailable(f"{name} failed: {(done.stderr or done.stdout).strip()[-500:]}")


def in_netns(netns: str | None) -> list[str]:
    """The prefix that runs a command in ``netns`` (none: this machine's own network)."""
    return ["ip", "netns", "exec", netns] if netns else []


@dataclass
class PgNode:
    """One PostgreSQL node: its files, its address, and the namespace it runs in (if any)."""

    data: str
    host: str
    port: int
    netns: str | None = None

    def _run(self, *args: str) -> None:
        _run([*in_netns(self.netns), *_as_postgres(), *args])

    def _ctl(self, *args: str) -> None:
        self._run(str(_bindir() / "pg_ctl"), "-D", self.data, "-w", "-l", f"{self.data}.log", *args)

    def _configure(self, lines: str) -> None:
        with (Path(self.data) / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '{self.host}'\nunix_socket_directories = ''\n{lines}")

    def start_primary(self, clients: str) -> None:
        """A new primary that waits for its standby on every commit; ``clients``: the addresses
        (a CIDR) allowed in, for queries and replication."""
        self._run(str(_bindir() / "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-N")
        self._configure(f"wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = '{STANDBY}'\n"
                        "fsync = on\nshared_buffers = 32MB\n")
        with (Path(self.data) / "pg_hba.conf").open("a", encoding="utf-8") as hba:
            hba.write(f"host all postgres {clients} trust\nhost replication postgres {clients} trust\n")
        self._ctl("start")

    def start_standby(self, primary: PgNode) -> None:
        self._run(str(_bindir() / "pg_basebackup"), "-D", self.data, "-R", "-X", "stream", "-d",
                  f"host={primary.host} port={primary.port} user=postgres application_name={STANDBY}")
        # promoted, it has no standby of its own: its commits must not wait for one; and it retries a
        # lost primary every 100 ms, not 5 s (a promotion waits for that pause to end)
        self._configure("synchronous_standby_names = ''\nwal_retrieve_retry_interval = 100ms\n")
        self._ctl("start")

    def pids(self) -> list[int]:
        """The postmaster and its backends (children), so SIGKILL takes the whole node down."""
        pid_file = Path(self.data) / "postmaster.pid"
        if not pid_file.exists():
            return []
        master = int(pid_file.read_text().split()[0])
        children = _call(["pgrep", "-P", str(master)])
        return [master, *(int(p) for p in children.stdout.split())]

    def kill(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def promote(self) -> None:
        self._ctl("promote")

    def stop(self) -> None:
        if (Path(self.data) / "postmaster.pid").exists():
            _call([*in_netns(self.netns), *_as_postgres(), str(_bindir() / "pg_ctl"), "-D", self.data, "-m",
                   "immediate", "stop"])
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)


class PgPair:
    """A private primary with a synchronous standby: ``start()``, ``url``, ``primary.kill()``,
    ``standby.promote()``, ``stop()``. Files in a temporary folder, removed by ``stop``."""

    def __init__(self, primary: tuple[str, int, str | None], standby: tuple[str, int, str | None],
                 clients: str) -> None:
        _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dunpai-pg-"))
        if _as_postgres():
            shutil.chown(self.root, "postgres")
        self.primary = PgNode(str(self.root / "primary"), *primary)
        self.standby = PgNode(str(self.root / "standby"), *standby)
        self.clients = clients

    @property
    def url(self) -> str:
        hosts = "&".join(f"host={n.host}:{n.port}" for n in (self.primary, self.standby))
        return f"postgresql+psycopg://postgres@/postgres?{hosts}&target_session_attrs=read-write&connect_timeout=2"

    def start(self) -> PgPair:
        try:
            self.primary.start_primary(self.clients)
            self.standby.start_standby(self.primary)
            self._wait_sync()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_sync(self, timeout: float = 30.0) -> None:
        """Until the primary reports its standby streaming synchronously."""
        from sqlalchemy import create_engine, text

        engine = create_engine(f"postgresql+psycopg://postgres@{self.primary.host}:{self.primary.port}/postgres")
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT 1 FROM pg_stat_replication WHERE application_name = :n "
                                         "AND sync_state = 'sync'"), {"n": STANDBY}).first() is not None:
                        return
                if time.monotonic() > deadline:
                    raise Unavailable("the standby did not start streaming synchronously")
                time.sleep(0.1)
        finally:
            engine.dispose()

    def stop(self) -> None:
        self.standby.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _ip(*args: str) -> None:
    _run(["ip", *args])


@dataclass
class Network:
    """Hosts (network namespaces) on one /24, each with a veth into a bridge in a switch namespace;
    this machine takes the subnet's first address on a veth of its own."""

    subnet: ipaddress.IPv4Network
    tag: str = field(default_factory=lambda: os.urandom(2).hex())
    hosts: dict[str, str] = field(default_factory=dict)
    """Host name → address."""

    def netns(self, host: str) -> str:
        return f"dpc{self.tag}{host}"

    @property
    def switch(self) -> str:
        return self.netns("sw")

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def create(self, names: list[str]) -> None:
        addresses = iter(self.subnet.hosts())
        next(addresses)  # the gateway's: this machine's
        self.hosts = {name: str(next(addresses)) for name in names}
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        self._attach(None, "h", self.gateway)
        for name, address in self.hosts.items():
            _ip("netns", "add", self.netns(name))
            _ip("-n", self.netns(name), "link", "set", "lo", "up")
            self._attach(self.netns(name), name, address)

    def _attach(self, netns: str | None, name: str, address: str) -> None:
        inside, port = f"dpc{self.tag}{name}a", f"dpc{self.tag}{name}b"
        _ip("link", "add", inside, "type", "veth", "peer", "name", port)
        _ip("link", "set", port, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        where = ["-n", netns] if netns else []
        if netns:
            _ip("link", "set", inside, "netns", netns)
        _ip(*where, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inside)
        _ip(*where, "link", "set", inside, "up")

    def remove(self) -> None:
        """Every namespace (their veths go with them, this machine's too)."""
        for name in [*self.hosts, "sw"]:
            _call(["ip", "netns", "del", self.netns(name)])


def check_host(subnet: ipaddress.IPv4Network) -> None:
    """Why this machine cannot hold a local cluster on ``subnet`` (an error), if it cannot."""
    if os.geteuid() != 0:
        raise Unavailable("network namespaces need root")
    if shutil.which("ip") is None:
        raise Unavailable("iproute2 (`ip`) is not installed (scripts/system-deps.sh)")
    _bindir()
    if subnet.prefixlen > 26:
        raise InvalidInput("subnet too small", problems=[FieldProblem("subnet", "give a /26 or larger (a /24)")])
    taken = _call(["ip", "-4", "-o", "addr", "show"]).stdout
    for word in taken.split():
        if "/" in word and word[0].isdigit():
            with contextlib.suppress(ValueError):
                if ipaddress.IPv4Interface(word).network.overlaps(subnet):
                    raise InvalidInput("the subnet is in use here", problems=[FieldProblem(
                        "subnet", f"{subnet} overlaps {word} on this machine: choose another")])


@dataclass
class Worker:
    host: str
    url: str
    pid: int


class LocalCluster:
    """``start()`` the network, the database's two nodes and ``workers`` decision workers (each a
    ``dunpai serve`` with ``state.backend: database``); ``describe()``; ``stop()``."""

    def __init__(self, workers: int, port: int, data_dir: Path, subnet: ipaddress.IPv4Network,
                 config: Path | None = None) -> None:
        if workers + 3 > subnet.num_addresses - 2:
            raise InvalidInput("subnet too small", problems=[FieldProblem(
                "subnet", f"{workers} workers, two database nodes and this machine need {workers + 3} addresses")])
        self.workers, self.port, self.data_dir, self.config = workers, port, data_dir, config
        self.network = Network(subnet)
        self.pair: PgPair | None = None
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> LocalCluster:
        net = self.network
        try:
            net.create(["db1", "db2", *(f"w{i + 1}" for i in range(self.workers))])
            self.pair = PgPair((net.hosts["db1"], PG_PORT, net.netns("db1")),
                               (net.hosts["db2"], PG_PORT, net.netns("db2")), str(net.subnet)).start()
            env = child_environment({"state.backend": "database", "database_url": self.pair.url})
            for host in (f"w{i + 1}" for i in range(self.workers)):  # each kept at once: a failure stops it too
                self.procs.append(start_worker(self.port, self.config, self.data_dir, env, net.netns(host),
                                               net.hosts[host]))
        except BaseException:
            self.stop()
            raise
        return self

    def describe(self) -> dict[str, Any]:
        """What a test or an operator needs: the workers' URLs and processes, the database's URL
        and nodes, each host's namespace."""
        net = self.network
        assert self.pair is not None
        return {
            "workers": [asdict(Worker(f"w{i + 1}", f"http://{net.hosts[f'w{i + 1}']}:{self.port}", p.pid))
                        for i, p in enumerate(self.procs)],
            "database_url": self.pair.url,
            "database_nodes": [asdict(self.pair.primary), asdict(self.pair.standby)],
            "namespaces": {name: net.netns(name) for name in [*net.hosts, "sw"]},
            "this_machine": net.gateway,
        }

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        stop_workers(self.procs)
        if self.pair is not None:
            self.pair.stop()
        self.network.remove()


def start_worker(port: int, config: Path | None, data_dir: Path, env: dict[str, str], netns: str | None = None,
                 host: str | None = None) -> subprocess.Popen[bytes]:
    """A decision worker: ``dunpai serve`` on ``port`` (and ``host``, in ``netns``) with ``env``."""
    argv = [*in_netns(netns), sys.executable, "-m", "dunpai.cli", "serve", *(["--host", host] if host else []),
            "--port", str(port), *(["--config", str(config)] if config else []), "--data-dir", str(data_dir)]
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)  # noqa: S603 (fixed argv)


def stop_workers(procs: list[subprocess.Popen[bytes]], grace_s: float = 30.0) -> None:
    """SIGINT (serve's own clean stop: the audit head is signed), then SIGKILL after ``grace_s``."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
