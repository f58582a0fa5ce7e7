"""User roles for the network-namespace bridge test, each run as its own process inside a namespace:
``python -m tests.comms.netns_roles ROLE URL SERVICE_CERT INVITE OUT``. Writes a JSON result."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from dunpai.comms.bridge.certs import client_context
from dunpai.comms.bridge.federated import FederatedClient
from dunpai.comms.client.state import LocalState
from dunpai.comms.errors import Forbidden, NotFound, UntrustedDevice
from dunpai.comms.keys_port import MemoryKeys

TEXT_TO_PUBLIC = "私网消息 private hello 7f3a"
TEXT_TO_PRIVATE = "公网回复 public reply 91c2"
FILE_BYTES = b"netns-file-plaintext-5d1e " * 5000
DENIED_TEXT = "denied eve text 0b77"


async def _client(user: str, url: str, cert: str, invite: str) -> FederatedClient:
    client = FederatedClient(url, MemoryKeys(), LocalState.new(user, "d1"), ssl_context=client_context(Path(cert)))
    await client.connect()
    await client.register(invite)
    return client


async def _retry(fn: Any, deadline: float) -> Any:
    while True:
        try:
            return await fn()
        except (NotFound, UntrustedDevice):  # the other side has not enrolled yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def role(name: str, url: str, cert: str, invite: str) -> dict[str, Any]:
    c = await _client(name, url, cert, invite)
    deadline = time.monotonic() + 40
    try:
        if name == "wang":
            await _retry(lambda: c.send_remote_text("li@public", TEXT_TO_PUBLIC), deadline)
            await c.send_remote_file("li@public", FILE_BYTES, "plan.txt", "text/plain")
            reply = await c.receive(40)
            return {"reply": reply.text, "from": reply.sender}
        if name == "li":
            got: dict[str, Any] = {}
            while "text" not in got or "file" not in got:
                m = await c.receive(40)
                if m.kind == "text":
                    got["text"], got["from"] = m.text, m.sender
                elif m.file is not None:
                    got["file"] = hashlib.sha256(await c.fetch_file(m.file)).hexdigest()
            await c.send_remote_text("wang@private", TEXT_TO_PRIVATE)
            await asyncio.sleep(1.0)  # let the reply leave before closing
            return got
        try:
            if name == "eve":
                await _retry(lambda: c.send_remote_text("li@public", DENIED_TEXT), deadline)
            else:  # zhao may message but not send files
                await _retry(lambda: c.send_remote_file("li@public", FILE_BYTES, "z.txt", "text/plain"), deadline)
        except Forbidden as exc:
            return {"refused": exc.message}
        return {"refused": None}
    finally:
        await c.close()


def main() -> None:
    name, url, cert, invite, out = sys.argv[1:6]
    result = asyncio.run(role(name, url, cert, invite))
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
