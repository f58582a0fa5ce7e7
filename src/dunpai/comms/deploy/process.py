"""Start and stop a deployment's service as a background process with a pid file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dunpai.comms.deploy.paths import Paths
from dunpai.comms.errors import DeployError

DAEMON_MODULE = "dunpai.cli.comms.daemon"  # the process entry (``python -m``) of a deployment's service


@dataclass(frozen=True)
class Running:
    pid: int
    url: str
    port: int
    bridge_port: int
    relay_url: str


def _ours(pid: int) -> bool:
    """Only ever signal a process that is our daemon (a pid file may outlive it and be reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return DAEMON_MODULE.encode() in fh.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _ready(p: Paths, pid: int) -> Running | None:
    try:
        data: dict[str, Any] = json.loads(p.ready.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("pid") != pid:
        return None
    return Running(pid, str(data["url"]), int(data["port"]), int(data["bridge_port"]), str(data.get("relay_url", "")))


def running(directory: Path) -> Running | None:
    """The deployment's live service, or None (a stale pid file is removed)."""
    p = Paths(directory)
    try:
        pid = int(p.pid.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    if not (_alive(pid) and _ours(pid)):
        p.pid.unlink(missing_ok=True)
        p.ready.unlink(missing_ok=True)
        return None
    return _ready(p, pid)


def start(directory: Path, timeout_s: float = 30.0) -> tuple[Running, bool]:
    """Start the service unless it already runs; returns (running service, started now)."""
    current = running(directory)
    if current is not None:
        return current, False
    p = Paths(directory)
    p.run.mkdir(parents=True, exist_ok=True)
    p.logs.mkdir(parents=True, exist_ok=True)
    with open(p.daemon_out, "ab") as out:
        argv = [sys.executable, "-m", DAEMON_MODULE, "--dir", str(directory)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,  # noqa: S603 (fixed argv)
                                stderr=out, start_new_session=True, cwd=directory)
    p.pid.write_text(str(proc.pid), encoding="ascii")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = _ready(p, proc.pid)
        if ready is not None:
            return ready, True
        if proc.poll() is not None:
            p.pid.unlink(missing_ok=True)
            raise DeployError(f"the service exited with code {proc.returncode}; see {p.daemon_out.name}")
        time.sleep(0.05)
    _terminate(proc.pid, 5.0)
    p.pid.unlink(missing_ok=True)
    raise DeployError("the service did not become ready in time")


def _terminate(pid: int, timeout_s: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # it may have exited since the last look: reap our zombie
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop(directory: Path, timeout_s: float = 10.0) -> bool:
    """Stop the service if it runs; returns whether one was stopped."""
    p = Paths(directory)
    try:
        pid = int(p.pid.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return False
    stopped = _alive(pid) and _ours(pid)
    if stopped:
        _terminate(pid, timeout_s)
    p.pid.unlink(missing_ok=True)
    p.ready.unlink(missing_ok=True)
    return stopped
