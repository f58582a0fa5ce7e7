"""Settings of ``dunpai serve``: where the API listens, its access log, and the analyst console."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from dunpai.core.config.base import Env, Section


class ServerSettings(Section):
    host: str = Field(default="127.0.0.1", min_length=1, description="address the decision API listens on")
    port: int = Field(default=8600, ge=1, le=65535, description="TCP port of the decision API")
    access_log: Literal["off", "text", "json"] = Field(
        default="text", description="one line per request on stderr: off, text or json (never a client address)")


class ConsoleSettings(Section):
    secure_cookies: bool = Field(
        default=True, description="console cookies carry the Secure flag (turn off only for plain HTTP on loopback)")
    staff_password: Annotated[SecretStr | None, Env("DUNPAI_STAFF_PASSWORD")] = Field(
        default=None, description="password for `dunpai staff add` (environment only; else a prompt)")
