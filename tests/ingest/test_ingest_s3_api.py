"""Ingest into S3 (moto over HTTP), and the HTTP API: start a run, follow its status."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import laspy
import pytest
import rasterio

from tests.harness import BIN, ROOT, stacworks
from tests.ingest.fixtures import Loopback, store_for

pytestmark = pytest.mark.slow


def test_urls_into_s3(ingest_s3: dict[str, str], loopback: Loopback, ingest_stac_url: str) -> None:
    """A plain GeoTIFF (re-encoded to COG, described by rio-stac) and a LAZ, into S3."""
    laz = f"{loopback.base}/files/lidar/1_4_w_evlr.laz"
    res = stacworks(
        "ingest",
        "--source",
        "urls",
        "--collection",
        "s3-test",
        "--url",
        loopback.published["rgb"],
        "--url",
        laz,
        env=ingest_s3,
    )
    assert "2 done, 0 failed" in res.stdout, res.stdout + res.stderr
    from objectstore import gdal_environment, load_settings

    store = store_for(ingest_s3)
    rgb = httpx.get(f"{ingest_stac_url}/collections/s3-test/items/RGB.byte", timeout=30).json()
    href = rgb["assets"]["data"]["href"]
    assert href == "s3://ingest/objects/s3-test/RGB.byte/data.tif"
    assert rgb["properties"]["proj:code"] == "EPSG:32618"
    assert rgb["assets"]["data"]["raster:bands"][0]["data_type"] == "uint8"
    key = store.key_for_href(href)
    assert store.stat(key).size == rgb["assets"]["data"]["file:size"]
    saved = {k: v for k, v in ingest_s3.items() if k.startswith("STACWORKS_")}
    import os

    old = {k: os.environ.get(k) for k in saved}
    os.environ.update(saved)
    try:
        with gdal_environment(load_settings()), rasterio.open(store.gdal_path(key)) as src:
            assert src.count == 3 and src.overviews(1)
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    las = httpx.get(f"{ingest_stac_url}/collections/s3-test/items/1_4_w_evlr", timeout=30).json()
    assert las["assets"]["data"]["href"].startswith("s3://ingest/objects/s3-test/1_4_w_evlr/")
    data = store.get(store.key_for_href(las["assets"]["data"]["href"]))
    import io

    with laspy.CopcReader(io.BytesIO(data)) as r:
        assert r.header.point_count == las["properties"]["pc:count"]


def test_http_api_start_and_status(
    ingest_env: dict[str, str],
    loopback: Loopback,
    ingest_server: str,
    ingest_stac_url: str,
    tmp_path: Path,
) -> None:
    """POST /ingest/runs on the served app; a worker processes it; GET shows the progress.
    The asset answers 503 twice first: the product is retried with backoff and succeeds."""
    url = f"{loopback.base}/files/lidar/1_4_w_evlr.laz"
    loopback.stac.fail["/files/lidar/1_4_w_evlr.laz"] = 2
    bad = httpx.post(f"{ingest_server}/ingest/runs", json={"source": "nowhere"}, timeout=30)
    assert bad.status_code == 400 and "unknown 'nowhere'" in bad.json()["description"]
    assert httpx.get(f"{ingest_server}/ingest/runs/987654", timeout=10).status_code == 404
    r = httpx.post(
        f"{ingest_server}/ingest/runs",
        json={"source": "urls", "collection": "api-lidar", "urls": [url]},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["counts"]["found"] == 1 and run["counts"]["queued"] == 1
    worker = subprocess.Popen(
        [str(BIN / "stacworks"), "worker"],
        env=ingest_env,
        cwd=ROOT,
        stdout=(tmp_path / "w.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = httpx.get(f"{ingest_server}/ingest/runs/{run['id']}", timeout=10).json()
            if status["status"] in ("done", "failed", "partial"):
                break
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    assert status["status"] == "done", (status["products"], (tmp_path / "w.log").read_text())
    (product,) = status["products"]
    assert product["attempts"] == 3 and product["status"] == "done"
    assert set(product["timings"]) >= {"download_s", "convert_s", "upload_s", "total_s"}
    assert status["seconds"] > 0 and status["finished_at"]
    listed = httpx.get(f"{ingest_server}/ingest/runs", timeout=10).json()["runs"]
    assert any(x["id"] == run["id"] and x["counts"]["done"] == 1 for x in listed)
    item = httpx.get(f"{ingest_stac_url}/collections/api-lidar/items/1_4_w_evlr", timeout=10).json()
    assert item["properties"]["pc:count"] == 1000
    # The same request again: nothing to do, and the response says so.
    again = httpx.post(
        f"{ingest_server}/ingest/runs",
        json={"source": "urls", "collection": "api-lidar", "urls": [url]},
        timeout=60,
    ).json()
    assert again["counts"]["skipped"] == 1 and "nothing to do" in again["message"]
