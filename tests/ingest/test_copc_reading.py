"""Reading LAS/LAZ into COPC records on several threads, and the statistics taken on the way."""

from __future__ import annotations

import shutil
from pathlib import Path

import laspy
import numpy as np
import pytest
from samples import LAS_DIR

from ingest.convert import TruncatedInputError
from ingest.convert._lasread import convert_records, inspect_las, read_records
from ingest.convert._parallel import Workers
from ingest.convert._stats import PointStats

pytestmark = pytest.mark.usefixtures("shared_data")  # missing sample data fails the tests


def _reference(path: Path) -> np.ndarray:
    """The whole file converted in one call, from laspy's own decoding."""
    inp = inspect_las(path)
    src = laspy.read(path).points.array
    out = np.zeros(len(src), dtype=inp.out_dtype)
    convert_records(src, inp.src_format, out, inp.header.point_format.num_standard_bytes)
    return out


@pytest.mark.parametrize("name", ["autzen_trim.las", "autzen_trim.laz", "test1_4.las"])
@pytest.mark.parametrize("threads", [1, 3])
def test_blocks_on_threads_read_what_laspy_reads(name: str, threads: int) -> None:
    path = LAS_DIR / name
    with Workers(threads) as workers:
        records, seen = read_records(inspect_las(path), chunk_size=4_000, workers=workers,
                                     observe=len)  # fmt: skip
    np.testing.assert_array_equal(records, _reference(path))
    assert sum(seen) == len(records) and max(seen) <= 4_000  # every block observed, in order


def test_statistics_merged_over_blocks_are_those_of_all_points() -> None:
    path = LAS_DIR / "autzen_trim.las"
    with Workers(2) as workers:
        records, parts = read_records(inspect_las(path), chunk_size=5_000, workers=workers,
                                      observe=PointStats.of)  # fmt: skip
    stats = PointStats.merge(parts)
    assert len(parts) > 10 and stats.count == len(records)
    las = laspy.read(path)
    lo, hi = stats.coordinate_range()
    np.testing.assert_array_equal(lo, [las.X.min(), las.Y.min(), las.Z.min()])
    np.testing.assert_array_equal(hi, [las.X.max(), las.Y.max(), las.Z.max()])
    assert stats.gps_range == (las.gps_time.min(), las.gps_time.max())
    by_return = np.bincount(np.asarray(las.return_number), minlength=16)[1:16]
    assert stats.points_by_return == tuple(by_return.tolist())
    extents = stats.extents()
    for dim in ("intensity", "return_number", "number_of_returns", "classification",
                "user_data", "point_source_id", "red", "green", "blue"):  # fmt: skip
        values = np.asarray(las[dim])
        assert extents[dim] == (values.min(), values.max()), dim
    flags = records["classification_flags"]
    assert extents["edge_of_flight_line"] == (flags.min() >> 7, flags.max() >> 7)


def test_a_file_cut_short_after_its_header_was_read(tmp_path: Path) -> None:
    path = tmp_path / "shrinking.las"
    shutil.copyfile(LAS_DIR / "autzen_trim.las", path)
    inp = inspect_las(path)  # the header still promises every point
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size - 1000)
    with Workers(2) as workers, pytest.raises(TruncatedInputError, match="header promises"):
        read_records(inp, chunk_size=3_000, workers=workers)


def test_threads_only_on_a_machine_with_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.convert._parallel as parallel

    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(parallel, "cpu_pressure", lambda: 2.0)
    assert parallel.default_workers() == 4
    monkeypatch.setattr(parallel, "cpu_pressure", lambda: 35.0)  # others wait for the cores
    assert parallel.default_workers() == 1


def test_cpu_pressure_is_a_percentage() -> None:
    from ingest.convert._parallel import cpu_pressure

    assert 0.0 <= cpu_pressure() <= 100.0  # 0 where the kernel does not report it
