"""COPC 1.0 validation: structure, hierarchy, node bounds, full read-back and a bbox query."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import copclib
import laspy
import lazrs
import numpy as np
import pyproj
from laspy.copc import Bounds, CopcInfoVlr
from laspy.vlrs.known import LasZipVlr, WktCoordinateSystemVlr
from numpy.typing import NDArray

from ingest.validate.result import ValidationResult

__all__ = ["Hierarchy", "read_hierarchy", "validate_copc"]

#: One hierarchy entry: VoxelKey (d, x, y, z), offset, byte size, point count (-1: a page).
_ENTRY = np.dtype(
    [("d", "<i4"), ("x", "<i4"), ("y", "<i4"), ("z", "<i4"), ("offset", "<u8"),
     ("size", "<i4"), ("count", "<i4")]
)  # fmt: skip


#: Points decoded at once by the node check; bounds its memory on large files.
_BATCH_POINTS = 2_000_000


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Every data node of a COPC file (pages resolved), as parallel arrays."""

    keys: NDArray[np.int32]  # (n, 4): d, x, y, z
    offsets: NDArray[np.uint64]
    sizes: NDArray[np.int64]
    counts: NDArray[np.int64]
    pages: int = 1
    problems: list[str] = field(default_factory=list)

    @property
    def max_depth(self) -> int:
        return int(self.keys[:, 0].max()) if len(self.keys) else 0


def read_hierarchy(path: str | Path) -> Hierarchy:
    """Read the whole COPC hierarchy, following every page from the root page.

    Raises:
        Exception: whatever laspy or the byte parsing raises for a non-COPC or broken file.
    """
    with laspy.CopcReader.open(str(path)) as reader:
        info = reader.copc_info
    entries, problems, pages = [], [], 0
    todo = [(int(info.hierarchy_root_offset), int(info.hierarchy_root_size))]
    seen: set[int] = set()
    with open(path, "rb") as f:
        while todo:
            offset, size = todo.pop()
            if offset in seen:
                problems.append(f"hierarchy page at byte {offset} is referenced twice")
                continue
            seen.add(offset)
            pages += 1
            f.seek(offset)
            data = f.read(size)
            if len(data) != size or size % _ENTRY.itemsize:
                problems.append(f"hierarchy page at byte {offset} is truncated or misaligned")
                continue
            page = np.frombuffer(data, dtype=_ENTRY)
            is_page = page["count"] == -1
            todo.extend((int(e["offset"]), int(e["size"])) for e in page[is_page])
            entries.append(page[~is_page])
    table = np.concatenate(entries) if entries else np.zeros(0, _ENTRY)
    keys = np.column_stack([table["d"], table["x"], table["y"], table["z"]]).astype(np.int32)
    return Hierarchy(
        keys=keys.reshape(-1, 4),
        offsets=table["offset"].astype(np.uint64),
        sizes=table["size"].astype(np.int64),
        counts=table["count"].astype(np.int64),
        pages=pages,
        problems=problems,
    )


def validate_copc(
    path: str | Path,
    *,
    expected_count: int | None = None,
    deep: bool = True,
    strict: bool = False,
) -> ValidationResult:
    """Check that ``path`` is a COPC 1.0 file that readers can use.

    Always: the file opens as COPC with laspy (LAS 1.4, point format 6-8, COPC info first),
    the hierarchy is sane (valid keys, no duplicates, every node reachable from the root, data
    ranges inside the file and not overlapping, node counts summing to the header count and to
    ``expected_count``).

    With ``deep`` (default): every node is decoded and its points must lie in the node's cube
    (from the COPC info, with one scale step of tolerance for quantisation); laspy's
    ``CopcReader`` reads all points back; a bbox query returns exactly the points inside the
    box; and copclib's ``ValidateSpatialBounds`` runs. copclib assumes the cube is anchored at
    the header minimum and compares with no tolerance, so on third-party files its failure is
    a warning; ``strict=True`` (used for our own outputs) makes it an error.

    Returns:
        ``ValidationResult(is_valid, errors, warnings)``; never raises for a bad file.
    """
    path = Path(path)
    errors: list[str] = []
    warns: list[str] = []
    try:
        _validate(path, expected_count, deep, strict, errors, warns)
    except Exception as exc:  # a validator answers; it does not raise
        errors.append(f"cannot be read as COPC: {type(exc).__name__}: {exc}")
    return ValidationResult.from_lists(errors, warns)


def _validate(
    path: Path,
    expected_count: int | None,
    deep: bool,
    strict: bool,
    errors: list[str],
    warns: list[str],
) -> None:
    if not path.is_file():
        errors.append("file does not exist")
        return
    size = path.stat().st_size
    if size == 0:
        errors.append("file is empty (0 bytes)")
        return
    with laspy.CopcReader.open(str(path)) as reader:
        header, info = reader.header, reader.copc_info
        laszip_vlr = reader.laszip_vlr
    _check_header(header, info, expected_count, errors)
    _check_crs(path, warns)
    hierarchy = read_hierarchy(path)
    _check_hierarchy(hierarchy, header, size, errors)
    if errors or not deep:
        return
    _check_nodes(path, hierarchy, header, info, laszip_vlr, errors)
    if errors:
        return
    _check_read_back(path, header, errors)
    _check_copclib(path, strict, errors, warns)


def _check_header(
    header: laspy.LasHeader,
    info: CopcInfoVlr,
    expected_count: int | None,
    errors: list[str],
) -> None:
    if (header.version.major, header.version.minor) != (1, 4):
        errors.append(f"LAS version is {header.version}, COPC requires 1.4")
    if header.point_format.id not in (6, 7, 8):
        errors.append(f"point format {header.point_format.id}, COPC requires 6, 7 or 8")
    if expected_count is not None and header.point_count != expected_count:
        errors.append(f"header has {header.point_count} points, expected {expected_count}")
    if not info.halfsize >= 0:
        errors.append(f"COPC info halfsize is {info.halfsize}, it must be >= 0")


def _check_crs(path: Path, warns: list[str]) -> None:
    """The WKT sits in an EVLR, which only laspy's LasReader (not CopcReader) parses."""
    try:
        with laspy.open(path) as reader:
            header = reader.header
            wkts = [v.string for v in (*header.vlrs, *(header.evlrs or ()))
                    if isinstance(v, WktCoordinateSystemVlr)]
            if wkts:
                problem = _wkt_problem(wkts[0])
                if problem is not None:
                    warns.append(f"CRS cannot be parsed: {problem}")
                return
            crs = header.parse_crs()  # GeoTIFF keys, or nothing
    except Exception as exc:
        warns.append(f"CRS cannot be parsed: {exc}")
        return
    if crs is None:
        warns.append("no CRS")


@lru_cache(maxsize=64)
def _wkt_problem(wkt: str) -> str | None:
    """Why pyproj cannot read ``wkt`` (None: it can), remembered: parsing takes ~10 ms, and
    every tile of a survey carries the same WKT, which the input check has often just read."""
    try:
        pyproj.CRS.from_wkt(wkt)
    except Exception as exc:
        return str(exc)
    return None


def _check_hierarchy(h: Hierarchy, header: laspy.LasHeader, size: int, errors: list[str]) -> None:
    errors.extend(h.problems)
    if len(h.keys) == 0:
        errors.append("hierarchy has no nodes")
        return
    d, xyz = h.keys[:, 0].astype(np.int64), h.keys[:, 1:].astype(np.int64)
    bad = (d < 0) | np.any(xyz < 0, axis=1) | np.any(xyz >= (1 << np.clip(d, 0, 62))[:, None], 1)
    if bad.any():
        errors.append(f"{int(bad.sum())} hierarchy keys are out of range for their depth")
    keyset = {tuple(k) for k in h.keys.tolist()}
    if len(keyset) != len(h.keys):
        errors.append("hierarchy lists a node more than once")
    if (0, 0, 0, 0) not in keyset:
        errors.append("hierarchy has no root node")
    orphans = [k for k in keyset if k[0] > 0 and (k[0] - 1, k[1] // 2, k[2] // 2, k[3] // 2)
               not in keyset]  # fmt: skip
    if orphans:
        errors.append(f"{len(orphans)} nodes have no parent entry (unreachable), e.g. {orphans[0]}")
    if np.any(h.counts < 0):
        errors.append("hierarchy has negative point counts")
    total = int(h.counts.sum())
    if total != header.point_count:
        errors.append(f"nodes hold {total} points, the header says {header.point_count}")
    data = h.counts > 0
    starts = h.offsets[data].astype(np.int64)
    ends = starts + h.sizes[data]
    if np.any(starts < header.offset_to_point_data) or np.any(ends > size):
        errors.append("node data lies outside the point data of the file (truncated?)")
    order = np.argsort(starts)
    if np.any(starts[order][1:] < ends[order][:-1]):
        errors.append("node data ranges overlap")


def _check_nodes(
    path: Path,
    h: Hierarchy,
    header: laspy.LasHeader,
    info: CopcInfoVlr,
    laszip_vlr: LasZipVlr,
    errors: list[str],
) -> None:
    """Decode every node (in batches, in file order) and check its points lie in its cube."""
    data = np.flatnonzero(h.counts > 0)
    order = data[np.argsort(h.offsets[data])]
    batch_ends = np.cumsum(h.counts[order])
    outside, example = 0, None
    with open(path, "rb") as f:
        first = 0
        while first < len(order):
            limit = (batch_ends[first - 1] if first else 0) + _BATCH_POINTS
            last = max(int(np.searchsorted(batch_ends, limit, side="right")), first + 1)
            nodes = order[first:last]
            xyz = _decode(f, h, nodes, header, laszip_vlr)
            node = np.repeat(nodes, h.counts[nodes])
            step = (2 * info.halfsize / np.power(2.0, h.keys[node, 0]))[:, None]
            lo = (info.center - info.halfsize) + step * h.keys[node, 1:]
            tol = header.scales  # quantisation can move a point by up to one step
            bad = np.any((xyz < lo - tol) | (xyz > lo + step + tol), axis=1)
            if bad.any():
                outside += int(bad.sum())
                example = example or h.keys[node[np.argmax(bad)]].tolist()
            first = last
    if outside:
        errors.append(f"{outside} points lie outside their node's cube, e.g. in {example}")


def _decode(
    f: BinaryIO,
    h: Hierarchy,
    nodes: NDArray[np.int64],
    header: laspy.LasHeader,
    laszip_vlr: LasZipVlr,
) -> NDArray[np.float64]:
    """Scaled XYZ of the points of ``nodes``, each node decoded as one LAZ chunk."""
    chunks = bytearray()
    for i in nodes:
        f.seek(int(h.offsets[i]))
        chunks += f.read(int(h.sizes[i]))
    raw = np.zeros(int(h.counts[nodes].sum()) * header.point_format.size, dtype=np.uint8)
    lazrs.decompress_points_with_chunk_table(
        bytes(chunks),
        laszip_vlr.record_data,
        raw,
        [(int(h.counts[i]), int(h.sizes[i])) for i in nodes],
        lazrs.DecompressionSelection(lazrs.SELECTIVE_DECOMPRESS_ALL),
    )
    points = laspy.PackedPointRecord.from_buffer(raw, header.point_format)
    ints = np.column_stack([points["X"], points["Y"], points["Z"]]).astype(np.float64)
    return ints * header.scales + header.offsets


def _check_read_back(path: Path, header: laspy.LasHeader, errors: list[str]) -> None:
    """Full read with laspy's CopcReader, then a bbox query that must be exact."""
    with laspy.CopcReader.open(str(path)) as reader:
        everything = reader.query()
        if len(everything) != header.point_count:
            errors.append(f"CopcReader read {len(everything)} of {header.point_count} points")
            return
        mins, maxs = header.mins, header.maxs
        extent = maxs - mins
        box = Bounds(mins=mins[:2] + 0.3 * extent[:2], maxs=mins[:2] + 0.7 * extent[:2])
        found = reader.query(bounds=box)
    lo = np.round((box.mins - header.offsets[:2]) / header.scales[:2]).astype(np.int64)
    hi = np.round((box.maxs - header.offsets[:2]) / header.scales[:2]).astype(np.int64)
    x, y = np.asarray(everything.X, np.int64), np.asarray(everything.Y, np.int64)
    inside = (lo[0] <= x) & (x <= hi[0]) & (lo[1] <= y) & (y <= hi[1])
    fx, fy = np.asarray(found.X, np.int64), np.asarray(found.Y, np.int64)
    if np.any((fx < lo[0]) | (fx > hi[0]) | (fy < lo[1]) | (fy > hi[1])):
        errors.append("bbox query returned points outside the box")
    elif len(found) != int(inside.sum()):
        errors.append(
            f"bbox query returned {len(found)} points, {int(inside.sum())} lie in the box"
        )


def _check_copclib(path: Path, strict: bool, errors: list[str], warns: list[str]) -> None:
    try:
        reader = copclib.FileReader(str(path))
        try:
            ok = reader.ValidateSpatialBounds(False)
        finally:
            reader.Close()
    except Exception as exc:
        (errors if strict else warns).append(f"copclib cannot read the file: {exc}")
        return
    if not ok:
        message = (
            "copclib ValidateSpatialBounds failed (it assumes a cube anchored at the header "
            "minimum and exact header bounds)"
        )
        (errors if strict else warns).append(message)
