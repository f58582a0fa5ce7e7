"""Hand a talk-group's media key to its members over the end-to-end channel (Megolm): the relay never
sees it."""

from __future__ import annotations

import asyncio

from dunpai.comms.client.client import CommsClient
from dunpai.comms.media.sframe import MediaKey


async def send_media_key(sender: CommsClient, group_id: str, key: MediaKey) -> str:
    """Distribute ``key`` to the group's members over Megolm (E2E); the relay never sees it."""
    return await sender.group_send_content(group_id, key.to_content())


async def receive_media_key(client: CommsClient, group_id: str, timeout: float = 10.0) -> MediaKey:
    """Wait for the next media key for ``group_id`` arriving over the E2E channel."""
    async with asyncio.timeout(timeout):
        while True:
            m = await client.receive(timeout)
            if m.kind == "media_key" and m.group_id == group_id and m.content is not None:
                key = MediaKey.from_content(m.content)
                if key.group_id == group_id:
                    return key
