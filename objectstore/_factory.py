"""Build the configured store from settings: the one place that picks a backend."""

from __future__ import annotations

from ._base import ObjectStore
from ._local import LocalStore
from ._s3 import S3Store
from .settings import MIB, StoreSettings, load_settings

__all__ = ["store_from_settings"]


def store_from_settings(settings: StoreSettings | None = None) -> ObjectStore:
    """The store ``STACWORKS_STORE`` names: a :class:`LocalStore` or an :class:`S3Store`.

    Args:
        settings: explicit settings; read from the environment when None.

    Raises:
        StoreConfigError: the settings are invalid (names the settings, not their values).
    """
    s = settings or load_settings()
    location = s.location
    if location.kind == "local":
        assert location.path is not None
        return LocalStore(location.path)
    assert location.bucket is not None
    return S3Store(
        location.bucket,
        location.prefix,
        endpoint_url=s.s3_endpoint,
        region=s.region,
        access_key_id=s.s3_access_key_id,
        secret_access_key=s.s3_secret_access_key,
        session_token=s.s3_session_token,
        multipart_threshold=int(s.s3_multipart_threshold_mb * MIB),
        multipart_chunksize=int(s.s3_multipart_chunksize_mb * MIB),
        max_concurrency=s.s3_max_concurrency,
        max_attempts=s.s3_max_attempts,
        retry_mode=s.s3_retry_mode,
        connect_timeout=s.s3_connect_timeout,
        read_timeout=s.s3_read_timeout,
        addressing_style=s.addressing_style,
        request_checksums=s.s3_request_checksums,
    )
