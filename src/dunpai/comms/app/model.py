"""Conversations and messages of the app, rebuilt from the on-device history log (pure).

The history is a log of small records; :meth:`State.apply` folds one record into the state, so
the same log always gives the same conversations, unread counts and marks. Record types (``t``):

=========  =======================================================================================
``msg``    a message: ``mid, conv, sender, device, out, at, kind`` (``text`` | ``file`` |
           ``location``) with ``text`` / ``file`` (the E2E file reference) / ``loc``
``status`` the local sending state of one of my messages: ``queued`` (waiting for the service),
           ``sent``, ``failed`` (with ``error``), ``blocked`` (a contact's keys changed)
``rcpt``   a receipt: ``mid, user, what`` (``delivered`` | ``read``)
``thumb``  a preview made on the device: ``mid, data`` (base64 JPEG)
``file``   the E2E reference (blob id, key, hash) of a file of mine once it is uploaded: ``mid, file``
``conv``   a conversation's attributes: ``conv, kind`` and any of ``name, members, removed``
``seen``   everything up to message ``mid`` of ``conv`` has been read here (or on my other device)
=========  =======================================================================================

Conversation ids are ``u:<user>`` (1:1) and ``g:<group id>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
SEND_STATES = ("queued", "sent", "failed", "blocked")


def user_conv(user: str) -> str:
    return f"u:{user}"


def group_conv(group_id: str) -> str:
    return f"g:{group_id}"


@dataclass
class Message:
    mid: str
    conv: str
    sender: str
    device: str
    out: bool
    at: int
    kind: str
    n: int                                  # arrival order on this device (stable on replay)
    text: str = ""
    file: dict[str, Any] | None = None
    loc: dict[str, Any] | None = None
    thumb: str | None = None
    state: str = ""                         # outgoing: queued | sent | failed | blocked
    error: str = ""
    delivered: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)


@dataclass
class Conversation:
    id: str
    kind: str                               # "user" | "group"
    name: str
    members: dict[str, str] = field(default_factory=dict)   # groups: user -> role
    removed: bool = False
    read_n: int = 0                         # messages with n <= read_n are read
    unread: int = 0
    last: str | None = None                 # mid of the newest message
    mids: list[str] = field(default_factory=list)


class State:
    """All conversations of one device."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.convs: dict[str, Conversation] = {}
        self.msgs: dict[str, Message] = {}
        self._n = 0

    # -- folding records ----------------------------------------------------------------------------
    def conv(self, conv_id: str) -> Conversation:
        found = self.convs.get(conv_id)
        if found is None:
            kind = "group" if conv_id.startswith("g:") else "user"
            found = Conversation(conv_id, kind, conv_id[2:])
            self.convs[conv_id] = found
        return found

    def apply(self, rec: Record) -> bool:
        """Fold ``rec`` in; False when it changes nothing (a duplicate message, an unknown mid)."""
        t = rec.get("t")
        if t == "msg":
            return self._message(rec)
        if t == "conv":
            c = self.conv(str(rec["conv"]))
            if "name" in rec:
                c.name = str(rec["name"])
            if "members" in rec:
                c.members = {str(u): str(r) for u, r in dict(rec["members"]).items()}
            if "removed" in rec:
                c.removed = bool(rec["removed"])
            return True
        if t == "seen":
            c = self.conv(str(rec["conv"]))
            m = self.msgs.get(str(rec["mid"]))
            if m is None or m.conv != c.id or m.n <= c.read_n:
                return False
            c.read_n = m.n
            c.unread = sum(1 for mid in c.mids if not self.msgs[mid].out and self.msgs[mid].n > c.read_n)
            return True
        m = self.msgs.get(str(rec.get("mid")))
        if m is None:
            return False
        if t == "status":
            m.state, m.error = str(rec["status"]), str(rec.get("error", ""))
        elif t == "rcpt":
            (m.read if rec["what"] == "read" else m.delivered).add(str(rec["user"]))
            if rec["what"] == "read":
                m.delivered.add(str(rec["user"]))
        elif t == "thumb":
            m.thumb = str(rec["data"])
        elif t == "file":
            m.file = dict(rec["file"])
        else:
            return False
        return True

    def _message(self, rec: Record) -> bool:
        mid = str(rec["mid"])
        if mid in self.msgs:
            return False
        self._n += 1
        m = Message(mid, str(rec["conv"]), str(rec["sender"]), str(rec.get("device", "")), bool(rec["out"]),
                    int(rec["at"]), str(rec["kind"]), self._n, text=str(rec.get("text", "")), file=rec.get("file"),
                    loc=rec.get("loc"), state=str(rec.get("status", "")))
        self.msgs[mid] = m
        c = self.conv(m.conv)
        c.mids.append(mid)
        c.last = mid
        if m.out:
            c.read_n = m.n  # writing in a conversation reads it
            c.unread = 0
        else:
            c.unread += 1
        return True

    # -- views --------------------------------------------------------------------------------------
    def mark(self, m: Message) -> str:
        """What to show beside one of my messages: queued | failed | blocked | sent | delivered | read."""
        if not m.out:
            return ""
        if m.state in ("queued", "failed", "blocked"):
            return m.state
        if m.sender != self.me:
            return "sent"  # sent from my other device: its receipts go to that device
        c = self.convs.get(m.conv)
        others = ({u for u in c.members if u != self.me} if c is not None and c.kind == "group"
                  else {m.conv[2:]})
        if others and others <= m.read:
            return "read"
        if others and others <= m.delivered:
            return "delivered"
        return "sent" if m.state == "sent" else (m.state or "sent")

    def message_view(self, m: Message) -> dict[str, Any]:
        view: dict[str, Any] = {"mid": m.mid, "conv": m.conv, "sender": m.sender, "out": m.out, "at": m.at,
                                "kind": m.kind, "mark": self.mark(m)}
        if m.text:
            view["text"] = m.text
        if m.file is not None:
            view["file"] = {k: m.file[k] for k in ("name", "size", "mime") if k in m.file}
        if m.loc is not None:
            view["loc"] = m.loc
        if m.thumb is not None:
            view["thumb"] = m.thumb
        if m.error:
            view["error"] = m.error
        return view

    def conv_view(self, c: Conversation) -> dict[str, Any]:
        last = self.msgs[c.last] if c.last else None
        preview = ""
        if last is not None:
            preview = last.text or (last.file or {}).get("name", "") or ("⌖" if last.loc else "")
        return {"id": c.id, "kind": c.kind, "name": c.name, "unread": c.unread, "removed": c.removed,
                "members": [{"user": u, "role": r} for u, r in sorted(c.members.items())],
                "last": {"text": preview[:120], "at": last.at, "sender": last.sender} if last else None,
                "order": last.n if last else 0}

    def conversations(self) -> list[dict[str, Any]]:
        views = [self.conv_view(c) for c in self.convs.values()]
        return sorted(views, key=lambda v: -int(v["order"]))

    def messages(self, conv_id: str, limit: int = 200, before_n: int | None = None) -> list[dict[str, Any]]:
        c = self.convs.get(conv_id)
        if c is None:
            return []
        mids = [mid for mid in c.mids if before_n is None or self.msgs[mid].n < before_n]
        return [self.message_view(self.msgs[mid]) for mid in mids[-limit:]]

    def search(self, query: str, limit: int = 50) -> list[dict[str, Any]]:
        """Messages whose text or file name contains ``query`` (case-insensitive), newest first."""
        q = query.casefold().strip()
        if not q:
            return []
        hits: list[dict[str, Any]] = []
        for m in sorted(self.msgs.values(), key=lambda x: -x.n):
            hay = m.text if m.text else (m.file or {}).get("name", "")
            if q in str(hay).casefold():
                hits.append({**self.message_view(m), "conv_name": self.conv(m.conv).name})
                if len(hits) >= limit:
                    break
        return hits

    def unread_in(self, conv_id: str) -> list[Message]:
        c = self.convs.get(conv_id)
        if c is None:
            return []
        return [self.msgs[mid] for mid in c.mids if not self.msgs[mid].out and self.msgs[mid].n > c.read_n]

    def snapshot(self) -> list[Record]:
        """Records that rebuild this state (used to compact the history log)."""
        out: list[Record] = []
        for c in self.convs.values():
            out.append({"t": "conv", "conv": c.id, "kind": c.kind, "name": c.name, "members": dict(c.members),
                        "removed": c.removed})
        for m in sorted(self.msgs.values(), key=lambda x: x.n):
            rec: Record = {"t": "msg", "mid": m.mid, "conv": m.conv, "sender": m.sender, "device": m.device,
                           "out": m.out, "at": m.at, "kind": m.kind, "status": m.state}
            if m.text:
                rec["text"] = m.text
            if m.file is not None:
                rec["file"] = m.file
            if m.loc is not None:
                rec["loc"] = m.loc
            out.append(rec)
            if m.error:
                out.append({"t": "status", "mid": m.mid, "status": m.state, "error": m.error})
            if m.thumb is not None:
                out.append({"t": "thumb", "mid": m.mid, "data": m.thumb})
            out += [{"t": "rcpt", "mid": m.mid, "user": u, "what": "delivered"} for u in sorted(m.delivered - m.read)]
            out += [{"t": "rcpt", "mid": m.mid, "user": u, "what": "read"} for u in sorted(m.read)]
        for c in self.convs.values():
            read = [mid for mid in c.mids if self.msgs[mid].n <= c.read_n]
            if read:
                out.append({"t": "seen", "conv": c.id, "mid": read[-1]})
        return out
