"""Publish the real sample products of a data folder on a loopback StaticStac, hrefs rewritten.

Used by `stacworks demo --from DIR` (the offline demo ingests these through the real pipeline)
and by the ingest tests (which add broken copies of their own, see tests/ingest/bad_samples.py).

What is published (each under /files/...):
- sentinel-2-l2a: the Earth Search item of S2A_29RKH_20200219_0_L2A with its band COGs
  (its thumbnail asset points at the product's real preview, L2A_PVI.tif);
- landsat-c2l2-sr: the USGS item of LC08_L2SP_001062_20201031_20201106_02_T2, bands + MTL;
- sentinel-2-l1c: the L1C B01 JPEG2000 + MTD_MSIL1C/MTD_TL packaged as a zipped SAFE product;
- 3dep-lidar-copc: a COPC item (Autzen), and loose LAS/LAZ files for the ``urls`` source;
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from ingest.samples.static_stac import StaticStac

S2_ID = "S2A_29RKH_20200219_0_L2A"
LANDSAT_ID = "LC08_L2SP_001062_20201031_20201106_02_T2"
L1C_SAFE = "S2A_MSIL1C_20180101T105441_N0206_R051_T31TDH_20180101T124911"
L1C_GRANULE = "L1C_T31TDH_A013204_20180101T105435"
COPC_ID = "autzen-copc"
L1C_DATASTRIP = "DS_SGS__20180101T124911_S20180101T105435"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def publish_sentinel2_l2a(stac: StaticStac, data: Path) -> dict[str, Any]:
    folder = data / "raster/sentinel2-l2a-cog" / S2_ID
    stac.add_collection(_load(data / "stac/earth-search-v1/collections/sentinel-2-l2a.json"))
    item = _load(folder / f"{S2_ID}.json")
    assets = {}
    for key, asset in item["assets"].items():
        name = asset["href"].rsplit("/", 1)[-1]
        if key == "thumbnail":
            name, asset = "L2A_PVI.tif", {**asset, "type": "image/tiff; application=geotiff"}
        if (folder / name).is_file() and asset["href"].startswith("https://"):
            stac.files[f"s2l2a/{S2_ID}/{name}"] = folder / name
            assets[key] = {**asset, "href": f"{stac.base}/files/s2l2a/{S2_ID}/{name}"}
    item["assets"] = assets
    item["links"] = [
        {
            "rel": "self",
            "href": f"{stac.base}/collections/sentinel-2-l2a/items/{S2_ID}",
            "type": "application/geo+json",
        },
        *[lk for lk in item["links"] if lk["rel"] in ("license", "derived_from")],
    ]
    stac.add_item(item)
    return item


def publish_landsat(stac: StaticStac, data: Path) -> dict[str, Any]:
    folder = data / "raster/landsat-c2-l2" / LANDSAT_ID
    col = copy.deepcopy(_load(data / "stac/earth-search-v1/collections/landsat-c2-l2.json"))
    col.update(id="landsat-c2l2-sr", title="Landsat C2 L2 surface reflectance (USGS)", links=[])
    stac.add_collection(col)
    src = _load(folder / f"{LANDSAT_ID}_SR_stac.json")
    assets = {}
    for key, asset in src["assets"].items():
        name = asset["href"].rsplit("/", 1)[-1]
        if (folder / name).is_file():
            stac.files[f"landsat/{LANDSAT_ID}/{name}"] = folder / name
            assets[key] = {**asset, "href": f"{stac.base}/files/landsat/{LANDSAT_ID}/{name}"}
    props = {k: v for k, v in src["properties"].items() if not k.startswith("eo:")}
    props["eo:cloud_cover"] = src["properties"]["eo:cloud_cover"]
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": f"{LANDSAT_ID}_SR",
        "collection": "landsat-c2l2-sr",
        "geometry": src["geometry"],
        "bbox": src["bbox"],
        "properties": props,
        "assets": assets,
        "links": [
            {
                "rel": "self",
                "href": f"{stac.base}/collections/landsat-c2l2-sr/items/{LANDSAT_ID}_SR",
            }
        ],
    }
    stac.add_item(item)
    return item


def safe_zip(data: Path) -> bytes:
    """The L1C sample as a zipped SAFE product with a minimal manifest.safe naming its metadata
    files (the part of a real manifest stactools-sentinel2 reads). The sample has no INSPIRE or
    datastrip file: the manifest names them, as real ones do, and ingest drops absent files."""
    folder = data / "raster/sentinel2-l1c-jp2" / L1C_SAFE
    top = f"{L1C_SAFE}.SAFE"
    granule = f"GRANULE/{L1C_GRANULE}"
    objects = {
        "S2_Level-1C_Product_Metadata": "MTD_MSIL1C.xml",
        "S2_Level-1C_Tile1_Metadata": f"{granule}/MTD_TL.xml",
        "INSPIRE_Metadata": "INSPIRE.xml",
        "S2_Level-1C_Datastrip1_Metadata": f"DATASTRIP/{L1C_DATASTRIP}/MTD_DS.xml",
    }
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">\n'
        "  <dataObjectSection>\n"
        + "".join(
            f'    <dataObject ID="{oid}"><byteStream mimeType="text/xml">'
            f'<fileLocation locatorType="URL" href="./{href}"/></byteStream></dataObject>\n'
            for oid, href in objects.items()
        )
        + "  </dataObjectSection>\n</xfdu:XFDU>\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{top}/manifest.safe", manifest)
        zf.write(folder / "MTD_MSIL1C.xml", f"{top}/MTD_MSIL1C.xml")
        zf.write(folder / "MTD_TL.xml", f"{top}/{granule}/MTD_TL.xml")
        for jp2 in folder.glob("*.jp2"):
            zf.write(jp2, f"{top}/{granule}/IMG_DATA/{jp2.name}")
    return buf.getvalue()


def publish_sentinel2_l1c_safe(stac: StaticStac, data: Path) -> dict[str, Any]:
    col = _load(data / "stac/earth-search-v1/collections/sentinel-2-l1c.json")
    stac.add_collection(col)
    stac.files[f"safe/{L1C_SAFE}.SAFE.zip"] = safe_zip(data)
    bbox = [0.99, 42.42, 2.35, 43.43]
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": L1C_SAFE,
        "collection": "sentinel-2-l1c",
        "bbox": bbox,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [bbox[0], bbox[1]],
                    [bbox[2], bbox[1]],
                    [bbox[2], bbox[3]],
                    [bbox[0], bbox[3]],
                    [bbox[0], bbox[1]],
                ]
            ],
        },
        "properties": {
            "datetime": "2018-01-01T10:54:41Z",
            "eo:cloud_cover": 5.0,
            "platform": "sentinel-2a",
        },
        "assets": {
            "product": {
                "href": f"{stac.base}/files/safe/{L1C_SAFE}.SAFE.zip",
                "type": "application/zip",
                "roles": ["data"],
                "title": "Zipped SAFE product",
            }
        },
        "links": [
            {"rel": "self", "href": f"{stac.base}/collections/sentinel-2-l1c/items/{L1C_SAFE}"}
        ],
    }
    stac.add_item(item)
    return item


def publish_lidar(stac: StaticStac, data: Path,
                  cloud: str = "copc/1.2-with-color.copc.laz") -> dict[str, Any]:
    """The Autzen item of the 3DEP COPC collection, its data asset ``lidar/<cloud>``: by
    default PDAL's 1 065-point COPC (passed through as it is); the demo publishes the
    110 000-point ``las/autzen_trim.laz`` instead, which the ingest converts to COPC (the small
    one's CRS says metres where its coordinates are feet: it lands in Canada)."""
    stac.add_collection(_load(data / "stac/planetary-computer/collections/3dep-lidar-copc.json"))
    for sub in ("las", "copc"):
        for f in (data / "lidar" / sub).iterdir():
            if f.suffix in (".las", ".laz"):
                stac.files[f"lidar/{f.name}"] = f
    src = _load(data / "stac/usgs-3dep-lidar/autzen_copc.json")
    item = {
        **src,
        "id": COPC_ID,
        "collection": "3dep-lidar-copc",
        "assets": {
            "data": {
                **src["assets"]["data"],
                "href": f"{stac.base}/files/lidar/{Path(cloud).name}",
                "type": ("application/vnd.laszip+copc" if cloud.endswith(".copc.laz")
                         else "application/vnd.laszip"),
            }
        },
        "links": [
            {"rel": "self", "href": f"{stac.base}/collections/3dep-lidar-copc/items/{COPC_ID}"}
        ],
    }
    item["properties"] = {**item["properties"], "datetime": "2023-01-01T00:00:00Z"}
    item["bbox"] = [-123.08, 44.04, -123.06, 44.06]
    stac.add_item(item)
    return item


def _publish_file(stac: StaticStac, path: Path, folder: str) -> str:
    stac.files[f"{folder}/{path.name}"] = path
    return f"{stac.base}/files/{folder}/{path.name}"


def publish_all(stac: StaticStac, data: Path) -> dict[str, Any]:
    """Every real sample product of the data folder, by kind."""
    s2 = publish_sentinel2_l2a(stac, data)
    return {
        "s2": s2,
        "landsat": publish_landsat(stac, data),
        "l1c": publish_sentinel2_l1c_safe(stac, data),
        "copc": publish_lidar(stac, data),
        "rgb": _publish_file(stac, data / "raster/landsat7-rgb/RGB.byte.tif", "raster"),
    }
