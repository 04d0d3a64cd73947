"""Any GDAL-readable raster (GeoTIFF, JPEG2000, ...) to a Cloud Optimized GeoTIFF, atomically."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from ingest.convert._atomic import atomic_destination, check_input_file
from ingest.convert.errors import (
    ConversionError,
    InvalidOutputError,
    NotGeoreferencedError,
    TruncatedInputError,
    UnreadableInputError,
    UnsupportedInputError,
)
from ingest.validate.cog import tiles_past_end, validate_cog

__all__ = ["CogProfile", "CogResult", "OverviewResampling", "to_cog"]

CogProfile = Literal[
    "deflate",
    "zstd",
    "lzw",
    "lzma",
    "packbits",
    "raw",
    "jpeg",
    "webp",
    "lerc",
    "lerc_deflate",
    "lerc_zstd",
]
OverviewResampling = Literal[
    "nearest", "average", "bilinear", "cubic", "cubic_spline", "lanczos", "mode", "rms", "gauss"
]

#: Lossless codecs that gain from the horizontal predictor.
_PREDICTOR_PROFILES = frozenset({"deflate", "zstd", "lzw", "lzma"})
_EIGHT_BIT_ONLY = frozenset({"jpeg", "webp"})
#: Compressions handed to GDAL's COG driver (see _gdal_driver_fits).
_GDAL_COMPRESSIONS = frozenset({"DEFLATE", "ZSTD", "LZW", "LZMA", "PACKBITS", "NONE"})


@dataclass(frozen=True, slots=True)
class CogResult:
    """What :func:`to_cog` wrote.

    Attributes:
        path: The destination file, complete and validated.
        copied: True when the input already was a valid COG and was copied byte for byte.
        profile: The rio-cogeo profile used, or None when the input was copied.
        width, height, count, dtype: Raster shape and pixel type of the output.
        overviews: Decimation factors of the internal overviews (band 1).
        nodata: The nodata value, if any.
        size: Output size in bytes.
        warnings: Validator and rio-cogeo warnings worth logging.
    """

    path: Path
    copied: bool
    profile: str | None
    width: int
    height: int
    count: int
    dtype: str
    overviews: tuple[int, ...]
    nodata: float | None
    size: int
    warnings: tuple[str, ...] = ()


def to_cog(
    src_path: str | Path,
    dst_path: str | Path,
    *,
    profile: CogProfile = "deflate",
    overview_resampling: OverviewResampling = "nearest",
    blocksize: int = 512,
    force: bool = False,
) -> CogResult:
    """Convert a raster to a Cloud Optimized GeoTIFF at ``dst_path``.

    The output is tiled with internal overviews and keeps the input's CRS, transform, nodata or
    mask, scales/offsets, band descriptions, band tags and colour map. It is written to a
    temporary file beside the destination and renamed only once :func:`validate_cog` accepts
    it, so the destination never holds a partial file.

    An input that already is a valid COG (no errors and no warnings, every tile inside the
    file) is copied byte for byte rather than re-encoded, since re-encoding costs time and, for
    lossy inputs, quality; ``force=True`` re-encodes anyway.

    Args:
        src_path: Input raster (GeoTIFF, JPEG2000, or anything else GDAL reads).
        dst_path: Output path; its folder is created if needed.
        profile: rio-cogeo compression profile. The default is lossless; lossless profiles get
            the horizontal predictor (2 for integers, 3 for floats), which usually shrinks
            imagery by a fifth or more at no cost in fidelity.
        overview_resampling: Resampling for overviews. ``nearest`` is the default because it
            is the only choice that is safe for every band: classification and QA bit-field
            bands are corrupted by averaging. Pass ``average`` for continuous reflectance.
        blocksize: Tile size of the full resolution and of the overviews.
        force: Re-encode even when the input already is a valid COG.

    Returns:
        A :class:`CogResult` describing the written file.

    Raises:
        InputNotFoundError, EmptyInputError: the input is missing or has zero bytes.
        UnreadableInputError: not a raster GDAL can decode (``TruncatedInputError`` when tiles
            lie past the end of the file).
        NotGeoreferencedError: the input has no CRS (neither a geotransform CRS nor GCPs).
        UnsupportedInputError: the profile cannot encode this pixel type (JPEG/WebP need 8 bit).
        InvalidOutputError: the written file failed validation (it was discarded).
        ConversionError: any other failure while writing.
    """
    src, dst = Path(src_path), Path(dst_path)
    check_input_file(src)
    with _open_raster(src) as ds:
        _check_georeferenced(ds, src)
        _check_profile(ds, src, profile)
        dtype = ds.dtypes[0]

    if not force:
        existing = validate_cog(src)
        if existing.is_valid and not existing.warnings:
            with atomic_destination(dst) as tmp:
                shutil.copyfile(src, tmp)
            return _describe(dst, copied=True, profile=None, warns=())

    with atomic_destination(dst) as tmp:
        noted = _translate(
            src,
            tmp,
            _dst_kwargs(profile, dtype, blocksize),
            overview_resampling=overview_resampling,
            blocksize=blocksize,
        )
        result = validate_cog(tmp)
        if not result.is_valid:
            raise InvalidOutputError(
                f"{src}: the written COG failed validation: {'; '.join(result.errors)}",
                path=src,
                errors=result.errors,
            )
    return _describe(dst, copied=False, profile=profile, warns=(*noted, *result.warnings))


def _translate(
    src: Path,
    tmp: Path,
    dst_kwargs: dict[str, object],
    *,
    overview_resampling: OverviewResampling,
    blocksize: int,
) -> list[str]:
    """Run rio-cogeo's ``cog_translate``; return its warnings, classify its failures."""
    try:
        with (
            _open_raster(src) as ds,
            _translatable(ds) as source,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always", UserWarning)
            if _gdal_driver_fits(source, dst_kwargs):
                _gdal_cog(source, tmp, dst_kwargs, overview_resampling, blocksize)
                return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            cog_translate(
                source,
                str(tmp),
                dst_kwargs,
                overview_resampling=overview_resampling,
                forward_band_tags=True,
                quiet=True,
                config={
                    "GDAL_NUM_THREADS": "ALL_CPUS",
                    "GDAL_TIFF_INTERNAL_MASK": True,
                    "GDAL_TIFF_OVR_BLOCKSIZE": str(blocksize),
                },
            )
    except ConversionError:
        raise
    except Exception as exc:  # GDAL, rio-cogeo and OS errors alike: classify them
        raise _classify_failure(src, exc) from exc
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _gdal_driver_fits(ds: DatasetReader, dst_kwargs: dict[str, object]) -> bool:
    """Whether GDAL's own COG driver can write what rio-cogeo would.

    rio-cogeo copies the input window by window, in Python, through a WarpedVRT into an
    intermediate file, builds the overviews there and copies that again; GDAL's COG driver
    (which rio-cogeo's ``use_cog_driver`` only applies to the last copy) does the same steps in
    C: bench/cog, a 42 MB RGB mosaic, ~0.46 s against ~0.59 s. It takes the lossless
    profiles of a georeferenced raster whose samples are whole bytes; GCP rasters, bit-packed
    samples (JPEG2000's 15-bit bands, where GDAL refuses the predictor) and the lossy or
    special profiles (JPEG/WebP photometry, LERC) stay with rio-cogeo."""
    if str(dst_kwargs.get("compress", "")).upper() not in _GDAL_COMPRESSIONS:
        return False
    gcps, _ = ds.gcps
    if ds.crs is None or gcps:
        return False
    return not any(ds.tags(b, ns="IMAGE_STRUCTURE").get("NBITS") for b in ds.indexes)


def _gdal_cog(source: DatasetReader, tmp: Path, dst_kwargs: dict[str, object],
              overview_resampling: str, blocksize: int) -> None:
    """GDAL's COG driver over a VRT of the input carrying rio-cogeo's OVERVIEW_RESAMPLING tag
    (a COG's tags cannot be added afterwards without breaking its layout); band tags,
    descriptions, scales, offsets, nodata, masks and colour maps come through the VRT."""
    options: dict[str, object] = {
        "COMPRESS": str(dst_kwargs["compress"]).upper(),
        "BLOCKSIZE": blocksize,
        "OVERVIEW_RESAMPLING": overview_resampling.upper(),
        "BIGTIFF": "IF_SAFER",
        "NUM_THREADS": "ALL_CPUS",
    }
    if dst_kwargs.get("predictor"):
        options["PREDICTOR"] = "YES"  # 2 for integers, 3 for floats, as _dst_kwargs chose
    with MemoryFile(ext=".vrt") as mem:
        rasterio.shutil.copy(source, mem.name, driver="VRT")
        with rasterio.open(mem.name, "r+") as vrt:
            vrt.update_tags(OVERVIEW_RESAMPLING=overview_resampling.upper())
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(mem.name) as vrt:
            rasterio.shutil.copy(vrt, str(tmp), driver="COG", **options)


@contextmanager
def _open_raster(path: Path) -> Iterator[DatasetReader]:
    """Open a raster, turning GDAL's open errors into :class:`UnreadableInputError`."""
    try:
        with warnings.catch_warnings():
            # An ungeoreferenced input is reported by _check_georeferenced, not as a warning.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioError as exc:
        raise UnreadableInputError(
            f"{path}: not a raster that GDAL can read (corrupt, truncated or another format)",
            path=path,
        ) from exc
    with ds:
        yield ds


def _check_georeferenced(ds: DatasetReader, path: Path) -> None:
    if ds.crs is None and ds.gcps[1] is None:
        raise NotGeoreferencedError(
            f"{path}: raster has no coordinate reference system (no CRS and no GCPs)", path=path
        )


def _check_profile(ds: DatasetReader, path: Path, profile: str) -> None:
    if profile in _EIGHT_BIT_ONLY and any(dt != "uint8" for dt in ds.dtypes):
        raise UnsupportedInputError(
            f"{path}: profile {profile!r} needs 8-bit bands, the input has {ds.dtypes[0]}",
            path=path,
        )


def _dst_kwargs(profile: str, dtype: str, blocksize: int) -> dict[str, object]:
    """rio-cogeo creation options for ``profile``, plus the predictor and BigTIFF safety."""
    with warnings.catch_warnings():
        # rio-cogeo warns that ZSTD/LERC need a recent libtiff; the profile is the caller's call
        warnings.simplefilter("ignore", UserWarning)
        kwargs: dict[str, object] = dict(cog_profiles.get(profile))
    kwargs.update(blockxsize=blocksize, blockysize=blocksize, bigtiff="IF_SAFER")
    if profile in _PREDICTOR_PROFILES:
        if dtype.startswith("float"):
            kwargs["predictor"] = 3
        elif dtype.startswith(("int", "uint")):
            kwargs["predictor"] = 2
    return kwargs


@contextmanager
def _translatable(ds: DatasetReader) -> Iterator[DatasetReader]:
    """Work around a rio-cogeo/rasterio mismatch on JPEG2000 inputs.

    rasterio 1.4 reports a GCP CRS for JP2 files that have a geotransform and *no* GCPs;
    rio-cogeo then builds a transform from the empty GCP list and fails with "Cannot invert
    geotransform". Wrapping the dataset in an in-memory VRT (a few hundred bytes of XML that
    points at the original) hides the phantom GCP CRS without copying pixels.
    """
    gcps, gcp_crs = ds.gcps
    if gcps or gcp_crs is None:
        yield ds
        return
    with ExitStack() as stack:
        mem = stack.enter_context(MemoryFile(ext=".vrt"))
        rasterio.shutil.copy(ds, mem.name, driver="VRT")
        yield stack.enter_context(rasterio.open(mem.name))


def _classify_failure(src: Path, exc: BaseException) -> ConversionError:
    """Tell a damaged input apart from a failure on the writing side.

    GDAL reports a short read and a full disk alike, so on failure the input is probed: tiles
    indexed past the end of the file mean truncation; a block that cannot be decoded means
    corruption; otherwise the writing side failed.
    """
    try:
        with _open_raster(src) as ds:
            if tiles_past_end(ds, src.stat().st_size):
                return TruncatedInputError(
                    f"{src}: raster is truncated (tiles lie past the end of the file)", path=src
                )
            for _, window in ds.block_windows(1):
                ds.read(window=window)
    except (RasterioError, ConversionError):
        return UnreadableInputError(
            f"{src}: pixel data cannot be decoded (corrupt or truncated)", path=src
        )
    return ConversionError(f"{src}: COG conversion failed ({type(exc).__name__})", path=src)


def _describe(dst: Path, *, copied: bool, profile: str | None, warns: tuple[str, ...]) -> CogResult:
    with rasterio.open(dst) as ds:
        return CogResult(
            path=dst,
            copied=copied,
            profile=profile,
            width=ds.width,
            height=ds.height,
            count=ds.count,
            dtype=ds.dtypes[0],
            overviews=tuple(ds.overviews(1)),
            nodata=ds.nodata,
            size=dst.stat().st_size,
            warnings=tuple(dict.fromkeys(warns)),
        )
