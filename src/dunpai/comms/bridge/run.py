"""The bridge as a process (``dunpai comms bridge --config bridge.yaml``): its settings are the
``comms.bridge`` section of the one settings tree (``docs/configuration.md``), in a settings file
whose directory holds the bridge's files:

```yaml
comms:
  bridge:
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

The bridge's user signing key is in its key store, found by the one convention (``keys/keystore.dpks``
beside the settings file; the passphrase from ``DUNPAI_KEYSTORE_PASSPHRASE`` or ``keys/passphrase``,
0600, made on first run); its device state per deployment is sealed by it, so a restart logs in again
instead of enrolling. Stops when ``stop`` is set (the command sets it on SIGTERM and SIGINT).
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dunpai.comms.bridge.audit import open_crossing_log
from dunpai.comms.bridge.certs import client_context
from dunpai.comms.bridge.media_link import LinkTickets, MediaLink, Upstream
from dunpai.comms.bridge.policy import load_policy
from dunpai.comms.bridge.relay import Bridge
from dunpai.comms.keys_port import from_key_store
from dunpai.comms.location.cbr_tunnel import PTT_CBR, CbrTunnelServer
from dunpai.core.config import KeystoreSettings, Settings
from dunpai.core.errors import FieldProblem, InvalidInput
from dunpai.keys.location import open_configured


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
    """The bridge's settings with every path resolved against its directory."""

    root: Path
    policy: Path
    cert: Path
    key: Path
    audit: str   # database URL of the audit chain
    links: tuple[Link, ...]
    keystore: KeystoreSettings = field(default_factory=KeystoreSettings)
    realtime: bool = True  # constant-rate tunnels ask for real-time scheduling


def bridge_config(settings: Settings) -> BridgeConfig:
    """The bridge of ``settings`` (its ``comms.bridge`` section; paths relative to the settings file)."""
    section = settings.comms.bridge
    if section is None:
        raise InvalidInput("no bridge is configured", problems=[FieldProblem("comms.bridge", "missing")])
    root = (settings.config_file.parent if settings.config_file is not None else Path()).resolve()
    links = tuple(
        Link(name, link.url, root / link.service_cert, root / link.invite_file,
             link.relay.url if link.relay else None, link.media_link.host if link.media_link else None,
             link.media_link.port if link.media_link else 0,
             bool(link.media_link and link.media_link.constant_rate))
        for name, link in section.deployments.items())
    audit = section.audit
    if "://" not in audit:
        (root / audit).parent.mkdir(parents=True, exist_ok=True)
        audit = f"sqlite:///{root / audit}"
    return BridgeConfig(root, root / section.policy, root / section.cert, root / section.key, audit, links,
                        settings.keystore, settings.comms.constant_rate.realtime)


async def run_bridge(cfg: BridgeConfig, stop: asyncio.Event, ready: Path | None = None) -> None:
    (cfg.root / "state").mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_configured(cfg.keystore, cfg.root, create=True, remember=True)
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
                tunnel = CbrTunnelServer(f"ws://127.0.0.1:{inner}", X25519PrivateKey.generate(),
                                         replace(PTT_CBR, realtime=cfg.realtime))
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

