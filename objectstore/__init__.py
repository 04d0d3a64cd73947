"""Object store: one small interface over a local folder or S3 (as low as the catalog)."""

from ._base import ObjectInfo, ObjectStore, Readable
from ._factory import store_from_settings
from ._local import LocalStore
from ._s3 import S3Store
from .errors import (
    DEFAULT_STATUS_CODES,
    InvalidKey,
    ObjectNotFound,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)
from .gdal import (
    SAFE_RASTER_DRIVER,
    apply_gdal_env,
    gdal_env,
    gdal_environment,
    rasterio_env,
)
from .keys import AssetKey, asset_key, split_asset_key, validate_key, validate_prefix
from .settings import StoreSettings, load_settings

__all__ = [
    "DEFAULT_STATUS_CODES",
    "SAFE_RASTER_DRIVER",
    "AssetKey",
    "InvalidKey",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "Readable",
    "S3Store",
    "StoreConfigError",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "apply_gdal_env",
    "asset_key",
    "gdal_env",
    "gdal_environment",
    "load_settings",
    "rasterio_env",
    "split_asset_key",
    "store_from_settings",
    "validate_key",
    "validate_prefix",
]
