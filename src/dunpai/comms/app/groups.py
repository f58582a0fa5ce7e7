"""Group management for the app: create (opaque id, name end to end), rename, invite, remove, roles,
and the member list with each member's verified state."""

from __future__ import annotations

from typing import Any

from dunpai.comms.app.messenger import Messenger
from dunpai.comms.app.model import group_conv
from dunpai.comms.client import group_meta
from dunpai.comms.errors import NotFound


def _group(m: Messenger, conv: str) -> str:
    c = m.state.convs.get(conv)
    if c is None or c.kind != "group":
        raise NotFound("group: no such group")
    return c.id[2:]


async def create_group(m: Messenger, name: str, members: list[str]) -> str:
    group_meta.meta_content(name)  # a bad name is refused before anything is created
    for user in members:
        await m.open_chat(user)
    gid = await group_meta.create_group(m.client, name, members)
    conv = group_conv(gid)
    m.record({"t": "conv", "conv": conv, "kind": "group", "name": name})
    await m.refresh_group(gid)
    return conv


async def rename_group(m: Messenger, conv: str, name: str) -> None:
    gid = _group(m, conv)
    await group_meta.rename_group(m.client, gid, name)
    m.record({"t": "conv", "conv": conv, "kind": "group", "name": group_meta.parse_meta(group_meta.meta_content(name))})


async def add_member(m: Messenger, conv: str, user: str, role: str) -> None:
    gid = _group(m, conv)
    await group_meta.add_member(m.client, gid, user, m.state.conv(conv).name or gid, role)
    await m.refresh_group(gid)


async def remove_member(m: Messenger, conv: str, user: str) -> None:
    gid = _group(m, conv)
    await m.client.group_remove(gid, user)
    if user != m.client.user:
        await m.refresh_group(gid)


async def set_role(m: Messenger, conv: str, user: str, role: str) -> None:
    gid = _group(m, conv)
    await m.client.group_role(gid, user, role)
    await m.refresh_group(gid)


def members_view(m: Messenger, conv: str) -> list[dict[str, Any]]:
    c = m.state.convs.get(conv)
    if c is None:
        return []
    contacts = m.client.state.contacts
    return [{"user": u, "role": r, "me": u == m.client.user,
             "verified": u == m.client.user or bool(contacts.get(u, {}).get("verified")),
             "key_changed": u in m.key_changes} for u, r in sorted(c.members.items())]
