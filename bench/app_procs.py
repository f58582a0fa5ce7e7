"""The P2SC app's processes for its benchmark and end-to-end tests: a loopback deployment
(``python -m dunpai.comms.app.loopback``) and app instances (``python -m dunpai.comms.app``), each
its own process as a user would run them, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PASSPHRASE = "correct horse battery staple"


def app_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the child processes: the key store passphrase (a throw-away store), plus
    ``extra`` (tests lower the key-derivation cost; the benchmark keeps the defaults)."""
    env = dict(os.environ)
    env.update(DUNPAI_KEYSTORE_PASSPHRASE=PASSPHRASE, PYTHONUNBUFFERED="1", **(extra or {}))
    return env


def _wait_file(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return path.read_text(encoding="utf-8")
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Loopback:
    """The comms service and its relay in one process (``python -m dunpai.comms.app.loopback``)."""

    dir: Path
    port: int
    invites: list[str] = field(default_factory=list)
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=app_env)

    def start(self, n_invites: int = 8) -> Loopback:
        ready = self.dir / "ready.json"
        ready.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir / "loopback.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dunpai.comms.app.loopback", "--dir", str(self.dir), "--port", str(self.port),
             "--invites", str(n_invites)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        info = json.loads(_wait_file(ready, self.proc, "loopback deployment"))
        self.url, self.invites = info["url"], info["invites"]
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None


@dataclass
class AppProc:
    """One user's app (``python -m dunpai.comms.app``) on a device directory of its own."""

    home: Path
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    started_s: float = 0.0
    env: dict[str, str] = field(default_factory=app_env)

    def start(self) -> AppProc:
        url_file = self.home.parent / f"{self.home.name}.url"
        url_file.unlink(missing_ok=True)
        self.home.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.home.parent / f"{self.home.name}.out", "ab")  # noqa: SIM115
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dunpai.comms.app", "--home", str(self.home), "--no-browser",
             "--url-file", str(url_file)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.url = _wait_file(url_file, self.proc, "app").strip()
        self.started_s = time.monotonic() - t0
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the app is not running")
        return self.proc.pid

    @property
    def origin(self) -> str:
        return self.url.split("/?", 1)[0]

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

