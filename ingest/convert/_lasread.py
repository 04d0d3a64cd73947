"""Reading LAS/LAZ: open with precise errors, map any point format to COPC's 6/7/8, in chunks."""

from __future__ import annotations

import os
import queue
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import laspy
import numpy as np
from laspy.vlrs.known import ExtraBytesVlr, WktCoordinateSystemVlr
from numpy.typing import NDArray
from pyproj.enums import WktVersion

from ingest.convert._atomic import check_input_file
from ingest.convert._parallel import Workers, blocks
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
#: Points converted per task: the block (input and output records, ~9 MB) stays in the last
#: cache level, and numpy's per-call cost (a GIL hand-off on threads) is spread over many points.
_BLOCK = 1 << 17

_T = TypeVar("_T")


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


def read_records(
    inp: LasInput,
    *,
    chunk_size: int = 1_000_000,
    workers: Workers | None = None,
    observe: Callable[[NDArray[np.void]], _T] | None = None,
) -> tuple[NDArray[np.void], list[_T]]:
    """Read every point into one array of output (COPC) records, converting block by block.

    Blocks of at most ``_BLOCK`` points are converted (and handed to ``observe``, whose results
    are returned in file order) while they are in cache, spread over ``workers``. Uncompressed
    LAS is read a block at a time by each worker, straight from the file; LAZ is decompressed
    by laspy/lazrs (itself multi-threaded) ``chunk_size`` points at a time. Only the output array
    is held in full, plus one block per worker (or one LAZ chunk).

    Raises:
        TruncatedInputError: fewer points than the header's point count.
        UnreadableInputError: the point data cannot be decoded.
    """
    out = np.zeros(inp.point_count, dtype=inp.out_dtype)
    if workers is None:
        workers = Workers(1)
    with las_errors(inp.path):
        if inp.header.are_points_compressed or not hasattr(os, "preadv"):
            seen = _read_decoded(inp, out, chunk_size, workers, observe)
        else:
            seen = _read_uncompressed(inp, out, min(chunk_size, _BLOCK), workers, observe)
    return out, seen


def _read_uncompressed(
    inp: LasInput,
    out: NDArray[np.void],
    block: int,
    workers: Workers,
    observe: Callable[[NDArray[np.void]], _T] | None,
) -> list[_T]:
    """Each task reads its block of records with ``preadv`` (no shared file position).

    Into a buffer that the worker reuses: a fresh buffer per block costs a page fault per
    page, several times the copy itself.
    """
    header = inp.header
    dtype = header.point_format.dtype()
    std = header.point_format.num_standard_bytes
    start = header.offset_to_point_data
    spare: queue.SimpleQueue[NDArray[np.void]] = queue.SimpleQueue()
    for _ in range(workers.count):
        spare.put(np.empty(block, dtype=dtype))
    fd = os.open(inp.path, os.O_RDONLY)
    try:

        def task(lo_hi: tuple[int, int]) -> _T | None:
            lo, hi = lo_hi
            buf = spare.get()
            try:
                src = buf[: hi - lo]
                got = os.preadv(fd, [src.view(np.uint8).data], start + lo * dtype.itemsize)
                if got != src.nbytes:
                    raise TruncatedInputError(
                        f"{inp.path}: header promises {inp.point_count} points, the file holds "
                        f"{lo + got // dtype.itemsize}",
                        path=inp.path,
                    )
                return _convert_block(src, inp, out[lo:hi], std, observe)
            finally:
                spare.put(buf)

        seen = workers.map(task, blocks(inp.point_count, block))
    finally:
        os.close(fd)
    return [s for s in seen if s is not None]


def _read_decoded(
    inp: LasInput,
    out: NDArray[np.void],
    chunk_size: int,
    workers: Workers,
    observe: Callable[[NDArray[np.void]], _T] | None,
) -> list[_T]:
    """laspy decodes a chunk; its blocks are converted in parallel."""
    seen: list[_T | None] = []
    pos = 0
    with laspy.open(inp.path) as reader:
        std = reader.header.point_format.num_standard_bytes
        for chunk in reader.chunk_iterator(chunk_size):
            src, at = chunk.array, pos

            def task(
                lo_hi: tuple[int, int], src: NDArray[np.void] = src, at: int = at
            ) -> _T | None:
                lo, hi = lo_hi
                return _convert_block(src[lo:hi], inp, out[at + lo : at + hi], std, observe)

            seen += workers.map(task, blocks(min(len(src), inp.point_count - pos), _BLOCK))
            pos += len(src)
    if pos != inp.point_count:
        raise TruncatedInputError(
            f"{inp.path}: header promises {inp.point_count} points, the file holds {pos}",
            path=inp.path,
        )
    return [s for s in seen if s is not None]


def _convert_block(
    src: NDArray[np.void],
    inp: LasInput,
    out: NDArray[np.void],
    std: int,
    observe: Callable[[NDArray[np.void]], _T] | None,
) -> _T | None:
    convert_records(src, inp.src_format, out, std)
    return observe(out) if observe is not None else None


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
    src_fields, out_fields = src.dtype.fields, out.dtype.fields
    assert src_fields is not None and out_fields is not None  # both are structured records
    runs = [(src_fields[n][1], out_fields[n][1], src.dtype[n].itemsize) for n in same]
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
    returns = ((byte & 0b111) | (((byte >> 3) & 0b111) << 4)).astype(np.uint8)
    flags = ((byte >> 5) & 0b111).astype(np.uint8)
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
