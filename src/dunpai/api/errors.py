"""The one error presenter: domain errors (stable codes) -> HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dunpai.core.errors import DunpaiError

STATUS = {
    "invalid_input": 422,
    "invalid_ruleset": 422,
    "not_found": 404,
    "conflict": 409,
    "unauthenticated": 401,
    "forbidden": 403,
    "invalid_state": 409,
    "too_large": 413,
    "unavailable": 503,
    "internal": 500,
}


def install(app: FastAPI) -> None:
    @app.exception_handler(DunpaiError)
    async def _domain(_request: Request, exc: DunpaiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthenticated" else None
        return JSONResponse(exc.to_dict(), status_code=STATUS.get(exc.code, 500), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": "$" if e["type"] == "json_invalid" else
                     ".".join(str(p) for p in e["loc"] if p != "body") or "$", "problem": e["msg"]}
                    for e in exc.errors()]
        return JSONResponse({"code": "invalid_input", "message": "invalid request", "problems": problems},
                            status_code=422)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, _exc: Exception) -> JSONResponse:
        """A bug: the error body every other answer has, saying nothing of the cause (logged by the server)."""
        return JSONResponse({"code": "internal", "message": "internal error"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body (nested too deep, a 5,000-digit number)
            return JSONResponse({"code": "invalid_input", "message": "the body is not valid JSON",
                                 "problems": [{"field": "$", "problem": "cannot be parsed"}]}, status_code=422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code)
