"""GDAL reads the stores through gdal_path() under the environment derived from settings."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window
from rio_tiler.io import Reader

from objectstore import (
    SAFE_RASTER_DRIVER,
    LocalStore,
    ObjectStore,
    S3Store,
    StoreSettings,
    gdal_environment,
    rasterio_env,
)

from .helpers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

# rasterio's own use of affine's `*` (not ours); keep it out of the output.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

KEY = "sentinel-2-l2a/S2A_TEST_TILE/visual.tif"
WINDOW = Window(400, 300, 64, 48)


@pytest.fixture(scope="module")
def cog(shared_data: Path) -> Path:
    path = shared_data / "raster" / "sentinel2-titiler" / "TCI.tif"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def expected(cog: Path) -> np.ndarray:
    with rasterio.open(cog) as src:
        return src.read(window=WINDOW)


def settings_for(store: ObjectStore) -> StoreSettings:
    if isinstance(store, LocalStore):
        return StoreSettings(store=str(store.root))
    assert isinstance(store, S3Store)
    return StoreSettings(
        store=f"s3://{store.bucket}/{store.prefix}",
        s3_endpoint=store.endpoint_url,
        s3_access_key_id=ACCESS_KEY_ID,  # type: ignore[arg-type]
        s3_secret_access_key=SECRET_ACCESS_KEY,  # type: ignore[arg-type]
        gdal_http_max_retry=0,
    )


@contextlib.contextmanager
def configured(kind: str, settings: StoreSettings) -> Iterator[None]:
    if kind == "process-env":
        with gdal_environment(settings), rasterio.Env():
            yield
    else:
        with rasterio_env(settings):
            yield


@pytest.mark.parametrize("kind", ["process-env", "rasterio-session"])
def test_rasterio_and_rio_tiler_read_from_the_store(
    store: ObjectStore, cog: Path, expected: np.ndarray, kind: str
) -> None:
    store.put_file(KEY, cog)
    path = store.gdal_path(KEY)
    assert store.key_for_href(path) == KEY  # what the tiler checks first
    with configured(kind, settings_for(store)):
        with rasterio.open(path, driver=SAFE_RASTER_DRIVER) as src:
            assert (src.count, src.width, src.height) == (3, 1098, 1098)
            assert src.crs.to_epsg() == 32634
            assert np.array_equal(src.read(window=WINDOW), expected)
        with Reader(path) as reader:
            preview = reader.preview(max_size=128)
            assert preview.data.shape[0] == 3
            assert max(preview.data.shape[1:]) == 128
            assert preview.data.max() > 0
            west, south, east, north = reader.get_geographic_bounds(
                reader.tms.rasterio_geographic_crs
            )
            tile = reader.tms.tile((west + east) / 2, (south + north) / 2, 10)
            img = reader.tile(tile.x, tile.y, tile.z)
            assert img.data.shape == (3, 256, 256)
            assert img.data.max() > 0


def test_a_vrt_disguised_as_tif_is_refused(tmp_path: Path, cog: Path) -> None:
    """A hostile VRT can read any local raster; opening with the safe driver refuses it."""
    store = LocalStore(tmp_path / "objects")
    vrt = (
        '<VRTDataset rasterXSize="8" rasterYSize="8"><VRTRasterBand dataType="Byte" band="1">'
        f"<SimpleSource><SourceFilename>{cog}</SourceFilename><SourceBand>1</SourceBand>"
        "</SimpleSource></VRTRasterBand></VRTDataset>"
    )
    store.put_bytes("c/i/evil.tif", vrt.encode())
    path = store.gdal_path("c/i/evil.tif")
    with gdal_environment(StoreSettings(store=str(store.root))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:  # the threat, for the record
                assert src.driver == "VRT"
        with pytest.raises(RasterioIOError):
            rasterio.open(path, driver=SAFE_RASTER_DRIVER)


def test_gdal_only_fetches_allowed_extensions_from_s3(
    moto_endpoint: str, bucket: str, cog: Path
) -> None:
    from .helpers import make_s3_store

    with make_s3_store(moto_endpoint, bucket) as store:
        store.put_file("c/i/visual.bin", cog)
        store.put_file("c/i/visual.tif", cog)
        with gdal_environment(settings_for(store)), rasterio.Env():
            with rasterio.open(store.gdal_path("c/i/visual.tif")) as src:
                assert src.count == 3
            with pytest.raises(RasterioIOError):
                rasterio.open(store.gdal_path("c/i/visual.bin"))
