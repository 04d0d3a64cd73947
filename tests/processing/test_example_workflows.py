"""The shipped example workflows (examples/workflows/*.json): valid, and they run.

Each is validated with our validator through the CLI; the LiDAR one runs on the local executor
with no database; the NDVI composite runs against the session catalog's real Sentinel-2 items
(both branches of its Choice: one date, two dates).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT, stacworks
from tests.processing.jobs_fixtures import ALGORITHMS, COPC, ProcessingData, start_job, wait_job

EXAMPLES = ROOT / "examples" / "workflows"
FILES = sorted(EXAMPLES.glob("*.json"))


def test_the_three_examples_are_there_and_documented() -> None:
    assert [f.name for f in FILES] == ["lidar-dtm.json", "ndvi-composite.json", "ndvi-map.json"]
    readme = (EXAMPLES / "README.md").read_text()
    for f in FILES:
        doc = json.loads(f.read_text())
        assert doc["Comment"] and f.name in readme
    kinds = {s["Type"] for s in json.loads((EXAMPLES / "ndvi-composite.json").read_text())
             ["States"].values()}
    assert {"Map", "Choice", "Task", "Pass"} <= kinds
    assert "examples/workflows" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_example_validates(path: Path, env_no_db: dict[str, str]) -> None:
    res = stacworks("workflow", "validate", str(path), env=env_no_db)
    assert "valid" in res.stdout and "warning" not in res.stderr, res.stderr


def test_lidar_dtm_example_runs_locally(tmp_path: Path, env_no_db: dict[str, str]) -> None:
    item = tmp_path / "autzen.json"
    item.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "autzen", "bbox": [0, 0, 1, 1],
        "geometry": None, "properties": {"datetime": "2015-01-01T00:00:00Z"},
        "assets": {"data": {"href": str(COPC)}}, "links": []}))
    res = stacworks("workflow", "run", str(EXAMPLES / "lidar-dtm.json"), "--input",
                    json.dumps({"items": [str(item)], "parameters": {"resolution": 10}}),
                    "--algorithm", str(ALGORITHMS / "lidar-dtm.yaml"),
                    "--work-dir", str(tmp_path / "work"), env=env_no_db)
    (model,) = json.loads(res.stdout)["models"]
    assert sorted(o["asset"] for o in model["Outputs"]) == ["dsm", "dtm"]
    assert all(Path(o["path"]).is_file() for o in model["Outputs"])


def _run(env: dict[str, str], path: Path, items: list[str]) -> dict[str, Any]:
    res = stacworks("workflow", "run", str(path), "--input",
                    json.dumps({"items": items, "parameters": {"mask_clouds": False}}), env=env,
                    timeout=300)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_ndvi_composite_example_both_branches(stacworks_env: dict[str, str],
                                              processing_data: ProcessingData,
                                              tmp_path: Path) -> None:
    d = processing_data
    path = tmp_path / "example-ndvi-composite.json"  # its own output collection
    shutil.copyfile(EXAMPLES / "ndvi-composite.json", path)
    one = _run(stacworks_env, path, [f"{d.s2}/{d.s2_item}"])
    assert one["composite"] is None and len(one["ndvi"]) == 1
    two = _run(stacworks_env, path, [f"{d.s2}/{d.s2_item}", f"{d.s2}/{d.s2_later}"])
    assert len(two["ndvi"]) == 2 and two["composite"], two
    assert "error" not in two


def test_ndvi_map_example_as_a_job_serves_download_urls(
    api: httpx.Client, processing_data: ProcessingData
) -> None:
    """The example imported through the API and run as a job: its results' asset hrefs are
    /assets URLs a client downloads (no server path), like every STAC response."""
    definition = json.loads((EXAMPLES / "ndvi-map.json").read_text())
    r = api.post("/workflows", json={"id": "example-ndvi-map", "definition": definition})
    assert r.status_code in (201, 409), r.text
    d = processing_data
    job = start_job(api, "example-ndvi-map", {"items": [f"{d.s2}/{d.s2_item}"],
                                              "parameters": {"mask_clouds": False}})
    assert wait_job(api, job, timeout=180)["status"] == "successful"
    results = api.get(f"/jobs/{job}/results").json()
    (item,) = results["items"]["features"]
    href = item["assets"]["ndvi"]["href"]
    base = str(api.base_url).rstrip("/")
    assert href == f"{base}/assets/{item['collection']}/{item['id']}/ndvi"
    assert str(d.store_root) not in json.dumps(results)
    got = api.get(href, headers={"Range": "bytes=0-3"})
    assert got.status_code == 206 and got.content[:2] in (b"II", b"MM")
