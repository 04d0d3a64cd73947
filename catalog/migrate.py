"""Install or upgrade pgstac (pypgstac) and our own schema (Alembic), idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from pypgstac.db import PgstacDB
from pypgstac.migrate import Migrate

from catalog.cluster import connect
from catalog.errors import PostgisMissing, SetupError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
EXTENSIONS = ("postgis", "btree_gist", "unaccent")


@dataclass
class MigrationResult:
    pgstac_version: str
    schema_revision: str


def _alembic_config(dsn: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    sa_url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", sa_url.replace("%", "%%"))
    return cfg


def ensure_extensions(dsn: str) -> None:
    """Create the extensions pgstac needs (pypgstac does it too, but only as superuser)."""
    with connect(dsn, autocommit=True) as conn:
        for ext in EXTENSIONS:
            try:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")  # names from code only
            except Exception as e:  # noqa: BLE001 - translated to a set-up error below
                if ext == "postgis":
                    raise PostgisMissing(
                        "the database has no PostGIS extension available; install "
                        "postgresql-<version>-postgis-3 on the database server"
                    ) from e
                raise SetupError(f"cannot create extension {ext}: {type(e).__name__}") from e


def migrate(dsn: str) -> MigrationResult:
    """Bring pgstac and the ``stacworks`` schema to the versions this code expects."""
    ensure_extensions(dsn)
    with PgstacDB(dsn=dsn) as db:
        version = Migrate(db).run_migration()
    cfg = _alembic_config(dsn)
    command.upgrade(cfg, "head")
    with connect(dsn) as conn:
        row = conn.execute("SELECT version_num FROM stacworks.alembic_version").fetchone()
    return MigrationResult(pgstac_version=version, schema_revision=row[0] if row else "")
