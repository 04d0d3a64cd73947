"""Jobs API fixtures: real Sentinel-2 / Landsat / LiDAR items in the session catalog and store,
the shipped algorithms registered through the CLI, and helpers to drive jobs over HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from objectstore import LocalStore, ObjectStore, asset_key
from tests.harness import ROOT, serve_process, stacworks
from tests.samples import COG_TYPE, bbox_item, stored_s2_item

DATA = ROOT.parent / "shared" / "data"
LANDSAT_DIR = DATA / "raster" / "landsat-c2-l2" / "LC08_L2SP_001062_20201031_20201106_02_T2"
COPC = DATA / "lidar" / "copc" / "autzen_clip_native.copc.laz"
ALGORITHMS = ROOT / "algorithms"
S2_KEYS = ("red", "nir", "scl")
LANDSAT_SR = {"nodata": 0, "data_type": "uint16", "scale": 2.75e-05, "offset": -0.2}


@dataclass(frozen=True)
class ProcessingData:
    """What the fixture registered: collections, item ids, the store root."""

    store_root: Path
    s2: str = "proc-sentinel-2-l2a"
    s2_item: str = "S2A_29RKH_20200219_0_L2A"
    s2_later: str = "S2A_29RKH_20200304_0_L2A"
    landsat: str = "proc-landsat-c2-l2"
    landsat_item: str = "LC08_L2SP_001062_20201031_20201106_02_T2"
    lidar: str = "proc-lidar"
    lidar_item: str = "autzen-clip"


def _collection(cid: str, title: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "title": title,
        "description": f"{title} (processing tests)",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [[None, None]]},
        },
    }


def landsat_item(store: ObjectStore, cid: str) -> dict[str, Any]:
    """The USGS SR item as Earth Search names its assets (red, nir08, qa_pixel)."""
    base = LANDSAT_DIR.name
    usgs = json.loads((LANDSAT_DIR / f"{base}_SR_stac.json").read_text())
    assets = {}
    for name, suffix in (("red", "SR_B4"), ("nir08", "SR_B5"), ("qa_pixel", "QA_PIXEL")):
        k = asset_key(cid, usgs["id"], name, "tif")
        store.put_file(k, LANDSAT_DIR / f"{base}_{suffix}.TIF")
        asset: dict[str, Any] = {"href": store.href(k), "type": COG_TYPE, "roles": ["data"]}
        if name != "qa_pixel":
            asset["eo:bands"] = [{"name": suffix, "common_name": name}]
            asset["raster:bands"] = [dict(LANDSAT_SR)]
        assets[name] = asset
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": usgs["id"],
        "collection": cid,
        "bbox": usgs["bbox"],
        "geometry": usgs["geometry"],
        "links": [],
        "properties": {
            "datetime": "2020-10-31T14:00:00Z",
            "platform": "landsat-8",
            "eo:cloud_cover": usgs["properties"]["eo:cloud_cover"],
        },
        "assets": assets,
    }


def lidar_item(store: ObjectStore, cid: str, item_id: str) -> dict[str, Any]:
    import laspy
    from pyproj import CRS, Transformer

    k = asset_key(cid, item_id, "data", "copc.laz")
    store.put_file(k, COPC)
    header = laspy.read(COPC).header
    crs = header.parse_crs()
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    to_wgs84 = Transformer.from_crs(horizontal, CRS.from_epsg(4326), always_xy=True)
    w, s = to_wgs84.transform(header.mins[0], header.mins[1])
    e, n = to_wgs84.transform(header.maxs[0], header.maxs[1])
    return bbox_item(cid, item_id, (w, s, e, n), "2015-01-01T00:00:00Z", {
        "data": {"href": store.href(k), "type": "application/vnd.laszip+copc", "roles": ["data"]},
    })


@pytest.fixture(scope="session")
def processing_data(
    stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ProcessingData:
    """Input items in the session catalog and store, and the example algorithms registered."""
    root = Path(stacworks_env["STACWORKS_HOME"]) / "objects"
    data = ProcessingData(store_root=root)
    store = LocalStore(root, fsync=False)
    records = [
        _collection(data.s2, "Sentinel-2 L2A"),
        _collection(data.landsat, "Landsat C2 L2"),
        _collection(data.lidar, "LiDAR"),
        stored_s2_item(store, data.s2, data.s2_item, when="2020-02-19T11:34:25Z", keys=S2_KEYS),
        stored_s2_item(store, data.s2, data.s2_later, when="2020-03-04T11:34:25Z", keys=S2_KEYS),
        landsat_item(store, data.landsat),
        lidar_item(store, data.lidar, data.lidar_item),
    ]
    path = tmp_path_factory.mktemp("processing-load") / "inputs.json"
    path.write_text(json.dumps(records))
    stacworks("load", "--mode", "upsert", str(path), env=stacworks_env)
    stacworks(
        "algorithm",
        "register",
        "--replace",
        *map(str, sorted(ALGORITHMS.glob("*.yaml"))),
        env=stacworks_env,
    )
    return data


@pytest.fixture(scope="session")
def api(server: str, processing_data: ProcessingData) -> Iterator[httpx.Client]:
    """An HTTP client on the composed server, with the processing data in place."""
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


# -- helpers -----------------------------------------------------------------------------------


def wait_job(
    client: httpx.Client,
    job_id: str,
    *,
    until: tuple[str, ...] = ("successful", "failed", "dismissed"),
    timeout: float = 120,
) -> dict[str, Any]:
    """Poll ``/jobs/{id}`` until its status is one of ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        info = client.get(f"/jobs/{job_id}").json()
        if info["status"] in until:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {info['status']} after {timeout}s: {info}")
        time.sleep(0.2)


def start_job(client: httpx.Client, process_id: str, inputs: dict[str, Any]) -> str:
    response = client.post(f"/processes/{process_id}/execution", json={"inputs": inputs})
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/jobs/{response.json()['jobID']}")
    return str(response.json()["jobID"])


def register_algorithm(env: dict[str, str], folder: Path, doc: dict[str, Any]) -> None:
    path = folder / f"{doc['name']}.json"
    path.write_text(json.dumps(doc))
    stacworks("algorithm", "register", "--replace", str(path), env=env)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@contextmanager
def own_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`stacworks serve` that the test may kill (yields the base URL and the process)."""
    with serve_process(env, log=log, timeout=90) as running:
        yield running


def shell_algorithm(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A test algorithm whose local command is a shell script (the contract in any language)."""
    return {
        "name": name,
        "version": "1.0.0",
        "cpu": 256,
        "memory": 512,
        "local_command": ["/bin/sh", "-c", script],
        "parameters": {"type": "object"},
        "typical_duration_seconds": 1,
        **extra,
    }


__all__ = [
    "ProcessingData",
    "alive",
    "api",
    "own_server",
    "processing_data",
    "register_algorithm",
    "shell_algorithm",
    "start_job",
    "wait_job",
]
