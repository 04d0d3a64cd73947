"""Raster tiles computed from COPC: the real Autzen cloud converted by our ingest, read by the
tiler's point-cloud reader (:mod:`tiler.pointcloud`) in-process and through a served tiler with
access control on.

Tolerances: DSM and DTM (where the pixel has ground points) equal a brute-force grid of every
point of the file within 1e-3 of the cloud's height unit (float32 output of ~400 ft heights)
at a zoom whose level of detail reaches the octree's leaves; at a coarser zoom the tile reads
a subset, so its DSM is never above the brute-force one. The DTM tile agrees with the
``lidar-dtm`` algorithm's grid over the same area within a median of 0.5 and a 90th
percentile of 2 height units (different cells: a 1-unit grid against ~0.6-unit pixels).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import laspy
import morecantile
import numpy as np
import pytest
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from pyproj import Transformer

from catalog.load import load_paths, scan
from ingest.convert import to_copc
from objectstore import LocalStore, ObjectStore, S3Store, asset_key
from tests.harness import serve
from tests.samples import bbox_item
from tiler import pointcloud
from tiler.errors import STATUS_CODES, AssetNotFound, ReadTooLarge
from tiler.pointcloud import COPC_TYPE, CopcTileReader
from tiler.presets import auto_renders

from .conftest import png

LAZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "lidar" / "las" / "autzen_trim.laz"
ALGORITHMS = Path(__file__).resolve().parents[2] / "algorithms"
PUBLIC, PRIVATE = "pc-autzen", "pc-autzen-private"
FOREIGN = "pc-autzen-foreign"  # public, its item names the private collection's COPC
TMS = morecantile.tms.get("WebMercatorQuad")
#: The zoom whose level of detail reaches the leaves of the test octree (checked below).
DEEP = 19
SERVED_MAX_POINTS = 100_000


@dataclass(frozen=True)
class Cloud:
    path: Path
    key: str  # in the session's local store (the public collection)
    lon: float
    lat: float
    size: int


@dataclass(frozen=True)
class Served:
    base: str
    key: str  # a viewer's key with read on PRIVATE


class CountingStore(ObjectStore):
    """A store whose ranged reads are counted; whole-object reads fail the test."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.bytes, self.reads = inner, 0, 0

    def read_range(self, key: str, start: int, length: int) -> bytes:
        data = self.inner.read_range(key, start, length)
        self.bytes += len(data)
        self.reads += 1
        return data

    def get(self, key: str) -> bytes:
        raise AssertionError("a whole-object read")

    def open(self, key: str) -> Any:
        raise AssertionError("a streamed whole-object read")

    def download(self, key: str, path: Any) -> Any:
        raise AssertionError("a whole-object download")

    def put_file(self, key: str, path: Any) -> Any:
        return self.inner.put_file(key, path)

    def put_stream(self, key: str, fileobj: Any) -> Any:
        return self.inner.put_stream(key, fileobj)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def stat(self, key: str) -> Any:
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Any:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(prefix)

    def gdal_path(self, key: str) -> str:
        return self.inner.gdal_path(key)

    def href(self, key: str) -> str:
        return self.inner.href(key)

    def download_url(self, key: str, expires: Any = 3600) -> str | None:
        return self.inner.download_url(key, expires)

    def key_for_href(self, href: str) -> str | None:
        return self.inner.key_for_href(href)


@pytest.fixture(scope="module")
def cloud(stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Cloud:
    """Autzen (110k points) as COPC with small leaves, so the octree has several levels."""
    path = tmp_path_factory.mktemp("pc") / "autzen.copc.laz"
    to_copc(LAZ, path, max_leaf_points=1024, lod_grid=32)
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    key = asset_key(PUBLIC, "autzen", "data", "copc.laz")
    store.put_file(key, path)
    las = laspy.read(path)
    to_wgs = Transformer.from_crs(las.header.parse_crs().sub_crs_list[0]
                                  if las.header.parse_crs().is_compound
                                  else las.header.parse_crs(), 4326, always_xy=True)
    lon, lat = to_wgs.transform(float(np.mean(las.x)), float(np.mean(las.y)))
    return Cloud(path, key, lon, lat, path.stat().st_size)


def _item(store: ObjectStore, cid: str, path: Path) -> dict[str, Any]:
    key = asset_key(cid, "autzen", "data", "copc.laz")
    store.put_file(key, path)
    las = laspy.read(path)
    crs = las.header.parse_crs()
    crs = crs.sub_crs_list[0] if crs.is_compound else crs
    w, s, e, n = Transformer.from_crs(crs, 4326, always_xy=True).transform_bounds(
        *las.header.mins[:2], *las.header.maxs[:2])
    stats = [{"name": "Z", "minimum": float(las.header.mins[2]),
              "maximum": float(las.header.maxs[2])}]
    return bbox_item(cid, "autzen", (w, s, e, n), "2010-01-01T00:00:00Z", {
        "data": {"href": store.href(key), "type": COPC_TYPE, "roles": ["data"]}},
        **{"pc:count": len(las.points), "pc:type": "lidar", "pc:statistics": stats})


@pytest.fixture(scope="module")
def served(
    stacworks_env: dict[str, str], dsn: str, cloud: Cloud,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """Public and private Autzen collections loaded with ``--renders auto``; a tiler with
    access control on."""
    from catalog.access import AccessRecords

    tmp = tmp_path_factory.mktemp("pc-serve")
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    records: list[dict[str, Any]] = []
    for cid in (PUBLIC, PRIVATE):
        item = _item(store, cid, cloud.path)
        records += [{
            "type": "Collection", "stac_version": "1.0.0", "id": cid, "links": [],
            "title": f"Autzen lidar ({cid})", "description": "Autzen COPC (tiler tests)",
            "license": "proprietary", "extent": {
                "spatial": {"bbox": [item["bbox"]]},
                "temporal": {"interval": [["2010-01-01T00:00:00Z", None]]}},
        }, item]
    foreign = json.loads(json.dumps(records[-1]))  # the private collection's item
    foreign["collection"] = FOREIGN
    records += [{**records[-2], "id": FOREIGN, "title": "Autzen lidar (foreign href)"},
                foreign]
    (tmp / "pc.json").write_text(json.dumps(records))
    # What `stacworks load --renders auto` runs (in-process: a CLI start costs seconds; the
    # command itself is checked in test_ogc_clients): load, then derive presets.
    load_paths(dsn, scan([tmp / "pc.json"]), mode="upsert")
    changed = auto_renders(dsn, [PUBLIC, PRIVATE, FOREIGN])
    assert set(changed) == {PUBLIC, PRIVATE, FOREIGN}, changed  # presets for point clouds
    access = AccessRecords(dsn, pooled=False)
    access.set_visibility(PUBLIC, "public")
    access.set_visibility(FOREIGN, "public")
    viewer = access.create_key("pc viewer", "viewer")
    access.grant(viewer["principal"], PRIVATE, "read")
    # A point budget above any test tile (z17 reads ~70k points of the 110k) but below the
    # whole cloud, or the two collections' clouds together.
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true",
           "STACWORKS_TILES_MAX_POINTS": str(SERVED_MAX_POINTS)}
    with serve(env, "tiles", log=tmp / "serve.log") as base:
        yield Served(base, viewer["token"])


def _tile(cloud: Cloud, z: int, dx: int = 0) -> morecantile.Tile:
    t = TMS.tile(cloud.lon, cloud.lat, z)
    return morecantile.Tile(t.x + dx, t.y, z)


def _brute_force(cloud: Cloud, tile: morecantile.Tile) -> tuple[np.ndarray, np.ndarray]:
    """DSM (highest non-noise) and unfilled DTM (mean of ground) of every point of the file
    in the tile's 256 x 256 pixels, written independently of the reader."""
    las = laspy.read(cloud.path)
    crs = las.header.parse_crs()
    crs = crs.sub_crs_list[0] if crs.is_compound else crs
    x, y = Transformer.from_crs(crs, 3857, always_xy=True).transform(
        np.asarray(las.x), np.asarray(las.y))
    z, cls = np.asarray(las.z, dtype=np.float64), np.asarray(las.classification)
    left, bottom, right, top = TMS.xy_bounds(tile)
    col = np.floor((x - left) / ((right - left) / 256)).astype(int)
    row = np.floor((top - y) / ((top - bottom) / 256)).astype(int)
    keep = (col >= 0) & (col < 256) & (row >= 0) & (row < 256) & ~np.isin(cls, (7, 18))
    cell = row[keep] * 256 + col[keep]
    dsm = np.full(256 * 256, -np.inf)
    np.maximum.at(dsm, cell, z[keep])
    ground = cls[keep] == 2
    sums = np.bincount(cell[ground], weights=z[keep][ground], minlength=256 * 256)
    counts = np.bincount(cell[ground], minlength=256 * 256)
    with np.errstate(invalid="ignore"):
        dtm = np.where(counts > 0, sums / counts, np.nan)
    return np.where(np.isinf(dsm), np.nan, dsm).reshape(256, 256), dtm.reshape(256, 256)


def test_values_equal_a_brute_force_grid(cloud: Cloud) -> None:
    store = LocalStore(cloud.path.parent, fsync=False)
    reader = CopcTileReader(cloud.path.name, store=store)
    depth = max(k.level for k in reader.cloud.reader.root_page.entries)
    tile = _tile(cloud, DEEP)
    img = reader.tile(tile.x, tile.y, tile.z, indexes=[1, 2])
    assert depth >= 2, "the test octree should have levels to skip"
    assert reader.last_read["points"] > 0
    dsm_ref, dtm_ref = _brute_force(cloud, tile)
    dsm, dtm = img.array[0].filled(np.nan), img.array[1].filled(np.nan)
    returns = ~np.isnan(dsm_ref)
    assert returns.sum() > 1000 and not np.isnan(dsm[returns]).any()
    assert np.max(np.abs(dsm[returns] - dsm_ref[returns])) < 1e-3
    ground = ~np.isnan(dtm_ref)
    assert ground.sum() > 300
    assert np.max(np.abs(dtm[ground] - dtm_ref[ground])) < 1e-3
    # gaps between points are filled, from heights around them (never beyond their range)
    filled = np.isnan(dtm_ref) & ~np.isnan(dtm)
    assert filled.sum() > 1000
    assert np.nanmin(dtm_ref) - 1e-3 <= dtm[filled].min() <= dtm[filled].max() <= (
        np.nanmax(dtm_ref) + 20)
    # A coarser zoom reads a subset of the points: its DSM (unfilled) is never above the
    # full one, and the subset is most of the pixels.
    coarse = _tile(cloud, DEEP - 3)
    pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=0)
    try:
        sub = reader.tile(coarse.x, coarse.y, coarse.z, indexes=[1]).array[0].filled(np.nan)
    finally:
        pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=16)
    full, _ = _brute_force(cloud, coarse)
    both = ~np.isnan(sub) & ~np.isnan(full)
    assert both.sum() > 500 and np.all(sub[both] <= full[both] + 1e-3)


def test_reads_are_byte_ranges_that_shrink_with_the_zoom(cloud: Cloud, tiles_moto: str) -> None:
    """Over S3 (moto on loopback): only ranged GETs, far fewer bytes than the file at a high
    zoom, and decoded nodes come from the cache the second time."""
    import uuid

    bucket = f"pc-{uuid.uuid4().hex[:12]}"
    s3 = S3Store(bucket, "cat", endpoint_url=tiles_moto, access_key_id="AKIAPCTEST000001",
                 secret_access_key="pc-secret")
    s3.client.create_bucket(Bucket=bucket)
    s3.put_file("pc/autzen/data.copc.laz", cloud.path)
    pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=16)
    counted = CountingStore(s3)
    reader = CopcTileReader("pc/autzen/data.copc.laz", store=counted)
    opened = counted.bytes
    corner = TMS.tile(*Transformer.from_crs(reader.crs, 4326, always_xy=True).transform(
        reader.bounds[0] + 20, reader.bounds[3] - 20), DEEP + 1)
    img = reader.tile(corner.x, corner.y, corner.z, indexes=[2])
    assert (~img.array.mask).sum() > 0
    deep_bytes = counted.bytes - opened
    assert 0 < counted.bytes < cloud.size / 8, (counted.bytes, cloud.size)
    before = counted.bytes
    reader.tile(corner.x, corner.y, corner.z, indexes=[1])
    assert counted.bytes == before, "decoded nodes are cached"
    low = _tile(cloud, DEEP - 5)
    reader.tile(low.x, low.y, low.z, indexes=[2])
    low_points = reader.last_read["points"]
    assert low_points < len(laspy.read(cloud.path).points) / 4, "a far view reads coarse levels"
    assert deep_bytes > 0
    s3.close()


def test_density_counts_points_per_square_metre_over_a_window(cloud: Cloud) -> None:
    counts = np.zeros((5, 5))
    counts[2, 2] = 9
    density = pointcloud._window_density(counts, 4 / 9)  # 3 x 3 pixels make the 4 m² window
    assert np.nansum(density > 0) == 9 and np.nanmax(density) == pytest.approx(9 / 4)
    # Over the real cloud: the same density whatever the zoom (the level of detail matches
    # the pixel), near the file's points per m² of its footprint.
    reader = CopcTileReader(cloud.path.name, store=LocalStore(cloud.path.parent, fsync=False))
    medians = []
    for z in (DEEP - 2, DEEP):
        t = _tile(cloud, z)
        medians.append(float(np.ma.median(reader.tile(t.x, t.y, t.z, indexes=[5]).array[0])))
    assert 0.5 < medians[0] / medians[1] < 2 and 0.5 < medians[1] < 20, medians


def test_a_point_budget_refuses_big_reads(cloud: Cloud) -> None:
    store = LocalStore(cloud.path.parent, fsync=False)
    pointcloud.configure(max_points=1000, node_cache_bytes=1 << 20, fill_pixels=16)
    try:
        reader = CopcTileReader(cloud.path.name, store=store)
        tile = _tile(cloud, 17)
        with pytest.raises(ReadTooLarge, match="STACWORKS_TILES_MAX_POINTS=1,000"):
            reader.tile(tile.x, tile.y, tile.z, indexes=[2])
        assert STATUS_CODES[ReadTooLarge] == 422
    finally:
        pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=16)


def _pixels(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    arr = png(r.content)
    assert arr.shape[:2] == (256, 256), (str(r.url), arr.shape)  # hillshade's buffer included
    return int((arr[:, :, -1] > 0).sum())


@pytest.mark.parametrize("z", [15, 17, 19])
def test_tiles_where_the_cloud_is_and_none_outside(served: Served, cloud: Cloud, z: int) -> None:
    t = _tile(cloud, z)
    item = f"{served.base}/tiles/collections/{PUBLIC}/items/autzen/tiles/WebMercatorQuad"
    mosaic = f"{served.base}/tiles/collections/{PUBLIC}/tiles/WebMercatorQuad"
    assert _pixels(httpx.get(f"{item}/{z}/{t.x}/{t.y}.png", timeout=30)) > 100
    assert _pixels(httpx.get(f"{mosaic}/{z}/{t.x}/{t.y}.png", timeout=30)) > 100
    for render in ("dsm-hillshade", "intensity", "classification", "density"):
        r = httpx.get(f"{mosaic}/{z}/{t.x}/{t.y}.png", params={"render": render}, timeout=30)
        assert _pixels(r) > 100, render
    far = _tile(cloud, z, dx=50)
    assert httpx.get(f"{item}/{z}/{far.x}/{far.y}.png", timeout=30).status_code == 404
    assert httpx.get(f"{mosaic}/{z}/{far.x}/{far.y}.png", timeout=30).status_code == 204


def test_a_private_point_cloud_is_hidden_like_a_private_raster(
    served: Served, cloud: Cloud,
) -> None:
    t = _tile(cloud, 17)
    for path in (f"collections/{PRIVATE}/items/autzen/tiles", f"collections/{PRIVATE}/tiles"):
        url = f"{served.base}/tiles/{path}/WebMercatorQuad/17/{t.x}/{t.y}.png"
        assert httpx.get(url, timeout=30).status_code == 404
        assert _pixels(httpx.get(url, params={"key": served.key}, timeout=30)) > 100
    # A public item naming the private collection's COPC draws nothing for those who cannot
    # read that collection, as for rasters.
    url = f"{served.base}/tiles/collections/{FOREIGN}/items/autzen/tiles/WebMercatorQuad/17/"
    assert httpx.get(f"{url}{t.x}/{t.y}.png", timeout=30).status_code == 404
    assert _pixels(httpx.get(f"{url}{t.x}/{t.y}.png", params={"key": served.key},
                             timeout=30)) > 100


def test_search_mosaics_of_point_clouds_follow_the_access_rules(
    served: Served, cloud: Cloud,
) -> None:
    t = _tile(cloud, 17)

    def register(collections: list[str]) -> str:
        r = httpx.post(f"{served.base}/tiles/searches/register", params={"key": served.key},
                       json={"collections": collections}, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def tile(sid: str, **params: str) -> httpx.Response:
        return httpx.get(f"{served.base}/tiles/searches/{sid}/tiles/WebMercatorQuad/17/"
                         f"{t.x}/{t.y}.png", params={"assets": "data|bidx=1",
                                                     "rescale": "400,450", **params}, timeout=30)

    private = register([PRIVATE])
    assert tile(private).status_code == 404
    assert _pixels(tile(private, key=served.key)) > 100
    assert _pixels(tile(register([PUBLIC, PRIVATE]))) > 100  # narrowed to the public one


def test_the_collection_is_a_wmts_and_wms_layer(served: Served, cloud: Cloud) -> None:
    wmts = WebMapTileService(f"{served.base}/tiles/WMTSCapabilities.xml")
    assert PUBLIC in wmts.contents and PRIVATE not in wmts.contents
    layer = wmts.contents[PUBLIC]
    assert {"dtm", "dsm", "classification"} <= set(layer.styles)
    t = _tile(cloud, 17)
    got = wmts.gettile(layer=PUBLIC, tilematrixset="WebMercatorQuad", tilematrix="17",
                       row=t.y, column=t.x, format="image/png", style="dtm-hillshade")
    assert int((png(got.read())[:, :, -1] > 0).sum()) > 100
    keyed = WebMapTileService(f"{served.base}/tiles/WMTSCapabilities.xml?key={served.key}")
    assert PRIVATE in keyed.contents
    wms = WebMapService(f"{served.base}/tiles/wms", version="1.3.0")
    assert PUBLIC in wms.contents and PRIVATE not in wms.contents
    img = wms.getmap(layers=[PUBLIC], styles=["classification"], srs="EPSG:3857",
                     bbox=tuple(TMS.xy_bounds(t)), size=(256, 256), format="image/png")
    assert int((png(img.read())[:, :, -1] > 0).sum()) > 100
    # Identify on a point cloud: no pixels to read there, a clean "nothing", not an error
    info = wms.getfeatureinfo(layers=[PUBLIC], styles=["dtm"], srs="EPSG:3857",
                              bbox=tuple(TMS.xy_bounds(t)), size=(256, 256), format="image/png",
                              query_layers=[PUBLIC], info_format="text/plain", xy=(128, 128))
    assert "no values here" in info.read().decode()


def test_the_lidar_dtm_algorithm_agrees_with_the_dtm_tile(cloud: Cloud) -> None:
    sys.path.insert(0, str(ALGORITHMS))
    try:
        import lidar_dtm
    finally:
        sys.path.remove(str(ALGORITHMS))
    out = lidar_dtm.grids(str(cloud.path), 1.0, [2], 8)
    dtm, transform = out["dtm"], out["transform"]
    store = LocalStore(cloud.path.parent, fsync=False)
    reader = CopcTileReader(cloud.path.name, store=store)
    t = _tile(cloud, 19)
    tile = reader.tile(t.x, t.y, t.z, indexes=[2]).array[0].filled(np.nan)
    left, bottom, right, top = TMS.xy_bounds(t)
    cols, rows = np.meshgrid(np.arange(256) + 0.5, np.arange(256) + 0.5)
    mx = left + cols * (right - left) / 256
    my = top - rows * (top - bottom) / 256
    x, y = Transformer.from_crs(3857, reader.crs, always_xy=True).transform(mx, my)
    c = np.floor((x - transform.c) / transform.a).astype(int)
    r = np.floor((y - transform.f) / transform.e).astype(int)
    inside = (c >= 0) & (c < dtm.shape[1]) & (r >= 0) & (r < dtm.shape[0])
    ref = np.full(tile.shape, np.nan)
    ref[inside] = dtm[r[inside], c[inside]]
    both = ~np.isnan(ref) & ~np.isnan(tile)
    assert both.sum() > 5000
    diff = np.abs(ref[both] - tile[both])
    assert np.median(diff) < 0.5 and np.percentile(diff, 90) < 2.0, (
        np.median(diff), np.percentile(diff, 90))


def test_a_node_larger_than_the_cache_is_drawn_not_cached(cloud: Cloud) -> None:
    """STACWORKS_TILES_POINTCLOUD_CACHE_MB below one node's size: drawn, just not kept."""
    pointcloud.configure(max_points=20_000_000, node_cache_bytes=1024, fill_pixels=16)
    try:
        reader = CopcTileReader(cloud.path.name, store=LocalStore(cloud.path.parent,
                                                                  fsync=False))
        t = _tile(cloud, 17)
        assert reader.tile(t.x, t.y, t.z, indexes=[2]).array.count() > 100
        assert pointcloud._NODES.currsize <= 1024
    finally:
        pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=16)


def _corrupt_root(cloud: Cloud, tmp: Path, *, offset: int | None = None,
                  byte_size: int | None = None, point_count: int | None = None) -> str:
    """A copy of the cloud whose root hierarchy entry says other things (COPC 1.0 entry:
    key as 4 int32, offset uint64, byte size int32, point count int32)."""
    import struct

    data = bytearray(cloud.path.read_bytes())
    info = laspy.CopcReader.open(cloud.path).copc_info
    for at in range(info.hierarchy_root_offset,
                    info.hierarchy_root_offset + info.hierarchy_root_size, 32):
        key, off, size, count = (struct.unpack_from("<4i", data, at),
                                 *struct.unpack_from("<Qii", data, at + 16))
        if key == (0, 0, 0, 0):
            struct.pack_into("<Qii", data, at + 16, off if offset is None else offset,
                             size if byte_size is None else byte_size,
                             count if point_count is None else point_count)
    name = f"corrupt-{offset}-{byte_size}-{point_count}.copc.laz"
    (tmp / name).write_bytes(bytes(data))
    return name


@pytest.mark.parametrize("change", [
    {"byte_size": 2**31 - 1},  # "4 GB" node: refused before any read
    {"byte_size": -5},
    {"offset": 2**63},
    {"offset": -1},  # (as uint64) past the end
    {"offset": "end-100"},  # a node cut by the end of the file (lazrs would panic)
])
def test_a_corrupt_node_entry_is_not_found(
    cloud: Cloud, tmp_path: Path, change: dict[str, Any],
) -> None:
    if change.get("offset") == "end-100":
        change = {"offset": cloud.size - 100}
    elif change.get("offset") == -1:
        change = {"offset": 2**64 - 1}
    name = _corrupt_root(cloud, tmp_path, **change)
    reader = CopcTileReader(name, store=LocalStore(tmp_path, fsync=False))
    t = _tile(cloud, 12)
    with pytest.raises(AssetNotFound):
        reader.tile(t.x, t.y, t.z, indexes=[2])


def test_a_hierarchy_page_cycle_or_a_huge_page_ends(cloud: Cloud, tmp_path: Path) -> None:
    """A root entry naming a hierarchy page that names itself again (laspy's walk loops
    forever), or a 2 GB page: the request ends, with a 404 / a 422 naming the setting."""
    import threading

    info = laspy.CopcReader.open(cloud.path).copc_info
    store = LocalStore(tmp_path, fsync=False)
    t = _tile(cloud, 12)
    outcome: list[BaseException | None] = []

    def draw(name: str) -> None:
        try:
            CopcTileReader(name, store=store).tile(t.x, t.y, t.z, indexes=[2])
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the test shows it
            outcome.append(exc)

    for change, expected in (
        ({"offset": info.hierarchy_root_offset, "byte_size": info.hierarchy_root_size},
         AssetNotFound),
        ({"offset": 0, "byte_size": 2**31 - 1}, ReadTooLarge),
    ):
        outcome.clear()
        worker = threading.Thread(
            target=draw, args=(_corrupt_root(cloud, tmp_path, point_count=-1, **change),),
            daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert outcome, "the hierarchy walk did not end"
        assert isinstance(outcome[0], expected), outcome
    assert "STACWORKS_TILES_COPC_MAX_HIERARCHY_MB=64" in str(outcome[0])


def test_the_point_budget_over_http_names_the_limit(served: Served, cloud: Cloud) -> None:
    """WMS GetMap of the whole cloud at 2048 px (OWSLib reads the OGC exception), and a
    search mosaic that an anonymous caller sees as one cloud, a keyed one as two (the budget
    is summed over assets): each refused before decoding, naming the setting."""
    from owslib.util import ServiceException

    limit = f"STACWORKS_TILES_MAX_POINTS={SERVED_MAX_POINTS:,}"
    reader = CopcTileReader(cloud.path.name, store=LocalStore(cloud.path.parent, fsync=False))
    assert reader.cloud.reader.header.point_count > SERVED_MAX_POINTS
    box = Transformer.from_crs(reader.crs, 3857, always_xy=True).transform_bounds(
        *reader.bounds)
    wms = WebMapService(f"{served.base}/tiles/wms", version="1.3.0")
    with pytest.raises(ServiceException, match=limit):
        wms.getmap(layers=[PUBLIC], styles=["dtm"], srs="EPSG:3857", bbox=tuple(box),
                   size=(2048, 2048), format="image/png")
    bbox = f"items/autzen/bbox/{','.join(map(str, box))}/2048x2048.png"
    query = {"assets": "data|bidx=2", "coord_crs": "EPSG:3857"}
    r = httpx.get(f"{served.base}/tiles/collections/{PUBLIC}/{bbox}", params=query, timeout=30)
    assert r.status_code == 422 and limit in r.json()["detail"], r.text
    private = f"{served.base}/tiles/collections/{PRIVATE}/{bbox}"
    r = httpx.get(private, params=query, timeout=30)
    assert r.status_code == 404 and "MAX_POINTS" not in r.text  # no limit before access
    r = httpx.get(private, params={**query, "key": served.key}, timeout=30)
    assert r.status_code == 422 and limit in r.json()["detail"], r.text
    t = _tile(cloud, 17)
    r = httpx.post(f"{served.base}/tiles/searches/register", params={"key": served.key},
                   json={"collections": [PUBLIC, PRIVATE]}, timeout=30)
    url = (f"{served.base}/tiles/searches/{r.json()['id']}/tiles/WebMercatorQuad/17/"
           f"{t.x}/{t.y}.png")
    # (pgstac would skip the second item: the first covers the tile)
    params = {"assets": "data|bidx=1", "rescale": "400,450", "skipcovered": "false"}
    assert _pixels(httpx.get(url, params=params, timeout=30)) > 100  # anonymous: one cloud
    r = httpx.get(url, params={**params, "key": served.key}, timeout=30)
    assert r.status_code == 422 and limit in r.json()["detail"], r.text


def test_endpoints_that_read_raster_pixels_are_a_4xx(served: Served, cloud: Cloud) -> None:
    item = f"{served.base}/tiles/collections/{PUBLIC}/items/autzen"
    lon, lat = cloud.lon, cloud.lat
    got = {path: httpx.get(f"{item}/{path}", params={"assets": "data"}, timeout=30)
           for path in ("statistics", "preview.png", f"point/{lon},{lat}")}
    square = [[lon, lat], [lon + 1e-3, lat], [lon + 1e-3, lat + 1e-3], [lon, lat]]
    got["feature"] = httpx.post(f"{item}/feature", params={"assets": "data"}, timeout=30,
                                json={"type": "Feature", "properties": {}, "geometry": {
                                    "type": "Polygon", "coordinates": [square]}})
    got["mosaic point"] = httpx.get(
        f"{served.base}/tiles/collections/{PUBLIC}/point/{lon},{lat}",
        params={"assets": "data"}, timeout=30)
    for box in ("nan,0,1,1", "-inf,-90,inf,90"):  # no transform takes them: a 4xx
        got[box] = httpx.get(f"{item}/bbox/{box}/64x64.png", params={"assets": "data"},
                             timeout=30)
    for path, r in got.items():
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    world = httpx.get(f"{item}/bbox/-180,-90,180,90/64x64.png",  # the fill margin passes a pole
                      params={"assets": "data|bidx=1", "rescale": "400,450"}, timeout=30)
    assert world.status_code == 200, world.text
    assert httpx.get(f"{item}/info", params={"assets": "data"},
                     timeout=30).status_code == 200


def test_cached_nodes_hold_only_their_own_bytes(cloud: Cloud) -> None:
    """The node cache is bounded by the bytes it counts: a cached node must not be a view
    into the arrays of the whole group it was read with."""
    pointcloud.configure(max_points=20_000_000, node_cache_bytes=64 << 20, fill_pixels=16)
    reader = CopcTileReader(cloud.path.name, store=LocalStore(cloud.path.parent, fsync=False))
    t = _tile(cloud, 17)
    reader.tile(t.x, t.y, t.z, indexes=[2])
    assert reader.last_read["nodes_read"] > 1
    cached = list(pointcloud._NODES.values())
    assert cached and sum(p.nbytes for p in cached) == pointcloud._NODES.currsize
    for pts in cached:
        for a in (pts.x, pts.y, pts.z, pts.intensity, pts.classification):
            assert a.base is None, "a view keeps more memory alive than the cache counts"
