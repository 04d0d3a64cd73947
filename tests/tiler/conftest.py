"""Fixtures: real Sentinel-2 / Landsat COGs copied into our stores and registered as items.

The local store is the session server's (``$STACWORKS_HOME/objects``). The S3 store is a
``moto_server`` on loopback, read by a second, standalone ``stacworks serve tiles`` that is
configured for it, on the same catalog database.
"""

from __future__ import annotations

import copy
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from objectstore import LocalStore, ObjectStore, S3Store, asset_key
from tests.harness import moto_server, serve, stacworks
from tests.samples import COG_TYPE, S2_DIR, bbox_item, stored_s2_item
from tiler.render import default_renders

RASTER = Path(__file__).resolve().parents[3] / "shared" / "data" / "raster"
LANDSAT_DIR = RASTER / "landsat-c2-l2" / "LC08_L2SP_001062_20201031_20201106_02_T2"
TITILER_DIR = RASTER / "sentinel2-titiler"
S3_KEY_ID = "AKIATILERTEST0001"
S3_SECRET = "tiler-" + uuid.uuid4().hex

#: USGS asset names -> Earth Search names (our keys cannot hold the dot of "SR_B4.TIF").
LANDSAT_BANDS = {
    "SR_B1": "coastal",
    "SR_B2": "blue",
    "SR_B3": "green",
    "SR_B4": "red",
    "SR_B5": "nir08",
    "SR_B6": "swir16",
    "SR_B7": "swir22",
}
LANDSAT_SR = {"nodata": 0, "data_type": "uint16", "scale": 2.75e-05, "offset": -0.2}


@dataclass(frozen=True)
class TileData:
    """What the fixtures registered: collection ids, item ids and the source files."""

    s2: str = "tiles-s2"
    s2_item: str = "S2A_29RKH_20200219_0_L2A"
    landsat: str = "tiles-lc08"  # no "landsat": the catalog tests free-text search it
    landsat_item: str = "LC08_L2SP_001062_20201031_20201106_02_T2"
    visual: str = "tiles-visual"
    visual_item: str = "titiler-tci"
    hostile: str = "tiles-hostile"
    hostile_item: str = "hostile"
    s3: str = "tiles-s2-s3"
    s3_item: str = "S2A_29RKH_20200219_0_L2A-s3"


def png(content: bytes) -> np.ndarray:
    """Decode a PNG into an (h, w, bands) array."""
    img = Image.open(io.BytesIO(content))
    img.load()
    arr = np.asarray(img)
    return arr if arr.ndim == 3 else arr[:, :, None]


def collection(cid: str, item: dict[str, Any], title: str) -> dict[str, Any]:
    """A collection whose item_assets describe ``item``'s assets, with default renders."""
    bbox = item["bbox"]
    coll: dict[str, Any] = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "title": title,
        "description": f"{title} (tiler tests)",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[item["properties"]["datetime"], None]]},
        },
        "item_assets": {
            k: {kk: vv for kk, vv in a.items() if kk != "href"} for k, a in item["assets"].items()
        },
    }
    coll["renders"] = default_renders(coll)
    return coll


def landsat_item(store: ObjectStore, cid: str) -> dict[str, Any]:
    base = LANDSAT_DIR.name
    item = json.loads((LANDSAT_DIR / f"{base}_SR_stac.json").read_text())
    # USGS wrote it as STAC 1.0.0-beta (eo:bands in properties): bring it to 1.0.0.
    item = {**item, "collection": cid, "links": [], "stac_extensions": [], "stac_version": "1.0.0"}
    props = {k: v for k, v in item["properties"].items() if k != "eo:bands"}
    item["properties"] = {**props, "datetime": "2020-10-31T14:00:00Z"}
    assets = {}
    for usgs, name in LANDSAT_BANDS.items():
        k = asset_key(cid, item["id"], name, "tif")
        store.put_file(k, LANDSAT_DIR / f"{base}_{usgs}.TIF")
        assets[name] = {
            "href": store.href(k),
            "type": COG_TYPE,
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": usgs, "common_name": name}],
            "raster:bands": [dict(LANDSAT_SR)],
        }
    item["assets"] = assets
    return item


def visual_item(store: ObjectStore, cid: str, item_id: str) -> dict[str, Any]:
    """titiler's TCI sample (3-band uint8, UTM 34N) as a single-asset item."""
    import rasterio
    from rasterio.warp import transform_bounds

    src = TITILER_DIR / "TCI.tif"
    with rasterio.open(src) as ds:
        w, s, e, n = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    k = asset_key(cid, item_id, "visual", "tif")
    store.put_file(k, src)
    return bbox_item(cid, item_id, (w, s, e, n), "2019-01-01T00:00:00Z", {
        "visual": {
            "href": store.href(k),
            "type": COG_TYPE,
            "roles": ["visual"],
            "eo:bands": [{"common_name": c} for c in ("red", "green", "blue")],
        }
    })


def hostile_item(store: LocalStore, template: dict[str, Any], cid: str, item_id: str) -> dict:
    """One item whose assets point everywhere they must not (and one good asset)."""
    root = str(store.root)
    good_key = asset_key(cid, item_id, "good", "tif")
    store.put_file(good_key, S2_DIR / "B04.tif")
    vrt_key = asset_key(cid, item_id, "vrt", "tif")
    store.put_bytes(
        vrt_key,
        (
            b'<VRTDataset rasterXSize="64" rasterYSize="64"><VRTRasterBand dataType="Byte" band="1">'  # noqa: E501
            b'<SimpleSource><SourceFilename relativeToVRT="0">/etc/passwd</SourceFilename>'
            b"<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
        ),
    )
    hrefs = {
        "good": store.href(good_key),
        "vrt": store.href(vrt_key),
        "missing": store.href(asset_key(cid, item_id, "missing", "tif")),
        "directory": f"{root}/{cid}",
        "traversal": f"{root}/{cid}/../../../../etc/passwd",
        "outside": str(S2_DIR / "B04.tif"),
        "fileurl": "file:///etc/passwd",
        "vsicurl": "/vsicurl/http://169.254.169.254/latest/meta-data/iam.tif",
        "metadata": "http://169.254.169.254/latest/meta-data/x.tif",
        "vsizip": f"/vsizip/{root}/{cid}/a.zip/b.tif",
        "s3other": "s3://someone-elses-bucket/secret.tif",
    }
    item = copy.deepcopy(template)
    item.update(id=item_id, collection=cid)
    item["assets"] = {k: {"href": v, "type": COG_TYPE, "roles": ["data"]} for k, v in hrefs.items()}
    return item


def _load(env: dict[str, str], tmp: Path, records: list[dict[str, Any]], name: str) -> None:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(records))
    stacworks("load", "--mode", "upsert", str(path), env=env)


@pytest.fixture(scope="session")
def tile_data(stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> TileData:
    """Collections and items in the session catalog, assets in its local store."""
    data = TileData()
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    s2 = stored_s2_item(store, data.s2, data.s2_item)
    ls = landsat_item(store, data.landsat)
    vis = visual_item(store, data.visual, data.visual_item)
    bad = hostile_item(store, s2, data.hostile, data.hostile_item)
    records: list[dict[str, Any]] = [
        collection(data.s2, s2, "Sentinel-2 L2A (test)"),
        collection(data.landsat, ls, "LC08 C2 L2 surface reflectance (test)"),
        collection(data.visual, vis, "Sentinel-2 TCI (test)"),
        {**collection(data.hostile, s2, "Hostile hrefs"), "renders": {}},
        s2,
        ls,
        vis,
        bad,
    ]
    _load(stacworks_env, tmp_path_factory.mktemp("tiles-load"), records, "tiles")
    return data


@pytest.fixture(scope="session")
def tiles_url(server: str, tile_data: TileData) -> str:
    """The tile service inside the composed ``stacworks serve`` app."""
    return f"{server}/tiles"


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


# -- S3 --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiles_moto() -> Iterator[str]:
    """``moto_server`` on a free loopback port for the tiler's S3 tests."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_tiles(
    stacworks_env: dict[str, str],
    tiles_moto: str,
    tile_data: TileData,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The S2 item in an S3 bucket, and `stacworks serve tiles` configured for that store."""
    bucket = f"tiles-{uuid.uuid4().hex[:12]}"
    store = S3Store(
        bucket, "cat", endpoint_url=tiles_moto, access_key_id=S3_KEY_ID, secret_access_key=S3_SECRET
    )
    store.client.create_bucket(Bucket=bucket)
    item = stored_s2_item(store, tile_data.s3, tile_data.s3_item)
    keep = ("red", "green", "blue")
    item["assets"] = {k: v for k, v in item["assets"].items() if k in keep}
    # The local-store S2 item's red band, for the "outside this server's store" check.
    item["assets"]["local"] = {
        "href": str(
            Path(stacworks_env["STACWORKS_HOME"])
            / "objects"
            / asset_key(tile_data.s2, tile_data.s2_item, "red", "tif")
        ),
        "type": COG_TYPE,
    }
    _load(
        stacworks_env,
        tmp_path_factory.mktemp("tiles-s3"),
        [collection(tile_data.s3, item, "Sentinel-2 on S3 (test)"), item],
        "s3",
    )
    env = {
        **stacworks_env,
        "STACWORKS_STORE": f"s3://{bucket}/cat",
        "STACWORKS_S3_ENDPOINT": tiles_moto,
        "STACWORKS_S3_ACCESS_KEY_ID": S3_KEY_ID,
        "STACWORKS_S3_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    log = tmp_path_factory.mktemp("logs") / "serve-tiles-s3.log"
    with serve(env, "tiles", log=log) as base:
        yield base
    store.close()
