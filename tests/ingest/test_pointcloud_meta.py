"""pointcloud_metadata: STAC pointcloud + projection fields from real LAS/LAZ/COPC files."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import laspy
import numpy as np
import pytest
from referencing import Registry, Resource
from samples import COPC_DIR, DATA, LAS_DIR

from ingest.convert import (
    EmptyInputError,
    PointCloudMetadata,
    TruncatedInputError,
    UnreadableInputError,
    pointcloud_metadata,
)

pytestmark = pytest.mark.usefixtures("shared_data")  # missing sample data fails the tests
SCHEMAS = DATA / "stac-schemas"


def stats_by_name(meta: PointCloudMetadata) -> dict[str, dict]:
    return {s["name"]: s for s in meta.properties["pc:statistics"]}


def test_fields_and_statistics_match_a_full_read() -> None:
    path = LAS_DIR / "autzen_trim.las"
    meta = pointcloud_metadata(path)
    props = meta.properties
    assert props["pc:count"] == 110_000
    assert props["pc:type"] == "lidar"
    assert props["pc:encoding"] == "application/vnd.las"
    schemas = {s["name"]: s for s in props["pc:schemas"]}
    assert schemas["X"] == {"name": "X", "size": 4, "type": "signed", "scale": 0.01, "offset": 0.0}
    assert schemas["Classification"] == {"name": "Classification", "size": 1, "type": "unsigned"}
    assert schemas["GpsTime"]["type"] == "floating" and schemas["Red"]["size"] == 2

    las = laspy.read(path)
    stats = stats_by_name(meta)
    for name, values in {
        "Z": np.asarray(las.z),
        "Intensity": np.asarray(las.intensity, dtype=float),
        "GpsTime": np.asarray(las.gps_time),
        "Classification": np.asarray(las.classification, dtype=float),
    }.items():
        s = stats[name]
        assert s["count"] == len(values)
        assert s["minimum"] == values.min() and s["maximum"] == values.max()
        assert s["average"] == pytest.approx(values.mean(), rel=1e-12)
        assert s["stddev"] == pytest.approx(values.std(), rel=1e-9)


def test_streaming_statistics_do_not_depend_on_the_chunk_size() -> None:
    path = LAS_DIR / "autzen_trim.laz"
    whole = stats_by_name(pointcloud_metadata(path))
    chunked = stats_by_name(pointcloud_metadata(path, chunk_size=7_777))
    for name, s in whole.items():
        for key in ("count", "minimum", "maximum"):
            assert chunked[name][key] == s[key]
        assert chunked[name]["average"] == pytest.approx(s["average"], rel=1e-12)
        assert chunked[name]["variance"] == pytest.approx(s["variance"], rel=1e-9, abs=1e-12)


def test_epsg_code_bbox_and_footprint_in_wgs84() -> None:
    meta = pointcloud_metadata(LAS_DIR / "mvk-thin.las")
    props = meta.properties
    assert props["proj:code"] == "EPSG:26995"
    assert "proj:wkt2" not in props
    assert props["proj:bbox"] == pytest.approx(
        [2045001.76, 1267501.19, 95.79, 2049993.92, 1272499.79, 228.73]
    )
    assert meta.bbox is not None and meta.geometry is not None
    west, south, east, north = meta.bbox
    assert -75 < west < east < -74.5 and 39.8 < south < north < 39.95  # Mississippi West ftUS
    ring = meta.geometry["coordinates"][0]
    assert meta.geometry["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) > 5
    lons, lats = zip(*ring, strict=True)
    assert (min(lons), min(lats), max(lons), max(lats)) == pytest.approx(tuple(meta.bbox))


def test_wkt_without_registry_code_goes_to_proj_wkt2() -> None:
    meta = pointcloud_metadata(LAS_DIR / "autzen_trim.laz")
    assert meta.properties["proj:code"] is None
    assert meta.properties["proj:wkt2"].startswith("PROJCRS[")
    assert meta.bbox is not None
    west, south, east, north = meta.bbox
    assert -123.1 < west < east < -123.0 and 44.0 < south < north < 44.1  # Autzen Stadium


def test_copc_encoding_and_compound_crs() -> None:
    meta = pointcloud_metadata(COPC_DIR / "autzen_clip_native.copc.laz")
    assert meta.properties["pc:encoding"] == "application/vnd.laszip+copc"
    assert meta.properties["pc:count"] == 43
    assert meta.bbox is not None


def test_no_crs_gives_no_footprint() -> None:
    meta = pointcloud_metadata(LAS_DIR / "1.2-with-color.las")
    assert meta.properties["proj:code"] is None and "proj:wkt2" not in meta.properties
    assert meta.bbox is None and meta.geometry is None
    assert len(meta.properties["proj:bbox"]) == 6


@pytest.mark.parametrize("name", ["mvk-thin.las", "autzen_trim.laz", "test1_4.las"])
def test_properties_validate_against_the_extension_schemas(name: str) -> None:
    assert SCHEMAS.is_dir(), f"offline STAC schemas missing: {SCHEMAS}"
    meta = pointcloud_metadata(LAS_DIR / name)
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": meta.stac_extensions,
        "id": name,
        "geometry": meta.geometry,
        "bbox": meta.bbox,
        "properties": {"datetime": "2020-01-01T00:00:00Z", **meta.properties},
        "links": [],
        "assets": {},
    }
    registry: Registry = Registry(retrieve=_local_schema)  # type: ignore[call-arg]
    for uri in meta.stac_extensions:
        schema = _local_schema(uri).contents
        jsonschema.Draft7Validator(schema, registry=registry).validate(item)


def _local_schema(uri: str) -> Resource:
    """Resolve a schema URL to the offline mirror in shared/data/stac-schemas."""
    url = urlparse(uri)
    path = SCHEMAS / url.netloc / url.path.lstrip("/")
    return Resource.from_contents(json.loads(path.read_text()))


# --- bad input ----------------------------------------------------------------------------------

BROKEN = {
    "empty": EmptyInputError,
    "garbage": UnreadableInputError,
    "truncated_las": TruncatedInputError,
    "truncated_laz": TruncatedInputError,
    "bad_count": TruncatedInputError,
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_input_raises_a_clear_error(case: str, broken_las: dict[str, Path]) -> None:
    with pytest.raises(BROKEN[case], match=str(broken_las[case].name)):
        pointcloud_metadata(broken_las[case])
