"""The LiDAR workflow through the jobs API on a real COPC file: a DTM and a DSM as COGs."""

from __future__ import annotations

import httpx
import laspy
import numpy as np
import rasterio

from tests.processing.jobs_fixtures import COPC, ProcessingData, start_job, wait_job


def test_lidar_dtm_from_copc(api: httpx.Client, processing_data: ProcessingData) -> None:
    d = processing_data
    job = start_job(api, "algorithm:lidar-dtm", {
        "search": {"collections": [d.lidar], "ids": [d.lidar_item]},
        "parameters": {"resolution": 5},
    })
    info = wait_job(api, job, timeout=90)
    assert info["status"] == "successful", (info.get("error"), info.get("cause"))
    (item,) = api.get(f"/jobs/{job}/results").json()["items"]["features"]
    assert item["collection"] == "lidar-dtm"
    assert set(item["assets"]) == {"dtm", "dsm"}
    assert item["properties"]["gsd"] == 5
    assert item["properties"]["stacworks:parameters"] == {"resolution": 5}
    cloud = laspy.read(COPC)
    z = np.asarray(cloud.z)
    ground = z[np.asarray(cloud.classification) == 2]
    with rasterio.open(item["assets"]["dsm"]["href"]) as src:
        assert src.res == (5.0, 5.0) and src.crs is not None
        dsm = src.read(1, masked=True)
    with rasterio.open(item["assets"]["dtm"]["href"]) as src:
        dtm = src.read(1, masked=True)
    assert dsm.max() == np.float32(z.max())  # the highest point is a DSM cell
    assert dtm.mask.sum() == 0  # gaps filled from the ground points
    assert ground.min() - 1e-3 <= dtm.min() and dtm.max() <= ground.max() + 1e-3
    found = api.get(f"/stac/collections/lidar-dtm/items/{item['id']}")
    assert found.status_code == 200
    renders = api.get("/stac/collections/lidar-dtm").json()["renders"]
    assert renders["dtm"]["colormap_name"] == "terrain"
