"""Group metadata end to end: a group's name travels only inside Megolm, never to the service.

The service knows a group by an opaque random id (``g`` + 32 hex digits) and its members; the
name is E2E content ``{"type": "group_meta", "v": 1, "name": …}`` sent to the group. Members who
join later get it from whoever adds them (:func:`add_member` sends it again after the add, so it
goes out under the rotated Megolm session that includes them). A receiver accepts a name only
from an owner or admin of the group (:func:`parse_meta` checks the content; the caller checks the
role against the service's member list).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import MalformedFrame

MAX_NAME = 100
RENAMING_ROLES = frozenset({"owner", "admin"})


def new_group_id() -> str:
    return "g" + os.urandom(16).hex()


def meta_content(name: str) -> dict[str, Any]:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        raise MalformedFrame(f"name: 1 to {MAX_NAME} printable characters")
    return {"type": "group_meta", "v": 1, "name": name}


def parse_meta(content: dict[str, Any]) -> str:
    """The group name in received ``group_meta`` content; raises ``MalformedFrame``."""
    if content.get("type") != "group_meta" or content.get("v") != 1 or not isinstance(content.get("name"), str):
        raise MalformedFrame("not a group_meta v1 message")
    return str(meta_content(str(content["name"]))["name"])


async def create_group(client: CommsClient, name: str, members: list[str] | None = None) -> str:
    """Create a group with an opaque id; add ``members``; send the name end to end. Returns the id
    (the device's own state remembers the name: ``client.state.group_names``)."""
    content = meta_content(name)
    group_id = new_group_id()
    await client.group_create(group_id)
    client.state.group_names[group_id] = content["name"]
    client.save()
    for user in members or []:
        await client.group_add(group_id, user)
    await client.group_send_content(group_id, content)
    return group_id


async def rename_group(client: CommsClient, group_id: str, name: str) -> str:
    content = meta_content(name)
    client.state.group_names[group_id] = content["name"]
    client.save()
    return await client.group_send_content(group_id, content)


async def learn_name(client: CommsClient, group_id: str, sender: str, content: dict[str, Any]) -> str | None:
    """Record a received ``group_meta`` name when its sender is an owner or admin of the group (the
    service's member list says so); returns the name, or ``None`` when it is not accepted."""
    try:
        name = parse_meta(content)
    except MalformedFrame:
        return None
    members = {m["user"]: m["role"] for m in (await client.group_info(group_id))["members"]}
    if members.get(sender) not in RENAMING_ROLES:
        return None
    client.state.group_names[group_id] = name
    client.save()
    return name


async def find(client: CommsClient, ref: str, wait_s: float = 2.0) -> str:
    """A group named on a command line: its name on this device, its id, or a name this device is
    just being told: the ``group_meta`` messages waiting for it are read (up to ``wait_s`` seconds)
    and every other message is put back, in order, for whoever reads them next."""
    known = resolve(client, ref)
    ids = set(await client.group_list())
    if known != ref or ref in ids:
        return known
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    held: list[Received] = []
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                m = await asyncio.wait_for(client.inbox.get(), remaining)
            except TimeoutError:
                break
            if m.kind == "group_meta" and m.group_id in ids and m.content is not None:
                if await learn_name(client, m.group_id, m.sender, m.content) == ref:
                    break
            else:
                held.append(m)
    finally:
        rest: list[Received] = []
        while not client.inbox.empty():
            rest.append(client.inbox.get_nowait())
        for m in (*held, *rest):
            client.inbox.put_nowait(m)
    return resolve(client, ref)


def resolve(client: CommsClient, ref: str) -> str:
    """A group named on a command line: its name on this device, or its id."""
    ids = [gid for gid, name in client.state.group_names.items() if name == ref]
    if len(ids) > 1:
        raise MalformedFrame(f"several groups are named {ref!r}: give the id ({', '.join(sorted(ids))})")
    return ids[0] if ids else ref


async def add_member(client: CommsClient, group_id: str, user: str, name: str, role: str = "member") -> None:
    """Add ``user`` and send the group's name again, so that the new member learns it."""
    await client.group_add(group_id, user, role)
    await client.group_send_content(group_id, meta_content(name))
