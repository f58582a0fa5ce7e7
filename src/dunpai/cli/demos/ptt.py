"""`dunpai comms demo-ptt`: a push-to-talk talk-group on loopback with spoken (espeak-ng) audio.

A comms service and a media relay start on 127.0.0.1. Four users enrol; the dispatcher creates
the talk-group and sends its media key over Megolm (E2E). Each member asks the comms service for a
relay ticket (members only; priority capped by the group role) and joins the relay with it.
Then: unit-1 talks while unit-2 waits in the queue; unit-2 gets the floor on release; the chief
makes an emergency request that pre-empts unit-2; the dispatcher talks last. Every listener's
decoded audio is written as WAV files, compared with what was said, and what the relay
handled is checked for addresses and decodable audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dunpai.comms.client.client import CommsClient
from dunpai.comms.client.enrol import new_user
from dunpai.comms.media import codec
from dunpai.comms.media import floor as fl
from dunpai.comms.media.key_exchange import receive_media_key, send_media_key
from dunpai.comms.media.ptt_client import PttClient
from dunpai.comms.media.relay_launch import start_relay
from dunpai.comms.media.sframe import HEADER_LEN, new_media_key
from dunpai.comms.media.speech import speak
from dunpai.comms.media.ticket_policy import RelayPolicy
from dunpai.comms.server.launch import start_service
from dunpai.comms.server.service import ServiceConfig

GROUP = "tg-ops"
MEMBERS = {"dispatch": 5, "unit1": 1, "unit2": 1, "chief": 9}
LINES = {
    "unit1": "Unit one to dispatch. Suspicious cash deposit at branch seven. Over.",
    "unit2": "Unit two. I am on my way to branch seven, arriving in ten minutes. Over.",
    "chief": "Emergency. All units hold position. Do not approach the customer. Over.",
    "dispatch": "Dispatch copies. All units hold. Out.",
}
ADDRESS = re.compile(rb"127\.0\.0\.1|localhost|::1|\b\d{1,3}(?:\.\d{1,3}){3}\b")


@dataclass
class PttDemoResult:
    workdir: str = ""
    floor_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    heard: list[dict[str, Any]] = field(default_factory=list)
    relay: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": "dunpai-ptt-demo-v1", "workdir": self.workdir, "floor_log": self.floor_log,
                "sent": self.sent, "heard": self.heard, "relay": self.relay}


ROLES = {"dispatch": "owner", "unit1": "member", "unit2": "member", "chief": "owner"}


async def _enrol(url: str, invite: Callable[[], str]) -> dict[str, CommsClient]:
    users = {u: await new_user(url, u, invite()) for u in MEMBERS}
    await users["dispatch"].group_create(GROUP)
    for u in MEMBERS:
        if u != "dispatch":
            await users["dispatch"].group_add(GROUP, u, ROLES[u])
    return users


async def run_demo(workdir: Path, *, pace: float = 1.0, say: Callable[[str], None] = print) -> PttDemoResult:
    workdir.mkdir(parents=True, exist_ok=True)
    result = PttDemoResult(workdir=str(workdir))
    speech = {u: speak(text) for u, text in LINES.items()}
    handled: list[tuple[str, int, str | bytes]] = []
    secret = os.urandom(32)
    relay = await start_relay(secret, config=fl.FloorConfig(revoke_grace_ms=200),
                              record=lambda d, c, m: handled.append((d, c, m)))
    # the comms service issues relay tickets to authenticated members (priority capped by group role)
    svc = await start_service(f"sqlite:///{workdir / 'comms.db'}",
                              config=ServiceConfig(relay=RelayPolicy(secret, url=relay.url)))
    users: dict[str, CommsClient] = {}
    ptt: dict[str, PttClient] = {}
    try:
        users = await _enrol(svc.url, svc.service.create_invite)
        say(f"通信服务与中继已在本机启动 / service and relay on loopback; talk-group {GROUP}: {sorted(MEMBERS)}")
        key = new_media_key(GROUP, 1, sorted(MEMBERS), os.urandom)
        await send_media_key(users["dispatch"], GROUP, key)
        keys = {u: (key if u == "dispatch" else await receive_media_key(users[u], GROUP)) for u in MEMBERS}
        say("媒体密钥经 Megolm 端到端分发 / media key distributed end to end over Megolm")
        for u, prio in MEMBERS.items():
            ticket = await users[u].relay_ticket("ptt", group_id=GROUP, priority=prio)
            ptt[u] = PttClient(str(ticket["relay"]), str(ticket["ticket"]), keys[u], u)
            await ptt[u].connect()
        say("各成员向通信服务申请中继入场券 / each member got its relay ticket from the comms service")

        async def talk(u: str) -> None:
            n = await ptt[u].talk(speech[u], pace=pace, stop=ptt[u].revoked)
            result.sent.append({"talker": u, "frames": n, "seconds": round(n * codec.FRAME_MS / 1000, 2)})
            codec.write_wav(workdir / "sent" / f"{len(result.sent):02d}-{u}.wav", speech[u][: n * codec.FRAME_SAMPLES])
            await ptt[u].release_floor()

        await ptt["unit1"].request_floor()
        await ptt["unit1"].expect("floor_granted")
        say("unit1: 获得话权 / floor granted")
        speaking = asyncio.create_task(talk("unit1"))
        await ptt["unit2"].request_floor()
        q = await ptt["unit2"].expect("floor_queued")
        say(f"unit2: 排队第 {q['position']} 位 / queued, position {q['position']}")
        await speaking
        await ptt["unit2"].expect("floor_granted")
        say("unit2: unit1 释放后获得话权 / floor granted after unit1 released")
        speaking = asyncio.create_task(talk("unit2"))
        await asyncio.sleep(len(speech["unit2"]) / codec.SAMPLE_RATE * pace * 0.4)
        await ptt["chief"].request_floor(emergency=True)
        rev = await ptt["unit2"].expect("floor_revoke")
        say(f"chief: 紧急抢占 / emergency pre-emption — unit2 revoked ({rev['cause']})")
        await speaking
        await ptt["chief"].expect("floor_granted")
        await talk("chief")
        await ptt["dispatch"].request_floor()
        await ptt["dispatch"].expect("floor_granted")
        await talk("dispatch")
        await ptt["unit1"].expect("floor_idle")
        await asyncio.sleep(0.2)
    finally:
        for pc in ptt.values():
            await pc.close()
        for uc in users.values():
            await uc.close()
        await relay.stop()
        await svc.stop()

    for u, c in ptt.items():
        result.floor_log[u] = c.log
        for i, b in enumerate(c.bursts, 1):
            pcm = b.pcm()
            path = workdir / "heard" / u / f"{i:02d}-{b.talker}.wav"
            codec.write_wav(path, pcm)
            result.heard.append({"listener": u, "talker": b.talker, "burst": b.burst, "frames": len(b.packets),
                                 "packet_sizes": sorted({len(p) for p in b.packets}),
                                 "similarity": round(codec.similarity(speech[b.talker], pcm), 3),
                                 "wav": str(path.relative_to(workdir))})
    media_in = [m for d, _, m in handled if d == "in" and isinstance(m, bytes)]
    out = [m if isinstance(m, bytes) else m.encode() for d, _, m in handled if d == "out"]
    dec = codec.OpusDecoder()
    attempt = np.concatenate([dec.decode(m[HEADER_LEN:]) for m in media_in[:200]]) if media_in else np.zeros(0)
    result.relay = {
        "media_frames_handled": len(media_in),
        "frame_sizes": sorted({len(m) for m in media_in}),
        "messages_with_an_address": sum(1 for m in out if ADDRESS.search(m)),
        "decode_attempt_similarity": round(codec.similarity(speech["unit1"], attempt.astype(np.int16)), 3),
        "decode_attempt_invalid_packets": dec.invalid,
        "dropped_not_talker": relay.relay.core.stats.dropped_not_talker,
    }
    (workdir / "ptt-demo.json").write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
    return result


def main(workdir: Path, *, pace: float = 1.0, say: Callable[[str], None] = print) -> PttDemoResult:
    return asyncio.run(run_demo(workdir, pace=pace, say=say))
