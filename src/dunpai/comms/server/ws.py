"""WebSocket transport of the comms service: authenticate, parse, call the service, push deliveries.

No peer address is ever read, stored or logged (location privacy): the handler never touches
``remote_address`` and websockets' own logger, which could, is silenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from dunpai.comms.errors import AuthFailed, CommsError, NotAuthenticated
from dunpai.comms.protocol import frames as f
from dunpai.comms.protocol.canonical import b64e
from dunpai.comms.server.service import CommsService, GroupChange, Principal

log = logging.getLogger("dunpai.comms.server")
_silent = logging.getLogger("dunpai.comms.ws-internal")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False
_silent.setLevel(logging.CRITICAL + 1)

MAX_AUTH_FAILURES = 5
BACKLOG_PAGE = 500
ACK_FLUSH_S = 0.02


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    who: Principal
    outbox: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class Hub:
    """Live connections by device; pushes deliveries and group events."""

    def __init__(self) -> None:
        self.by_device: dict[tuple[str, str], _Conn] = {}
        self.by_user: dict[str, set[str]] = {}

    def attach(self, conn: _Conn) -> _Conn | None:
        key = (conn.who.user, conn.who.device_id)
        old = self.by_device.get(key)
        self.by_device[key] = conn
        self.by_user.setdefault(conn.who.user, set()).add(conn.who.device_id)
        return old

    def detach(self, conn: _Conn) -> None:
        key = (conn.who.user, conn.who.device_id)
        if self.by_device.get(key) is conn:
            del self.by_device[key]
            devices = self.by_user.get(conn.who.user, set())
            devices.discard(conn.who.device_id)
            if not devices:
                self.by_user.pop(conn.who.user, None)

    def push(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            conn = self.by_device.get((row["user_id"], row["device_id"]))
            if conn is not None:
                conn.outbox.put_nowait(row)

    def group_event(self, change: GroupChange) -> None:
        text = f.encode(f.GroupEvent(group_id=change.group_id, epoch=change.epoch, change=change.change,
                                     members=[{"user": u, "role": r} for u, r in sorted(change.members.items())]))
        for user in change.notify:
            for device in list(self.by_user.get(user, ())):
                conn = self.by_device[(user, device)]
                conn.outbox.put_nowait({"raw": text})


def _deliver_frame(row: dict[str, Any]) -> str:
    return f.encode(f.Deliver(seq=row["seq"], sender_user=row["sender_user"], sender_device=row["sender_device"],
                              msg_id=row["msg_id"], group_id=row["group_id"], payload=row["payload"],
                              sent_at=row["sent_at"]))


class CommsServer:
    def __init__(self, service: CommsService, sweep_interval_s: float = 60.0) -> None:
        self.service = service
        self.hub = Hub()
        self.sweep_interval_s = sweep_interval_s
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._ack_flush: asyncio.TimerHandle | None = None

    def _flush_acks(self) -> None:
        self._ack_flush = None
        self.service.flush_acks()

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        self._server = await serve(
            self._handle, host, port, ssl=ssl_context, compression=None, server_header=None,
            max_size=f.MAX_FRAME_BYTES, logger=_silent, ping_interval=20, ping_timeout=20,
        )
        self._sweeper = asyncio.create_task(self._sweep())
        bound = int(next(iter(self._server.sockets)).getsockname()[1])
        log.info("comms service listening (port %d)", bound)
        return bound

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._ack_flush is not None:
            self._ack_flush.cancel()
        self.service.flush_acks()
        log.info("comms service stopped")

    async def _sweep(self) -> None:
        while True:
            expired = self.service.expire()
            if expired:
                log.info("expired %d queued messages", expired)
            await asyncio.sleep(self.sweep_interval_s)

    # -- one connection -----------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        nonce = b64e(os.urandom(32))
        conn: _Conn | None = None
        failures = 0
        try:
            await ws.send(f.encode(f.Challenge(nonce=nonce)))
            async for raw in ws:
                try:
                    frame = f.parse_client_frame(raw)
                    if conn is None:
                        conn = await self._authenticate(ws, nonce, frame)
                        continue
                    result = self._dispatch(conn, frame)
                    if frame.id != 0:  # id 0: the client wants no answer (errors are still sent)
                        await ws.send(f.encode(f.Ok(id=frame.id, result=result)))
                except CommsError as exc:
                    if conn is None:  # failed logins, bad invites, junk before login: all count
                        failures += 1
                    await ws.send(f.encode(f.Error(id=f.request_id_of(raw), code=exc.code, message=exc.message)))
                    if failures >= MAX_AUTH_FAILURES:
                        await ws.close(1008, "too many failed attempts")
                        return
                    if conn is not None and exc.code == "device_revoked":
                        await ws.close(1008, "device revoked")
                        return
                except Exception as exc:  # a bug must not take the service down
                    # type and code location only: an exception's message may quote stored values
                    tb = exc.__traceback__
                    while tb is not None and tb.tb_next is not None:
                        tb = tb.tb_next
                    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
                    log.error("internal error (%s at %s)", type(exc).__name__, where)
                    await ws.send(f.encode(f.Error(id=f.request_id_of(raw), code="internal",
                                                   message="internal error")))
        except ConnectionClosed:
            pass
        finally:
            if conn is not None:
                self.hub.detach(conn)
                conn.outbox.put_nowait(None)
                if conn.task is not None:
                    conn.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await conn.task

    async def _authenticate(self, ws: ServerConnection, nonce: str, frame: Any) -> _Conn:
        if isinstance(frame, f.Register):
            who = self.service.register(nonce, frame)
            log.info("device registered")
        elif isinstance(frame, f.Login):
            who = self.service.login(nonce, frame)
        else:
            raise NotAuthenticated("log in or register first")
        conn = _Conn(ws, who)
        old = self.hub.attach(conn)
        if old is not None:
            await old.ws.close(1000, "replaced by a newer connection")
        await ws.send(f.encode(f.Ok(id=frame.id, result={"user": who.user, "device_id": who.device_id})))
        conn.task = asyncio.create_task(self._deliver(conn))
        return conn

    async def _deliver(self, conn: _Conn) -> None:
        """At-least-once delivery in queue order: first the stored backlog, then live pushes (rows
        already sent from the backlog are skipped by sequence number)."""
        last = 0
        self.service.expire()
        while True:
            rows = self.service.pending(conn.who, last, BACKLOG_PAGE)
            for row in rows:
                await conn.ws.send(_deliver_frame(row))
                last = row["seq"]
            if len(rows) < BACKLOG_PAGE:
                break
        while True:
            item = await conn.outbox.get()
            if item is None:
                return
            if "raw" in item:
                await conn.ws.send(item["raw"])
                if item.get("close"):
                    await conn.ws.close(1008, "device revoked")
                    return
            elif item["seq"] > last:
                await conn.ws.send(_deliver_frame(item))
                last = item["seq"]

    def _dispatch(self, conn: _Conn, frame: Any) -> dict[str, Any]:
        svc, who = self.service, conn.who
        if isinstance(frame, f.Register | f.Login):
            raise AuthFailed("already authenticated on this connection")
        if not isinstance(frame, f.Ack | f.Ping):
            svc.check_active(who)  # revoked elsewhere (another service process) takes effect at once
        if isinstance(frame, f.Send):
            result, rows = svc.send(who, frame)
            self.hub.push(rows)
            return result
        if isinstance(frame, f.GroupSend):
            result, rows = svc.group_send(who, frame)
            self.hub.push(rows)
            return result
        if isinstance(frame, f.Ack):
            result = svc.ack(who, frame)
            if self._ack_flush is None:
                self._ack_flush = asyncio.get_running_loop().call_later(ACK_FLUSH_S, self._flush_acks)
            return result
        if isinstance(frame, f.KeysUpload):
            return svc.upload_keys(who, frame)
        if isinstance(frame, f.KeysQuery):
            return svc.query_keys(frame)
        if isinstance(frame, f.KeysClaim):
            return svc.claim_keys(who, frame)
        if isinstance(frame, f.GroupCreate | f.GroupAdd | f.GroupRemove | f.GroupRole):
            handler = {f.GroupCreate: svc.create_group, f.GroupAdd: svc.add_member,
                       f.GroupRemove: svc.remove_member, f.GroupRole: svc.set_role}[type(frame)]
            change = handler(who, frame)  # type: ignore[operator]
            self.hub.group_event(change)
            return {"group_id": change.group_id, "epoch": change.epoch}
        if isinstance(frame, f.GroupInfo):
            return svc.group_info(who, frame.group_id)
        if isinstance(frame, f.GroupList):
            return svc.group_list(who)
        if isinstance(frame, f.BlobPut):
            return svc.put_chunk(who, frame)
        if isinstance(frame, f.BlobGet):
            return svc.get_chunk(frame)
        if isinstance(frame, f.DeviceRevoke):
            revoked = svc.revoke(who, frame)
            self._kick(revoked)
            return {"revoked": revoked.device_id}
        if isinstance(frame, f.RelayTicket):
            return svc.relay_ticket(who, frame)
        if isinstance(frame, f.Ping):
            return {"pong": True}
        raise CommsError("unhandled frame type")

    def _kick(self, who: Principal) -> None:
        conn = self.hub.by_device.get((who.user, who.device_id))
        if conn is not None:
            conn.outbox.put_nowait({"raw": f.encode(f.Revoked(device_id=who.device_id)), "close": True})
            self.hub.detach(conn)
