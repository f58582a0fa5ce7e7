"""``dunpai serve`` as an operator sees it: a startup line once it listens, one access-log line per
request (text or JSON, never the client's address), a refused port named by its setting."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dunpai.api.access_log import AccessLog
from tests.kdf import CHEAP_KDF_ENV


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_says_where_it_listens_and_logs_each_request(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, **CHEAP_KDF_ENV}
    env.pop("DUNPAI_DATABASE_URL", None)
    err = tmp_path / "stderr.txt"
    with err.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "dunpai.cli", "serve", "--data-dir", str(tmp_path / "d"),
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=sink, env=env)
    try:
        deadline = time.monotonic() + 60
        while f"listening on http://127.0.0.1:{port}" not in err.read_text(encoding="utf-8"):
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text(encoding="utf-8")
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/health?who=me").json() == {"status": "ok"}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/events", content=b"{}").status_code == 401
        for _ in range(50):
            log = err.read_text(encoding="utf-8")
            if "/v1/events" in log:
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert re.search(r'"GET /health" 200 \d+ [\d.]+ms', log), log
    assert re.search(r'"POST /v1/events" 401 \d+ [\d.]+ms', log), log
    assert "who=me" not in log  # no query strings
    access = [line for line in log.splitlines() if '"GET ' in line or '"POST ' in line]
    assert not any(re.search(r"127\.0\.0\.1:\d+", line) for line in access)  # no client address


def test_serve_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dunpai.cli", "serve", "--data-dir", str(tmp_path), "--port", "99999"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "server.port" in done.stderr and "65535" in done.stderr
    assert not (tmp_path / "dunpai.db").exists()  # refused before anything was made


def test_access_log_as_json(caplog: pytest.LogCaptureFixture) -> None:
    inner = Starlette(routes=[Route("/x/{n}", lambda r: PlainTextResponse("hello"))])
    logger = logging.getLogger("test.access")
    with caplog.at_level(logging.INFO, logger="test.access"):
        TestClient(AccessLog(inner, "json", logger)).get("/x/7?secret=1")
    [record] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "test.access"]
    assert {k: record[k] for k in ("method", "path", "status", "bytes")} == {"method": "GET", "path": "/x/7",
                                                                             "status": 200, "bytes": 5}
    assert record["ms"] >= 0
