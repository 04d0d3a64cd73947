"""Catalog settings: where the data folder and the database are (env prefix STACWORKS_)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CatalogSettings(BaseSettings):
    """Database and data-folder settings shared by every service.

    When ``database_url`` is set, that database is used and no private cluster is managed.
    """

    model_config = SettingsConfigDict(env_prefix="STACWORKS_", extra="ignore")

    home: Path = Field(
        default=Path(".stacworks"), description="Data folder: database cluster, objects, logs."
    )
    database_url: SecretStr | None = Field(
        default=None, description="postgresql://user:password@host:port/db of an existing database."
    )
    db_port: int = Field(default=5439, ge=1, le=65535, description="Port of the private cluster.")
    db_name: str = Field(default="stacworks", description="Database name in the private cluster.")
    db_user: str = Field(default="postgres", description="Superuser of the private cluster.")
    db_password: SecretStr = Field(
        default=SecretStr("stacworks"),
        description="Password of the private cluster user (trust auth on loopback; "
        "drivers still want one).",
    )
    db_pool_wait_s: float = Field(
        default=3.0, gt=0, le=60,
        description="How long a request waits for a database connection before a 503 "
        "(with Retry-After) during an outage.",
    )
    pg_bin: Path | None = Field(
        default=None, description="Folder of the PostgreSQL binaries (initdb, pg_ctl)."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @property
    def managed(self) -> bool:
        """True when we run our own private cluster (no external database configured)."""
        return self.database_url is None

    @property
    def dsn(self) -> str:
        """The libpq connection string (contains the password: never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        password = quote(self.db_password.get_secret_value(), safe="")
        return f"postgresql://{self.db_user}:{password}@127.0.0.1:{self.db_port}/{self.db_name}"

    @property
    def safe_dsn(self) -> str:
        """The connection string with the password masked, for messages and logs."""
        parts = urlsplit(self.dsn)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.username:
            netloc = f"{unquote(parts.username)}:***@{netloc}"
        return f"{parts.scheme}://{netloc}{parts.path}"

    def pg_env(self) -> dict[str, str]:
        """PG* variables for libraries that read them (stac-fastapi-pgstac, pypgstac)."""
        parts = urlsplit(self.dsn)
        return {
            "PGUSER": unquote(parts.username or "postgres"),
            "PGPASSWORD": unquote(parts.password or "") or "unused",
            "PGHOST": parts.hostname or "127.0.0.1",
            "PGPORT": str(parts.port or 5432),
            "PGDATABASE": parts.path.lstrip("/") or "postgres",
        }
