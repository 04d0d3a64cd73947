"""The items' lon/lat tile test (tiler.readers._LonLatTileCheck) answers as rio-tiler's own,
which transforms each tile's box through GDAL: tiles around, across and inside item boxes at
many zooms, boxes across the antimeridian and near the poles included."""

from __future__ import annotations

from typing import Any

import attr
import morecantile
import pytest
from rio_tiler.constants import WGS84_CRS
from rio_tiler.io.base import SpatialMixin

from tiler.readers import _LonLatTileCheck

BOXES = [(-11.979, 24.296, -10.874, 25.305), (-123.08, 44.04, -123.06, 44.06),
         (179.5, -17.0, -179.5, -16.0), (-10.0, 80.0, 10.0, 85.05), (0.0, -1e-9, 1e-9, 0.0)]


@attr.s
class _Plain(SpatialMixin):
    box: Any = attr.ib(default=None)

    def __attrs_post_init__(self) -> None:
        self.bounds, self.crs = self.box, WGS84_CRS


@attr.s
class _Ours(_LonLatTileCheck, _Plain):
    pass


@pytest.mark.parametrize("box", BOXES)
def test_answers_as_rio_tiler(box: tuple[float, float, float, float]) -> None:
    tms = morecantile.tms.get("WebMercatorQuad")
    plain, ours = _Plain(tms=tms, box=box), _Ours(tms=tms, box=box)
    w, s, e, n = box
    checked = hits = 0
    for z in (2, 5, 8, 11, 14):
        for lon in (w - 0.3, w, (w + e) / 2, e, e + 0.3):
            for lat in (s - 0.3, s, (s + n) / 2, n, n + 0.3):
                centre = tms.tile(max(min(lon, 179.99), -179.99), max(min(lat, 85), -85), z)
                for dx in (-1, 0, 1):
                    for dy in (-1, 0, 1):
                        x, y = (centre.x + dx) % (2**z), min(max(centre.y + dy, 0), 2**z - 1)
                        want = plain.tile_exists(x, y, z)
                        assert ours.tile_exists(x, y, z) == want, (box, z, x, y)
                        checked += 1
                        hits += want
    assert hits and checked - hits  # both answers were exercised


def test_other_grids_keep_rio_tilers_test() -> None:
    tms = morecantile.tms.get("WorldCRS84Quad")
    ours = _Ours(tms=tms, box=BOXES[0])
    tile = tms.tile(-11.5, 24.8, 6)
    assert ours.tile_exists(tile.x, tile.y, 6)
    assert not ours.tile_exists(tile.x + 3, tile.y, 6)
