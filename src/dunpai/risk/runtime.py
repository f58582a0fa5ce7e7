"""Composition root of the risk part: the one place that names concrete adapters."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dunpai.audit import AuditLog
from dunpai.core.config import BankSettings, Settings
from dunpai.core.db import init_schema, make_engine
from dunpai.core.i18n import Text
from dunpai.keys import (
    DATA_KEK,
    ID_TOKEN,
    Envelope,
    KeyedTokenizer,
    KeyStore,
    PanTokenizer,
    ensure_standard_keys,
)
from dunpai.keys.location import open_configured
from dunpai.risk.cases.accounts import AccountStates
from dunpai.risk.cases.incidents import Incidents
from dunpai.risk.cluster.store import SqlStateStore
from dunpai.risk.compromise.enricher import ExposureEnricher
from dunpai.risk.compromise.sql import CachedExposureRepository, SqlExposureRepository
from dunpai.risk.decisions.engine import Scorer
from dunpai.risk.features.store import MemoryStore, RedisStore, StateStore
from dunpai.risk.pii import PiiVault, RevealService, StaffDataAccess
from dunpai.risk.service import RiskService
from dunpai.risk.shield import ShieldEnricher, ShieldService
from dunpai.risk.shield.sql import SqlShieldRepository


def open_keys(settings: Settings) -> KeyStore:
    """The data directory's key store by the one convention (:mod:`dunpai.keys.location`), created
    on first use with a random passphrase kept beside it (mode 0600) unless
    ``DUNPAI_KEYSTORE_PASSPHRASE`` or a PKCS#11 token is configured; the standard keys are made
    when missing. Workers starting together on one data directory take turns (a lock file beside
    the store): the first creates the store and its keys, the others open them."""
    with _opening(settings):
        store = open_configured(settings.keystore, settings.data_dir, create=True, remember=True)
        ensure_standard_keys(store, gm=settings.keystore.gm)
    return store


@contextmanager
def _opening(settings: Settings) -> Iterator[None]:
    """Exclusive across processes while a software key store is opened or created."""
    if settings.keystore.backend != "software":
        yield
        return
    path = settings.keystore.store_path(settings.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".open.lock"), "a+b") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def model_registry_dir(settings: Settings) -> Path:
    """Where the service looks for a trained model: the ``models.registry`` setting
    (``DUNPAI_MODEL_REGISTRY``), else ``<data_dir>/models``."""
    return settings.model_registry


def open_model(registry_dir: Path, service: RiskService | None = None) -> Scorer | None:
    """The champion of one tenant's registry (``None`` when it holds none), with its challenger
    scoring in shadow when there is one. Shadow scores are counted on the service's metrics."""
    from dunpai.risk.models.registry import Registry
    from dunpai.risk.models.shadow import ShadowScorer, ShadowTally

    if not (registry_dir / "registry.json").exists():
        return None
    registry = Registry(registry_dir)
    champion = registry.load_role("champion")
    if champion is None:
        return None
    challenger = registry.load_role("challenger")
    if challenger is None:
        return champion
    tally = ShadowTally(service.metrics.registry if service is not None else None)
    return ShadowScorer(champion, challenger, tally.record)


def open_service(settings: Settings, progress: Callable[[int], None] | None = None,
                 model_registry: Path | None = None) -> RiskService:
    """Open the database (migrating it), the key store, the state store and the audit chain, deploy
    the model registry's champion when there is one (``model_registry``, default
    :func:`model_registry_dir`), then fold any logged events the state has not seen (crash recovery)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    init_schema(db)
    keys = open_keys(settings)
    store: StateStore
    if settings.state.backend == "redis":
        store = RedisStore(settings.state.redis_url, settings.state.redis_prefix)
    elif settings.state.backend == "database":
        store = SqlStateStore(db)
    else:
        store = MemoryStore(settings.data_dir / "state.snapshot")
    enrichers = (ShieldEnricher(ShieldService(SqlShieldRepository(db))),
                 ExposureEnricher(CachedExposureRepository(SqlExposureRepository(db))))
    service = RiskService(db, store, protector=PanTokenizer(keys), audit=AuditLog(db, keys),
                          accounts=AccountStates(db), enrichers=enrichers,
                          snapshot_every=settings.state.snapshot_every,
                          max_future_skew=settings.events.max_future_skew_s)
    service.keys = keys
    service.data_dir = settings.data_dir
    deploy_models(service, model_registry or model_registry_dir(settings))
    service.recover(progress)
    return service


def deploy_models(service: RiskService, registry_root: Path) -> None:
    """Each tenant's champion (``<registry>/<tenant>/``) decides that tenant's live traffic from now on;
    a tenant without one decides by rules alone."""
    if not registry_root.is_dir():
        return
    for folder in sorted(p for p in registry_root.iterdir() if p.is_dir()):
        model = open_model(folder, service)
        if model is not None:
            service.deploy_model(folder.name, model)


def open_incidents(service: RiskService, bank: BankSettings | None = None) -> Incidents:
    """Cases, account actions, evidence and disputes over the risk service (same database, keys and
    audit chain); customer notices come from ``bank`` (the settings' ``bank:``)."""
    from dunpai.risk.cases.notices import DEFAULT_BANK, Bank
    from dunpai.risk.cases.signing import KeyStoreSigner

    keys = service.keys
    sender = DEFAULT_BANK if bank is None else Bank(Text(bank.name_zh, bank.name_en), bank.hotline)
    return Incidents.for_risk(service, AuditLog(service.db, keys), signer=KeyStoreSigner(keys),
                              bank=sender)


def open_pii(service: RiskService, tenant: str = "default") -> tuple[PiiVault, RevealService]:
    """The customer personal-data vault and its one reveal service. Every reveal (granted or not)
    is audited and decided as a ``staff_access`` event, so the insider detector (S3) sees it."""
    keys = service.keys
    audit = AuditLog(service.db, keys)
    envelope = Envelope(keys, DATA_KEK)
    vault = PiiVault(service.db, envelope, KeyedTokenizer(keys, ID_TOKEN, "idn"), audit)

    def to_risk(access: StaffDataAccess) -> None:
        service.submit(tenant, access.as_event())

    return vault, RevealService(vault, envelope, audit, to_risk)
