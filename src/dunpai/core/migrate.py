"""Schema migrations (Alembic), run programmatically so `dunpai` needs no alembic.ini on disk.

One history (``src/dunpai/migrations/versions``) with two trees: the risk database's (audit, PII,
events and decisions, shield, compromise, cases: every branch from ``r0000_base``) and the comms
service's (branch ``comms``, its own root: a comms deployment has its own database). ``upgrade``
brings one of them to its heads; the other's tables are never created there. Any other target is an
Alembic revision spec such as ``audit@head`` (the bridge keeps only an audit chain; tests migrate one
branch).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, text

from dunpai.core.errors import StateError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
Tree = Literal["risk", "comms"]
COMMS_ROOT = "c0100_comms"
_MIGRATION_LOCK = 0x64756E706169  # PostgreSQL advisory lock id held while a database is migrated ("dunpai")


def _config(schema: str | None, tree: Tree | str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["tree"] = "comms" if tree == "comms" or tree.startswith("comms@") else "risk"
    cfg.attributes["schema"] = schema
    return cfg


def heads(tree: Tree | str) -> list[str]:
    """The revisions ``upgrade(engine, tree)`` brings a database to."""
    from alembic.script import ScriptDirectory

    if tree not in ("risk", "comms"):
        return [tree]
    script = ScriptDirectory(str(MIGRATIONS))
    comms = {rev.revision for rev in script.walk_revisions() if COMMS_ROOT in _lineage(script, rev.revision)}
    return sorted(h for h in script.get_heads() if (h in comms) == (tree == "comms"))


def _lineage(script: ScriptDirectory, revision: str) -> set[str]:
    return {rev.revision for rev in script.iterate_revisions(revision, "base") if rev is not None}


def upgrade(engine: Engine, tree: Tree | str = "risk", *, schema: str | None = None,
            stamp_first: str | None = None) -> None:
    """Bring ``tree``'s tables up to date; with ``schema`` (PostgreSQL) they and the version table live
    there. ``stamp_first`` records a revision as applied before upgrading (tables made before this
    history existed)."""
    from alembic import command
    from alembic.util.exc import CommandError

    cfg = _config(schema, tree)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # workers starting together migrate one after another
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        if schema:
            conn = conn.execution_options(schema_translate_map={None: schema})
        cfg.attributes["connection"] = conn
        try:
            if stamp_first is not None:
                command.stamp(cfg, stamp_first)
            for head in heads(tree):
                command.upgrade(cfg, head)
        except CommandError as exc:  # e.g. a revision this software does not know: a newer release made it
            raise StateError(f"cannot migrate the database: {exc} (was it made by a newer release?)") from None
