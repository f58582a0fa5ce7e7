"""Composition root of the risk part: the one place that names concrete adapters."""

from __future__ import annotations

from collections.abc import Callable

from dunpai.core.config import Settings
from dunpai.core.db import init_schema, make_engine
from dunpai.risk.features.store import MemoryStore, RedisStore, StateStore
from dunpai.risk.pan import HmacPanProtector
from dunpai.risk.service import RiskService


def open_service(settings: Settings, progress: Callable[[int], None] | None = None) -> RiskService:
    """Open the database (migrating it), the state store and the card-number protector, then fold
    any logged events the state has not seen (crash recovery)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    init_schema(db)
    store: StateStore
    if settings.state.backend == "redis":
        store = RedisStore(settings.state.redis_url, settings.state.redis_prefix)
    else:
        store = MemoryStore(settings.data_dir / "state.snapshot")
    protector = HmacPanProtector.from_key_file(settings.data_dir / "keys" / "card-token.key")
    service = RiskService(db, store, protector=protector, snapshot_every=settings.state.snapshot_every)
    service.recover(progress)
    return service
