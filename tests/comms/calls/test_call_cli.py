"""`dunpai comms call …` and `dunpai comms ptt …` with relay tickets from the service (no operator
ticket, no --relay): loopback service and relay, real CLI processes."""

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
from tests.comms.calls.call_helpers import SECRET, voice_like
from tests.comms.helpers import cli, in_background
from tests.kdf import cheap_kdf
from typer.testing import CliRunner

from dunpai.cli.comms import app
from dunpai.comms.media import codec
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.sound import sound_device_present
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.launch import start_service
from dunpai.comms.server.service import ServiceConfig

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("DUNPAI_KEYSTORE_PASSPHRASE", "correct horse battery staple")
    cheap_kdf(monkeypatch)
    monkeypatch.delenv("DUNPAI_RELAY_TICKET", raising=False)
    db = f"sqlite:///{tmp_path / 'svc.db'}"

    async def boot() -> tuple[Any, ...]:
        relay = await start_relay(SECRET)
        return relay, await start_service(db, config=ServiceConfig(relay=RelayPolicy(SECRET, url=relay.url)))

    with in_background(boot) as (_relay, svc):
        yield svc.url, db



def enrol(url: str, db: str, tmp_path: Path, *users: str) -> dict[str, str]:
    codes = cli("invite", "--db", db, "--count", str(len(users))).split()
    homes = {}
    for u, code in zip(users, codes, strict=True):
        homes[u] = str(tmp_path / u)
        cli("register", "--server", url, "--user", u, "--invite", code, "--home", homes[u])
    return homes


def background(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dunpai.cli", "comms", *args], env={**os.environ},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    return out


def test_call_options_are_validated_with_the_field_named(tmp_path: Path) -> None:
    r = runner.invoke(app, ["call", "place", "bob", "--wav", str(tmp_path / "nope.wav"), "--home", str(tmp_path)])
    assert r.exit_code == 2 and "wav" in r.output and "does not exist" in r.output
    r = runner.invoke(app, ["call", "place", "bob", "--ring-timeout", "0", "--home", str(tmp_path)])
    assert r.exit_code == 2 and "--ring-timeout" in r.output
    r = runner.invoke(app, ["call", "join", "ops", "--call-id", "bad id!", "--home", str(tmp_path)])
    assert r.exit_code == 2 and "--call-id" in r.output
    r = runner.invoke(app, ["call", "answer", "--seconds", "-1", "--home", str(tmp_path)])
    assert r.exit_code == 2 and "seconds" in r.output


@pytest.mark.skipif(sound_device_present(), reason="this machine has a sound device: the no-device error "
                                                   "path cannot be shown here")
def test_call_with_mic_and_no_sound_device_is_a_clear_error(tmp_path: Path) -> None:
    for flag in ("--mic", "--speaker"):
        r = runner.invoke(app, ["call", "place", "bob", flag, "--home", str(tmp_path)])
        assert r.exit_code == 2, r.output
        assert "no_sound_device" in r.output and "没有声音设备" in r.output and "--wav" in r.output


def test_voice_call_place_and_answer_via_cli(stack: tuple[str, str], tmp_path: Path) -> None:
    url, db = stack
    homes = enrol(url, db, tmp_path, "alice", "bob")
    say_a, say_b = voice_like(2.0, 140, 11), voice_like(2.0, 220, 12)
    codec.write_wav(tmp_path / "a.wav", say_a)
    codec.write_wav(tmp_path / "b.wav", say_b)
    answerer = background("call", "answer", "--wav", str(tmp_path / "b.wav"), "--out-dir", str(tmp_path / "bob-heard"),
                          "--wait", "30", "--seconds", "30", "--pace", "0.5", "--home", homes["bob"])
    time.sleep(2.0)  # bob logs in and waits for the ring
    out = cli("call", "place", "bob", "--wav", str(tmp_path / "a.wav"), "--out-dir", str(tmp_path / "alice-heard"),
              "--seconds", "3", "--pace", "0.5", "--home", homes["alice"])
    assert "connected" in out and "heard bob" in out
    answered = finish(answerer)
    assert "connected" in answered and "remote_hangup" in answered
    assert codec.similarity(say_a, codec.read_wav(tmp_path / "bob-heard" / "alice.wav")) > 0.8
    assert codec.similarity(say_b, codec.read_wav(tmp_path / "alice-heard" / "bob.wav")) > 0.8
    # rejected: the caller is told
    rejecter = background("call", "answer", "--reject", "--wait", "30", "--home", homes["bob"])
    time.sleep(2.0)
    out = cli("call", "place", "bob", "--seconds", "3", "--home", homes["alice"])
    assert "rejected" in out
    assert "rejected" in finish(rejecter)


def test_ptt_talk_and_listen_with_service_tickets(stack: tuple[str, str], tmp_path: Path) -> None:
    url, db = stack
    homes = enrol(url, db, tmp_path, "alice", "bob", "mallory")
    cli("group", "create", "ops", "--home", homes["alice"])
    cli("group", "add", "ops", "bob", "--home", homes["alice"])
    speech = voice_like(1.5, 170, 13)
    wav = tmp_path / "say.wav"
    codec.write_wav(wav, np.concatenate([np.zeros(codec.SAMPLE_RATE // 2, dtype=np.int16), speech]))
    listener = background("ptt", "listen", "ops", "--out-dir", str(tmp_path / "heard"), "--seconds", "5",
                          "--wait", "20", "--home", homes["bob"])
    time.sleep(2.0)
    assert "sent" in cli("ptt", "talk", "ops", str(wav), "--new-key", "--home", homes["alice"])
    finish(listener)
    [path] = sorted((tmp_path / "heard").glob("*.wav"))
    assert path.name == "01-alice.wav"
    assert codec.similarity(speech, codec.read_wav(path), max_lag=codec.SAMPLE_RATE) > 0.8
    # not a member: the service refuses the ticket
    r = runner.invoke(app, ["ptt", "talk", "ops", str(wav), "--home", homes["mallory"]])
    assert r.exit_code == 2 and "not_found" in r.output
