"""The bridge as a process: ``python -m dunpai.comms.bridge.run --config bridge.yaml``.

```yaml
version: 1
policy: policy.yaml              # paths are relative to this file
cert: tls/bridge.pem             # the bridge's certificate (pinned by both services)
key: secrets/bridge.key
log: logs/crossings.jsonl        # metadata only, hash-chained
deployments:
  private: {url: "wss://10.0.0.1:8766", service_cert: tls/private.pem, invite_file: secrets/private-invite.txt}
  public:  {url: "wss://10.0.1.1:8766", service_cert: tls/public.pem, invite_file: secrets/public-invite.txt}
```

The bridge's user signing key is in a ``dunpai.keys`` software store (``secrets/keys.dks``; the
passphrase from ``DUNPAI_KEYSTORE_PASSPHRASE`` or ``secrets/keystore.pass``, 0600); its device state
per deployment is sealed by it, so a restart logs in again instead of enrolling. Stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dunpai.comms.bridge.audit import CrossingLog
from dunpai.comms.bridge.certs import client_context
from dunpai.comms.bridge.policy import PolicyError, load_policy
from dunpai.comms.bridge.relay import Bridge
from dunpai.comms.keys_port import from_key_store


@dataclass(frozen=True)
class Link:
    name: str
    url: str
    service_cert: Path
    invite_file: Path


@dataclass(frozen=True)
class BridgeConfig:
    root: Path
    policy: Path
    cert: Path
    key: Path
    log: Path
    links: tuple[Link, ...]


def _only(data: dict[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(data) - keys)
    if unknown:
        raise PolicyError(f"{where}{unknown[0]}: unknown key")


def load_bridge_config(path: Path) -> BridgeConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1:
        raise PolicyError("bridge config: expected a mapping with version: 1")
    _only(data, {"version", "policy", "cert", "key", "log", "deployments"}, "")
    root = path.parent.resolve()
    links = []
    for name, link in (data.get("deployments") or {}).items():
        if not isinstance(link, dict):
            raise PolicyError(f"deployments.{name}: expected a mapping")
        _only(link, {"url", "service_cert", "invite_file"}, f"deployments.{name}.")
        links.append(Link(str(name), str(link["url"]), root / str(link["service_cert"]),
                          root / str(link["invite_file"])))
    if len(links) < 2:
        raise PolicyError("deployments: a bridge joins at least two deployments")
    return BridgeConfig(root, root / str(data["policy"]), root / str(data["cert"]), root / str(data["key"]),
                        root / str(data["log"]), tuple(links))


def _passphrase(root: Path) -> str:
    env = os.environ.get("DUNPAI_KEYSTORE_PASSPHRASE")
    if env:
        return env
    path = root / "secrets" / "keystore.pass"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


async def run_bridge(cfg: BridgeConfig, stop: asyncio.Event, ready: Path | None = None) -> None:
    from dunpai.keys import Argon2Params, open_keystore

    cheap = Argon2Params(1, 1024, 1) if os.environ.get("DUNPAI_TEST_CHEAP_KDF") == "1" else None
    store = open_keystore("software", path=cfg.root / "secrets" / "keys.dks", passphrase=_passphrase(cfg.root),
                          create=True, argon2=cheap)
    keys = from_key_store(store)
    bridge = Bridge(load_policy(cfg.policy), CrossingLog(cfg.log))
    try:
        for link in cfg.links:
            invite = link.invite_file.read_text(encoding="utf-8").strip() if link.invite_file.exists() else None
            await bridge.join(link.name, link.url, invite, keys=keys,
                              ssl_context=client_context(link.service_cert, cfg.cert, cfg.key),
                              state_path=cfg.root / "state" / f"{link.name}.sealed")
        if ready is not None:
            ready.write_text(str(os.getpid()), encoding="ascii")
        await stop.wait()
    finally:
        await bridge.close()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Dunpai comms bridge")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--ready", type=Path, default=None, help="file written once connected")
    args = parser.parse_args()
    cfg = load_bridge_config(args.config)
    (cfg.root / "state").mkdir(parents=True, exist_ok=True, mode=0o700)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_bridge(cfg, stop, args.ready)

    asyncio.run(go())


if __name__ == "__main__":
    main()
