"""``dunpai cluster start``: workers on consecutive ports share one state in PostgreSQL; refused on
SQLite, naming the setting."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.common import free_port
from bench.scale_load import cluster_events, replay, stored_decisions, stored_log
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from dunpai.api.auth import create_api_key
from dunpai.cli.main import app
from dunpai.core.config import child_environment, load_settings
from dunpai.core.db import init_schema, make_engine
from dunpai.core.errors import InvalidInput, Unavailable
from dunpai.risk.cluster.local import PgNode, check_host
from dunpai.risk.runtime import open_service
from dunpai.risk.service import RiskService
from tests.pg import PG_URL, postgres_or_skip
from tests.services import services_required

ROOT = Path(__file__).resolve().parents[2]
CHEAP_KDF = {"DUNPAI_KEYSTORE_KDF_ITERATIONS": "1", "DUNPAI_KEYSTORE_KDF_MEMORY_MIB": "1",
             "DUNPAI_KEYSTORE_KDF_LANES": "1"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    postgres_or_skip()
    schema = f"dunpai_cluster_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_cluster_start_refuses_an_embedded_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUNPAI_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["cluster", "start", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "database_url" in result.output


@pytest.mark.services
def test_cluster_start_serves_from_every_worker_on_one_state(pg_url: str, tmp_path: Path) -> None:
    db = make_engine(pg_url)
    init_schema(db)
    key = create_api_key(db, "switch", "integrator")
    port = free_port()
    while any(not _free(p) for p in (port, port + 1)):
        port = free_port()
    # a deadline no busy machine reaches: every answer is the full decision, never the stand-in
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")} | CHEAP_KDF | {
        "DUNPAI_DATABASE_URL": pg_url, "DUNPAI_EVENTS_DEADLINE_MS": "60000"}
    cluster = subprocess.Popen([sys.executable, "-m", "dunpai.cli", "cluster", "start", "--workers", "2", "--port",
                                str(port), "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        urls = [f"http://127.0.0.1:{p}" for p in (port, port + 1)]
        deadline = time.monotonic() + 240  # each worker imports the whole product: slow on a busy machine
        while not all(_up(u) for u in urls):
            assert cluster.poll() is None, "the cluster stopped"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        bodies = cluster_events(cards=10, per_card=2, burst=6)
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for i, body in enumerate(bodies):  # alternately to each worker
                answer = client.post(f"{urls[i % 2]}/v1/events", json=body)
                assert answer.status_code == 200, answer.text
                assert answer.json()["degraded"] is False
        # one `dunpai serve` process (the same composition root, its embedded defaults) replaying the log
        expected, _ = replay(stored_log(db), _embedded_serve)
        got = stored_decisions(db)
        assert len(got) == len(bodies)
        assert all(got[eid].to_dict() == d.to_dict() for eid, d in expected.items())
    finally:
        cluster.send_signal(signal.SIGTERM)
        _, err = cluster.communicate(timeout=60)
        db.dispose()
    assert cluster.returncode == 0, err[-3000:]


@pytest.mark.services
@pytest.mark.slow
def test_cluster_local_in_network_namespaces_loses_nothing_when_a_worker_and_the_database_primary_die(
        tmp_path: Path) -> None:
    """``dunpai cluster local``: two workers and the database's two nodes, each a host in a network
    namespace of its own, reached from this machine through the switch. Events go to both workers,
    then one worker is SIGKILLed, then the database's primary, and its standby is promoted: every
    event the switch resends until answered is stored once, every decision equal to one process's
    replay; SIGTERM stops it all and removes the namespaces."""
    subnet = ipaddress.IPv4Network(f"10.233.{secrets.randbelow(250)}.0/24")
    try:
        check_host(subnet)
    except Unavailable as exc:
        if services_required():
            pytest.fail(f"a local cluster is required (DUNPAI_REQUIRE_SERVICES=1): {exc}")
        pytest.skip(f"no local cluster on this machine: {exc}")
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")} | CHEAP_KDF | {
        "DUNPAI_EVENTS_DEADLINE_MS": "60000"}
    cluster = subprocess.Popen([sys.executable, "-m", "dunpai.cli", "cluster", "local", "--workers", "2", "--port",
                                "8700", "--subnet", str(subnet), "--data-dir", str(data)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db: Engine | None = None
    try:
        deadline = time.monotonic() + 240  # each worker imports the whole product: slow on a busy machine
        while not (data / "cluster.json").exists() or not all(_up(w["url"]) for w in _described(data)["workers"]):
            assert cluster.poll() is None, "the cluster stopped"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        described = _described(data)
        assert {w["url"].split("//")[1].split(":")[0] for w in described["workers"]} <= {str(a) for a in subnet}
        db = make_engine(described["database_url"])
        key = create_api_key(db, "switch", "integrator")
        urls = [w["url"] for w in described["workers"]]
        primary, standby = (PgNode(**n) for n in described["database_nodes"])
        bodies = cluster_events(cards=20, per_card=3, burst=6)
        third = len(bodies) // 3
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=90) as client:
            for i, body in enumerate(bodies):
                if i == third:
                    os.kill(described["workers"][1]["pid"], signal.SIGKILL)
                if i == 2 * third:
                    primary.kill()
                    standby.promote()
                target = urls[i % 2] if i < third else urls[0]
                _send_until_answered(client, target, body)
        db.dispose()  # its connection went down with the primary
        expected, _ = replay(stored_log(db), _embedded_serve)
        got = stored_decisions(db)
        assert len(got) == len(bodies) and len(stored_log(db)) == len(bodies)  # each once
        assert all(got[eid].to_dict() == d.to_dict() for eid, d in expected.items())
    finally:
        if db is not None:
            db.dispose()
        cluster.send_signal(signal.SIGTERM)
        _, err = cluster.communicate(timeout=120)
    assert cluster.returncode == 0, err[-3000:]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(ns in left for ns in described["namespaces"].values())
    assert not (data / "cluster.json").exists()


def _described(data: Path) -> dict[str, Any]:
    described: dict[str, Any] = json.loads((data / "cluster.json").read_text())
    return described


def _send_until_answered(client: httpx.Client, url: str, body: dict[str, Any]) -> None:
    """As the card switch does: the same event again until a worker answers it with a decision."""
    deadline = time.monotonic() + 120
    while True:
        try:
            answer = client.post(f"{url}/v1/events", json=body)
            if answer.status_code == 200 and answer.json()["degraded"] is False:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"no decision for {body['event_id']}"
        time.sleep(0.2)


def _embedded_serve(directory: Path) -> RiskService:
    cheap = {"iterations": 1, "memory_mib": 1, "lanes": 1}
    return open_service(load_settings(overrides={"data_dir": directory, "keystore": {"kdf": cheap}}))


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_cluster_workers_get_their_settings_through_the_environment() -> None:
    assert child_environment({"state.backend": "database"})["DUNPAI_STATE_BACKEND"] == "database"
    with pytest.raises(InvalidInput) as raised:
        child_environment({"state.nothing": "x"})
    assert raised.value.problems[0].field == "state.nothing"
