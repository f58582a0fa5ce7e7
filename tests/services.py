"""Whether tests may skip a missing service (PostgreSQL, Redis, ...) or must fail.

CI sets ``DUNPAI_REQUIRE_SERVICES=1``: a missing service is then an error, never a silent skip.
"""

from __future__ import annotations

import os
import socket


def services_required() -> bool:
    return os.environ.get("DUNPAI_REQUIRE_SERVICES", "") not in ("", "0", "false")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
