"""Ingest settings (env prefix ``STACWORKS_INGEST_``): provider credentials, queue, work folder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """Everything ingest needs beyond the catalog and the store settings.

    Credentials are ``SecretStr``: they reach eodag's provider configuration in memory and are
    never logged or echoed (``repr`` masks them).
    """

    # hide_input_in_errors: a validation error would otherwise echo every value read from the
    # environment, credentials included, in plain text (``input_value={...}``).
    model_config = SettingsConfigDict(
        env_prefix="STACWORKS_INGEST_", extra="ignore", hide_input_in_errors=True
    )

    work_dir: Path | None = Field(
        default=None,
        description="Scratch folder for downloads and conversions; default $STACWORKS_HOME/"
        "ingest-work. One sub-folder per product, removed when the product ends.",
    )
    queue: str = Field(default="ingest", description="procrastinate queue of ingest jobs.")
    max_attempts: int = Field(
        default=5, ge=1,
        description="Attempts per product: transient errors are retried, and so is a product "
        "whose worker died (killed, out of memory), up to this many runs; then it fails.",
    )
    retry_wait_s: float = Field(
        default=2.0, ge=0, description="First retry delay; doubles each time."
    )
    http_timeout_s: float = Field(
        default=60, gt=0, description="Connect/read timeout of downloads."
    )
    download_deadline_s: float = Field(
        default=7200, gt=0,
        description="Longest one asset download may take, start to end; past it the product "
        "fails (a source trickling bytes would otherwise hold a worker forever).",
    )
    download_min_rate: float = Field(
        default=10 * 1024, ge=0,
        description="Slowest acceptable download, in bytes/s, measured over each "
        "`download_rate_window_s`; slower fails the product (0: no minimum).",
    )
    download_rate_window_s: float = Field(
        default=60, gt=0, description="Window over which `download_min_rate` is measured."
    )
    download_max_bytes: int = Field(
        default=50 * 1024**3, gt=0,
        description="Largest file one asset download may bring (Content-Length is checked "
        "first, then the bytes as they arrive).",
    )
    max_raster_pixels: int = Field(
        default=2**30, gt=0,
        description="Most pixels (width x height) of an input raster; larger ones fail their "
        "product before conversion.",
    )
    max_raster_bytes: int = Field(
        default=32 * 1024**3, gt=0,
        description="Largest uncompressed size (width x height x bands x sample size) of an "
        "input raster.",
    )
    max_points: int = Field(
        default=2_000_000_000, gt=0,
        description="Most points an input LAS/LAZ header may declare.",
    )
    archive_max_bytes: int = Field(
        default=50 * 1024**3, gt=0,
        description="Largest total an archive (SAFE zip) may expand to; checked on the "
        "members' declared sizes before anything is written, and again while writing.",
    )
    archive_max_ratio: float = Field(
        default=200, gt=1,
        description="Largest expansion ratio (expanded / archive size) of an archive.",
    )

    heartbeat_s: float = Field(default=10, gt=0, description="Worker heartbeat interval.")
    stalled_after_s: float = Field(
        default=30,
        gt=0,
        description="A worker silent this long is dead: its running products are retried.",
    )
    store_tmp_grace_s: float = Field(
        default=3600,
        ge=0,
        description="A worker removes the local store's temp files older than this on start "
        "(left by a killed writer). Keep it above the longest single upload.",
    )
    cog_profile: str = Field(default="deflate", description="rio-cogeo profile (lossless).")
    schema_mirror: Path | None = Field(
        default=None,
        description="Folder mirroring the STAC JSON schema URLs (offline validation); when "
        "unset, schemas are fetched from their URLs.",
    )
    validate_items: Literal["strict", "warn", "off"] = Field(
        default="strict", description="Fail a product whose item breaks the STAC schemas."
    )
    # Provider credentials (only from the environment or a .env file; never logged).
    cdse_username: SecretStr | None = None
    cdse_password: SecretStr | None = None
    usgs_username: SecretStr | None = None
    usgs_password: SecretStr | None = Field(
        default=None, description="USGS M2M application token (eodag calls it password)."
    )
    planetary_computer_key: SecretStr | None = Field(
        default=None, description="Optional Planetary Computer subscription key (SAS signing)."
    )
    serve_worker: bool = Field(
        default=False,
        description="Run one ingest worker inside `stacworks serve` (single-machine mode).",
    )

    @field_validator("cog_profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        # Checked against the converter's list, imported here so that loading the CLI does
        # not import rasterio.
        from typing import get_args

        from ingest.convert.cog import CogProfile

        if v not in get_args(CogProfile):
            raise ValueError(f"unknown COG profile {v!r}; choose from {get_args(CogProfile)}")
        return v

    @model_validator(mode="after")
    def _pairs(self) -> IngestSettings:
        for who in ("cdse", "usgs"):
            if (getattr(self, f"{who}_username") is None) != (
                getattr(self, f"{who}_password") is None
            ):
                raise ValueError(
                    f"set both STACWORKS_INGEST_{who.upper()}_USERNAME and _PASSWORD, or neither"
                )
        if self.stalled_after_s <= self.heartbeat_s:
            raise ValueError("STACWORKS_INGEST_STALLED_AFTER_S must exceed the heartbeat interval")
        return self

    def work_root(self, home: Path) -> Path:
        return (self.work_dir or home / "ingest-work").absolute()
