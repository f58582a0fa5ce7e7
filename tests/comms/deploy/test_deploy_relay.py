"""`dunpai comms deploy` runs a media relay next to the service, and the service issues tickets for
it: an enrolled user gets a relay ticket from the service and a second member hears a talk-burst on
the deployment's relay. The relay secret stays in secrets/ (0600), out of every log; stop leaves no
process and no listener behind; re-running deploy keeps the same relay."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dunpai.comms.client.enrol import new_user
from dunpai.comms.deploy import process
from dunpai.comms.deploy.manage import deploy
from dunpai.comms.errors import CommsError
from dunpai.comms.media import codec
from dunpai.comms.media.key_exchange import receive_media_key, send_media_key
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import new_media_key
from tests.comms.bridge.test_bridge_media import tone
from tests.comms.helpers import run
from tests.kdf import CHEAP_KEYSTORE


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((parts.hostname or "", parts.port or 0)) == 0


def test_deployment_runs_a_relay_whose_tickets_the_service_issues(deploy_dir: Path) -> None:
    first = deploy(deploy_dir, port=0, invites=2, keystore=CHEAP_KEYSTORE)
    secret_file = deploy_dir / "secrets" / "relay.secret"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    secret = secret_file.read_text().strip()
    assert len(bytes.fromhex(secret)) == 32
    assert first.relay_url.startswith("ws://127.0.0.1:") and _listening(first.relay_url)
    # safe to repeat: same service, same relay, same secret
    again = deploy(deploy_dir, port=0, invites=2, keystore=CHEAP_KEYSTORE)
    assert (again.pid, again.relay_url) == (first.pid, first.relay_url) and not again.started
    assert secret_file.read_text().strip() == secret
    said = tone(0.6)

    async def scenario() -> None:
        wang = await new_user(first.url, "wang", first.invites[0])
        li = await new_user(first.url, "li", first.invites[1])
        talker = listener = None
        try:
            await wang.group_create("ops")
            await wang.group_add("ops", "li")
            key = new_media_key("ops", 1, ("li", "wang"), os.urandom)
            await send_media_key(wang, "ops", key)
            assert await receive_media_key(li, "ops") == key
            tw = await wang.relay_ticket("ptt", group_id="ops")
            tl = await li.relay_ticket("ptt", group_id="ops")
            assert tw["relay"] == tl["relay"] == first.relay_url  # the service names its relay
            talker = PttClient(tw["relay"], tw["ticket"], key, "wang")
            listener = PttClient(tl["relay"], tl["ticket"], key, "li")
            await talker.connect()
            assert (await listener.connect())["user"] == "li"
            await talker.request_floor()
            await talker.expect("floor_granted")
            await talker.talk(said, pace=0.5)
            await talker.release_floor()
            await listener.expect("floor_idle")
            await asyncio.sleep(0.1)
            [burst] = listener.bursts
            assert burst.talker == "wang" and codec.similarity(said, burst.pcm()) > 0.8
            # a forged ticket is refused by the deployment's relay
            forged = PttClient(first.relay_url, tw["ticket"][:-4] + "AAAA", key, "wang")
            with pytest.raises(CommsError, match="ticket refused"):
                await forged.connect()
            await forged.close()
        finally:
            for c in (talker, listener):
                if c is not None:
                    await c.close()
            await wang.close()
            await li.close()

    run(scenario(), timeout=60)
    # the secret is in no log, configuration or run file
    for f in deploy_dir.rglob("*"):
        if f.is_file() and f != secret_file and "secrets" not in f.parts:
            assert secret.encode() not in f.read_bytes(), f.name
    assert process.stop(deploy_dir)
    assert not _listening(first.relay_url) and not _listening(first.url)
    with pytest.raises(ProcessLookupError):
        os.kill(first.pid, 0)
