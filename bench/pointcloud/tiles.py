"""bench/pointcloud: a DTM tile computed from COPC against the same tile from a DTM COG.

The real Autzen sample (``autzen_trim.laz``, 110k points, US feet) is converted to COPC by our
ingest (:func:`ingest.convert.to_copc`, default settings) and gridded to a DTM COG by the
``lidar-dtm`` algorithm's own code (``algorithms/lidar_dtm.py``: 1 ft cells, its gap fill,
written with its ``write_cog``). Both sit in one local store.

- baseline: ``rio_tiler.io.Reader(cog).tile(x, y, z)`` of that DTM COG warped to EPSG:3857
  (opened per tile, as the tiler does) + rescale + ``terrain`` colormap + PNG, in this
  process. The lidar-dtm COG as written (native CRS) is timed too (``baseline_native_crs_s``):
  reprojecting from this sample's CRS costs GDAL far more than the read, so the warped COG
  is the stricter baseline and the one the ratio uses;
- ours: :class:`tiler.pointcloud.CopcTileReader` ``tile(..., indexes=[2])`` of the COPC (the
  DTM band: octree nodes of the tile at the zoom's level of detail, ranged reads from the
  store, gridding and gap fill) + the same rescale, colormap and PNG.

Timed at a mid zoom (18: ~0.4 m pixels, every tile touching the cloud), alternating, warm
(decoded-node cache and GDAL's block cache both filled; ``ours_s``), and for ours also with
the node cache emptied before every tile (``ours_cold_s``: every node decoded again).

Then points read per tile against the points inside the tile's footprint, per zoom, for the
ingest's default octree and for a finer one (small leaves): reads follow the zoom's level of
detail, not the file. ``points_read`` counts every point decoded or taken from the node cache
for the tile (its footprint plus the fill margin, whole nodes); ``bytes_read`` only the bytes
of nodes not yet cached, the tiles of a zoom read in order (neighbours share nodes).

    .venv/bin/python bench/pointcloud/tiles.py [--rounds 5]

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import laspy
import morecantile
import numpy as np
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "algorithms"))

from rio_tiler.errors import TileOutsideBounds  # noqa: E402
from rio_tiler.io import Reader  # noqa: E402

from ingest.convert import to_copc  # noqa: E402
from objectstore import LocalStore  # noqa: E402
from tiler import pointcloud  # noqa: E402
from tiler.pointcloud import CopcTileReader  # noqa: E402

LAZ = ROOT.parent / "shared" / "data" / "lidar" / "las" / "autzen_trim.laz"
TMS = morecantile.tms.get("WebMercatorQuad")
ZOOM = 18
ZOOMS = (14, 15, 16, 17, 18, 19, 20, 21)
CACHE = 256 * 1024 * 1024


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dtm_cog(copc: Path, out: Path) -> tuple[float, float]:
    """The lidar-dtm algorithm's DTM of ``copc`` as a COG; returns its (min, max) height."""
    import _task_contract as task
    import lidar_dtm

    result = lidar_dtm.grids(str(copc), 1.0, [2], 50)
    data = np.where(np.isnan(result["dtm"]), lidar_dtm.NODATA, result["dtm"]).astype(np.float32)
    task.write_cog(out, data, crs=result["crs"], transform=result["transform"],
                   nodata=lidar_dtm.NODATA, overview_resampling="average", descriptions=["dtm"])
    valid = data[data != lidar_dtm.NODATA]
    return float(valid.min()), float(valid.max())


def warped_cog(cog: Path, out: Path) -> None:
    """The DTM COG warped to the tiles' CRS (EPSG:3857): the COG path's best case, with no
    reprojection at tile time (this sample's CRS, NAD83(HARN) Oregon Lambert in feet, costs
    GDAL ~0.3 s of transformer set-up per warped read here; pyproj's is built once)."""
    import _task_contract as task
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(cog) as src, WarpedVRT(src, crs="EPSG:3857",
                                              resampling=Resampling.bilinear) as vrt:
        data = vrt.read(1)
        task.write_cog(out, data, crs=vrt.crs, transform=vrt.transform, nodata=src.nodata,
                       overview_resampling="average", descriptions=["dtm"])


def cloud_tiles(reader: CopcTileReader, zoom: int) -> list[morecantile.Tile]:
    w, s, e, n = Transformer.from_crs(reader.crs, 4326, always_xy=True).transform_bounds(
        *reader.bounds)
    return list(TMS.tiles(w, s, e, n, [zoom]))


def render(img: Any, rescale: tuple[float, float]) -> bytes:
    from rio_tiler.colormap import cmap

    img.rescale(in_range=(rescale,))
    return bytes(img.render(img_format="PNG", colormap=cmap.get("terrain")))


def p50(values: list[float]) -> float:
    return statistics.median(values)


def footprint_counts(copc: Path) -> tuple[np.ndarray, np.ndarray]:
    las = laspy.read(copc)
    crs = las.header.parse_crs()
    crs = crs.sub_crs_list[0] if crs.is_compound else crs
    x, y = Transformer.from_crs(crs, 3857, always_xy=True).transform(
        np.asarray(las.x), np.asarray(las.y))
    return np.asarray(x), np.asarray(y)


def scaling(store: LocalStore, key: str, copc: Path) -> list[dict[str, Any]]:
    """Mean points read per tile against mean points in the tile's footprint, per zoom."""
    x, y = footprint_counts(copc)
    rows = []
    for z in ZOOMS:
        pointcloud.configure(max_points=10**9, node_cache_bytes=CACHE, fill_pixels=16)
        reader = CopcTileReader(key, store=store)
        reads, inside, nbytes = [], [], []
        for t in cloud_tiles(reader, z):
            try:
                reader.tile(t.x, t.y, t.z, indexes=[2])
            except TileOutsideBounds:  # in the lon/lat box, outside the cloud's own
                continue
            left, bottom, right, top = TMS.xy_bounds(t)
            reads.append(reader.last_read["points"])
            nbytes.append(reader.last_read["bytes"])
            inside.append(int(((x >= left) & (x < right) & (y >= bottom) & (y < top)).sum()))
        rows.append({"zoom": z, "tiles": len(reads), "points_read": round(float(np.mean(reads))),
                     "points_in_footprint": round(float(np.mean(inside))),
                     "bytes_read": round(float(np.mean(nbytes)))})
        log(f"  z{z}: {rows[-1]}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LocalStore(root / "store", fsync=False)
        copc = root / "autzen.copc.laz"
        to_copc(LAZ, copc)
        fine = root / "autzen-fine.copc.laz"
        to_copc(LAZ, fine, max_leaf_points=1024, lod_grid=32)
        store.put_file("bench/autzen/data.copc.laz", copc)
        store.put_file("bench/autzen-fine/data.copc.laz", fine)
        cog = root / "dtm.tif"
        lo, hi = dtm_cog(copc, cog)
        web = root / "dtm-3857.tif"
        warped_cog(cog, web)
        rescale = (lo, hi)
        pointcloud.configure(max_points=10**9, node_cache_bytes=CACHE, fill_pixels=16)
        key = "bench/autzen/data.copc.laz"
        tiles = cloud_tiles(CopcTileReader(key, store=store), ZOOM)
        log(f"{len(tiles)} z{ZOOM} tiles over the cloud; DTM {lo:.1f}..{hi:.1f} ft")

        def baseline(t: morecantile.Tile) -> bytes:
            with Reader(str(web)) as src:
                return render(src.tile(t.x, t.y, t.z), rescale)

        def native(t: morecantile.Tile) -> bytes:
            with Reader(str(cog)) as src:
                return render(src.tile(t.x, t.y, t.z), rescale)

        def ours(t: morecantile.Tile) -> bytes:
            return render(CopcTileReader(key, store=store).tile(t.x, t.y, t.z, indexes=[2]),
                          rescale)

        for t in tiles:  # warm both
            baseline(t)
            ours(t)
        native_s = []
        for t in tiles:
            t0 = time.perf_counter()
            native(t)
            native_s.append(time.perf_counter() - t0)
        base_s: list[float] = []
        ours_s: list[float] = []
        cold_s: list[float] = []
        for _ in range(args.rounds):
            for t in tiles:
                t0 = time.perf_counter()
                baseline(t)
                base_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ours(t)
                ours_s.append(time.perf_counter() - t0)
                pointcloud.configure(max_points=10**9, node_cache_bytes=CACHE, fill_pixels=16)
                t0 = time.perf_counter()
                ours(t)
                cold_s.append(time.perf_counter() - t0)
        b, o, c, nat = p50(base_s), p50(ours_s), p50(cold_s), p50(native_s)
        log(f"p50 baseline (DTM COG in EPSG:3857) {b * 1000:.1f} ms, ours warm "
            f"{o * 1000:.1f} ms ({o / b:.2f}x), ours cold {c * 1000:.1f} ms ({c / b:.2f}x); "
            f"the lidar-dtm COG as written (native CRS, one pass) {nat * 1000:.1f} ms")
        log("points read per tile (ingest default octree):")
        default_rows = scaling(store, key, copc)
        log("points read per tile (fine octree: 1024-point leaves, 32-cell root grid):")
        fine_rows = scaling(store, "bench/autzen-fine/data.copc.laz", fine)
        print(json.dumps({
            "name": "pointcloud_dtm_tile_copc_vs_cog",
            "baseline_s": round(b, 5), "ours_s": round(o, 5), "ratio": round(o / b, 3),
            "ours_cold_s": round(c, 5), "ratio_cold": round(c / b, 3), "target_ratio": 4.0,
            "baseline_native_crs_s": round(nat, 5),
            "zoom": ZOOM, "tiles": len(tiles), "rounds": args.rounds,
            "file_points": int(laspy.open(copc).header.point_count),
            "reads_per_zoom_default_octree": default_rows,
            "reads_per_zoom_fine_octree": fine_rows,
            "python": platform.python_version(), "machine": platform.machine(),
        }))


if __name__ == "__main__":
    main()
