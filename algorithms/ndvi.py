"""NDVI of Sentinel-2 L2A and Landsat Collection 2 Level-2 items, cloud-masked, as a float32 COG.

For each input item: the red and near-infrared bands are found by asset key or eo common name,
scaled to surface reflectance with the band's scale/offset (``raster:bands``, else the product's
published defaults), and nodata, clouds, cloud shadows and cirrus are masked from the scene
classification (Sentinel-2 SCL) or the pixel QA bits (Landsat QA_PIXEL). Masked pixels are NaN.
"""

from __future__ import annotations

from typing import Any

import _task_contract as task
import numpy as np
import rasterio
from rasterio.enums import Resampling

#: SCL classes that are not a clear view of the ground: no data, saturated/defective, cloud
#: shadows, cloud medium/high probability, thin cirrus (snow: 11, masked when asked).
SCL_MASKED = (0, 1, 3, 8, 9, 10)
SCL_SNOW = 11
#: QA_PIXEL bits: fill, dilated cloud, cirrus, cloud, cloud shadow (snow: bit 5).
QA_MASKED_BITS = (0, 1, 2, 3, 4)
QA_SNOW_BIT = 5
RED_KEYS = ("red", "B04", "b04", "SR_B4", "sr_b4")
NIR_KEYS = {"sentinel-2": ("nir", "B08", "b08"), "landsat": ("nir08", "SR_B5", "sr_b5", "nir")}


def sensor(item: dict[str, Any]) -> str:
    props = item.get("properties") or {}
    words = " ".join(str(props.get(k, "")) for k in ("platform", "constellation", "eo:platform"))
    words = (words + " " + str(item.get("collection", "")) + " " + item["id"]).lower()
    if "sentinel-2" in words or "sentinel2" in words or item["id"].upper().startswith("S2"):
        return "sentinel-2"
    if "landsat" in words or item["id"].startswith(("LC0", "LE0", "LT0", "LC8", "LC9")):
        return "landsat"
    task.fail(f"item {item['id']}: neither Sentinel-2 nor Landsat (cannot pick bands)")
    raise AssertionError


def find_asset(item: dict[str, Any], keys: tuple[str, ...], common: str) -> str | None:
    assets = item.get("assets") or {}
    for key in keys:
        if key in assets:
            return key
    for key, asset in assets.items():
        names = [b.get("common_name") for b in asset.get("eo:bands") or [] if isinstance(b, dict)]
        if names == [common]:
            return key
    return None


def scale_offset(item: dict[str, Any], key: str, kind: str) -> tuple[float, float, float | None]:
    """(scale, offset, nodata) of a band: its raster:bands, else the product defaults."""
    band = ((item["assets"][key].get("raster:bands") or [{}])[0]) or {}
    if kind == "landsat":
        default = (2.75e-05, -0.2)
    else:  # Sentinel-2 L2A from processing baseline 04.00 on has a -1000 DN offset
        baseline = str((item.get("properties") or {}).get("s2:processing_baseline", "0"))
        default = (0.0001, -0.1 if baseline >= "04.00" else 0.0)
    scale = float(band.get("scale", default[0]))
    offset = float(band.get("offset", default[1]))
    nodata = band.get("nodata", 0)
    return scale, offset, None if nodata is None else float(nodata)


def clear_mask(inp: task.Input, kind: str, shape: tuple[int, int], mask_snow: bool) -> np.ndarray:
    """True where the ground is seen clearly (resampled to the red band's grid)."""
    if kind == "sentinel-2":
        key = find_asset(inp.item, ("scl", "SCL"), "scl")
        masked = (*SCL_MASKED, SCL_SNOW) if mask_snow else SCL_MASKED
        if key is None:
            task.fail(f"item {inp.id}: no SCL asset to mask clouds (set mask_clouds false)")
        with rasterio.open(inp.assets[key]) as src:
            scl = src.read(1, out_shape=shape, resampling=Resampling.nearest)
        return ~np.isin(scl, masked)
    key = find_asset(inp.item, ("qa_pixel", "QA_PIXEL", "QA_PIXEL.TIF"), "qa_pixel")
    if key is None:
        task.fail(f"item {inp.id}: no QA_PIXEL asset to mask clouds (set mask_clouds false)")
    with rasterio.open(inp.assets[key]) as src:
        qa = src.read(1, out_shape=shape, resampling=Resampling.nearest).astype(np.uint32)
    bits = (*QA_MASKED_BITS, QA_SNOW_BIT) if mask_snow else QA_MASKED_BITS
    flags = sum(1 << b for b in bits)
    return (qa & flags) == 0


def ndvi(inp: task.Input, params: dict[str, Any]) -> dict[str, Any]:
    kind = sensor(inp.item)
    red_key = find_asset(inp.item, RED_KEYS, "red")
    nir_key = find_asset(inp.item, NIR_KEYS[kind], "nir08" if kind == "landsat" else "nir")
    if red_key is None or nir_key is None:
        task.fail(f"item {inp.id}: red or near-infrared asset not found")
    with rasterio.open(inp.assets[red_key]) as red_src:
        red_raw = red_src.read(1)
        profile = {"crs": red_src.crs, "transform": red_src.transform}
        shape = red_raw.shape
    with rasterio.open(inp.assets[nir_key]) as nir_src:
        nir_raw = nir_src.read(1, out_shape=shape, resampling=Resampling.bilinear)
    r_scale, r_offset, r_nodata = scale_offset(inp.item, red_key, kind)
    n_scale, n_offset, n_nodata = scale_offset(inp.item, nir_key, kind)
    valid = np.ones(shape, dtype=bool)
    if r_nodata is not None:
        valid &= red_raw != r_nodata
    if n_nodata is not None:
        valid &= nir_raw != n_nodata
    if params.get("mask_clouds", True):
        valid &= clear_mask(inp, kind, shape, bool(params.get("mask_snow", False)))
    red = red_raw.astype(np.float32) * np.float32(r_scale) + np.float32(r_offset)
    nir = nir_raw.astype(np.float32) * np.float32(n_scale) + np.float32(n_offset)
    total = nir + red
    valid &= total != 0
    out = np.full(shape, np.nan, dtype=np.float32)
    out[valid] = (nir[valid] - red[valid]) / total[valid]
    path = task.output_dir() / f"{inp.id}_ndvi.tif"
    task.write_cog(path, out, nodata=float("nan"), descriptions=["ndvi"], **profile)
    clear = float(valid.mean() * 100)
    print(f"{inp.id}: {kind}, bands {red_key}/{nir_key}, {clear:.1f} % clear pixels", flush=True)
    return {"path": path.name, "asset": "ndvi", "title": "NDVI", "roles": ["data"],
            "properties": {"ndvi:sensor": kind, "ndvi:clear_percent": round(clear, 2)}}


def main() -> None:
    params = task.parameters()
    items = task.inputs()
    if not items:
        task.fail("no input items")
    outputs = []
    for index, inp in enumerate(items):
        outputs.append({**ndvi(inp, params), "input": index})
    task.write_outputs(outputs)


if __name__ == "__main__":
    main()
