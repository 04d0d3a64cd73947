"""LAS/LAZ to COPC 1.0 (Cloud Optimized Point Cloud) with a level-of-detail octree, atomically."""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ingest.convert._atomic import atomic_destination, flushing
from ingest.convert._copcwrite import HeaderFields, write_copc
from ingest.convert._lasread import LasInput, inspect_las, read_records
from ingest.convert._octree import Octree, build_octree, cube_for
from ingest.convert._parallel import Workers
from ingest.convert._stats import PointStats
from ingest.convert.errors import (
    ConversionError,
    InvalidOutputError,
    UnsupportedInputError,
)
from ingest.validate.copc import read_hierarchy, validate_copc

__all__ = ["CopcEngine", "CopcResult", "to_copc"]

CopcEngine = Literal["auto", "native", "pdal"]


@dataclass(frozen=True, slots=True)
class CopcResult:
    """What :func:`to_copc` wrote.

    Attributes:
        path: The destination file, complete and validated.
        engine: ``copy`` (input already was valid COPC), ``native`` (our octree + copclib)
            or ``pdal`` (PDAL's ``writers.copc``).
        point_count: Points written (always the input's point count).
        point_format: LAS point format of the output (6, 7 or 8).
        node_count: Octree nodes holding points.
        max_depth: Depth of the deepest node.
        wkt: The CRS written, or None when the input had none.
        size: Output size in bytes.
        warnings: Things worth logging (dropped waveform fields, missing CRS, ...).
    """

    path: Path
    engine: Literal["copy", "native", "pdal"]
    point_count: int
    point_format: int
    node_count: int
    max_depth: int
    wkt: str | None
    size: int
    warnings: tuple[str, ...] = ()

    @property
    def copied(self) -> bool:
        return self.engine == "copy"


def to_copc(
    src_path: str | Path,
    dst_path: str | Path,
    *,
    force: bool = False,
    engine: CopcEngine = "auto",
    verify: Literal["quick", "full"] = "quick",
    lod_grid: int = 128,
    max_leaf_points: int = 65_536,
    chunk_size: int = 1_000_000,
) -> CopcResult:
    """Convert a LAS/LAZ file to COPC 1.0 at ``dst_path``.

    The native engine reads the input in chunks with laspy + lazrs, maps its point format to
    COPC's 6/7/8 (colour -> 7, NIR -> 8, legacy flags, classes and scan angles re-packed),
    builds a level-of-detail octree (each node holds at most one point per cell of a
    ``lod_grid``³ lattice, so coarse levels are spatially even subsets) and writes it with
    copclib. Coordinates keep the input's integer values, scales and offsets; the CRS is kept
    as WKT; classification, colour, GPS time and extra dimensions are kept.

    When PDAL's Python bindings are importable, ``engine="auto"`` uses PDAL's ``writers.copc``
    instead. An input that already is valid COPC is copied byte for byte (``force=True``
    rebuilds it). The output goes to a temporary file beside the destination and is renamed
    only after :func:`validate_copc` accepts it (``verify="full"`` also decodes every point).

    Args:
        src_path: LAS or LAZ (or COPC) input.
        dst_path: Output path, conventionally ``*.copc.laz``.
        force: Rebuild even if the input already is valid COPC.
        engine: ``auto`` (PDAL if importable, else native), ``native`` or ``pdal``.
        verify: ``quick`` checks header and hierarchy; ``full`` runs the deep validation.
        lod_grid: Cells per node edge (power of two); root spacing is cube edge / lod_grid.
        max_leaf_points: A node with at most this many points left keeps them all and gets
            no children. 65 536 is Entwine's ``maxNodeSize`` (4 x 128²): big enough for LAZ
            to compress well (small chunks reset its models), small enough to fetch fast.
        chunk_size: Points decoded per read.

    Returns:
        A :class:`CopcResult`.

    Raises:
        InputNotFoundError, EmptyInputError: missing or zero-byte input.
        UnreadableInputError: not a decodable LAS/LAZ (``TruncatedInputError`` when it ends
            before the points its header promises).
        UnsupportedInputError: no points, or ``engine="pdal"`` without PDAL.
        InvalidOutputError: the written file failed validation (it was discarded).
        ConversionError: any other failure while writing.
    """
    if lod_grid < 2 or lod_grid & (lod_grid - 1):
        raise ValueError(f"lod_grid must be a power of two >= 2, got {lod_grid}")
    if max_leaf_points < 1:
        raise ValueError(f"max_leaf_points must be positive, got {max_leaf_points}")
    src, dst = Path(src_path), Path(dst_path)
    inp = inspect_las(src)
    warns = list(inp.warnings)
    if inp.is_copc and not force:
        existing = validate_copc(src, expected_count=inp.point_count)
        if existing.is_valid:
            with atomic_destination(dst) as tmp:
                shutil.copyfile(src, tmp)
            return _from_file(dst, "copy", inp, (*warns, *existing.warnings))
        warns.append(f"input is COPC but invalid ({'; '.join(existing.errors)}): rebuilt")
    if inp.point_count == 0:
        raise UnsupportedInputError(f"{src}: point cloud has no points", path=src)

    if engine == "pdal" and not _pdal_available():
        raise UnsupportedInputError(f"{src}: engine='pdal' but PDAL is not importable", path=src)
    use_pdal = engine == "pdal" or (engine == "auto" and _pdal_available())
    octree: Octree | None = None
    with atomic_destination(dst) as tmp:
        if use_pdal:  # pragma: no cover - PDAL is not installable on the build machines
            _pdal_to_copc(src, tmp)
        else:
            octree = _native_to_copc(
                inp, tmp, grid=lod_grid, max_leaf_points=max_leaf_points, chunk_size=chunk_size
            )
        # copclib's exact bounds check holds for our octree; PDAL anchors its cube differently
        with flushing(tmp):
            check = validate_copc(
                tmp, expected_count=inp.point_count, deep=verify == "full", strict=not use_pdal
            )
        if not check.is_valid:
            raise InvalidOutputError(
                f"{src}: the written COPC failed validation: {'; '.join(check.errors)}",
                path=src,
                errors=check.errors,
            )
    if octree is None:  # pragma: no cover - PDAL branch
        return _from_file(dst, "pdal", inp, (*warns, *check.warnings))
    return CopcResult(
        path=dst,
        engine="native",
        point_count=inp.point_count,
        point_format=inp.out_format,
        node_count=len(octree.keys),
        max_depth=octree.max_depth,
        wkt=inp.wkt,
        size=dst.stat().st_size,
        warnings=tuple(dict.fromkeys((*warns, *check.warnings))),
    )


def _native_to_copc(
    inp: LasInput, tmp: Path, *, grid: int, max_leaf_points: int, chunk_size: int
) -> Octree:
    """Read, build the octree and write, on one pool of threads (one per core)."""
    with Workers() as workers:
        records, parts = read_records(
            inp, chunk_size=chunk_size, workers=workers, observe=PointStats.of
        )
        stats = PointStats.merge(parts)
        header = inp.header
        points = ScaledRecords(
            records,
            np.asarray(header.scales, dtype=np.float64),
            np.asarray(header.offsets, dtype=np.float64),
        )
        cube, maxs = cube_for(*points.bounds(*stats.coordinate_range()))
        octree = build_octree(
            points,
            cube,
            grid=grid,
            max_leaf_points=max_leaf_points,
            resolution=float(points.scales.max()),
            workers=workers,
        )
        fields = HeaderFields(
            point_format=inp.out_format,
            scales=_triple(points.scales),
            offsets=_triple(points.offsets),
            mins=_triple(cube.mins),
            maxs=_triple(maxs),
            wkt=inp.wkt,
            extra_bytes=inp.extra_bytes,
            eb_descriptors=inp.eb_descriptors,
            gps_time_type=int(header.global_encoding.gps_time_type),
            file_source_id=int(header.file_source_id),
            system_identifier=str(header.system_identifier or ""),
            guid=header.uuid.bytes_le,  # the 16 GUID bytes as laspy read them
            creation_date=header.creation_date,
            points_by_return=stats.points_by_return,
            gps_range=stats.gps_range,
        )
        try:
            write_copc(
                tmp, records, octree, cube, fields, grid=grid, extents=stats.extents(),
                workers=workers,
            )  # fmt: skip
        except (RuntimeError, ValueError, OSError) as exc:  # copclib / lazrs / disk
            raise ConversionError(f"{inp.path}: writing COPC failed: {exc}", path=inp.path) from exc
    return octree


@dataclass(frozen=True, slots=True)
class ScaledRecords:
    """The octree's view of the records: scaled coordinates, computed a block at a time.

    Same arithmetic as every LAS reader (``X * scale + offset``), so our node boxes and
    copclib's agree on which side of a boundary each point falls.
    """

    records: NDArray[np.void]
    scales: NDArray[np.float64]
    offsets: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.records)

    def coordinates(self, axis: int, sel: slice | NDArray[np.int64]) -> NDArray[np.float64]:
        """Scaled coordinates along ``axis`` of the selected records."""
        out = np.multiply(self.records["XYZ"[axis]][sel], self.scales[axis])
        out += self.offsets[axis]
        return out

    def bounds(
        self, lo: NDArray[np.int64], hi: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Scaled bounds of points whose integer coordinates span ``lo .. hi``.

        Scaling is monotonic (and rounding preserves order), so the extreme integers give
        exactly the extreme scaled values, without scaling every point.
        """
        a, b = lo * self.scales + self.offsets, hi * self.scales + self.offsets
        return np.minimum(a, b), np.maximum(a, b)


def _triple(values: NDArray[np.float64]) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


def _from_file(
    dst: Path, engine: Literal["copy", "pdal"], inp: LasInput, warns: tuple[str, ...]
) -> CopcResult:
    hierarchy = read_hierarchy(dst)
    return CopcResult(
        path=dst,
        engine=engine,
        point_count=int(hierarchy.counts.sum()),
        point_format=inp.out_format,
        node_count=int((hierarchy.counts > 0).sum()),
        max_depth=hierarchy.max_depth,
        wkt=inp.wkt,
        size=dst.stat().st_size,
        warnings=tuple(dict.fromkeys(warns)),
    )


def _pdal_available() -> bool:
    return importlib.util.find_spec("pdal") is not None


def _pdal_to_copc(src: Path, tmp: Path) -> None:  # pragma: no cover - PDAL not installable here
    """PDAL's own COPC writer, kept as small as possible: all dimensions forwarded."""
    import pdal  # type: ignore[import-not-found]

    pipeline = pdal.Reader.las(filename=str(src)) | pdal.Writer.copc(
        filename=str(tmp), forward="all", extra_dims="all"
    )
    try:
        pipeline.execute()
    except RuntimeError as exc:
        raise ConversionError(f"{src}: PDAL writers.copc failed: {exc}", path=src) from exc
