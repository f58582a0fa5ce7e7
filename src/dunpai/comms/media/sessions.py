"""Push-to-talk sessions for the CLI: talk a WAV file to a talk-group, or listen and write WAV files.

Glue between a logged-in comms client (which carries the media key end to end) and the relay.
A talker with ``new_key`` makes a fresh media key for the group's current members and sends it
over Megolm first; listeners wait for it in their E2E inbox (store-and-forward: a listener that
starts later still gets it). Other messages that arrive meanwhile are handed to ``on_other``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.media import codec
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.sframe import MediaKey, RandomBytes, new_media_key


@dataclass(frozen=True)
class TalkReport:
    frames: int
    seconds: float
    revoked: bool
    epoch: int


async def relay_access(client: CommsClient, group_id: str, relay_url: str | None,
                       ticket: str | None) -> tuple[str, str]:
    """(relay URL, ticket): the ones given, else a ticket from the comms service (members only) and
    the relay URL it names."""
    if ticket is None:
        got = await client.relay_ticket("ptt", group_id=group_id)
        ticket = str(got["ticket"])
        relay_url = relay_url or got.get("relay")
    if not relay_url:
        raise CommsError("no relay URL: the service names none; give --relay")
    return str(relay_url), ticket


async def wait_media_key(client: CommsClient, group_id: str, wait_s: float,
                         on_other: Callable[[Received], None] = lambda m: None) -> MediaKey:
    """The newest media key for ``group_id`` already queued, or the next one within ``wait_s``."""
    key: MediaKey | None = None
    deadline = time.monotonic() + wait_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 and key is not None:
            return key
        try:
            m = await client.receive(max(0.3, remaining) if key is None else 0.3)
        except TimeoutError:
            if key is not None:
                return key
            if time.monotonic() >= deadline:
                raise CommsError(f"no media key for talk-group {group_id!r} arrived") from None
            continue
        if m.kind == "media_key" and m.group_id == group_id and m.content is not None:
            candidate = MediaKey.from_content(m.content)
            if candidate.group_id == group_id and (key is None or candidate.epoch >= key.epoch):
                key = candidate
        else:
            on_other(m)


async def new_group_key(client: CommsClient, group_id: str, random_bytes: RandomBytes,
                        now_s: float) -> MediaKey:
    """Make a key for the group's current members and send it to them over Megolm."""
    info = await client.group_info(group_id)
    roster = sorted(str(m["user"]) for m in info["members"])
    key = new_media_key(group_id, int(now_s) % 2**32, roster, random_bytes)
    await client.group_send_content(group_id, key.to_content())
    return key


async def key_for_talking(client: CommsClient, group_id: str, *, wait_s: float, random_bytes: RandomBytes,
                          now_s: float, force_new: bool = False,
                          on_other: Callable[[Received], None] = lambda m: None) -> MediaKey:
    """The key to talk with: the newest one received if it still names exactly the group's current
    members; otherwise (someone joined or left, or no key yet) a fresh one, sent to them first."""
    if not force_new:
        try:
            key = await wait_media_key(client, group_id, wait_s, on_other)
        except CommsError:
            key = None
        if key is not None:
            info = await client.group_info(group_id)
            if sorted(key.roster) == sorted(str(m["user"]) for m in info["members"]):
                return key
    return await new_group_key(client, group_id, random_bytes, now_s)


async def talk_wav(client: CommsClient, key: MediaKey, relay_url: str, ticket: str, wav: Path, *,
                   emergency: bool = False, pace: float = 1.0, grant_wait_s: float = 30.0) -> TalkReport:
    pcm = codec.read_wav(wav)
    ptt = PttClient(relay_url, ticket, key, client.user)
    await ptt.connect()
    try:
        await ptt.request_floor(emergency=emergency)
        await ptt.expect("floor_granted", timeout=grant_wait_s)
        n = await ptt.talk(pcm, pace=pace, stop=ptt.revoked)
        await ptt.release_floor()
        await asyncio.sleep(0.1)
        return TalkReport(n, n * codec.FRAME_MS / 1000, ptt.revoked.is_set(), key.epoch)
    finally:
        await ptt.close()


async def listen_wav(client: CommsClient, key: MediaKey, relay_url: str, ticket: str, out_dir: Path,
                     seconds: float) -> list[Path]:
    """Listen for ``seconds``; write one WAV per talk-burst heard (``NN-<talker>.wav``)."""
    ptt = PttClient(relay_url, ticket, key, client.user)
    await ptt.connect()
    try:
        await asyncio.sleep(seconds)
    finally:
        await ptt.close()
    paths = []
    for i, burst in enumerate(ptt.bursts, 1):
        path = out_dir / f"{i:02d}-{burst.talker}.wav"
        codec.write_wav(path, burst.pcm())
        paths.append(path)
    return paths
