"""Nearest-neighbour tiles without a per-read WarpedVRT (tiler.nearest), and the running mean
of mosaics (tiler.pixel_selection): the same pixels as GDAL's warper and rio-tiler's mean."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.transform import from_bounds
from rasterio.vrt import WarpedVRT
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.mosaic.methods.defaults import MeanMethod

import tiler.nearest
from tests.samples import S2_DIR, SHARED_DATA
from tiler.errors import ReadTooLarge
from tiler.nearest import MAX_ERROR_PX, nearest_tile, overview_level
from tiler.pixel_selection import RunningMean
from tiler.readers import GTiffReader

TMS = morecantile.tms.get("WebMercatorQuad")
WM = TMS.rasterio_crs
B04 = S2_DIR / "B04.tif"
RGB = SHARED_DATA / "raster" / "landsat7-rgb" / "RGB.byte.tif"
TCI = SHARED_DATA / "raster" / "sentinel2-titiler" / "TCI.tif"


def _opener(path: Path):  # type: ignore[no-untyped-def]
    @contextmanager
    def open_overview(level: int) -> Iterator[DatasetReader]:
        with rasterio.open(path, overview_level=level) as ds:
            yield ds
    return open_overview


def _gdal(src: DatasetReader, bounds: tuple[float, float, float, float], size: int = 256,
          nodata: float | None = 0, tolerance: float = 1e-4) -> np.ma.MaskedArray:
    """GDAL's warper with an (almost) exact transformer: the reference (``tolerance``, in
    source pixels: GDAL's default is 0.125)."""
    opts = {"nodata": nodata, "src_nodata": nodata} if nodata is not None else {"add_alpha": True}
    with WarpedVRT(src, crs=WM, transform=from_bounds(*bounds, size, size), width=size,
                   height=size, resampling=Resampling.nearest, tolerance=tolerance, **opts) as vrt:
        if nodata is not None:
            return vrt.read(masked=True)
        data = vrt.read()
        values, alpha = data[:-1], data[-1]
        return np.ma.MaskedArray(values, mask=np.broadcast_to(alpha == 0, values.shape))


def _tiles(path: Path, zooms: tuple[int, ...]) -> list[morecantile.Tile]:
    with Reader(str(path)) as r:
        w, s, e, n = r.get_geographic_bounds(TMS.rasterio_geographic_crs)
    return [t for z in zooms for t in TMS.tiles(w, s, e, n, [z])]


@pytest.mark.parametrize("path", [B04, RGB, TCI], ids=["s2-b04", "landsat-rgb", "s2-tci"])
def test_pixels_are_gdals_exact_warp_of_the_overview_gdal_would_read(path: Path) -> None:
    with rasterio.open(path) as ds:
        full = ds.width
        tiles = _tiles(path, (7, 8, 9, 10, 11, 12))
        assert len(tiles) > 10
        levels = set()
        edge_tiles = 0
        for t in tiles:
            bounds = tuple(TMS.xy_bounds(t))
            img = nearest_tile(ds, bounds, WM, 256, 256, None, None, _opener(path), 10**9)
            if img is None:  # only where the file is not in the tile at all
                assert _gdal(ds, bounds).mask.all(), t
                continue
            # the reference reads the level chosen by GDAL's rule for this output size
            with WarpedVRT(ds, crs=WM, transform=from_bounds(*bounds, 256, 256), width=256,
                           height=256) as probe:
                pass
            factor = abs(probe.transform.a) / abs(ds.transform.a)
            level = overview_level(factor, ds.overviews(1))
            src = rasterio.open(path, overview_level=level) if level >= 0 else ds
            levels.add(level)
            ref = _gdal(src, bounds)
            assert img.array.shape == ref.shape == (ds.count, 256, 256)
            assert (img.array.mask == ref.mask).mean() > 0.999, t
            both = ~img.array.mask & ~ref.mask
            # Where a value differs from the exact warp's, the exact position lies within the
            # grid's error of a pixel edge (a tie the interpolation may break either way).
            differ = np.nonzero((img.array.data != ref.data).any(axis=0) & both.all(axis=0))
            assert len(differ[0]) <= max(3, both.all(axis=0).sum() // 100), t
            for row, col in zip(*differ, strict=True):
                x = bounds[0] + (col + 0.5) * (bounds[2] - bounds[0]) / 256
                y = bounds[3] - (row + 0.5) * (bounds[3] - bounds[1]) / 256
                sx, sy = rasterio.warp.transform(WM, ds.crs, [x], [y])
                c, r = ~src.transform @ (sx[0], sy[0])
                assert min(abs(c - round(c)), abs(r - round(r))) <= MAX_ERROR_PX + 1e-3, t
            assert (img.array.data[img.array.mask] == 0).all()  # nodata under the mask
            edge_tiles += bool(img.array.mask.any() and not img.array.mask.all())
            assert img.crs == WM and img.bounds == bounds
            assert img.band_names == [f"b{i}" for i in range(1, ds.count + 1)]
        assert edge_tiles > 0  # the file's edge was crossed, masks included
        if ds.overviews(1):
            assert -1 in levels and max(levels) >= 0, (levels, full)


def test_a_file_without_nodata_is_masked_outside_only_and_by_its_mask_band(
        tmp_path: Path) -> None:
    path = tmp_path / "masked.tif"
    with rasterio.open(B04) as src:
        profile = {**src.profile, "nodata": None}
        data = src.read()
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as out:
        out.write(data)
        valid = np.full(data.shape[1:], 255, dtype=np.uint8)
        valid[:400, :400] = 0  # a masked corner with real values under it
        out.write_mask(valid)
    with rasterio.open(path) as ds:
        assert ds.nodata is None and ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.per_dataset]
        for t in _tiles(path, (10,)):
            bounds = tuple(TMS.xy_bounds(t))
            img = nearest_tile(ds, bounds, WM, 256, 256, None, None, _opener(path), 10**9)
            assert img is not None
            ref = _gdal(ds, bounds, nodata=None)
            assert (img.array.mask == ref.mask).mean() > 0.999
        assert img.array.mask.any()


def test_cases_it_does_not_handle_go_back_to_rio_tiler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bounds = tuple(TMS.xy_bounds(_tiles(B04, (10,))[0]))
    with rasterio.open(B04) as ds:
        # same CRS (rio-tiler reads a window without warping), a tile outside, a window
        # over the budget
        assert nearest_tile(ds, bounds, ds.crs, 256, 256, None, None, _opener(B04), 10**9) is None
        far = tuple(TMS.xy_bounds(morecantile.Tile(0, 0, 10)))
        assert nearest_tile(ds, far, WM, 256, 256, None, None, _opener(B04), 10**9) is None
        assert nearest_tile(ds, bounds, WM, 256, 256, None, None, _opener(B04), 100) is None
        # a window over the memory bound (a far view of a file without overviews)
        assert nearest_tile(ds, bounds, WM, 256, 256, None, None, _opener(B04), 10**9)
        monkeypatch.setattr(tiler.nearest, "MAX_WINDOW_BYTES", 1000)
        assert nearest_tile(ds, bounds, WM, 256, 256, None, None, _opener(B04), 10**9) is None
    alpha = tmp_path / "alpha.tif"
    with rasterio.open(RGB) as src:
        profile = {**src.profile, "count": 4, "nodata": None}
        data = src.read()
    with rasterio.open(alpha, "w", **profile) as out:
        out.write(data, [1, 2, 3])
        out.write((data[0] > 0).astype(np.uint8) * 255, 4)
        out.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                           rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    with rasterio.open(alpha) as ds:
        t = _tiles(alpha, (9,))[0]
        assert nearest_tile(ds, tuple(TMS.xy_bounds(t)), WM, 256, 256, None, None,
                            _opener(alpha), 10**9) is None


def test_the_reader_keeps_rio_tilers_contract(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rgb.tif"
    shutil.copy(RGB, path)
    t = _tiles(path, (10,))[1]
    with GTiffReader(str(path)) as ours, Reader(str(path)) as theirs:
        a = ours.tile(t.x, t.y, t.z, indexes=(3, 1))
        b = theirs.tile(t.x, t.y, t.z, indexes=(3, 1))
        for attr in ("bounds", "crs", "band_names", "band_descriptions", "nodata", "scales",
                     "offsets", "assets", "dataset_statistics"):
            assert getattr(a, attr) == getattr(b, attr), attr
        assert a.array.shape == b.array.shape == (2, 256, 256)
        assert (a.array.mask == b.array.mask).mean() > 0.99
        assert (a.array.data == b.array.data).mean() > 0.9  # GDAL's 0.125 px error moves some
        # expressions, tile sizes, resampling other than nearest (rio-tiler's own path)
        e = ours.tile(t.x, t.y, t.z, expression="b1+b2")
        f = theirs.tile(t.x, t.y, t.z, expression="b1+b2")
        assert e.band_names == f.band_names and e.array.shape == (1, 256, 256)
        assert (e.array.data == f.array.data).mean() > 0.9
        assert ours.tile(t.x, t.y, t.z, tilesize=512).array.shape == (3, 512, 512)
        assert ours.tile(t.x, t.y, t.z, resampling_method="bilinear").array.shape == (3, 256, 256)
        with pytest.raises(TileOutsideBounds):
            ours.tile(0, 0, 10)
        # a band the file lacks in an expression: rio-tiler's own error, as before
        with pytest.raises(Exception) as theirs_error:
            theirs.tile(t.x, t.y, t.z, expression="b9")
        with pytest.raises(theirs_error.type):
            ours.tile(t.x, t.y, t.z, expression="b9")
    monkeypatch.setattr(GTiffReader, "max_pixels", 1000)
    with GTiffReader(str(path)) as small, pytest.raises(ReadTooLarge):
        small.tile(t.x, t.y, t.z)


@pytest.mark.parametrize("dtype", ["uint16", "float32", "uint8"])
def test_running_mean_is_rio_tilers_mean(dtype: str) -> None:
    rng = np.random.default_rng(7)
    arrays = []
    for _ in range(6):
        data = (rng.random((3, 64, 64)) * 200).astype(dtype)
        mask = rng.random((3, 64, 64)) < 0.4
        arrays.append(np.ma.MaskedArray(data, mask=mask))
    arrays[0].mask[:, :8, :8] = True
    for a in arrays:
        a.mask[:, :4, :4] = True  # some pixels masked in every item
    ours, theirs = RunningMean(), MeanMethod()
    assert ours.data is None and not ours.is_done
    for a in arrays:
        ours.feed(a)
        theirs.feed(a)
    x, y = ours.data, theirs.data
    assert x is not None and y is not None
    assert x.dtype == y.dtype == np.dtype(dtype)
    assert (x.mask == y.mask).all() and x.mask[:, :4, :4].all() and not x.mask.all()
    tol = 1e-4 if dtype == "float32" else 0
    assert np.abs(x.data[~x.mask].astype(float) - y.data[~y.mask].astype(float)).max() <= tol
    assert not ours.is_done  # a mean reads every item
