"""``dunpai apikey list|revoke`` (issue 14, item 5): a revoked key is refused by a running server on
its very next request, not after the look-up cache's 30 seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dunpai.cli import app
from tests.kdf import cheap_kdf
from tests.risk.conftest import card_event


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cheap_kdf(monkeypatch)
    return tmp_path / "data"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_create_list_and_revoke(data_dir: Path) -> None:
    key = run("apikey", "--role", "integrator", "--name", "switch", "--data-dir", str(data_dir)).strip()
    other = run("apikey", "create", "--role", "analyst", "--data-dir", str(data_dir)).strip()
    assert key.startswith("dpk_") and other.startswith("dpk_")
    listed = json.loads(run("apikey", "list", "--json", "--data-dir", str(data_dir)))
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [("switch", "integrator", None),
                                                                         ("cli", "analyst", None)]
    assert key not in json.dumps(listed)  # never the key itself
    out = run("apikey", "revoke", listed[0]["key_id"], "--data-dir", str(data_dir))
    assert "revoked" in out
    after = json.loads(run("apikey", "list", "--json", "--data-dir", str(data_dir)))
    assert after[0]["revoked_at"] is not None and after[1]["revoked_at"] is None
    again = CliRunner().invoke(app, ["apikey", "revoke", listed[0]["key_id"], "--data-dir", str(data_dir)])
    assert again.exit_code == 2 and "revoked already" in again.output
    unknown = CliRunner().invoke(app, ["apikey", "revoke", "00000000", "--data-dir", str(data_dir)])
    assert unknown.exit_code == 2 and "no such API key" in unknown.output


def test_a_running_server_refuses_a_revoked_key_at_once(data_dir: Path) -> None:
    from dunpai.cli.risk import _serve_app
    from dunpai.core.config import load_settings

    key = run("apikey", "--role", "integrator", "--data-dir", str(data_dir)).strip()
    asgi, service, checkpointer = _serve_app(load_settings(overrides={"data_dir": data_dir}))
    try:
        client = TestClient(asgi)
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/events", json=card_event(1), headers=headers).status_code == 200  # now cached
        key_id = json.loads(run("apikey", "list", "--json", "--data-dir", str(data_dir)))[0]["key_id"]
        run("apikey", "revoke", key_id, "--data-dir", str(data_dir))  # another process, as an operator would
        r = client.post("/v1/events", json=card_event(2), headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    finally:
        checkpointer.stop()
        service.close()
        service.db.dispose()


@pytest.mark.services
def test_a_revocation_reaches_servers_sharing_a_postgresql_database() -> None:
    from dunpai.api.auth import Authenticator, create_api_key, digest, revoke_api_key
    from dunpai.api.revocations import Revocations
    from dunpai.core.db import init_schema
    from dunpai.core.errors import Unauthenticated
    from tests.pg import temporary_schema

    with temporary_schema("apikeys") as db:
        init_schema(db)
        watch = Revocations(None, db)  # no shared disk: the notification is all it has
        try:
            auth = Authenticator(db, revocations=watch)
            key = create_api_key(db, "switch", "integrator")
            deadline = time.monotonic() + 20
            while not watch._listening.is_set():
                assert time.monotonic() < deadline, "the listener never connected"
                time.sleep(0.05)
            assert auth.principal({"x-api-key": key}).name == "switch"
            revoke_api_key(db, digest(key)[:12])
            while True:  # the notification arrives asynchronously; never the 30 s cache
                try:
                    auth.principal({"x-api-key": key})
                except Unauthenticated:
                    break
                assert time.monotonic() < deadline, "the revocation never reached the authenticator"
                time.sleep(0.02)
        finally:
            watch.close()
