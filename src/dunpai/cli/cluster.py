"""``dunpai cluster start``: several decision workers on this machine sharing one state, standing in
for a cluster (each worker is a ``dunpai serve`` on its own port with ``state.backend: database``
on the configured PostgreSQL database; ``docs/scale-out.md``). A balancer or the card switch
spreads requests over the ports; any worker decides any event."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Annotated

import typer

from dunpai.cli.common import ConfigOpt, DataDirOpt, errors, new_app, settings
from dunpai.core.config import child_environment
from dunpai.core.errors import FieldProblem, InvalidInput

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
    common = [*(["--config", str(config)] if config else []), "--data-dir", str(cfg.data_dir)]
    procs = [subprocess.Popen([sys.executable, "-m", "dunpai.cli", "serve", "--port", str(first + i), *common],  # noqa: S603 (fixed argv)
                              env=env, stdin=subprocess.DEVNULL) for i in range(workers)]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    errors.print(f"集群 / cluster: {workers} workers on ports {first}–{first + workers - 1}, state in the database",
                 highlight=False)
    try:
        while not stopping and any(p.poll() is None for p in procs):
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # serve's own clean stop: the audit head is signed
        deadline = time.monotonic() + 30
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    failed = [i for i, p in enumerate(procs) if p.returncode not in (0, -signal.SIGINT)]
    if failed and not stopping:
        raise typer.Exit(1)
