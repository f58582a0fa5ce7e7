"""``dunpai cluster start``: several decision workers on this machine sharing one state, standing in
for a cluster (each worker is a ``dunpai serve`` on its own port with ``state.backend: database``
on the configured PostgreSQL database; ``docs/scale-out.md``). A balancer or the card switch
spreads requests over the ports; any worker decides any event. ``dunpai cluster local``: the same
workers and the database's two nodes as hosts in network namespaces (``dunpai.risk.cluster.local``)."""

from __future__ import annotations

import ipaddress
import json
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from dunpai.cli.common import ConfigOpt, DataDirOpt, errors, new_app, settings
from dunpai.core.config import child_environment
from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.risk.cluster.local import LocalCluster, check_host, start_worker, stop_workers

app = new_app("决策集群 / several decision workers sharing one state (PostgreSQL).")


@app.command()
def start(
    workers: Annotated[int, typer.Option(min=1, max=64, help="工作进程数 / decision worker processes")] = 2,
    port: Annotated[int | None, typer.Option(
        help="第一个端口；其余依次加一 / first worker's port, the others the following ones (server.port)",
        show_default=False)] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """启动多个共享状态的决策进程 / start WORKERS decision APIs on consecutive ports, sharing the state in the
    configured PostgreSQL database; Ctrl-C or SIGTERM stops them all."""
    cfg = settings(config, data_dir, state__backend="database")
    if not cfg.db_url.startswith("postgresql"):
        raise InvalidInput("a cluster needs PostgreSQL", problems=[FieldProblem(
            "database_url", "set it (DUNPAI_DATABASE_URL) to a postgresql:// URL every worker can reach")])
    first = port if port is not None else cfg.server.port
    if first + workers - 1 > 65535:
        raise InvalidInput("ports out of range",
                           problems=[FieldProblem("port", f"{first} + {workers} workers > 65535")])
    env = child_environment({"state.backend": "database"})
    procs = [start_worker(first + i, config, cfg.data_dir, env) for i in range(workers)]
    errors.print(f"集群 / cluster: {workers} workers on ports {first}–{first + workers - 1}, state in the database",
                 highlight=False)
    try:
        stopping = _until_stopped(lambda: any(p.poll() is None for p in procs))
    finally:
        stop_workers(procs)
    failed = [i for i, p in enumerate(procs) if p.returncode not in (0, -signal.SIGINT)]
    if failed and not stopping:
        raise typer.Exit(1)


@app.command()
def local(
    workers: Annotated[int, typer.Option(min=1, max=64, help="工作进程数 / decision worker processes")] = 2,
    port: Annotated[int | None, typer.Option(
        help="每个工作进程的端口 / each worker's port, on its own address (server.port)", show_default=False)] = None,
    subnet: Annotated[str, typer.Option(help="各主机地址所在网段 / the hosts' subnet (this machine takes "
                                             "its first address)")] = "10.232.0.0/24",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """在网络命名空间中启动本地集群 / start a cluster standing in for machines: a PostgreSQL primary and its
    synchronous standby and WORKERS decision workers, each in a network namespace of its own (needs
    root); writes DATA_DIR/cluster.json; Ctrl-C or SIGTERM stops it and removes the namespaces."""
    cfg = settings(config, data_dir)
    try:
        network = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise InvalidInput("not a subnet", problems=[FieldProblem("subnet", str(exc))]) from None
    check_host(network)
    cluster = LocalCluster(workers, port if port is not None else cfg.server.port, cfg.data_dir, network, config)
    cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    described = cfg.data_dir / "cluster.json"
    signal.signal(signal.SIGTERM, _interrupt)  # while starting: unwind, so that what started is removed
    try:
        cluster.start()
        described.write_text(json.dumps(cluster.describe(), indent=2), encoding="utf-8")
        for w in cluster.describe()["workers"]:
            errors.print(f"  {w['host']}: {w['url']}", highlight=False)
        errors.print(f"集群 / cluster: {workers} workers and two database nodes in network namespaces; "
                     f"{described}", highlight=False)
        stopping = _until_stopped(cluster.running)
    finally:
        cluster.stop()
        described.unlink(missing_ok=True)
    if not stopping:
        raise typer.Exit(1)  # the workers stopped by themselves


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _until_stopped(running: Callable[[], bool]) -> bool:
    """Wait while ``running()``; ``True`` when SIGTERM or SIGINT (Ctrl-C) ended the wait."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and running():
        time.sleep(0.2)
    return stopping
