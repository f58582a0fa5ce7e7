"""``/docs``: the Swagger UI page over ``/openapi.json``, its JavaScript and CSS served from an
installed package (``fastapi-offline`` ships them), so the page works where no CDN can be reached.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(str(files("fastapi_offline") / "static"))
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}


def install_docs(app: FastAPI, prefix: str = "/docs") -> None:
    @app.get(prefix, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{root}{prefix}/assets/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{prefix}/assets/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{prefix}/assets/favicon.png")
        page.headers["Content-Security-Policy"] = CSP  # the page's own start-up script is inline
        return page

    @app.get(prefix + "/assets/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        from dunpai.core.errors import NotFound

        if name not in _FILES:
            raise NotFound("no such file")
        return FileResponse(ASSETS / name, media_type=_FILES[name], headers={"Cache-Control": "public, max-age=86400"})
