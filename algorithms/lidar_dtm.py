"""A terrain model (DTM, ground points) and a surface model (DSM, every point) from a point cloud
(COPC, LAZ or LAS), gridded at a given resolution, as float32 COGs. Inputs are local files or
objects of an S3 store (``/vsis3/``, copied to a temporary file first: every point is gridded).

DTM: mean height of ground-classified points per cell; cells without ground points are filled
from their neighbours (the ground under buildings and trees). DSM: highest non-noise point per
cell. Both share the grid: the cloud's extent in its own horizontal CRS.
"""

from __future__ import annotations

import math
from typing import Any

import _task_contract as task
import laspy
import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin

NODATA = -9999.0
NOISE_CLASSES = (7, 18)
POINTCLOUD_SUFFIXES = (".copc.laz", ".laz", ".las")


def pointcloud_asset(inp: task.Input) -> str:
    assets = inp.item.get("assets") or {}
    for key in ("data", "pointcloud", "copc", "laz"):
        if key in inp.assets:
            return inp.assets[key]
    for key, path in inp.assets.items():
        media = str((assets.get(key) or {}).get("type", "")).lower()
        if path.lower().endswith(POINTCLOUD_SUFFIXES) or "laz" in media or "las" in media:
            return path
    task.fail(f"item {inp.id}: no point cloud asset (.copc.laz, .laz or .las)")
    raise AssertionError


def horizontal_crs(header: laspy.LasHeader) -> CRS | None:
    crs = header.parse_crs()
    if crs is None:
        return None
    if crs.is_compound:
        crs = crs.sub_crs_list[0]
    return CRS.from_wkt(crs.to_wkt())


def fill_gaps(grid: np.ndarray, iterations: int) -> np.ndarray:
    """Fill NaN cells with the mean of their valid 8-neighbours, ring by ring."""
    filled = grid.copy()
    for _ in range(iterations):
        missing = np.isnan(filled)
        if not missing.any() or missing.all():
            break
        padded = np.pad(filled, 1, constant_values=np.nan)
        stack = np.stack([padded[1 + dy: padded.shape[0] - 1 + dy, 1 + dx: padded.shape[1] - 1 + dx]
                          for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
        counts = np.sum(~np.isnan(stack), axis=0)
        sums = np.nansum(stack, axis=0)
        update = missing & (counts > 0)
        filled[update] = sums[update] / counts[update]
    return filled


def grids(path: str, resolution: float, ground: list[int], iterations: int) -> dict[str, Any]:
    cloud = laspy.read(path)
    header = cloud.header
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (cloud.x, cloud.y, cloud.z))
    classes = np.asarray(cloud.classification)
    west, south = float(header.mins[0]), float(header.mins[1])
    east, north = float(header.maxs[0]), float(header.maxs[1])
    cols = max(1, math.ceil((east - west) / resolution))
    rows = max(1, math.ceil((north - south) / resolution))
    col = np.clip(((x - west) / resolution).astype(np.int64), 0, cols - 1)
    row = np.clip(((north - y) / resolution).astype(np.int64), 0, rows - 1)
    cell = row * cols + col

    keep = ~np.isin(classes, NOISE_CLASSES)
    dsm = np.full(rows * cols, -np.inf)
    np.maximum.at(dsm, cell[keep], z[keep])
    dsm[np.isinf(dsm)] = np.nan

    is_ground = np.isin(classes, ground)
    sums = np.bincount(cell[is_ground], weights=z[is_ground], minlength=rows * cols)
    counts = np.bincount(cell[is_ground], minlength=rows * cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        dtm = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    dtm = fill_gaps(dtm.reshape(rows, cols), iterations)
    return {
        "dtm": dtm, "dsm": dsm.reshape(rows, cols),
        "transform": from_origin(west, north, resolution, resolution),
        "crs": horizontal_crs(header), "points": int(len(z)), "ground": int(is_ground.sum()),
    }


def main() -> None:
    params = task.parameters()
    resolution = float(params.get("resolution", 1.0))
    ground = [int(c) for c in params.get("ground_classes", [2])]
    iterations = int(params.get("fill_iterations", 50))
    items = task.inputs()
    if not items:
        task.fail("no input items")
    outputs = []
    for index, inp in enumerate(items):
        try:
            with task.local_file(pointcloud_asset(inp)) as path:  # local, or a copy from S3
                result = grids(str(path), resolution, ground, iterations)
        except task.InputUnavailable as exc:
            task.fail(f"item {inp.id}: {exc}")
        for name in ("dtm", "dsm"):
            data = np.where(np.isnan(result[name]), NODATA, result[name]).astype(np.float32)
            out = task.output_dir() / f"{inp.id}_{name}.tif"
            task.write_cog(out, data, crs=result["crs"], transform=result["transform"],
                           nodata=NODATA, overview_resampling="average", descriptions=[name])
            outputs.append({
                "path": out.name, "asset": name, "input": index,
                "title": "Terrain model (ground)" if name == "dtm" else "Surface model",
                "roles": ["data"], "properties": {"gsd": resolution},
            })
        print(f"{inp.id}: {result['points']} points ({result['ground']} ground) -> "
              f"{result['dtm'].shape[1]}x{result['dtm'].shape[0]} cells at {resolution}",
              flush=True)
    task.write_outputs(outputs)


if __name__ == "__main__":
    main()
