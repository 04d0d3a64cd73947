"""Render presets (STAC render extension) in one shape, whoever wrote them.

Presets reach the catalog from many hands (our derived presets, algorithm files, the STAC API,
pre-v2 titiler style) and every reader (tiles, WMTS, WMS, ``/renders``) wants one shape; the
catalog normalises them when a collection is written through its API, the tiler when it reads.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from catalog.errors import InvalidInput

__all__ = ["check_renders", "normalize_render", "normalize_renders"]

log = logging.getLogger(__name__)

_NODATA_WORDS = {"nan", "inf", "-inf"}


def _range(value: Any) -> list[float] | None:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        if math.isfinite(lo) and math.isfinite(hi):
            return [lo, hi]
    return None


def _rescale(value: Any) -> list[list[float]] | None:
    """``[[lo, hi], ...]`` from that, ``[lo, hi]``, ``"lo,hi"`` or ``["lo,hi", ...]``."""
    single = _range(value)
    if single is not None and not (isinstance(value, list | tuple)
                                   and isinstance(value[0], list | tuple | str)):
        return [single]
    if isinstance(value, list | tuple) and value:
        ranges = [_range(v) for v in value]
        if all(r is not None for r in ranges):
            return [r for r in ranges if r is not None]
    return None


def normalize_render(render: Any) -> dict[str, Any] | None:
    """One render preset in the render extension's own shape, or None when it cannot draw.

    Presets reach the catalog from many hands (our presets, algorithm files, the STAC API,
    pre-v2 titiler style): ``rescale`` may be ``"0,3000"``, ``[0, 3000]`` or ``["0,3000"]``,
    ``assets`` a single string, ``colormap`` a JSON string. Stored and read through here,
    every consumer (tiles, WMTS, WMS, ``/renders``) sees ``rescale: [[lo, hi], ...]``,
    ``assets: [..]`` and ``colormap: {..}``; what cannot be repaired is dropped and logged.
    """
    if not isinstance(render, Mapping):
        return None
    out = {str(k): v for k, v in render.items()}
    assets = out.get("assets")
    if isinstance(assets, str):
        assets = [assets]
    if not (isinstance(assets, list) and assets
            and all(isinstance(a, str) and a for a in assets)):
        return None
    out["assets"] = assets
    if "rescale" in out:
        rescale = _rescale(out.pop("rescale"))
        if rescale is not None:
            out["rescale"] = rescale
    if isinstance(out.get("colormap"), str):
        try:
            out["colormap"] = json.loads(out["colormap"])
        except ValueError:
            out.pop("colormap")
    if "colormap" in out and not isinstance(out["colormap"], dict | list):
        out.pop("colormap")
    if "nodata" in out:
        nodata = out["nodata"]
        if isinstance(nodata, str) and nodata.strip().lower() in _NODATA_WORDS:
            out["nodata"] = nodata.strip().lower()
        elif not isinstance(nodata, int | float) or isinstance(nodata, bool):
            try:
                out["nodata"] = float(nodata)
            except (TypeError, ValueError):
                out.pop("nodata")
        if isinstance(out.get("nodata"), float) and not math.isfinite(out["nodata"]):
            out["nodata"] = str(out["nodata"]).lower()
    zoom = out.get("minmax_zoom")
    if zoom is not None and not (isinstance(zoom, list | tuple) and len(zoom) == 2
                                 and all(isinstance(z, int) and 0 <= z <= 30 for z in zoom)):
        out.pop("minmax_zoom")
    for key in ("title", "expression", "colormap_name", "color_formula", "resampling",
                "algorithm"):
        if key in out and not isinstance(out[key], str):
            out.pop(key)
    # titiler reads algorithm_params as JSON text (point-cloud hillshade presets, say); an
    # object would reach the query string as Python's repr.
    params = out.get("algorithm_params")
    if isinstance(params, Mapping):
        out["algorithm_params"] = json.dumps(params)
    elif "algorithm_params" in out and not isinstance(params, str):
        out.pop("algorithm_params")
    return out


def normalize_renders(renders: Any) -> dict[str, dict[str, Any]]:
    """A ``renders`` object with every preset normalised (:func:`normalize_render`); presets
    that cannot draw are left out (and logged)."""
    if not isinstance(renders, Mapping):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, render in renders.items():
        fixed = normalize_render(render)
        if fixed is None:
            log.warning("ignoring render %r: it names no assets or is not an object", name)
            continue
        out[str(name)] = fixed
    return out


def check_renders(renders: Any) -> dict[str, dict[str, Any]]:
    """``renders`` normalised for storing, or :class:`InvalidInput` naming the first preset
    that cannot draw (instead of dropping it silently, as a reader does)."""
    if not isinstance(renders, Mapping):
        raise InvalidInput("renders", "expected an object of render presets")
    for name, render in renders.items():
        if normalize_render(render) is None:
            raise InvalidInput(f"renders.{name}", "a preset is an object naming its assets")
    return normalize_renders(renders)
