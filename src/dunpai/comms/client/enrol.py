"""Enrol a device in one call: make it, connect, register (with an invite for a new user), and hand
back the connected client. Demos, benchmarks and tests use it; the command line enrols a device
kept on disk (``home.new_client``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.state import LocalState
from dunpai.comms.keys_port import DeviceKeys, MemoryKeys
from dunpai.comms.protocol.megolm import RotationPolicy


async def new_user(url: str, user: str, invite: str | None, *, device_id: str = "d1",
                   keys: DeviceKeys | None = None, state_path: Path | None = None,
                   clock: Callable[[], float] = time.time, policy: RotationPolicy | None = None) -> CommsClient:
    """Create a device, register it (with an invite for a new user) and return the connected client."""
    client = CommsClient(url, keys or MemoryKeys(), LocalState.new(user, device_id, policy),
                         state_path=state_path, clock=clock)
    await client.connect()
    await client.register(invite)
    return client
