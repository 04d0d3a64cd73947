"""GeoTIFF handles kept open between reads (tiler.datasets): reused, never stale, bounded."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform

from objectstore import LocalStore, asset_key
from tests.samples import S2_DIR, stored_s2_item
from tiler.datasets import DatasetPool
from tiler.readers import GTiffReader

from .conftest import _load, collection


def _shifted(src: Path, dest: Path, add: int) -> None:
    """``src`` with ``add`` added to every valid pixel, written as a new GeoTIFF."""
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    data = np.where(data == 0, 0, data + add).astype(data.dtype)
    with rasterio.open(dest, "w", **profile) as out:
        out.write(data)


def test_a_handle_is_reused_by_file_version(tmp_path: Path) -> None:
    pool = DatasetPool(size=4, idle_s=60)
    path = tmp_path / "a.tif"
    shutil.copy(S2_DIR / "B04.tif", path)
    key, ds = pool.open(str(path))
    # a second read while the first holds its handle gets its own (no concurrent use)
    key2, ds2 = pool.open(str(path))
    assert ds2 is not ds and key2 == key
    pool.give_back(key, ds)
    pool.give_back(key2, ds2)
    assert pool.idle() == 2
    again, reused = pool.open(str(path))
    assert reused in (ds, ds2) and not reused.closed and pool.idle() == 1
    pool.give_back(again, reused)

    # rewritten in place (same inode): the idle handles are not used for the new version
    _shifted(S2_DIR / "B04.tif", tmp_path / "b.tif", 1000)
    with rasterio.open(S2_DIR / "B04.tif") as src:
        before = src.read(1, window=((500, 501), (600, 601)))[0, 0]
    path.write_bytes((tmp_path / "b.tif").read_bytes())
    fresh_key, fresh = pool.open(str(path))
    assert fresh_key != key and fresh not in (ds, ds2)
    assert fresh.read(1, window=((500, 501), (600, 601)))[0, 0] == before + 1000
    pool.give_back(fresh_key, fresh)

    # deleted: not found, whatever is idle
    path.unlink()
    with pytest.raises(FileNotFoundError):
        pool.open(str(path))
    pool.clear()
    assert pool.idle() == 0 and ds.closed and ds2.closed and fresh.closed


def test_the_pool_is_bounded_in_count_and_idle_time(tmp_path: Path) -> None:
    pool = DatasetPool(size=3, idle_s=60)
    held = []
    for i in range(5):
        path = tmp_path / f"{i}.tif"
        shutil.copy(S2_DIR / "B04.tif", path)
        held.append(pool.open(str(path)))
    for key, ds in held:
        pool.give_back(key, ds)
    assert pool.idle() == 3
    # the least recently given back are closed, the others kept
    assert [ds.closed for _, ds in held] == [True, True, False, False, False]

    pool.idle_s = 0.05
    time.sleep(0.1)
    key, ds = pool.open(str(tmp_path / "0.tif"))
    pool.give_back(key, ds)  # giving back evicts the handles idle too long
    assert pool.idle() == 1 and all(d.closed for _, d in held)
    # with no read coming, the server's periodic prune closes them
    assert pool.prune() == 0 and not ds.closed
    time.sleep(0.1)
    assert pool.prune() == 1 and ds.closed and pool.idle() == 0
    pool.clear()

    off = DatasetPool(size=0)
    key, ds = off.open(str(tmp_path / "1.tif"))
    off.give_back(key, ds)
    assert key is None and ds.closed and off.idle() == 0


def test_only_geotiffs_and_only_local_files_are_pooled(tmp_path: Path) -> None:
    pool = DatasetPool(size=4)
    png = tmp_path / "x.tif"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(RasterioIOError):
        pool.open(str(png))
    assert pool.idle() == 0
    with pytest.raises(RasterioIOError):
        pool.open("/vsimem/absent.tif")  # /vsi paths are opened directly, never stat'ed


def test_readers_give_their_handle_back(tmp_path: Path) -> None:
    from tiler.datasets import dataset_pool

    path = tmp_path / "r.tif"
    shutil.copy(S2_DIR / "B04.tif", path)
    dataset_pool.clear()
    with GTiffReader(str(path)) as src:
        first = src.tile(479, 439, 10, indexes=1)
        handle = src.dataset
    assert not handle.closed and dataset_pool.idle() == 1
    with GTiffReader(str(path)) as src:
        assert src.dataset is handle
        again = src.tile(479, 439, 10, indexes=1)
    assert np.array_equal(first.array, again.array)
    dataset_pool.clear()
    assert handle.closed


def test_a_replaced_object_is_served_new_over_http(
    stacworks_env: dict[str, str], tmp_path: Path, tiles_url: str, http: httpx.Client
) -> None:
    """The server keeps handles between requests; an object replaced in the store (a re-run
    output, a re-ingest) is read anew on the next request, and a deleted one is a 404."""
    cid, iid = "tiles-rewritten", "rewritten-1"
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    item = stored_s2_item(store, cid, iid, keys=["red"])
    _load(stacworks_env, tmp_path, [collection(cid, item, "Rewritten"), item], "rewritten")
    with rasterio.open(S2_DIR / "B04.tif") as src:
        px, py = src.xy(500, 600)
        expected = int(next(src.sample([(px, py)]))[0])
        lon, lat = transform(src.crs, "EPSG:4326", [px], [py])
    url = f"{tiles_url}/collections/{cid}/items/{iid}/point/{lon[0]},{lat[0]}?assets=red"

    def value() -> int:
        r = http.get(url)
        assert r.status_code == 200, r.text
        return int(r.json()["values"][0])

    assert value() == expected
    assert value() == expected  # served from a kept handle
    _shifted(S2_DIR / "B04.tif", tmp_path / "shifted.tif", 1000)
    key = asset_key(cid, iid, "red", "tif")
    store.put_file(key, tmp_path / "shifted.tif")
    assert value() == expected + 1000
    store.delete(key)
    r = http.get(url)
    assert r.status_code == 404, r.text
