"""Shared pieces of the call tests: a loopback service with relay tickets, and test audio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.media import codec
from dunpai.comms.media.relay_launch import RunningRelay, start_relay
from dunpai.comms.media.relay_ws import Recorder
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.launch import RunningService, start_service
from dunpai.comms.server.service import ServiceConfig

SECRET = bytes(range(32, 64))


def voice_like(seconds: float, f0: float, seed: int = 0) -> codec.PCM:
    """A deterministic speech-like signal: harmonics of ``f0`` with a wandering pitch, syllable-rate
    loudness and pauses (no espeak-ng needed)."""
    rng = np.random.default_rng(seed)
    n = int(codec.SAMPLE_RATE * seconds)
    t = np.arange(n) / codec.SAMPLE_RATE
    pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / codec.SAMPLE_RATE
    sig = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    return (sig * env * 6000).astype(np.int16)


@dataclass
class Stack:
    svc: RunningService
    relay: RunningRelay
    users: dict[str, CommsClient]


@asynccontextmanager
async def call_stack(tmp_path: Path, names: tuple[str, ...], record: Recorder | None = None,
                     ) -> AsyncIterator[Stack]:
    relay = await start_relay(SECRET, record=record)
    svc = await start_service(f"sqlite:///{tmp_path / 'calls.db'}",
                              config=ServiceConfig(relay=RelayPolicy(SECRET, url=relay.url)))
    users: dict[str, CommsClient] = {}
    try:
        for u in names:
            users[u] = await new_user(svc.url, u, svc.service.create_invite())
        yield Stack(svc, relay, users)
    finally:
        for c in users.values():
            await c.close()
        await svc.stop()
        await relay.stop()
