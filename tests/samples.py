"""Real sample items with their files copied into one of our stores (shared by the suites)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from objectstore import ObjectStore, asset_key
from tests.conftest import SHARED_DATA

S2_DIR = SHARED_DATA / "raster" / "sentinel2-l2a-cog" / "S2A_29RKH_20200219_0_L2A"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def bbox_item(
    collection: str,
    item_id: str,
    bbox: Sequence[float],
    when: str,
    assets: dict[str, dict[str, Any]],
    **properties: Any,
) -> dict[str, Any]:
    """A STAC item whose footprint is its bounding box (the suites' synthetic items)."""
    w, s, e, n = bbox
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": collection,
        "bbox": [w, s, e, n],
        "links": [],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": when, **properties},
        "assets": assets,
    }


def stored_s2_item(
    store: ObjectStore,
    collection: str,
    item_id: str,
    *,
    when: str | None = None,
    keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The real Earth Search item of S2A_29RKH_20200219_0_L2A, renamed, its COG assets (the
    given ``keys``, or every one whose file is in the sample folder) put into ``store`` under
    our layout and the hrefs rewritten to them."""
    item = json.loads((S2_DIR / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item = {**item, "id": item_id, "collection": collection, "links": []}
    if when:
        item["properties"] = {**item["properties"], "datetime": when}
    wanted = list(keys) if keys is not None else list(item["assets"])
    assets = {}
    for key in wanted:
        asset = item["assets"][key]
        src = S2_DIR / Path(asset["href"]).name
        if keys is None and (key.endswith("-jp2") or src.suffix != ".tif" or not src.exists()):
            continue
        k = asset_key(collection, item_id, key, "tif")
        store.put_file(k, src)
        assets[key] = {**asset, "href": store.href(k), "type": COG_TYPE}
    item["assets"] = assets
    return item
