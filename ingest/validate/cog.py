"""Cloud Optimized GeoTIFF validation: rio-cogeo's checks plus "every tile is in the file"."""

from __future__ import annotations

import warnings
from pathlib import Path

import rasterio
from rasterio.enums import Interleaving
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader
from rio_cogeo.cogeo import cog_validate

from ingest.validate.result import ValidationResult

__all__ = ["tiles_past_end", "validate_cog"]


def validate_cog(path: str | Path) -> ValidationResult:
    """Check that ``path`` is a complete, valid Cloud Optimized GeoTIFF.

    Wraps :func:`rio_cogeo.cogeo.cog_validate` (layout: tiling, IFD order, internal overviews)
    and adds a check it lacks: every tile and overview tile must lie inside the file. A COG cut
    short by an interrupted download keeps its header and passes ``cog_validate`` while its
    last tiles are missing. A COG without a CRS is valid but gets a warning.

    Args:
        path: A local file path.

    Returns:
        ``ValidationResult(is_valid, errors, warnings)``; never raises for a bad file.
    """
    path = Path(path)
    if not path.is_file():
        return ValidationResult(False, ("file does not exist",))
    size = path.stat().st_size
    if size == 0:
        return ValidationResult(False, ("file is empty (0 bytes)",))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            is_valid, errors, warns = cog_validate(str(path), quiet=True)
            if is_valid:
                with rasterio.open(path) as src:
                    errors.extend(tiles_past_end(src, size))
                    if src.crs is None and src.gcps[1] is None:
                        warns.append("no coordinate reference system: it cannot be placed")
    except Exception as exc:  # rasterio errors, and cog_validate trips on malformed tags
        return ValidationResult(False, (f"cannot be read as a GeoTIFF: {exc}",))
    return ValidationResult.from_lists(list(errors), list(warns))


def tiles_past_end(src: DatasetReader, size: int) -> list[str]:
    """Report the first tile whose byte range ends past ``size`` bytes (a truncated file).

    Reads only the TIFF tile index (``BLOCK_OFFSET_*``/``BLOCK_SIZE_*``), never pixels, so it
    costs milliseconds even on large COGs. Non-TIFF datasets have no such index: empty list.
    """
    levels: list[tuple[int | None, int, int]] = [(None, src.width, src.height)]
    levels += [(i, -(-src.width // f), -(-src.height // f)) for i, f in enumerate(src.overviews(1))]
    # pixel-interleaved files store all bands in one tile, indexed under band 1
    bands = [1] if src.interleaving is Interleaving.pixel else list(src.indexes)
    block_h, block_w = src.block_shapes[0]
    for ovr, width, height in levels:
        for bidx in bands:
            for row in range(-(-height // block_h)):
                for col in range(-(-width // block_w)):
                    end = _tile_end(src, bidx, ovr, col, row)
                    if end > size:
                        level = "full resolution" if ovr is None else f"overview {ovr}"
                        return [
                            f"truncated: tile ({col}, {row}) of band {bidx} at {level} ends at "
                            f"byte {end}, past the end of the file ({size} bytes)"
                        ]
    return []


def _tile_end(src: DatasetReader, bidx: int, ovr: int | None, col: int, row: int) -> int:
    offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=bidx, ovr=ovr)
    length = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=bidx, ovr=ovr)
    if not offset or not length:  # sparse tile, or not a TIFF
        return 0
    return int(offset) + int(length)
