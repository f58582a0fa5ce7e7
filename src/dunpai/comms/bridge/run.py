"""The bridge as a process: ``python -m dunpai.comms.bridge.run --config bridge.yaml``.

```yaml
version: 1
policy: policy.yaml              # paths are relative to this file
cert: tls/bridge.pem             # the bridge's certificate (pinned by both services)
key: secrets/bridge.key
audit: logs/audit.db             # dunpai.audit chain (SQLite file here, or a postgresql:// URL); metadata only
deployments:
  private:
    url: "wss://10.0.0.1:8766"
    service_cert: tls/private.pem
    invite_file: secrets/private-invite.txt
    relay: {url: "ws://10.0.0.1:8767"}      # optional: its media relay as the bridge reaches it
    media_link: {host: 10.0.0.2, port: 8770, constant_rate: true}  # optional: where its members reach
                                               # the bridge's media link (constant_rate: through a tunnel)
  public:  {url: "wss://10.0.1.1:8766", service_cert: tls/public.pem, invite_file: secrets/public-invite.txt,
            media_link: {host: 10.0.1.2, port: 8770}}
```

``relay``: where the bridge reaches the deployment's media relay (default: the URL its service
names), for talk-groups and calls that deployment hosts. Relay tickets come from that deployment's
service, issued to the bridge's account on each member's behalf (``relay_ticket`` with
``on_behalf``; the deployment runs with the bridge as a relay-ticket delegate, as ``dunpai comms
deploy --bridge-port`` does): the bridge holds no relay secret. ``media_link``: a listener of the
bridge's media link for that deployment's members, who are told ``ws://host:port``; with
``constant_rate`` the listener is a constant-rate tunnel (:mod:`dunpai.comms.location.cbr_tunnel`)
in front of the link, and members are told its public key to pin.

The bridge's user signing key is in a ``dunpai.keys`` software store (``secrets/keys.dks``; the
passphrase from ``DUNPAI_KEYSTORE_PASSPHRASE`` or ``secrets/keystore.pass``, 0600); its device state
per deployment is sealed by it, so a restart logs in again instead of enrolling. Stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dunpai.comms.bridge.audit import open_crossing_log
from dunpai.comms.bridge.certs import client_context
from dunpai.comms.bridge.media_link import LinkTickets, MediaLink, Upstream
from dunpai.comms.bridge.policy import PolicyError, load_policy
from dunpai.comms.bridge.relay import Bridge
from dunpai.comms.keys_port import from_key_store
from dunpai.comms.location.cbr_tunnel import CbrTunnelServer


@dataclass(frozen=True)
class Link:
    name: str
    url: str
    service_cert: Path
    invite_file: Path
    relay_url: str | None = None
    media_host: str | None = None
    media_port: int = 0
    media_constant_rate: bool = False


@dataclass(frozen=True)
class BridgeConfig:
    root: Path
    policy: Path
    cert: Path
    key: Path
    audit: str   # database URL of the audit chain
    links: tuple[Link, ...]


def _only(data: dict[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(data) - keys)
    if unknown:
        raise PolicyError(f"{where}{unknown[0]}: unknown key")


def load_bridge_config(path: Path) -> BridgeConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1:
        raise PolicyError("bridge config: expected a mapping with version: 1")
    _only(data, {"version", "policy", "cert", "key", "audit", "deployments"}, "")
    root = path.parent.resolve()
    links = []
    for name, link in (data.get("deployments") or {}).items():
        where = f"deployments.{name}."
        if not isinstance(link, dict):
            raise PolicyError(f"deployments.{name}: expected a mapping")
        _only(link, {"url", "service_cert", "invite_file", "relay", "media_link"}, where)
        relay, media = link.get("relay") or {}, link.get("media_link") or {}
        if not isinstance(relay, dict) or not isinstance(media, dict):
            raise PolicyError(f"{where}relay/media_link: expected a mapping")
        _only(relay, {"url"}, where + "relay.")
        _only(media, {"host", "port", "constant_rate"}, where + "media_link.")
        if not isinstance(media.get("constant_rate", False), bool):
            raise PolicyError(f"{where}media_link.constant_rate: expected true or false")
        if relay and not isinstance(relay.get("url"), str):
            raise PolicyError(f"{where}relay: needs url")
        port = media.get("port", 0)
        if media and (not isinstance(media.get("host"), str) or not isinstance(port, int) or not 0 < port < 65536):
            raise PolicyError(f"{where}media_link: needs host and a port 1..65535")
        links.append(Link(str(name), str(link["url"]), root / str(link["service_cert"]),
                          root / str(link["invite_file"]), relay.get("url"), media.get("host"), int(port),
                          bool(media.get("constant_rate", False))))
    if len(links) < 2:
        raise PolicyError("deployments: a bridge joins at least two deployments")
    audit = str(data.get("audit", "logs/audit.db"))
    if "://" not in audit:
        (root / audit).parent.mkdir(parents=True, exist_ok=True)
        audit = f"sqlite:///{root / audit}"
    return BridgeConfig(root, root / str(data["policy"]), root / str(data["cert"]), root / str(data["key"]),
                        audit, tuple(links))


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
    log = open_crossing_log(cfg.audit, store)
    bridge = Bridge(load_policy(cfg.policy), log)
    media: MediaLink | None = None
    tunnels: list[CbrTunnelServer] = []
    try:
        for link in cfg.links:
            invite = link.invite_file.read_text(encoding="utf-8").strip() if link.invite_file.exists() else None
            await bridge.join(link.name, link.url, invite, keys=keys,
                              ssl_context=client_context(link.service_cert, cfg.cert, cfg.key),
                              state_path=cfg.root / "state" / f"{link.name}.sealed")
        listeners = [x for x in cfg.links if x.media_host is not None]
        if listeners:
            bridge.links = LinkTickets({x.name: f"ws://{x.media_host}:{x.media_port}" for x in listeners})
            upstreams = {x.name: Upstream(functools.partial(bridge.relay_access, x.name), x.relay_url)
                         for x in cfg.links}
            media = MediaLink(bridge.links, upstreams, log)
            inner: int | None = None
            for x in listeners:
                if not x.media_constant_rate:
                    await media.start(str(x.media_host), x.media_port)
                    continue
                if inner is None:  # the tunnels' upstream: the link on loopback
                    inner = await media.start("127.0.0.1", 0)
                tunnel = CbrTunnelServer(f"ws://127.0.0.1:{inner}", X25519PrivateKey.generate())
                await tunnel.start(str(x.media_host), x.media_port)
                tunnels.append(tunnel)
                bridge.links.cbr_keys[x.name] = tunnel.public_key
        if ready is not None:
            ready.write_text(str(os.getpid()), encoding="ascii")
        await stop.wait()
    finally:
        for tunnel in tunnels:
            await tunnel.stop()
        if media is not None:
            await media.stop()
        await bridge.close()
        log.checkpoint()  # sign the head of the crossing audit on the way out
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
