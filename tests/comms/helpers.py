"""Shared helpers for comms tests (imported explicitly; no global conftest)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import piexif
from PIL import Image
from sqlalchemy import insert, select
from typer.testing import CliRunner

from dunpai.cli.comms import app as comms_app
from dunpai.comms.client.client import CommsClient
from dunpai.comms.server import tables as t
from dunpai.comms.server.launch import RunningService

GPS_LAT = ((22, 1), (49, 1), (1234, 100))  # 22°49'12.34" N - Nanning
GPS_LON = ((108, 1), (19, 1), (5678, 100))


def run(coro: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    """Run a scenario; on a hang, fail with the stacks of every pending task."""

    async def guarded() -> None:
        try:
            async with asyncio.timeout(timeout):
                await coro
        except TimeoutError:
            stacks = []
            for task in asyncio.all_tasks():
                out = io.StringIO()
                task.print_stack(file=out)
                stacks.append(out.getvalue())
            raise AssertionError("scenario hung:\n" + "\n".join(stacks)) from None

    asyncio.run(guarded())


def photo_with_gps() -> bytes:
    img = Image.new("RGB", (32, 24), (200, 30, 30))
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"DunpaiPhone", piexif.ImageIFD.Model: b"Model-X"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: GPS_LON},
        "Exif": {piexif.ExifIFD.MakerNote: b"secret-maker-note"},
    })
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def has_gps(jpeg: bytes) -> bool:
    try:
        data = piexif.load(jpeg)
    except (ValueError, piexif.InvalidImageDataError):
        return False
    return bool(data.get("GPS"))


async def drain(client: CommsClient, n: int, timeout: float = 5.0) -> list[Any]:
    return [await client.receive(timeout) for _ in range(n)]


async def nothing_more(client: CommsClient, wait: float = 0.3) -> bool:
    try:
        await client.receive(wait)
    except TimeoutError:
        return True
    return False


def queued_rows(svc: RunningService, user: str, device: str = "d1") -> list[dict[str, Any]]:
    with svc.store.engine.connect() as c:
        return [dict(r) for r in c.execute(select(t.queue).where(
            t.queue.c.user_id == user, t.queue.c.device_id == device).order_by(t.queue.c.seq)).mappings()]


def inject(svc: RunningService, row: dict[str, Any]) -> None:
    """Act as a malicious or faulty service: put a row into a device's queue."""
    row = {k: v for k, v in row.items() if k != "seq"}
    with svc.store.engine.begin() as c:
        c.execute(insert(t.queue).values(**row))


async def wait_until(pred: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@contextmanager
def in_background(boot: Callable[[], Coroutine[Any, Any, tuple[Any, ...]]]) -> Iterator[tuple[Any, ...]]:
    """Run ``boot`` (which starts servers: service, relay, ...) on an event loop in a daemon thread,
    so synchronous code — the CLI, subprocesses — can talk to them; stop them in reverse order."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers = asyncio.run_coroutine_threadsafe(boot(), loop).result(20)
    try:
        yield servers
    finally:
        for server in reversed(servers):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


_runner = CliRunner(env={"COLUMNS": "250"})


def cli(*args: str) -> str:
    """``dunpai comms ARGS`` in-process; asserts success and returns the output."""
    result = _runner.invoke(comms_app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output
