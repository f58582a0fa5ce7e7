"""The app's local web server: the page, a JSON API and one WebSocket, on 127.0.0.1 only.

Who may drive it (:class:`Guard`):

* a **launch secret** (256 bits, new at every start) is in the address the app prints and opens;
  ``GET /?k=SECRET`` exchanges it for a session cookie (``HttpOnly``, ``SameSite=Strict``, named per
  port) and redirects to a clean address. Every other request needs that cookie. Another local
  process or user without the secret gets 403 — for the page, the API, the files and the socket;
* the ``Host`` header must be ``127.0.0.1:<port>`` (a web page cannot reach the app by DNS
  rebinding), and every request that changes something and the WebSocket must come with
  ``Origin: http://127.0.0.1:<port>`` (another page in the same browser cannot drive it);
* answers carry a strict Content-Security-Policy (only this origin's scripts; nothing from
  elsewhere), no caching, no referrer, and may not be framed.

Routes only parse, call the messenger (or the voice part) and map the result; errors become
``{"error": {"code", "message"}}`` through :func:`present`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import io
import json
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from dunpai.comms.app import groups, trust
from dunpai.comms.app.camera import PICTURE
from dunpai.comms.app.messenger import Messenger
from dunpai.comms.errors import CommsError, MalformedFrame, NotFound, TooLarge

if TYPE_CHECKING:
    from dunpai.comms.app.run import AppHost

STATIC = {"app.js": "text/javascript", "app.css": "text/css", "i18n.js": "text/javascript",
          "mic-worklet.js": "text/javascript", "index.html": "text/html; charset=utf-8"}
STATUS = {"not_found": 404, "conflict": 409, "too_large": 413, "forbidden": 403, "not_enrolled": 409,
          "key_changed": 409, "untrusted_device": 409, "invite_invalid": 400, "malformed_frame": 400}
WINDOW_QUEUE = 4000
PICTURE_BACKLOG = 30
"""Items waiting for a window beyond which a video picture for it is dropped (about half a second)."""
PICTURE_TAG = bytes([PICTURE])
MAX_JSON = 1024 * 1024
"""A JSON body's limit (a message's 20,000 characters escaped fit many times over)."""
MAX_SCAN = 12 * 1024 * 1024
"""``/api/verify-scan``: a camera picture of at most 8 MB, base64 in JSON."""


class NotEnrolled(CommsError):
    code = "not_enrolled"


class Guard:
    def __init__(self, port: int) -> None:
        self.port = port
        self.secret = secrets.token_urlsafe(32)
        self.session = secrets.token_urlsafe(32)
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie = f"dunpai_app_{port}"

    def launch_url(self) -> str:
        return f"{self.origin}/?k={quote(self.secret)}"

    def _host_ok(self, conn: HTTPConnection) -> bool:
        return conn.headers.get("host") == f"127.0.0.1:{self.port}"

    def allowed(self, conn: HTTPConnection, changes: bool) -> bool:
        if not self._host_ok(conn):
            return False
        if changes and conn.headers.get("origin") != self.origin:
            return False
        return hmac.compare_digest(conn.cookies.get(self.cookie, ""), self.session)

    def exchange(self, request: Request) -> bool:
        given = request.query_params.get("k", "")
        return self._host_ok(request) and hmac.compare_digest(given.encode(), self.secret.encode())


def _headers(guard: Guard) -> dict[str, str]:
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           f"media-src 'self' blob:; connect-src 'self' ws://127.0.0.1:{guard.port}; worker-src 'self'; "
           "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return {"Content-Security-Policy": csp, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
            "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(self)"}


def present(exc: CommsError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=STATUS.get(exc.code, 400))


def _static(name: str) -> bytes:
    return (resources.files("dunpai.comms.app") / "static" / name).read_bytes()


def _declared(request: Request) -> int:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else 0


async def _bounded(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused before it is read when its declared length is over ``limit`` and
    as soon as it passes ``limit`` otherwise (a chunked body): never more than that in memory."""
    if _declared(request) > limit:
        raise TooLarge(f"{what}: over the limit of {limit} bytes")
    parts, got = [], 0
    async for chunk in request.stream():
        got += len(chunk)
        if got > limit:
            raise TooLarge(f"{what}: over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def _body(request: Request, limit: int = MAX_JSON) -> dict[str, Any]:
    try:
        data = json.loads(await _bounded(request, limit, "body") or b"{}")
    except ValueError as exc:
        raise MalformedFrame("body: not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedFrame("body: a JSON object")
    return data


def _str(data: dict[str, Any], name: str, max_len: int = 200) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise MalformedFrame(f"{name}: a string of 1 to {max_len} characters")
    return value


def decode_qr(image: bytes) -> list[str]:
    """Texts of the QR codes in a camera picture (zxing-cpp)."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as img:
            found = zxingcpp.read_barcodes(img.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MalformedFrame("image: not a picture") from exc
    return [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]


def qr_svg(payload: str) -> str:
    import segno

    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="svg", scale=6, border=4, xmldecl=False, svgns=True, omitsize=True,
                                        light="#fff",
                                        title="safety number QR")
    return out.getvalue().decode("utf-8")


def with_headers(app: ASGIApp, headers: dict[str, str]) -> ASGIApp:
    """``app`` with ``headers`` on every HTTP answer that does not set them itself: Starlette's own
    404, 405 and 500 included (the 500 is sent outside any route or middleware of ``app``)."""
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def headed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", ()))
                present = {name.lower() for name, _ in own}
                message = {**message, "headers": own + [(n, v) for n, v in extra if n not in present]}
            await send(message)

        await app(scope, receive, sending)

    return headed


def create_web(host: AppHost, guard: Guard) -> ASGIApp:
    headers = _headers(guard)

    def messenger() -> Messenger:
        if host.messenger is None:
            raise NotEnrolled("enrol this device first")
        return host.messenger

    def api(changes: bool) -> Callable[[Callable[[Request], Awaitable[Any]]], Callable[[Request], Awaitable[Response]]]:
        def wrap(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                if not guard.allowed(request, changes):
                    return Response("forbidden", status_code=403, headers=headers)
                try:
                    result = await fn(request)
                except CommsError as exc:
                    resp = present(exc)
                    resp.headers.update(headers)
                    return resp
                if isinstance(result, Response):
                    result.headers.update(headers)
                    return result
                return JSONResponse(result if result is not None else {"ok": True}, headers=headers)

            return endpoint

        return wrap

    async def index(request: Request) -> Response:
        if "k" in request.query_params:
            if not guard.exchange(request):
                return Response("forbidden", status_code=403, headers=headers)
            resp = RedirectResponse("/", status_code=303, headers=headers)
            resp.set_cookie(guard.cookie, guard.session, httponly=True, samesite="strict", path="/")
            return resp
        if not guard.allowed(request, False):
            return Response("需要启动链接 / open the address the app printed at launch", status_code=403,
                            headers=headers, media_type="text/plain; charset=utf-8")
        return Response(_static("index.html"), media_type=STATIC["index.html"], headers=headers)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC or not guard.allowed(request, False):
            return Response("forbidden", status_code=403, headers=headers)
        return Response(_static(name), media_type=STATIC[name], headers=headers)

    @api(False)
    async def state(request: Request) -> Any:
        if host.messenger is None:
            return {"type": "snapshot", "enrolled": False}
        return {**host.messenger.snapshot(), "enrolled": True}

    @api(True)
    async def enrol(request: Request) -> Any:
        data = await _body(request)
        await host.enrol(_str(data, "server"), _str(data, "user", 64), _str(data, "device", 64),
                         str(data.get("invite") or ""))
        return {"enrolled": True}

    @api(False)
    async def messages(request: Request) -> Any:
        conv = request.query_params.get("conv", "")
        m = messenger()
        if conv not in m.state.convs:
            raise NotFound("conv: no such conversation")
        return {"conv": m.state.conv_view(m.state.convs[conv]), "messages": m.state.messages(conv),
                "members": groups.members_view(m, conv)}

    @api(False)
    async def search(request: Request) -> Any:
        return {"hits": messenger().state.search(request.query_params.get("q", "")[:200])}

    @api(True)
    async def send(request: Request) -> Any:
        data = await _body(request)
        return {"mid": messenger().send_text(_str(data, "conv"), _str(data, "text", 20_000))}

    @api(True)
    async def send_file(request: Request) -> Any:
        m = messenger()
        q = request.query_params
        data = await _bounded(request, m.file_limit, "file")
        mid = await m.send_file(q.get("conv", ""), data, q.get("name", ""), q.get("mime") or "application/octet-stream")
        return {"mid": mid}

    @api(False)
    async def get_file(request: Request) -> Any:
        data, name, mime = await messenger().fetch_file(request.path_params["mid"])
        inline = request.query_params.get("inline") == "1" and mime.startswith("image/")
        disposition = "inline" if inline else "attachment"
        return Response(data, media_type=mime if inline else "application/octet-stream",
                        headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}"})

    @api(True)
    async def location(request: Request) -> Any:
        data = await _body(request)
        try:
            lat, lon = float(data["lat"]), float(data["lon"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrame("lat, lon: numbers") from exc
        precision = data.get("precision")
        if precision not in ("exact", "km", "city"):
            raise MalformedFrame("precision: exact, km or city")
        return {"mid": messenger().send_location(_str(data, "conv"), lat, lon, precision)}

    @api(True)
    async def read(request: Request) -> Any:
        messenger().mark_read(_str(await _body(request), "conv"))

    @api(True)
    async def chat(request: Request) -> Any:
        return {"conv": await messenger().open_chat(_str(await _body(request), "user", 64))}

    @api(False)
    async def safety(request: Request) -> Any:
        info = await trust.safety(messenger(), request.query_params.get("user", ""))
        return {**info, "svg": qr_svg(str(info["qr"]))}  # the QR code's text: both users' public keys

    @api(True)
    async def verify(request: Request) -> Any:
        data = await _body(request)
        await trust.verify_number(messenger(), _str(data, "user", 64), _str(data, "number", 100))

    @api(True)
    async def verify_scan(request: Request) -> Any:
        data = await _body(request, MAX_SCAN)
        image = _str(data, "image", 8_000_000)
        try:
            raw = base64.b64decode(image.split(",", 1)[-1], validate=True)
        except ValueError as exc:
            raise MalformedFrame("image: a base64 PNG or JPEG") from exc
        texts = await asyncio.to_thread(decode_qr, raw)
        if not texts:
            return {"found": False}
        await trust.verify_scanned(messenger(), _str(data, "user", 64), texts[0])
        return {"found": True, "verified": True}

    @api(True)
    async def ack_key(request: Request) -> Any:
        messenger().acknowledge_key_change(_str(await _body(request), "user", 64))

    @api(True)
    async def group(request: Request) -> Any:
        data = await _body(request)
        m = messenger()
        action = request.path_params["action"]
        if action == "create":
            members = data.get("members") or []
            if not isinstance(members, list) or not all(isinstance(u, str) for u in members) or len(members) > 200:
                raise MalformedFrame("members: a list of user names")
            return {"conv": await groups.create_group(m, _str(data, "name", 100), members)}
        conv = _str(data, "conv")
        if action == "rename":
            await groups.rename_group(m, conv, _str(data, "name", 100))
        elif action == "add":
            await groups.add_member(m, conv, _str(data, "user", 64), str(data.get("role") or "member"))
        elif action == "remove":
            await groups.remove_member(m, conv, _str(data, "user", 64))
        elif action == "role":
            await groups.set_role(m, conv, _str(data, "user", 64), _str(data, "role", 16))
        else:
            raise NotFound("action: no such group action")
        return {"members": groups.members_view(m, conv)}

    @api(True)
    async def voice(request: Request) -> Any:
        data = await _body(request)
        v = messenger().voice
        action = request.path_params["action"]
        if action == "ptt-join":
            await v.join_talkgroup(_str(data, "group"))
        elif action == "ptt-leave":
            await v.leave_talkgroup()
        elif action == "call":
            return {"call_id": await v.place(_str(data, "user", 64), str(data.get("media") or "audio"))}
        elif action in ("accept", "reject", "hangup"):
            await getattr(v, action)()
        elif action == "mute":
            await v.mute(bool(data.get("muted")))
        else:
            raise NotFound("action: no such voice action")
        return v.view()

    async def socket(ws: WebSocket) -> None:
        if not guard.allowed(ws, True):
            await ws.close(code=1008)
            return
        await ws.accept()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=WINDOW_QUEUE)
        wid = id(queue)

        def push(item: Any) -> None:
            if isinstance(item, bytes) and item[:1] == PICTURE_TAG and queue.qsize() > PICTURE_BACKLOG:
                return  # a window behind on live video skips pictures (voice and events still queue)
            with contextlib.suppress(asyncio.QueueFull):  # a window that cannot keep up reloads
                queue.put_nowait(item)

        async def writer() -> None:
            while True:
                item = await queue.get()
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_text(json.dumps(item, ensure_ascii=False))

        host.subscribers[wid] = push
        if host.messenger is not None:  # the window's starting point; every later change follows it
            push({**host.messenger.snapshot(), "enrolled": True})
        task = asyncio.create_task(writer())
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                m = host.messenger
                if m is None:
                    continue
                try:
                    if msg.get("bytes") is not None:
                        await m.voice.from_window(msg["bytes"])
                    elif msg.get("text") is not None:
                        await _window_message(m, wid, json.loads(msg["text"]))
                except (CommsError, ValueError, KeyError, OSError) as exc:
                    push({"type": "error", "code": getattr(exc, "code", "malformed_frame"), "message": str(exc)})
        except WebSocketDisconnect:
            pass
        finally:
            host.subscribers.pop(wid, None)
            if host.messenger is not None:
                host.messenger.focus.pop(wid, None)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    routes = [
        Route("/", index), Route("/static/{name}", static),
        Route("/api/state", state), Route("/api/enrol", enrol, methods=["POST"]),
        Route("/api/messages", messages), Route("/api/search", search),
        Route("/api/send", send, methods=["POST"]), Route("/api/file", send_file, methods=["POST"]),
        Route("/api/file/{mid}", get_file), Route("/api/location", location, methods=["POST"]),
        Route("/api/read", read, methods=["POST"]), Route("/api/chat", chat, methods=["POST"]),
        Route("/api/safety", safety), Route("/api/verify", verify, methods=["POST"]),
        Route("/api/verify-scan", verify_scan, methods=["POST"]),
        Route("/api/keychange/ack", ack_key, methods=["POST"]),
        Route("/api/group/{action}", group, methods=["POST"]), Route("/api/voice/{action}", voice, methods=["POST"]),
        WebSocketRoute("/ws", socket),
    ]
    return with_headers(Starlette(routes=routes), headers)


async def _window_message(m: Messenger, wid: int, data: dict[str, Any]) -> None:
    kind = data.get("type")
    if kind == "focus":
        conv = data.get("conv")
        if isinstance(conv, str) and data.get("visible") and conv in m.state.convs:
            m.focus[wid] = conv
            m.mark_read(conv)
        else:
            m.focus.pop(wid, None)
    elif kind == "ptt":
        if data.get("action") == "press":
            await m.voice.press(bool(data.get("emergency")))
        else:
            await m.voice.release()
