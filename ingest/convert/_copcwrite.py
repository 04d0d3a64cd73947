"""Write octree nodes as COPC 1.0 with copclib, compressing the nodes in parallel with lazrs."""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import copclib
import lazrs
import numpy as np
from numpy.typing import NDArray

from ingest.convert._octree import Cube, Octree
from ingest.convert._parallel import Workers, ranges

#: Offsets inside a COPC file (fixed by the spec: the info VLR is the first VLR, at byte 375).
_HEADER_SIZE = 375
_VLR_HEADER = struct.Struct("<H16sHH32s")
_INFO_GPS_OFFSET = _HEADER_SIZE + _VLR_HEADER.size + 7 * 8
_NUM_VLRS_OFFSET = 100
_EB_RECORD = 192

#: Points compressed per lazrs call; bounds the memory of the gathered node records.
_BATCH_POINTS = 2_000_000


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """LAS header values carried from the input, or computed from the points."""

    point_format: int
    scales: tuple[float, float, float]
    offsets: tuple[float, float, float]
    mins: tuple[float, float, float]
    maxs: tuple[float, float, float]
    wkt: str | None
    extra_bytes: int
    eb_descriptors: bytes
    gps_time_type: int
    file_source_id: int
    system_identifier: str
    guid: bytes
    creation_date: dt.date | None
    points_by_return: tuple[int, ...]
    gps_range: tuple[float, float]


def write_copc(
    path: Path,
    records: NDArray[np.void],
    octree: Octree,
    cube: Cube,
    fields: HeaderFields,
    *,
    grid: int,
    extents: dict[str, tuple[float, float]],
    workers: Workers | None = None,
) -> None:
    """Write ``records`` grouped by ``octree`` as a COPC file at ``path``.

    copclib lays out the file (header, COPC info, LAZ VLR, chunk table, hierarchy EVLR, WKT
    EVLR); the LAZ chunks, one per node, are compressed by lazrs' multi-threaded compressor and
    handed over with ``AddNodeCompressed``, because copclib compresses one node at a time on
    one core. Two values copclib gets wrong are patched afterwards, in place: the GPS time
    range of the info VLR, and the extra-bytes descriptors (copclib can only declare unnamed
    one-byte fields from Python).
    """
    config = _config(extents, cube, fields, grid=grid)
    writer = copclib.FileWriter(str(path), config)
    try:
        _add_nodes(writer, records, octree, fields, workers or Workers(1))
    finally:
        writer.Close()
    _patch_gps_range(path, fields.gps_range)
    if fields.extra_bytes:
        _patch_extra_bytes(path, fields.eb_descriptors, fields.extra_bytes)


def _config(
    extents: dict[str, tuple[float, float]], cube: Cube, fields: HeaderFields, *, grid: int
) -> copclib.CopcConfigWriter:
    config = copclib.CopcConfigWriter(
        fields.point_format,
        copclib.Vector3(*fields.scales),
        copclib.Vector3(*fields.offsets),
        fields.wkt or "",
        copclib.EbVlr(fields.extra_bytes),
        False,
    )
    header = config.las_header
    header.min = copclib.Vector3(*fields.mins)
    header.max = copclib.Vector3(*fields.maxs)
    header.points_by_return = list(fields.points_by_return)
    # bit 0: GPS time type (kept); bit 4 (WKT CRS) is set by copclib, as formats 6-8 require
    header.global_encoding = fields.gps_time_type & 1
    header.file_source_id = fields.file_source_id
    header.system_identifier = fields.system_identifier[:32]
    header.generating_software = "stacworks"
    header.guid = fields.guid
    date = fields.creation_date or dt.datetime.now(dt.UTC).date()
    header.creation_year = date.year
    header.creation_day = date.timetuple().tm_yday

    info = config.copc_info
    center = cube.center
    info.center_x, info.center_y, info.center_z = (float(c) for c in center)
    info.halfsize = cube.halfsize
    info.spacing = cube.span / grid
    _fill_extents(config.copc_extents, extents, fields)
    return config


def _fill_extents(
    extents: copclib.CopcExtents,
    values: dict[str, tuple[float, float]],
    fields: HeaderFields,
) -> None:
    """Per-dimension min/max for copclib's extents VLR, so it does not advertise zeros."""
    if not values:
        return
    for name, (lo, hi) in values.items():
        setattr(extents, name, copclib.CopcExtent(lo, hi))
    extents.gps_time = copclib.CopcExtent(*fields.gps_range)


def _add_nodes(
    writer: copclib.FileWriter,
    records: NDArray[np.void],
    octree: Octree,
    fields: HeaderFields,
    workers: Workers,
) -> None:
    """Gather, compress (parallel) and add the nodes, a batch of nodes at a time."""
    vlr = lazrs.LazVlr.new_for_compression(fields.point_format, fields.extra_bytes, True)
    record_size = records.dtype.itemsize
    ends = np.cumsum(octree.counts)
    starts = ends - octree.counts
    first = 0
    while first < len(octree.counts):
        last = int(np.searchsorted(ends, starts[first] + _BATCH_POINTS, side="right"))
        last = max(last, first + 1)
        lo, hi = int(starts[first]), int(ends[last - 1])
        raw = _gather(records, octree.order[lo:hi], workers).view(np.uint8).reshape(-1)
        bounds = (np.append(starts[first:last], hi) - lo) * record_size
        chunks = [raw[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        compressed, table = _compress(vlr, chunks)
        pos = 8  # after the chunk-table offset that lazrs reserves at the start
        for i, (count, size) in enumerate(table):
            d, x, y, z = (int(v) for v in octree.keys[first + i])
            data = copclib.VectorChar(np.frombuffer(compressed, np.int8, size, pos))
            writer.AddNodeCompressed(copclib.VoxelKey(d, x, y, z), data, int(count))
            pos += size
        first = last


def _gather(
    records: NDArray[np.void], index: NDArray[np.int64], workers: Workers
) -> NDArray[np.void]:
    """``records[index]``, a part per worker (np.take: 10x faster than fancy indexing here)."""
    out = np.empty(len(index), dtype=records.dtype)

    def part(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        np.take(records, index[lo:hi], out=out[lo:hi], mode="clip")  # clip: unbuffered

    workers.map(part, ranges(len(index), workers.count))
    return out


def _compress(
    vlr: lazrs.LazVlr, chunks: Sequence[NDArray[np.uint8]]
) -> tuple[memoryview, list[tuple[int, int]]]:
    """Compress each chunk as one variable-size LAZ chunk; return the bytes and (count, size)."""
    sink = io.BytesIO()
    compressor = lazrs.ParLasZipCompressor(sink, vlr)
    compressor.reserve_offset_to_chunk_table()
    compressor.compress_chunks(chunks)
    compressor.done()
    data = sink.getbuffer()  # a view: the compressed bytes are not copied again
    (table_offset,) = struct.unpack_from("<q", data, 0)
    table = lazrs.read_chunk_table_only(io.BytesIO(data[table_offset:]), vlr)
    return data, [(int(c), int(s)) for c, s in table]


def _patch_gps_range(path: Path, gps_range: tuple[float, float]) -> None:
    """copclib writes the GPS time minimum in both fields of the info VLR; write the range."""
    with path.open("r+b") as f:
        f.seek(_INFO_GPS_OFFSET)
        f.write(struct.pack("<dd", *gps_range))


def _patch_extra_bytes(path: Path, descriptors: bytes, extra_bytes: int) -> None:
    """Replace copclib's placeholder extra-bytes VLR with the real field descriptors.

    copclib's Python API can only declare ``n`` unnamed one-byte fields for ``n`` extra bytes.
    The real descriptors are never more (each field has at least one byte), so the VLR block
    is rebuilt in the space the file already reserves: info VLR first (as COPC requires), the
    LAZ VLR, the real extra-bytes VLR, and a padding VLR for the bytes left over. copclib's
    optional extents VLR is dropped when its per-field count would no longer match.
    """
    with path.open("r+b") as f:
        head = f.read(_HEADER_SIZE)
        header_size, point_offset, n_vlrs = struct.unpack_from("<HII", head, 94)
        f.seek(header_size)
        block = f.read(point_offset - header_size)
        vlrs = _parse_vlrs(block, n_vlrs)
        same_count = len(descriptors) == extra_bytes * _EB_RECORD
        kept = []
        for user, rid, desc, data in vlrs:
            if (user, rid) == ("LASF_Spec", 4):
                data = descriptors
            elif (user, rid) == ("copc", 10000) and not same_count:
                continue
            kept.append((user, rid, desc, data))
        out = b"".join(_vlr(u, r, d, data) for u, r, d, data in kept)
        spare = len(block) - len(out)
        if spare:
            kept.append(("stacworks", 0, "padding", b""))
            out += _vlr("stacworks", 0, "padding", bytes(spare - _VLR_HEADER.size))
        f.seek(header_size)
        f.write(out)
        f.seek(_NUM_VLRS_OFFSET)
        f.write(struct.pack("<I", len(kept)))


def _parse_vlrs(block: bytes, count: int) -> list[tuple[str, int, str, bytes]]:
    vlrs, pos = [], 0
    for _ in range(count):
        _, user, rid, length, desc = _VLR_HEADER.unpack_from(block, pos)
        pos += _VLR_HEADER.size
        vlrs.append((_text(user), rid, _text(desc), block[pos : pos + length]))
        pos += length
    return vlrs


def _vlr(user: str, record_id: int, description: str, data: bytes) -> bytes:
    return _VLR_HEADER.pack(0, user.encode(), record_id, len(data), description.encode()) + data


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")
