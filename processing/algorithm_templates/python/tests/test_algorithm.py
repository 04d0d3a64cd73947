"""The algorithm under the task contract: a small GeoTIFF and its STAC item as input."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin


@pytest.fixture
def contract(tmp_path, monkeypatch):
    raster = tmp_path / "band.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=4, height=3, count=1, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10),
                       nodata=0) as dst:
        dst.write(np.arange(12, dtype="uint16").reshape(3, 4), 1)
    item = {"type": "Feature", "stac_version": "1.1.0", "id": "example", "properties": {},
            "geometry": None, "links": [], "assets": {"red": {"href": str(raster)}}}
    (tmp_path / "item.json").write_text(json.dumps(item))
    out = tmp_path / "out"
    monkeypatch.setenv("STACWORKS_INPUT_ITEMS", json.dumps([(tmp_path / "item.json").as_uri()]))
    monkeypatch.setenv("STACWORKS_INPUT_ASSETS", json.dumps([{"red": str(raster)}]))
    monkeypatch.setenv("STACWORKS_OUTPUT_DIR", str(out))
    monkeypatch.setenv("STACWORKS_PARAMETERS", json.dumps({"factor": 0.5}))
    return out


def test_scales_the_band_and_describes_the_output(contract):
    import algorithm

    algorithm.main()
    outputs = json.loads((contract / "outputs.json").read_text())["outputs"]
    assert outputs == [{"path": "example_scaled.tif", "asset": "scaled", "title": "red scaled",
                        "roles": ["data"], "input": 0}]
    with rasterio.open(contract / "example_scaled.tif") as src:
        data = src.read(1)
    assert np.isnan(data[0, 0])  # nodata stays nodata
    assert data[2, 3] == pytest.approx(5.5)


def test_no_input_is_an_error(contract, monkeypatch):
    import algorithm

    monkeypatch.setenv("STACWORKS_INPUT_ITEMS", "[]")
    with pytest.raises(SystemExit) as exc:
        algorithm.main()
    assert exc.value.code == 2
