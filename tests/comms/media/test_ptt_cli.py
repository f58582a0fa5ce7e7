"""`dunpai comms ptt`: tickets, talk a WAV file, listen and write WAV files - service and relay on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.comms.helpers import cli, in_background
from tests.kdf import cheap_kdf
from typer.testing import CliRunner

from dunpai.cli.comms import app
from dunpai.comms.media import codec
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.relay_ticket import verify_ticket
from dunpai.comms.media.speech import espeak_available, speak
from dunpai.comms.server.launch import start_service

runner = CliRunner()
SECRET = bytes(range(32))


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, str]]:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    cheap_kdf(monkeypatch)
    monkeypatch.setenv("DUNPAI_RELAY_SECRET", SECRET.hex())
    db = f"sqlite:///{tmp_path / 'svc.db'}"

    async def boot() -> tuple[Any, ...]:
        return await start_service(db), await start_relay(SECRET)

    with in_background(boot) as (svc, relay):
        yield svc.url, relay.url, db



def test_ptt_ticket_needs_a_relay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUNPAI_RELAY_SECRET", "abcd")
    assert runner.invoke(app, ["ptt", "ticket", "ops", "alice"]).exit_code == 2
    monkeypatch.setenv("DUNPAI_RELAY_SECRET", SECRET.hex())
    t = verify_ticket(SECRET, cli("ptt", "ticket", "ops", "alice", "--priority", "7").strip(),
                      int(time.time() * 1000))
    assert (t.group_id, t.user, t.priority) == ("ops", "alice", 7)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed (scripts/system-deps.sh)")
def test_ptt_talk_and_listen_via_cli(stack: tuple[str, str, str], tmp_path: Path) -> None:
    url, relay_url, db = stack
    codes = cli("invite", "--db", db, "--count", "2").split()
    alice, bob = str(tmp_path / "alice"), str(tmp_path / "bob")
    cli("register", "--server", url, "--user", "alice", "--invite", codes[0], "--home", alice)
    cli("register", "--server", url, "--user", "bob", "--invite", codes[1], "--home", bob)
    created = cli("group", "create", "ops", "--home", alice)  # "ops" travels end to end; the service sees an id
    group_id = created.strip().rsplit("(", 1)[1].rstrip(")")
    cli("group", "add", "ops", "bob", "--home", alice)
    ticket_a = cli("ptt", "ticket", group_id, "alice").strip()  # the operator's tickets name the group's id
    ticket_b = cli("ptt", "ticket", group_id, "bob").strip()
    speech = speak("Testing push to talk. Over.", speed=220)
    wav = tmp_path / "say.wav"
    codec.write_wav(wav, np.concatenate([np.zeros(codec.SAMPLE_RATE, dtype=np.int16), speech]))
    heard = tmp_path / "heard"
    listener = subprocess.Popen(
        [sys.executable, "-m", "dunpai.cli", "comms", "ptt", "listen", "ops", "--relay", relay_url,
         "--ticket", ticket_b, "--out-dir", str(heard), "--seconds", "4", "--wait", "20", "--home", bob],
        env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)  # the listener logs in and waits for the media key
        out = cli("ptt", "talk", "ops", str(wav), "--relay", relay_url, "--ticket", ticket_a, "--new-key",
                  "--home", alice)
        assert "sent" in out
        listened, _ = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert listener.returncode == 0, listened
    [path] = sorted(heard.glob("*.wav"))
    assert path.name == "01-alice.wav"
    got = codec.read_wav(path)
    assert codec.similarity(speech, got, max_lag=codec.SAMPLE_RATE) > 0.8
