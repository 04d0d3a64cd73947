"""A per-pixel median composite of several items (e.g. the NDVI of several dates), with the count
of valid observations, on the grid of the first item.

Every input's asset is reprojected onto the first input's grid; nodata and NaN are ignored, so
clouds masked in one date are filled by the others.
"""

from __future__ import annotations

import warnings

import _task_contract as task
import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject


def main() -> None:
    params = task.parameters()
    asset = str(params.get("asset", "ndvi"))
    items = task.inputs()
    if len(items) < 2:
        task.fail("a composite needs at least two input items")
    missing = [inp.id for inp in items if asset not in inp.assets]
    if missing:
        task.fail(f"asset {asset!r} missing from {', '.join(missing)}")
    with rasterio.open(items[0].assets[asset]) as ref:
        crs, transform, shape = ref.crs, ref.transform, (ref.height, ref.width)
    layers = []
    for inp in items:
        with rasterio.open(inp.assets[asset]) as src:
            target = np.full(shape, np.nan, dtype=np.float32)
            reproject(
                source=rasterio.band(src, 1), destination=target, src_nodata=src.nodata,
                dst_nodata=np.nan, dst_transform=transform, dst_crs=crs,
                resampling=Resampling.nearest,
            )
        layers.append(target)
        print(f"{inp.id}: {np.isfinite(target).mean() * 100:.1f} % valid", flush=True)
    stack = np.stack(layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
        median = np.nanmedian(stack, axis=0).astype(np.float32)
    count = np.isfinite(stack).sum(axis=0).astype(np.uint16)
    out = task.output_dir()
    task.write_cog(out / "median.tif", median, crs=crs, transform=transform,
                   nodata=float("nan"), descriptions=[f"median {asset}"])
    task.write_cog(out / "count.tif", count, crs=crs, transform=transform, nodata=None,
                   overview_resampling="nearest", descriptions=["valid observations"])
    everything = list(range(len(items)))
    task.write_outputs([
        {"path": "median.tif", "asset": "median", "inputs": everything,
         "title": f"Median {asset}", "properties": {"composite:asset": asset}},
        {"path": "count.tif", "asset": "count", "inputs": everything,
         "title": "Valid observations"},
    ])


if __name__ == "__main__":
    main()
