"""Store settings from `STACWORKS_*` environment variables, checked once at start-up."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import StoreConfigError
from .keys import validate_prefix

__all__ = [
    "DEFAULT_HOME",
    "StoreLocation",
    "StoreSettings",
    "default_local_root",
    "load_settings",
    "parse_bucket",
    "parse_endpoint",
    "parse_store",
]

#: ``STACWORKS_HOME`` when unset (relative to the working directory).
DEFAULT_HOME = ".stacworks"
MIB = 1024 * 1024

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def default_local_root() -> Path:
    """``$STACWORKS_HOME/objects``: where a local store lives unless told otherwise."""
    return Path(os.environ.get("STACWORKS_HOME") or DEFAULT_HOME) / "objects"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where the store is: a local folder, or a bucket and key prefix."""

    kind: Literal["local", "s3"]
    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""


def parse_bucket(bucket: str) -> str:
    """Check an S3 bucket name (3-63 of ``a-z0-9.-``, alphanumeric at both ends)."""
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"invalid S3 bucket name {bucket!r}")
    return bucket


def parse_store(value: str | None, home: Path) -> StoreLocation:
    """Interpret ``STACWORKS_STORE``: unset/``local``, ``s3://bucket/prefix`` or a folder.

    Raises:
        ValueError: for other URL schemes, bad bucket names or prefixes.
    """
    if value is None or value.strip() in ("", "local"):
        return StoreLocation("local", path=home / "objects")
    value = value.strip()
    if value.startswith("s3://"):
        bucket, _, prefix = value[5:].partition("/")
        try:
            parse_bucket(bucket)
            prefix = validate_prefix(prefix)
        except ValueError as exc:  # InvalidKey is a ValueError too
            raise ValueError(f"STACWORKS_STORE: {exc}") from None
        return StoreLocation("s3", bucket=bucket, prefix=prefix)
    if value.startswith("file://"):
        value = value[7:]
    elif _URL_RE.match(value):
        scheme = value.split("://", 1)[0]
        raise ValueError(
            f"STACWORKS_STORE: unsupported scheme {scheme!r} (use 'local', a folder or s3://)"
        )
    return StoreLocation("local", path=Path(value).expanduser())


def parse_endpoint(value: str) -> str:
    """Check an S3 endpoint URL and return it as ``scheme://host[:port]``.

    Credentials in the URL are refused: they would end up in logs and error messages.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("the S3 endpoint must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the S3 endpoint must not contain credentials")
    if not parts.hostname:
        raise ValueError("the S3 endpoint has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("the S3 endpoint must be scheme://host[:port] only")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("the S3 endpoint has an invalid port") from None
    return f"{parts.scheme}://{parts.netloc}"


class StoreSettings(BaseSettings):
    """Settings of the object store and of GDAL's access to it (prefix ``STACWORKS_``).

    One set of settings configures both boto3 (through :func:`store_from_settings`) and
    GDAL (through :func:`objectstore.gdal.gdal_env`), so S3 is configured once.
    """

    model_config = SettingsConfigDict(env_prefix="STACWORKS_", extra="ignore")

    home: Path = Field(
        default=Path(DEFAULT_HOME),
        description="STACWORKS_HOME: data folder; local objects in ./objects",
    )
    store: str | None = Field(
        default=None,
        description="STACWORKS_STORE: unset or 'local' -> $STACWORKS_HOME/objects; "
        "'s3://bucket/prefix' -> S3; any other value is a local folder",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="STACWORKS_S3_ENDPOINT: S3-compatible endpoint, http(s)://host:port",
    )
    s3_region: str | None = Field(default=None, description="STACWORKS_S3_REGION")
    s3_access_key_id: SecretStr | None = Field(
        default=None, description="STACWORKS_S3_ACCESS_KEY_ID; unset -> the AWS credential chain"
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="STACWORKS_S3_SECRET_ACCESS_KEY"
    )
    s3_session_token: SecretStr | None = Field(
        default=None, description="STACWORKS_S3_SESSION_TOKEN (temporary credentials only)"
    )
    s3_multipart_threshold_mb: float = Field(
        default=64,
        gt=0,
        description="STACWORKS_S3_MULTIPART_THRESHOLD_MB: multipart above this (MiB)",
    )
    s3_multipart_chunksize_mb: float = Field(
        default=16,
        ge=5,
        description="STACWORKS_S3_MULTIPART_CHUNKSIZE_MB: part size (MiB, S3 min 5)",
    )
    s3_max_concurrency: int = Field(default=4, ge=1, description="STACWORKS_S3_MAX_CONCURRENCY")
    s3_max_attempts: int = Field(
        default=5, ge=1, description="STACWORKS_S3_MAX_ATTEMPTS: total attempts per request"
    )
    s3_retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard", description="STACWORKS_S3_RETRY_MODE: botocore retry mode"
    )
    s3_connect_timeout: float = Field(
        default=5, gt=0, description="STACWORKS_S3_CONNECT_TIMEOUT (s)"
    )
    s3_read_timeout: float = Field(default=60, gt=0, description="STACWORKS_S3_READ_TIMEOUT (s)")
    s3_addressing_style: Literal["path", "virtual"] | None = Field(
        default=None,
        description="STACWORKS_S3_ADDRESSING_STYLE; default: path with a custom endpoint, "
        "virtual-hosted on AWS",
    )
    s3_request_checksums: Literal["when_supported", "when_required"] = Field(
        default="when_supported",
        description="STACWORKS_S3_REQUEST_CHECKSUMS: 'when_required' for S3-compatible "
        "servers that reject boto3's default CRC32 upload checksums",
    )
    gdal_http_timeout: int = Field(default=30, ge=1, description="STACWORKS_GDAL_HTTP_TIMEOUT (s)")
    gdal_http_connect_timeout: int = Field(
        default=10, ge=1, description="STACWORKS_GDAL_HTTP_CONNECT_TIMEOUT (s)"
    )
    gdal_http_max_retry: int = Field(default=3, ge=0, description="STACWORKS_GDAL_HTTP_MAX_RETRY")
    gdal_http_retry_delay: float = Field(
        default=0.5, ge=0, description="STACWORKS_GDAL_HTTP_RETRY_DELAY (s)"
    )
    gdal_skip_vrt: bool = Field(
        default=False,
        description="STACWORKS_GDAL_SKIP_VRT: set GDAL_SKIP=VRT. Off by default because "
        "rasterio's reprojection (rio-tiler tiles) opens an internal VRT and fails without it",
    )

    _location: StoreLocation = PrivateAttr()

    @field_validator("s3_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        return parse_endpoint(value) if value else None

    @model_validator(mode="after")
    def _check_store(self) -> StoreSettings:
        self._location = parse_store(self.store, self.home)
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both STACWORKS_S3_ACCESS_KEY_ID and STACWORKS_S3_SECRET_ACCESS_KEY, "
                "or neither (to use the AWS credential chain)"
            )
        if self.s3_session_token is not None and self.s3_access_key_id is None:
            raise ValueError("STACWORKS_S3_SESSION_TOKEN needs an access key id and secret")
        return self

    @property
    def location(self) -> StoreLocation:
        """The parsed ``STACWORKS_STORE``."""
        return self._location

    @property
    def region(self) -> str | None:
        """The region to sign with: a custom endpoint without one gets ``us-east-1``."""
        if self.s3_region:
            return self.s3_region
        return "us-east-1" if self.s3_endpoint else None

    @property
    def addressing_style(self) -> Literal["path", "virtual"]:
        """Path-style for custom endpoints (MinIO, moto, Ceph), virtual-hosted on AWS."""
        if self.s3_addressing_style:
            return self.s3_addressing_style
        return "path" if self.s3_endpoint else "virtual"


def load_settings(**overrides: object) -> StoreSettings:
    """Read :class:`StoreSettings` from the environment, as a :class:`StoreConfigError`.

    The error lists the offending settings and why, never their values (one may be a
    secret).
    """
    try:
        return StoreSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise StoreConfigError(f"invalid store settings: {problems}") from None
