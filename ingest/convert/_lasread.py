"""Reading LAS/LAZ: open with precise errors, map any point format to COPC's 6/7/8, in chunks."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np
from laspy.vlrs.known import ExtraBytesVlr, WktCoordinateSystemVlr
from numpy.typing import NDArray
from pyproj.enums import WktVersion

from ingest.convert._atomic import check_input_file
from ingest.convert.errors import (
    ConversionError,
    TruncatedInputError,
    UnreadableInputError,
)

#: COPC allows only LAS 1.4 point formats 6, 7 and 8. Each legacy format maps to the one that
#: keeps all its fields: colour -> 7, colour + NIR -> 8; waveform packets (4, 5, 9, 10) have no
#: COPC equivalent and are dropped.
COPC_FORMAT = {0: 6, 1: 6, 2: 7, 3: 7, 4: 6, 5: 7, 6: 6, 7: 7, 8: 8, 9: 6, 10: 8}
_WAVEFORM_FORMATS = frozenset({4, 5, 9, 10})
#: Legacy scan angle rank is whole degrees; LAS 1.4 ``scan_angle`` counts 0.006 degree steps.
_SCAN_ANGLE_STEP = 0.006


@dataclass(frozen=True, slots=True)
class LasInput:
    """What the COPC writer needs to know about a LAS/LAZ input, read from its header."""

    path: Path
    header: laspy.LasHeader
    point_count: int
    is_copc: bool
    src_format: int
    out_format: int
    extra_bytes: int
    eb_descriptors: bytes
    wkt: str | None
    warnings: tuple[str, ...]

    @property
    def out_dtype(self) -> np.dtype:
        """Packed record dtype of the output: the COPC base format, then the extra bytes."""
        base = laspy.PointFormat(self.out_format).dtype()
        if not self.extra_bytes:
            return base
        return np.dtype([*base.descr, ("extra_bytes", f"V{self.extra_bytes}")])


@contextmanager
def las_errors(path: Path) -> Iterator[None]:
    """Translate laspy/lazrs/numpy failures on ``path`` into conversion errors.

    The decoders report a short file in several ways (lazrs "failed to fill whole buffer",
    numpy "buffer size must be a multiple", laspy "to small to be a valid LAS"); all of them
    mean truncation.
    """
    try:
        yield
    except ConversionError:
        raise
    except Exception as exc:
        text = str(exc).lower()
        if any(s in text for s in ("fill whole buffer", "multiple of element size", "small to be")):
            raise TruncatedInputError(
                f"{path}: point cloud is truncated (it ends before its last point)", path=path
            ) from exc
        raise UnreadableInputError(
            f"{path}: not a LAS/LAZ file that can be decoded ({type(exc).__name__})", path=path
        ) from exc


def inspect_las(path: Path) -> LasInput:
    """Read the header of a LAS/LAZ/COPC file and decide how it maps to COPC.

    Raises:
        InputNotFoundError, EmptyInputError, UnreadableInputError, TruncatedInputError.
    """
    size = check_input_file(path)
    with las_errors(path), laspy.open(path) as reader:
        header = reader.header
    pf = header.point_format
    _check_size(path, header, size)
    warns: list[str] = []
    if pf.id in _WAVEFORM_FORMATS:
        warns.append(f"point format {pf.id}: waveform packet fields have no COPC equivalent")
    wkt = crs_wkt(header)
    if wkt is None:
        warns.append("no CRS")
    return LasInput(
        path=path,
        header=header,
        point_count=int(header.point_count),
        is_copc=any(v.user_id == "copc" and v.record_id == 1 for v in header.vlrs),
        src_format=pf.id,
        out_format=COPC_FORMAT[pf.id],
        extra_bytes=pf.num_extra_bytes,
        eb_descriptors=_eb_descriptors(header),
        wkt=wkt,
        warnings=tuple(warns),
    )


def _check_size(path: Path, header: laspy.LasHeader, size: int) -> None:
    """Uncompressed LAS has a fixed record size, so a short file is caught before decoding."""
    if header.are_points_compressed:
        return
    needed = header.offset_to_point_data + header.point_count * header.point_format.size
    if size < needed:
        held = max(size - header.offset_to_point_data, 0) // header.point_format.size
        raise TruncatedInputError(
            f"{path}: header promises {header.point_count} points, the file holds {held}",
            path=path,
        )


def crs_wkt(header: laspy.LasHeader) -> str | None:
    """The CRS as WKT: the file's own WKT text when present, else its GeoTIFF keys as WKT1.

    LAS 1.4 formats 6-10 (so COPC) must carry WKT, not GeoTIFF keys. An existing WKT string is
    kept verbatim; GeoTIFF keys are converted with pyproj to WKT1 (GDAL flavour), which every
    LAS reader understands.
    """
    for vlr in [*header.vlrs, *(header.evlrs or [])]:
        if isinstance(vlr, WktCoordinateSystemVlr):
            text = vlr.string.strip("\x00 \n")
            if text:
                return text
    try:
        crs = header.parse_crs()
    except Exception:  # malformed GeoTIFF keys: treat as no CRS, reported as a warning
        return None
    if crs is None:
        return None
    try:
        return crs.to_wkt(WktVersion.WKT1_GDAL)
    except Exception:  # not expressible in WKT1 (rare): WKT2 is still valid LAS 1.4
        return crs.to_wkt()


def _eb_descriptors(header: laspy.LasHeader) -> bytes:
    """Extra-bytes VLR payload for the output: the input's own, or one "undocumented" field."""
    for vlr in header.vlrs:
        if isinstance(vlr, ExtraBytesVlr):
            return bytes(vlr.record_data_bytes())
    n = header.point_format.num_extra_bytes
    out = b""
    while n > 0:  # data_type 0 = undocumented bytes, options = how many (at most 255 each)
        k = min(n, 255)
        name = b"undocumented".ljust(32, b"\0")
        out += struct.pack("<2xBB32s4x120x32x", 0, k, name)
        n -= k
    return out


def read_records(inp: LasInput, *, chunk_size: int = 1_000_000) -> NDArray[np.void]:
    """Read every point into one array of output (COPC) records, converting chunk by chunk.

    Only the output array is held in full; each input chunk is converted and released, so
    peak memory is one output record per point plus one chunk.

    Raises:
        TruncatedInputError: fewer points than the header's point count.
        UnreadableInputError: the point data cannot be decoded.
    """
    out = np.zeros(inp.point_count, dtype=inp.out_dtype)
    pos = 0
    with las_errors(inp.path), laspy.open(inp.path) as reader:
        std = reader.header.point_format.num_standard_bytes
        for chunk in reader.chunk_iterator(chunk_size):
            n = len(chunk)
            convert_records(chunk.array, inp.src_format, out[pos : pos + n], std)
            pos += n
    if pos != inp.point_count:
        raise TruncatedInputError(
            f"{inp.path}: header promises {inp.point_count} points, the file holds {pos}",
            path=inp.path,
        )
    return out


def convert_records(
    src: NDArray[np.void], src_format: int, out: NDArray[np.void], src_std_bytes: int
) -> None:
    """Fill ``out`` (a COPC 6/7/8 record array) from ``src`` records of any point format.

    Legacy formats 0-5 pack flags differently from 6-10:
    - returns: 3-bit return number and count (bits 0-2, 3-5) -> 4-bit fields (bits 0-3, 4-7);
    - the classification byte holds a 5-bit class plus synthetic/key-point/withheld (bits 5-7)
      -> a full 8-bit class and those flags in bits 0-2 of ``classification_flags``;
    - scan direction and edge of flight line keep their bit positions (6 and 7);
    - ``scan_angle_rank`` (whole degrees) -> ``scan_angle`` in 0.006 degree steps.
    Class 12 ("overlap" in LAS 1.2) is kept as a class, not turned into the overlap flag,
    so the data's classification is preserved exactly.

    Fields kept as they are (and the extra bytes) are copied as byte runs: fields adjacent in
    both layouts merge into one run, so most records take a few copies, not one per field.
    The legacy conversions are 256-entry look-up tables.
    """
    names = set(src.dtype.names or ())
    out_names = set(out.dtype.names or ())
    same = ["X", "Y", "Z", "intensity", "user_data", "point_source_id"]
    if src_format >= 6:
        same += ["bit_fields", "classification_flags", "classification", "scan_angle"]
    same += [n for n in ("gps_time", "red", "green", "blue", "nir") if n in names & out_names]
    runs = [(src.dtype.fields[n][1], out.dtype.fields[n][1], src.dtype[n].itemsize) for n in same]
    if "extra_bytes" in out_names:
        size = src.dtype.itemsize - src_std_bytes
        runs.append((src_std_bytes, out.dtype.itemsize - size, size))
    for src_off, out_off, size in _merge_runs(runs):
        _bytes_at(out, out_off, size)[...] = _bytes_at(src, src_off, size)
    if src_format < 6:
        bits = src["bit_fields"]
        raw = src["raw_classification"]
        out["bit_fields"] = _RETURNS_LUT[bits]
        flags = _FLAGS_LUT[raw]
        flags |= bits & 0b1100_0000
        out["classification_flags"] = flags
        out["classification"] = raw & 0b1_1111
        out["scan_angle"] = _SCAN_ANGLE_LUT[src["scan_angle_rank"].view(np.uint8)]


def _legacy_luts() -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int16]]:
    byte = np.arange(256, dtype=np.uint8)
    returns = (byte & 0b111) | (((byte >> 3) & 0b111) << 4)
    flags = (byte >> 5) & 0b111
    rank = byte.view(np.int8).astype(np.float64)
    angle = np.rint(rank / _SCAN_ANGLE_STEP).astype(np.int16)
    return returns, flags, angle


#: Legacy byte -> LAS 1.4 value: return bits, classification flags (from the raw class byte)
#: and scan angle (indexed by the scan angle rank's byte).
_RETURNS_LUT, _FLAGS_LUT, _SCAN_ANGLE_LUT = _legacy_luts()


def _merge_runs(runs: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Merge ``(src offset, out offset, size)`` copies that continue each other."""
    merged: list[tuple[int, int, int]] = []
    for src_off, out_off, size in sorted(runs):
        if merged:
            s, o, n = merged[-1]
            if s + n == src_off and o + n == out_off:
                merged[-1] = (s, o, n + size)
                continue
        merged.append((src_off, out_off, size))
    return merged


def _bytes_at(records: NDArray[np.void], offset: int, size: int) -> NDArray[np.void]:
    """The ``size`` bytes at ``offset`` of every record, as one opaque field (a view)."""
    dtype = np.dtype(
        {"names": ["b"], "formats": [f"V{size}"], "offsets": [offset], "itemsize": records.itemsize}
    )
    return records.view(dtype)["b"]
