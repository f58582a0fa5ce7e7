"""`dunpai comms demo`: a loopback service, three users, 1:1 and group messages, a photo carrying GPS
tags, a member removed and locked out - then what the service's database actually holds."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.comms.client.client import CommsClient, Received
from dunpai.comms.client.enrol import new_user
from dunpai.comms.errors import CommsError
from dunpai.comms.protocol.megolm import RotationPolicy
from dunpai.comms.server.launch import attach_log, start_service

GROUP = "project-shield"
# Nanning, 22°49'12.34" N, 108°19'56.78" E: where the customer in the source article deposited cash.
GPS_LAT = ((22, 1), (49, 1), (1234, 100))
GPS_LON = ((108, 1), (19, 1), (5678, 100))


def photo_with_gps() -> bytes:
    """A small JPEG carrying GPS coordinates, camera make/model and a maker note."""
    import piexif
    from PIL import Image

    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"DunpaiPhone", piexif.ImageIFD.Model: b"Model-X"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: GPS_LON},
        "Exif": {piexif.ExifIFD.MakerNote: b"maker-note-serial-0042"},
    })
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def gps_of(jpeg: bytes) -> dict[int, Any]:
    import piexif

    try:
        return dict(piexif.load(jpeg).get("GPS") or {})
    except (ValueError, piexif.InvalidImageDataError):
        return {}


@dataclass
class DemoResult:
    messages: list[dict[str, Any]] = field(default_factory=list)
    server_db: str = ""
    server_log: str = ""
    photo: dict[str, Any] = field(default_factory=dict)
    removed_member: dict[str, Any] = field(default_factory=dict)
    server_tables: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"messages": self.messages, "server_db": self.server_db, "server_log": self.server_log,
                "photo": self.photo, "removed_member": self.removed_member, "server_tables": self.server_tables}


async def _collect(clients: list[CommsClient], wait: float = 0.4) -> dict[str, list[Received]]:
    got: dict[str, list[Received]] = {}
    for c in clients:
        items = []
        while True:
            try:
                items.append(await c.receive(wait))
            except TimeoutError:
                break
        got[f"{c.user}/{c.device_id}"] = items
    return got


def _delivered(got: dict[str, list[Received]], mid: str) -> list[str]:
    return sorted(who for who, items in got.items() if any(m.mid == mid for m in items))


async def run_demo(workdir: Path, say: Any = print) -> DemoResult:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path, log_path = workdir / "comms-server.db", workdir / "comms-server.log"
    for p in (db_path, log_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        p.unlink(missing_ok=True)
    handler = attach_log(log_path)
    result = DemoResult(server_db=str(db_path), server_log=str(log_path))
    svc = await start_service(f"sqlite:///{db_path}")
    try:
        say(f"服务已在本机回环地址启动 / service listening on {svc.url}")
        policy = RotationPolicy()
        alice, bob, carol = [await new_user(svc.url, u, svc.service.create_invite(), policy=policy)
                             for u in ("alice", "bob", "carol")]
        everyone = [alice, bob, carol]
        say("三位用户已凭一次性邀请码注册 / three users enrolled with single-use invite codes")
        number, _ = await alice.safety_number("bob")
        say(f"alice ⇄ bob 安全码 / safety number: {number}")

        sent: list[tuple[str, str]] = []
        text = "转账前请核对收款人 / check the payee before you transfer"
        sent.append((text, await alice.send_text("bob", text)))
        text = "收到，已核对 / got it, checked"
        sent.append((text, await bob.send_text("alice", text)))
        await alice.group_create(GROUP)
        await alice.group_add(GROUP, "bob", "admin")
        await alice.group_add(GROUP, "carol")
        text = "项目组会议改到三点 / team meeting moved to 3pm"
        sent.append((text, await alice.group_send_text(GROUP, text)))
        text = "好的，三点见 / OK, see you at three"
        sent.append((text, await carol.group_send_text(GROUP, text)))

        photo = photo_with_gps()
        ref = await alice.send_file(GROUP, photo, "atm-receipt.jpg", "image/jpeg", group=True)
        got = await _collect(everyone)
        for text, mid in sent:
            result.messages.append({"plaintext": text, "delivered_to": _delivered(got, mid)})
        files = [m for m in got["bob/d1"] if m.kind == "file"]
        delivered_photo = await bob.fetch_file(files[0].file) if files and files[0].file else b""
        result.photo = {"name": ref.name, "sent_gps_tags": len(gps_of(photo)),
                        "delivered_gps_tags": len(gps_of(delivered_photo)), "delivered_bytes": len(delivered_photo),
                        "delivered_to": sorted(k for k, v in got.items() if any(m.kind == "file" for m in v))}
        say(f"照片原有 GPS 标签 {result.photo['sent_gps_tags']} 个，送达后 {result.photo['delivered_gps_tags']} 个 / "
            f"photo GPS tags: sent {result.photo['sent_gps_tags']}, delivered {result.photo['delivered_gps_tags']}")

        await bob.group_remove(GROUP, "carol")
        text = "carol 已离开，此后内容她无法读取 / carol has left and cannot read this"
        await bob.close()  # bob offline: his copy stays queued, so we can try it on carol
        mid = await alice.group_send_text(GROUP, text)
        queued = svc.store.pending_for("bob", "d1")
        try:
            carol.state.groups.decrypt(GROUP, "alice", alice.device_id, queued[-1]["payload"])
            carol_reads = True
        except CommsError:
            carol_reads = False
        await bob.connect()
        await bob.login()
        got = await _collect([bob, carol])
        result.messages.append({"plaintext": text, "delivered_to": _delivered(got, mid)})
        result.removed_member = {"user": "carol", "received": bool(got["carol/d1"]),
                                 "could_decrypt_ciphertext": carol_reads}
        say(f"carol 被移出后：收到 {len(got['carol/d1'])} 条，能否解密密文: {carol_reads} / "
            f"after removal carol received {len(got['carol/d1'])}, could decrypt: {carol_reads}")
        await carol.close()  # carol goes offline: this one waits in the queue, as ciphertext
        text = "carol，明早九点网点见 / carol, see you at the branch at 9am"
        await alice.send_text("carol", text)
        result.messages.append({"plaintext": text, "delivered_to": [], "queued_for": ["carol/d1"]})
        for c in everyone:
            await c.close()
    finally:
        await svc.stop()
        logging.getLogger("dunpai.comms.server").removeHandler(handler)
        handler.close()
    result.server_tables = describe_db(db_path)
    return result


def describe_db(db_path: Path, sample: int = 2) -> dict[str, Any]:
    """Row counts and a few (truncated) rows of each table: public keys and ciphertext only."""
    out: dict[str, Any] = {}
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for name in names:
            cur = con.execute(f'SELECT * FROM "{name}" LIMIT {sample}')  # noqa: S608 - names from sqlite_master
            cols = [d[0] for d in cur.description]
            rows = [{c: _short(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()]
            count = con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]  # noqa: S608
            out[name] = {"rows": count, "sample": rows}
    finally:
        con.close()
    return out


def _short(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes of ciphertext>"
    if isinstance(value, str) and len(value) > 48:
        return value[:44] + "…"
    return value


def main(json_path: Path | None, workdir: Path, say: Any = print) -> DemoResult:
    result = asyncio.run(run_demo(workdir, say))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return result
