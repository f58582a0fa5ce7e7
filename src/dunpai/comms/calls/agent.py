"""A phone for the client library: call signalling over the E2E channel, keys, relay tickets, media.

Glue around the pure state machine :mod:`dunpai.comms.calls.signalling`:

* signalling messages go over Olm (1:1) or Megolm (group calls) with the logged-in
  :class:`~dunpai.comms.client.client.CommsClient`; a background task feeds what arrives into the
  state machine and sends its answers (``busy`` to a second caller, replies to ``join`` …);
* relay tickets come from the comms service (``relay_ticket``), which checks that the user may
  take part (the two parties of a 1:1 call, members of the group for a group call);
* media keys: a 1:1 call's key rides inside the Olm ``ring``; a group call's key is made by the
  first participant in the sorted roster on every join or leave and sent over **Olm to the current
  participants only** (not Megolm to the whole group), so someone who left gets no later key;
* media: :class:`~dunpai.comms.media.call_media.CallMediaClient` on the relay in ``call`` mode.

Events of the state machine (``incoming``, ``connected``, ``ended``, ``muted``, ``joined``,
``left``, ``rekey``, ``busy_refused``) are queued on :attr:`CallAgent.events` for the application.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from dunpai.comms.calls import signalling as sg
from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.errors import CommsError
from dunpai.comms.media.call_media import CallMediaClient
from dunpai.comms.media.sframe import MediaKey, RandomBytes, new_media_key
from dunpai.comms.media.ticket_policy import call_session_id, group_call_session_id


def new_call_id(random_bytes: RandomBytes = os.urandom) -> str:
    return "c" + random_bytes(8).hex()


class CallAgent:
    def __init__(self, client: CommsClient, *, relay_url: str | None = None,
                 ring_timeout_ms: int = sg.RING_TIMEOUT_MS, random_bytes: RandomBytes = os.urandom,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 on_other: Callable[[Received], None] = lambda m: None, tick_s: float = 0.1) -> None:
        if ring_timeout_ms <= 0:
            raise ValueError("ring_timeout_ms must be positive")
        self.client = client
        self.relay_url = relay_url
        self.phone = sg.Phone(client.user, ring_timeout_ms=ring_timeout_ms)
        self.random_bytes, self.clock_ms, self.on_other, self.tick_s = random_bytes, clock_ms, on_other, tick_s
        self.events: asyncio.Queue[sg.Event] = asyncio.Queue()
        self.history: list[sg.Event] = []
        self.errors: list[str] = []
        self.media: CallMediaClient | None = None
        self.key: MediaKey | None = None
        self.session: str | None = None
        self.ended = asyncio.Event()     # set when the current call ends (cleared by a new call)
        self.last_media: CallMediaClient | None = None  # the media of the last call, kept after it ended
        self._ticket: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._ticker())]

    async def stop(self) -> None:
        with contextlib.suppress(CommsError):
            await self.hangup()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await self._close_media()

    async def __aenter__(self) -> CallAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, *kinds: str, timeout: float = 10.0) -> sg.Event:
        """The next event of one of ``kinds`` (others are skipped; all are kept in :attr:`history`)."""
        async with asyncio.timeout(timeout):
            while True:
                ev = await self.events.get()
                if ev.kind in kinds:
                    return ev

    def _now(self) -> int:
        return self.clock_ms()

    # -- operations ---------------------------------------------------------------------------------
    async def place(self, peer: str, *, media: str = "audio", call_id: str | None = None) -> str:
        """Ring ``peer``; the call's media key rides inside the (Olm-encrypted) ring."""
        if self.phone.call is not None:
            raise sg.SignallingError("already in a call")
        if peer == self.client.user:
            raise sg.SignallingError("cannot call yourself")
        call_id = call_id or new_call_id(self.random_bytes)
        ticket = await self.client.relay_ticket("call", peer=peer, call_id=call_id)
        key = new_media_key(ticket["session"], 1, sorted((self.client.user, peer)), self.random_bytes)
        self._ticket, self.key, self.session = ticket, key, ticket["session"]
        self.ended.clear()
        before = self.phone
        try:
            await self._apply(sg.place_call(before, call_id, peer, self._now(), media=media, key=key.to_content()))
        except CommsError:  # the ring could not be sent (e.g. no verified device): no call
            self.phone = before
            raise
        return call_id

    async def accept(self) -> None:
        call = self.phone.call
        if call is None or call.phase is not sg.CallPhase.RINGING_IN or call.peer is None:
            raise sg.SignallingError("no incoming call to accept")
        if call.key is None:
            raise sg.SignallingError("the incoming call carries no media key")
        key = MediaKey.from_content(call.key)
        expected = call_session_id(self.client.user, call.peer, call.call_id)
        if key.group_id != expected or sorted(key.roster) != sorted((self.client.user, call.peer)):
            raise sg.SignallingError("the call's media key does not belong to this call")
        ticket = await self.client.relay_ticket("call", peer=call.peer, call_id=call.call_id)
        self._ticket, self.key, self.session = ticket, key, ticket["session"]
        self.ended.clear()  # an agent that already had a call: this one has not ended
        await self._connect_media()
        await self._apply(sg.accept(self.phone, self._now()))

    async def reject(self) -> None:
        await self._apply(sg.reject(self.phone, self._now()))

    async def hangup(self) -> None:
        """Hang up, cancel a ringing call, or leave a group call."""
        if self.phone.call is not None:
            await self._apply(sg.hangup(self.phone, self._now()))

    async def mute(self, muted: bool) -> None:
        await self._apply(sg.set_mute(self.phone, muted, self._now()))
        if self.media is not None:
            self.media.muted = muted

    async def join_group(self, group_id: str, call_id: str, *, media: str = "audio") -> None:
        """Join (or start) the group call ``call_id`` of ``group_id``."""
        if self.phone.call is not None:
            raise sg.SignallingError("already in a call")
        ticket = await self.client.relay_ticket("call", group_id=group_id, call_id=call_id)
        self._ticket, self.session = ticket, group_call_session_id(group_id, call_id)
        # epoch 0: used only while alone; the first rekey (someone else is here) supersedes it
        self.key = new_media_key(self.session, 0, (self.client.user,), self.random_bytes)
        self.ended.clear()
        await self._connect_media()
        await self._apply(sg.join_group_call(self.phone, group_id, call_id, self._now(), media=media))

    # -- internals ----------------------------------------------------------------------------------
    def _next_epoch(self) -> int:
        """Newer than every key seen, and time-based (deciseconds; wraps after 13 years) so that a
        newcomer who makes a key without having seen the last one does not reuse its epoch."""
        known = self.key.epoch if self.key is not None else 0
        return max(known + 1, (self._now() // 100) % 2**32)

    async def _connect_media(self) -> None:
        ticket, key = self._ticket, self.key
        if ticket is None or key is None:
            raise sg.SignallingError("no ticket or media key for this call")
        url = self.relay_url or ticket.get("relay")
        if not url:
            raise CommsError("no relay URL: the service did not name one; give it (--relay)")
        media = CallMediaClient(str(url), str(ticket["ticket"]), key, self.client.user)
        await media.connect()
        self.media = self.last_media = media

    async def _close_media(self) -> None:
        if self.media is not None:
            media, self.media = self.media, None
            await media.close()

    async def _send(self, s: sg.Send) -> None:
        content = s.message.to_content()
        if s.to is not None:
            await self.client.send_content(s.to, content)
        elif s.group is not None:
            await self.client.group_send_content(s.group, content)

    async def _apply(self, step: sg.Step) -> None:
        async with self._lock:
            self.phone = step.phone
            for s in step.send:
                await self._send(s)
            for ev in step.events:
                await self._on_event(ev)
                self.history.append(ev)
                self.events.put_nowait(ev)

    async def _on_event(self, ev: sg.Event) -> None:
        if ev.kind == "connected" and self.media is None:  # the caller: the callee accepted
            await self._connect_media()
        elif ev.kind == "ended":
            await self._close_media()
            self.ended.set()
        elif ev.kind == "rekey" and sg.is_key_maker(self.phone, ev) and self.session is not None:
            key = new_media_key(self.session, self._next_epoch(), ev.roster, self.random_bytes)
            others = [u for u in ev.roster if u != self.client.user]
            if others:
                devices = [d for d in await self.client.devices_of(others) if d.user != self.client.user]
                await self.client.send_olm(devices, key.to_content())
            self._install(key)

    def _install(self, key: MediaKey) -> None:
        if self.key is None or key.epoch > self.key.epoch:
            self.key = key
        if self.media is not None:
            self.media.add_key(key)

    def _on_key(self, m: Received) -> None:
        """A group call key over Olm: only for our current call, naming us and its sender."""
        call = self.phone.call
        if m.content is None or call is None or call.group_id is None:
            return
        key = MediaKey.from_content(m.content)
        if key.group_id == self.session and self.client.user in key.roster and m.sender in key.roster:
            self._install(key)

    async def _pump(self) -> None:
        while True:
            try:
                m = await self.client.receive(1.0)
            except TimeoutError:
                continue
            try:
                if m.kind == "call" and m.content is not None:
                    msg = sg.CallMessage.from_content(m.content)
                    await self._apply(sg.receive(self.phone, m.sender, msg, self._now(), group_id=m.group_id))
                elif m.kind == "media_key" and m.group_id is None and m.content is not None:
                    self._on_key(m)
                else:
                    self.on_other(m)
            except CommsError as exc:
                self.errors.append(f"{exc.code}: {exc.message}")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            step = sg.tick(self.phone, self._now())
            if step.phone is not self.phone:
                with contextlib.suppress(CommsError):
                    await self._apply(step)
