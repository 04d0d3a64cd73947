"""Tiles of a raster whose header claims 100000x100000 pixels (a 300 kB sparse GeoTIFF without
overviews), against a real `stacworks serve` under a memory cap, as an attacker would ask.

Without limits, one z8 tile of it ran for minutes and one preview took 1.3 GB. Each read is now
bounded in source pixels (``STACWORKS_TILES_MAX_PIXELS``: a 422 naming it) and each request in
time (``STACWORKS_TILES_TIME_BUDGET_S``: a 503, and its remaining reads skipped), and the
server keeps answering.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import morecantile
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds

from objectstore import LocalStore, asset_key
from tests.harness import serve_process, stacworks
from tests.samples import COG_TYPE, S2_DIR, bbox_item

pytestmark = pytest.mark.slow  # real servers and workers, end to end

COLL = "hard-tiles"
HUGE = "huge"
SMALL = "small"
N_ASSETS = 8  # the huge file under eight asset keys: a multi-asset request reads it 8 times
#: Address-space cap of the server process: a regression fails the test, not the machine.
MEMORY_CAP = 6 * 1024**3
#: Peak resident memory the server may reach while serving the huge raster.
RSS_BOUND = 1536 * 1024**2
GiB = 1024**3


def sparse_raster(path: Path, size: int = 100_000) -> tuple[float, float, float, float]:
    """A ``size`` x ``size`` GeoTIFF with no block written (a few hundred kB); its WGS84 bbox."""
    transform = Affine(1, 0, 300000, 0, -1, 3400000)  # 1 m pixels, UTM 29N
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint8",
        crs="EPSG:32629", transform=transform, nodata=0, sparse_ok=True, tiled=True,
        blockxsize=512, blockysize=512, compress="deflate",
    ) as ds:
        bounds = ds.bounds
    return transform_bounds("EPSG:32629", "EPSG:4326", *bounds)


@pytest.fixture(scope="module")
def catalog(
    stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The session catalog with the huge item (8 assets) and a small real S2 band item."""
    env = dict(stacworks_env)
    tmp = tmp_path_factory.mktemp("huge")
    huge = tmp / "huge.tif"
    bbox = sparse_raster(huge)
    assert huge.stat().st_size < 1_000_000
    store = LocalStore(Path(env["STACWORKS_HOME"]) / "objects", fsync=False)
    assets = {}
    for i in range(N_ASSETS):
        key = asset_key(COLL, HUGE, f"b{i}", "tif")
        store.put_file(key, huge)
        assets[f"b{i}"] = {"href": store.href(key), "type": COG_TYPE, "roles": ["data"]}
    small_key = asset_key(COLL, SMALL, "red", "tif")
    store.put_file(small_key, S2_DIR / "B04.tif")
    with rasterio.open(S2_DIR / "B04.tif") as ds:
        small_bbox = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    items = [
        bbox_item(COLL, HUGE, bbox, "2024-01-01T00:00:00Z", assets),
        bbox_item(COLL, SMALL, small_bbox, "2024-01-01T00:00:00Z", {
            "red": {"href": store.href(small_key), "type": COG_TYPE, "roles": ["data"]},
        }),
    ]
    coll = {
        "type": "Collection", "stac_version": "1.0.0", "id": COLL, "license": "proprietary",
        "description": "hardening: huge rasters", "links": [],
        "extent": {"spatial": {"bbox": [list(bbox)]},
                   "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]}},
    }
    (tmp / "collection.json").write_text(json.dumps(coll))
    (tmp / "items.ndjson").write_text("\n".join(json.dumps(i) for i in items))
    stacworks("load", "--mode", "upsert", str(tmp / "collection.json"),
              str(tmp / "items.ndjson"), env=env)
    env["HUGE_BBOX"] = ",".join(map(str, bbox))
    env["SMALL_BBOX"] = ",".join(map(str, small_bbox))
    yield env


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@contextmanager
def capped_server(env: dict[str, str], log: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """`stacworks serve tiles` under :data:`MEMORY_CAP`; yields (base URL, pid)."""
    env = {**env, **{f"STACWORKS_TILES_{k.upper()}": v for k, v in settings.items()}}
    with serve_process(env, "tiles", log=log, timeout=90, preexec_fn=_cap_memory) as (base, proc):
        yield base, proc.pid


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_until_idle(pid: int, start: float, timeout: float = 60) -> float:
    """CPU seconds the process used since ``start`` (a :func:`cpu_seconds` value), measured
    once it has stopped working (no CPU used for a second)."""
    deadline = time.monotonic() + timeout
    last, still = cpu_seconds(pid), 0.0
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        still = still + 0.25 if now - last < 0.02 else 0.0
        last = now
        if still >= 1.0:
            return now - start
    raise AssertionError(f"the server still works {timeout}s later")


def item_url(base: str, item: str = HUGE) -> str:
    return f"{base}/tiles/collections/{COLL}/items/{item}"


def tile_of(bbox_csv: str, zoom: int) -> morecantile.Tile:
    w, s, e, n = map(float, bbox_csv.split(","))
    tms = morecantile.tms.get("WebMercatorQuad")
    return tms.tile((w + e) / 2, (s + n) / 2, zoom)


def test_huge_raster_reads_are_refused_and_memory_stays_bounded(
    catalog: dict[str, str], tmp_path: Path
) -> None:
    with capped_server(catalog, tmp_path / "serve.log") as (base, pid):
        baseline = peak_rss(pid)
        url = item_url(base)
        w, s, e, n = map(float, catalog["HUGE_BBOX"].split(","))
        far = tile_of(catalog["HUGE_BBOX"], 8)
        heavy = {
            "tile": f"{url}/tiles/WebMercatorQuad/{far.z}/{far.x}/{far.y}.png?assets=b0",
            "preview": f"{url}/preview.png?assets=b0",
            "statistics": f"{url}/statistics?assets=b0",
            "part": f"{url}/bbox/{w},{s},{e},{n}.png?assets=b0",
            "part, no size": f"{url}/bbox/{w},{s},{(w + e) / 2},{(s + n) / 2}.tif?assets=b0",
            "eight assets": f"{url}/preview.png?" + "&".join(
                f"assets=b{i}" for i in range(N_ASSETS)),
        }
        with httpx.Client(timeout=60) as client:
            for name, u in heavy.items():
                t0 = time.monotonic()
                r = client.get(u)
                took = time.monotonic() - t0
                assert r.status_code == 422, (name, r.status_code, r.text)
                detail = r.json()["detail"]
                assert "STACWORKS_TILES_MAX_PIXELS" in detail, detail
                assert "overview" in detail and "/" not in detail.split("limit")[0], detail
                assert took < 5, (name, took)
            # A close-up of the same raster is a bounded read: it renders.
            near = tile_of(catalog["HUGE_BBOX"], 16)
            r = client.get(f"{url}/tiles/WebMercatorQuad/{near.z}/{near.x}/{near.y}.png"
                           "?assets=b0")
            assert r.status_code in (200, 204), r.text
            # The server still answers, with real pixels.
            t = tile_of(catalog["SMALL_BBOX"], 10)
            r = client.get(f"{item_url(base, SMALL)}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
                           "?assets=red&rescale=0,3000")
            assert r.status_code == 200 and r.content[:4] == b"\x89PNG", r.text
        peak = peak_rss(pid)
        assert peak < RSS_BOUND, f"peak RSS {peak / GiB:.2f} GiB (baseline {baseline / GiB:.2f})"
        print(f"\npeak RSS {peak / 2**20:.0f} MiB, baseline {baseline / 2**20:.0f} MiB")


def test_time_budget_stops_the_work_and_sigterm_is_prompt(
    catalog: dict[str, str], tmp_path: Path
) -> None:
    """With the pixel limit lifted, a preview of the huge file takes seconds per asset: the
    request is answered 503 when its budget passes, and its remaining reads are skipped (the
    server's CPU use stops after about one read, not eight); a client that disconnects stops
    the work the same way; SIGTERM ends the server promptly mid-request."""
    settings = {"max_pixels": str(10**12), "time_budget_s": "2", "read_threads": "1",
                "shutdown_grace_s": "1"}
    with capped_server(catalog, tmp_path / "serve.log", **settings) as (base, pid):
        url = item_url(base)
        every = f"{url}/preview.png?" + "&".join(f"assets=b{i}" for i in range(N_ASSETS))
        with httpx.Client(timeout=120) as client:
            # The cost of one read of one asset.
            start = cpu_seconds(pid)
            client.get(f"{url}/preview.png?assets=b0")
            one = cpu_until_idle(pid, start)
            # Eight reads: answered when the budget passes, then the work stops.
            start = cpu_seconds(pid)
            t0 = time.monotonic()
            r = client.get(every)
            took = time.monotonic() - t0
            assert r.status_code == 503, r.text
            assert r.headers.get("retry-after")
            assert "STACWORKS_TILES_TIME_BUDGET_S=2" in r.json()["detail"]
            assert took < 4, took
            spent = cpu_until_idle(pid, start)
            assert spent < 4 * one, f"{spent:.1f} s of CPU after the 503; one read {one:.1f} s"
            # A client that leaves stops the work as well (before the budget passes).
            start = cpu_seconds(pid)
            with pytest.raises(httpx.ReadTimeout):
                client.get(every, timeout=0.3)
            gone = cpu_until_idle(pid, start)
            assert gone < 4 * one, f"{gone:.1f} s of CPU after the disconnect; one {one:.1f} s"
            print(f"\none read {one:.2f} s CPU; budget passed {spent:.2f} s; "
                  f"client gone {gone:.2f} s (eight reads would be ~{8 * one:.1f} s)")
            # Still answering.
            t = tile_of(catalog["SMALL_BBOX"], 10)
            r = client.get(f"{item_url(base, SMALL)}/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png"
                           "?assets=red&rescale=0,3000")
            assert r.status_code == 200, r.text
        # SIGTERM while a request works: the server is gone within grace + one read.
        def busy() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server goes away: expected
                httpx.get(every, timeout=60)
    
        worker = threading.Thread(target=busy, daemon=True)
        worker.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        while Path(f"/proc/{pid}").exists() and time.monotonic() - t0 < 30:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] == "Z":
                break
            time.sleep(0.1)
        stopped = time.monotonic() - t0
        assert stopped < 1 + 3 * max(one, 1.0) + 2, f"exit took {stopped:.1f} s"
        print(f"SIGTERM to exit: {stopped:.2f} s")
