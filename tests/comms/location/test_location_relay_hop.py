"""The optional relay hop: messaging works through it, and the service's socket peer is the hop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dunpai.comms.client.enrol import new_user
from dunpai.comms.location.relay_hop import RelayHop
from dunpai.comms.server.launch import start_service
from tests.comms.helpers import run


def test_messages_flow_through_the_relay_hop(tmp_path: Path) -> None:
    async def scenario() -> None:
        svc = await start_service(f"sqlite:///{tmp_path / 'c.db'}")
        hop = RelayHop("127.0.0.1", svc.port)
        port = await hop.start()
        via = f"ws://127.0.0.1:{port}"
        a = await new_user(via, "wang", svc.service.create_invite())
        b = await new_user(via, "li", svc.service.create_invite())
        try:
            await a.send_text("li", "through the hop")
            assert (await b.receive(10)).text == "through the hop"
        finally:
            await a.close()
            await b.close()
            await hop.stop()
            await svc.stop()
        assert hop.stats.connections == 2 and hop.stats.bytes_up > 1000 and hop.stats.bytes_down > 1000

    run(scenario())


def test_the_service_sees_the_hop_not_the_client() -> None:
    async def scenario() -> None:
        seen: list[tuple[str, int]] = []

        async def upstream(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            seen.append(w.get_extra_info("peername")[:2])
            w.write(await r.read(5))
            await w.drain()
            w.close()

        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        hop = RelayHop("127.0.0.1", server.sockets[0].getsockname()[1])
        port = await hop.start()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        client_addr = w.get_extra_info("sockname")[:2]
        w.write(b"hello")
        assert await r.read(5) == b"hello"
        w.close()
        await hop.stop()
        server.close()
        await server.wait_closed()
        assert seen and seen[0] != client_addr  # the upstream's peer is the hop's own socket

    run(scenario())
