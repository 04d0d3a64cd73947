"""The memoized CRS arithmetic (tiler.transforms) answers as rasterio does, and rio-tiler reads
give the same pixels with it as without it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.warp
import rio_tiler.io.base
import rio_tiler.utils
from rasterio.crs import CRS
from rasterio.errors import CRSError

from tests.samples import S2_DIR
from tiler import transforms
from tiler.readers import GTiffReader

UTM29 = CRS.from_epsg(32629)
WM = CRS.from_epsg(3857)
BOXES = [(-1272798.0, 2817774.0, -1252230.0, 2838342.0), (0.0, 0.0, 1000.0, 1000.0),
         (-20037508.34, -100.0, 20037508.34, 100.0)]


@pytest.mark.parametrize("box", BOXES)
def test_the_same_answers_as_rasterio(box: tuple[float, float, float, float]) -> None:
    expected = rasterio.warp.transform_bounds(WM, UTM29, *box, densify_pts=21)
    assert transforms.transform_bounds(WM, UTM29, *box) == pytest.approx(expected)
    # an equal CRS built anew hits the same entry
    before = transforms._bounds.cache_info().hits
    assert transforms.transform_bounds(CRS.from_epsg(3857), CRS.from_wkt(UTM29.to_wkt()),
                                       *box) == pytest.approx(expected)
    assert transforms._bounds.cache_info().hits == before + 1
    # another densification is another answer
    assert transforms.transform_bounds(WM, UTM29, *box, densify_pts=0) == pytest.approx(
        rasterio.warp.transform_bounds(WM, UTM29, *box, densify_pts=0))

    with rasterio.open(S2_DIR / "B04.tif") as ds:
        args = (ds.crs, WM, ds.width, ds.height, *ds.bounds)
        assert transforms.default_transform(*args) == rasterio.warp.calculate_default_transform(
            *args)
        hits = transforms._default.cache_info().hits
        transforms.default_transform(*args)
        assert transforms._default.cache_info().hits == hits + 1
        # the resolution form is not memoized but still right
        assert transforms.default_transform(
            ds.crs, WM, ds.width, ds.height, *ds.bounds, resolution=500
        ) == rasterio.warp.calculate_default_transform(
            ds.crs, WM, ds.width, ds.height, *ds.bounds, resolution=500)


def test_errors_are_raised_each_time_not_remembered() -> None:
    for _ in range(2):
        with pytest.raises(CRSError):
            transforms.transform_bounds(WM, "EPSG:999999", *BOXES[0])
    with pytest.raises(CRSError):
        transforms.default_transform("EPSG:999999", WM, 10, 10, 0, 0, 1, 1)


def test_reads_are_the_same_with_and_without_and_the_swap_is_undone() -> None:
    def tiles() -> list[np.ndarray]:
        out = []
        with GTiffReader(str(S2_DIR / "B04.tif")) as src:
            for x, y, z in ((479, 439, 10), (239, 219, 9), (958, 878, 11)):
                img = src.tile(x, y, z, indexes=1)
                out.append(np.ma.getdata(img.array).copy())
                out.append(np.ma.getmaskarray(img.array).copy())
        return out

    plain = tiles()
    with transforms.memoized_transforms():
        assert rio_tiler.io.base.transform_bounds is transforms.transform_bounds
        assert rio_tiler.utils.calculate_default_transform is transforms.default_transform
        memo = tiles()
        memo_again = tiles()
    assert rio_tiler.io.base.transform_bounds is rasterio.warp.transform_bounds
    assert rio_tiler.utils.calculate_default_transform is rasterio.warp.calculate_default_transform
    for a, b, c in zip(plain, memo, memo_again, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
