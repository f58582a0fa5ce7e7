"""Kill the server with SIGKILL in the middle of a replay, restart it, resend everything:
no accepted event lost, no decision duplicated, online state equal to a clean replay."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dunpai.core.config import load_settings
from dunpai.risk.runtime import open_service
from dunpai.risk.scenarios.source_cases import demo_events

KEY = "crash-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dunpai.cli", "serve", "--config", str(config), "--data-dir", str(data_dir),
         "--port", str(port), "--access-log", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
    proc.kill()
    raise RuntimeError("server did not start")


def send_all(port: int, events: list[dict[str, Any]], results: dict[str, Any], stop_after: int | None = None,
             killer: threading.Event | None = None) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"},
                      timeout=10) as client:
        for i, body in enumerate(events):
            if killer is not None and stop_after is not None and i == stop_after:
                killer.set()
            try:
                r = client.post("/v1/events", json=body)
            except httpx.HTTPError:
                return  # the server is gone: this request may or may not have been accepted
            assert r.status_code == 200, r.text
            results[body["event_id"]] = r.json()


@pytest.mark.slow
def test_sigkill_mid_replay_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    events = [body for body, _, _ in demo_events(seed=21, customers=60, history_days=3)]
    config = tmp_path / "dunpai.yaml"
    config.write_text(json.dumps({"api_keys": [{"name": "test", "role": "admin",
                                                "key_sha256": hashlib.sha256(KEY.encode()).hexdigest()}],
                                  "state": {"snapshot_every": 97}}))
    data = tmp_path / "server"
    port = free_port()
    proc = start(data, config, port)
    first: dict[str, Any] = {}
    kill_now = threading.Event()

    def killer() -> None:
        kill_now.wait(120)
        time.sleep(0.05)  # land in the middle of in-flight requests
        proc.send_signal(signal.SIGKILL)

    t = threading.Thread(target=killer)
    t.start()
    send_all(port, events, first, stop_after=len(events) // 2, killer=kill_now)
    t.join()
    proc.wait(10)
    assert 0 < len(first) < len(events)

    # Restart and resend every event (an at-least-once client does exactly this).
    proc = start(data, config, port)
    second: dict[str, Any] = {}
    send_all(port, events, second)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert len(second) == len(events)
    for event_id, decision in first.items():  # accepted before the crash: same decision after
        assert second[event_id]["decision_id"] == decision["decision_id"]
        assert second[event_id]["action"] == decision["action"]
        assert second[event_id]["duplicate"] is True

    recovered = open_service(load_settings(config, {"data_dir": str(data)}))
    shutil.copytree(data / "keys", tmp_path / "clean" / "keys")  # the same token key: the same card ids
    clean = open_service(load_settings(config, {"data_dir": str(tmp_path / "clean")}))
    try:
        for body in events:
            clean.submit("default", body)
        from sqlalchemy import text

        with recovered.db.connect() as conn:
            n_events = conn.execute(text("SELECT count(*) FROM risk_events")).scalar_one()
            n_decisions = conn.execute(text("SELECT count(DISTINCT event_id) FROM risk_decisions")).scalar_one()
            n_rows = conn.execute(text("SELECT count(*) FROM risk_decisions")).scalar_one()
        assert n_events == n_decisions == n_rows == len(events)
        state = dict(recovered.store.items())  # type: ignore[attr-defined]
        expected = dict(clean.store.items())  # type: ignore[attr-defined]
        assert state.keys() == expected.keys()
        assert all(list(state[k]) == list(expected[k]) for k in expected)
    finally:
        recovered.close()
        clean.close()
        if os.path.exists(data / "state.snapshot.tmp"):
            pytest.fail("a half-written snapshot was left behind")
