"""End to end through the jobs API: the NDVI workflow over real Sentinel-2 and Landsat items,
its outputs found by STAC search with provenance, values checked against numpy, and tiles."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from tests.processing.jobs_fixtures import LANDSAT_DIR, ProcessingData, start_job, wait_job
from tests.samples import S2_DIR

OGC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"
WORKFLOW_ID = "ndvi-e2e"


def ecs_task(algorithm: str, items: str = "$.items", **fields: Any) -> dict[str, Any]:
    """A Task in the Step Functions ECS shape (deployable unchanged)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {
            "Cluster": "stacworks", "LaunchType": "FARGATE",
            "TaskDefinition": f"stacworks-{algorithm}",
            "Overrides": {"ContainerOverrides": [{"Name": algorithm, "Environment": [
                {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": f"States.JsonToString({items})"},
                {"Name": "STACWORKS_PARAMETERS", "Value.$": "States.JsonToString($.parameters)"},
            ]}]},
        },
    }
    state.update(fields)
    if "Next" not in state:
        state["End"] = True
    return state


NDVI_WORKFLOW = {
    "id": WORKFLOW_ID,
    "title": "NDVI of each item",
    "definition": {
        "Comment": "NDVI of each input item",
        "StartAt": "EachItem",
        "States": {
            "EachItem": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"items.$": "States.Array($$.Map.Item.Value)",
                                 "parameters.$": "$.parameters"},
                "MaxConcurrency": 2,
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "NDVI",
                                  "States": {"NDVI": ecs_task(
                                      "ndvi", ResultSelector={"item.$": "$.Items[0]"})}},
                "ResultPath": "$.ndvi",
                "End": True,
            }
        },
    },
}


def expected_ndvi(red_path: str, nir_path: str, scale: float, offset: float) -> np.ndarray:
    with rasterio.open(red_path) as r, rasterio.open(nir_path) as n:
        red = r.read(1).astype(np.float64) * scale + offset
        nir = n.read(1).astype(np.float64) * scale + offset
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


def read_asset(href: str) -> np.ndarray:
    with rasterio.open(href) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def ndvi_job(api: httpx.Client, processing_data: ProcessingData) -> dict[str, Any]:
    response = api.post("/workflows", json=NDVI_WORKFLOW)
    if response.status_code == 409:  # a rerun against the same session catalog
        response = api.put(f"/workflows/{WORKFLOW_ID}", json=NDVI_WORKFLOW)
    assert response.status_code in (200, 201), response.text
    d = processing_data
    job_id = start_job(api, WORKFLOW_ID, {
        "items": [{"collection": d.s2, "id": d.s2_item}, f"{d.landsat}/{d.landsat_item}"],
        "parameters": {"mask_clouds": True},
    })
    info = wait_job(api, job_id)
    assert info["status"] == "successful", (info.get("error"), info.get("cause"))
    return info


def test_processes_list_workflows_and_algorithms(api: httpx.Client, ndvi_job: dict) -> None:
    processes = {p["id"]: p for p in api.get("/processes").json()["processes"]}
    assert {WORKFLOW_ID, "algorithm:ndvi", "algorithm:lidar-dtm",
            "algorithm:median-composite"} <= set(processes)
    described = api.get("/processes/algorithm:ndvi").json()
    assert described["inputs"]["parameters"]["schema"]["properties"]["mask_clouds"]["type"] == (
        "boolean")
    assert {"items", "search", "parameters"} <= set(described["inputs"])


def test_ndvi_outputs_in_catalog_with_provenance(
    api: httpx.Client, ndvi_job: dict, processing_data: ProcessingData
) -> None:
    d = processing_data
    job_id = ndvi_job["jobID"]
    results = api.get(f"/jobs/{job_id}/results").json()["items"]["features"]
    assert len(results) == 2
    ids = [f["id"] for f in results]
    found = api.post("/stac/search", json={"collections": [WORKFLOW_ID], "ids": ids}).json()
    assert sorted(f["id"] for f in found["features"]) == sorted(ids)
    by_input = {}
    for item in found["features"]:
        props = item["properties"]
        assert props["processing:software"]["ndvi"].startswith("1.0.0")
        assert props["stacworks:workflow"] == {"id": WORKFLOW_ID, "version": 1} or (
            props["stacworks:workflow"]["id"] == WORKFLOW_ID)
        assert props["stacworks:execution"] == job_id
        assert props["stacworks:parameters"] == {"mask_clouds": True}
        assert props["stacworks:algorithm"]["image"] == "stacworks/algorithms:1.0.0"
        derived = [link["href"] for link in item["links"] if link["rel"] == "derived_from"]
        assert len(derived) == 1
        by_input[derived[0].rsplit("/", 1)[1]] = item
        assert item["assets"]["ndvi"]["type"].endswith("profile=cloud-optimized")
        assert item["assets"]["ndvi"]["raster:bands"][0]["data_type"] == "float32"
    assert set(by_input) == {d.s2_item, d.landsat_item}
    assert by_input[d.s2_item]["properties"]["datetime"].startswith("2020-02-19")

    # Sentinel-2: NDVI from reflectance (scale 1e-4, offset 0 for baseline 02.14), clouds masked.
    ndvi = read_asset(by_input[d.s2_item]["assets"]["ndvi"]["href"])
    expected = expected_ndvi(str(S2_DIR / "B04.tif"), str(S2_DIR / "B08.tif"), 1e-4, 0.0)
    with rasterio.open(S2_DIR / "SCL.tif") as src:
        scl = src.read(1, out_shape=ndvi.shape, resampling=Resampling.nearest)
    clear = ~np.isin(scl, (0, 1, 3, 8, 9, 10))
    rows, cols = np.nonzero(clear)
    for k in (0, len(rows) // 3, len(rows) // 2, len(rows) - 1):
        r, c = rows[k], cols[k]
        assert ndvi[r, c] == pytest.approx(expected[r, c], abs=1e-5)
    cloudy = np.argwhere(np.isin(scl, (8, 9, 10)))
    assert len(cloudy) and all(np.isnan(ndvi[r, c]) for r, c in cloudy[:20])
    assert np.nanmax(np.abs(ndvi[clear] - expected[clear])) < 1e-5

    # Landsat: 99.9 % cloud cover; QA_PIXEL masks every pixel of this scene.
    landsat = read_asset(by_input[d.landsat_item]["assets"]["ndvi"]["href"])
    with rasterio.open(next(LANDSAT_DIR.glob("*_QA_PIXEL.TIF"))) as src:
        qa = src.read(1)
    assert np.isnan(landsat[(qa & 0b11111) != 0]).all()


def test_ndvi_collection_renders_and_tile(
    api: httpx.Client, ndvi_job: dict, processing_data: ProcessingData
) -> None:
    collection = api.get(f"/stac/collections/{WORKFLOW_ID}").json()
    assert collection["renders"]["ndvi"]["rescale"] == [[-1, 1]]
    assert collection["renders"]["ndvi"]["colormap_name"] == "rdylgn"
    health = api.get("/tiles/healthz")
    assert health.status_code == 200, health.text  # the tiler is part of every server
    item_id = f"{processing_data.s2_item}"
    item = next(f for f in api.get(f"/jobs/{ndvi_job['jobID']}/results").json()["items"][
        "features"] if f["id"].startswith(item_id))
    import morecantile

    w, s, e, n = item["bbox"]
    tile = morecantile.tms.get("WebMercatorQuad").tile((w + e) / 2, (s + n) / 2, 9)
    response = api.get(f"/tiles/collections/{WORKFLOW_ID}/items/{item['id']}/tiles/"
                       f"WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png",
                       params={"assets": "ndvi", "rescale": "-1,1", "colormap_name": "rdylgn"})
    assert response.status_code == 200, response.text
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert image.shape[-1] == 4 and image[..., 3].max() == 255  # some opaque NDVI pixels


def test_job_status_logs_and_cost(api: httpx.Client, ndvi_job: dict) -> None:
    info = api.get(f"/jobs/{ndvi_job['jobID']}").json()
    assert info["progress"] == 100
    assert info["states"]["NDVI"]["succeeded"] == 2
    assert info["cost"]["task_runs"] == 2 and info["cost"]["usd"] > 0
    logs = api.get(f"/jobs/{ndvi_job['jobID']}/logs").json()
    assert len(logs["tasks"]) == 2
    for task in logs["tasks"]:
        assert task["exit_code"] == 0 and task["status"] == "succeeded"
        assert task["cpu"] == 1024 and task["memory"] == 2048
        assert task["cost_usd"] == pytest.approx(
            (1 * 0.04048 + 2 * 0.004445) * 60 / 3600, rel=1e-3)  # billed one-minute minimum
        assert any("clear pixels" in line["message"] for line in task["lines"])
    streamed = api.get(f"/jobs/{ndvi_job['jobID']}/logs", params={"follow": "true"})
    lines = [line for line in streamed.text.splitlines() if line]
    assert lines[-1] == '{"status": "successful"}' and len(lines) > 2
    jobs = api.get("/jobs", params={"processID": WORKFLOW_ID}).json()["jobs"]
    assert ndvi_job["jobID"] in {j["jobID"] for j in jobs}


def test_unknown_job_and_bad_input(api: httpx.Client, ndvi_job: dict) -> None:
    missing = api.get("/jobs/does-not-exist")
    assert missing.status_code == 404
    assert missing.json()["type"] == f"{OGC}/no-such-job"
    assert api.get("/jobs/does-not-exist/results").status_code == 404
    bad = api.post("/processes/algorithm:ndvi/execution",
                   json={"inputs": {"items": ["a/b"], "parameters": {"mask_clouds": "yes"}}})
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("inputs.parameters.mask_clouds")
    unknown = api.post("/processes/algorithm:ndvi/execution", json={"inputs": {"itemz": []}})
    assert unknown.status_code == 400 and "inputs.itemz" in unknown.json()["detail"]
    no_process = api.post("/processes/nope/execution", json={"inputs": {"items": ["a/b"]}})
    assert no_process.status_code == 404
    assert no_process.json()["type"] == f"{OGC}/no-such-process"
