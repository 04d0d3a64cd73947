"""The example algorithm: multiply one band of each input item by ``factor`` (a float32 GeoTIFF
per item). Replace the body of :func:`process` with your own; keep the contract calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import rasterio
import stacworks_task as task


def process(inp: task.Input, params: dict[str, Any]) -> dict[str, Any]:
    key = params.get("asset") or next(iter(inp.assets), None)
    if key not in inp.assets:
        task.fail(f"item {inp.id}: no asset {key!r}")
    with rasterio.open(inp.assets[key]) as src:
        data = src.read(1, masked=True).astype(np.float32)
        profile = src.profile | {"driver": "GTiff", "count": 1, "dtype": "float32",
                                 "nodata": float("nan")}
    scaled = (data * np.float32(params.get("factor", 1.0))).filled(np.nan)
    path = task.output_dir() / f"{inp.id}_scaled.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scaled, 1)
    print(f"{inp.id}: scaled {key} by {params.get('factor', 1.0)}", flush=True)
    return {"path": path.name, "asset": "scaled", "title": f"{key} scaled", "roles": ["data"]}


def main() -> None:
    params = task.parameters()
    items = task.inputs()
    if not items:
        task.fail("no input items")
    task.write_outputs([{**process(inp, params), "input": i} for i, inp in enumerate(items)])


if __name__ == "__main__":
    main()
