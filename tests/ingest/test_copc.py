"""to_copc / validate_copc on the real sample point clouds, and on broken copies of them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import copclib
import laspy
import numpy as np
import pytest
from laspy.copc import Bounds
from samples import COPC_DIR, LAS_DIR, folder_is_empty, sha256

from ingest.convert import (
    ConversionError,
    EmptyInputError,
    InvalidOutputError,
    TruncatedInputError,
    UnreadableInputError,
    to_copc,
)
from ingest.validate import ValidationResult, validate_copc
from ingest.validate.copc import read_hierarchy
from tests.node_tools import node_module

pytestmark = pytest.mark.usefixtures("shared_data")  # missing sample data fails the tests

SAMPLES = ["autzen_trim.las", "autzen_trim.laz", "1.2-with-color.las", "test1_4.las",
           "mvk-thin.las", "1_4_w_evlr.laz"]  # fmt: skip
#: Dimensions compared point by point, when the input has them (laspy names).
DIMS = ["intensity", "return_number", "number_of_returns", "scan_direction_flag",
        "edge_of_flight_line", "classification", "synthetic", "key_point", "withheld",
        "user_data", "point_source_id", "gps_time", "red", "green", "blue"]  # fmt: skip


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every sample converted once (full verification), shared by the tests of this module."""
    out = tmp_path_factory.mktemp("copc")
    paths = {}
    for name in SAMPLES:
        dst = out / f"{name.split('.')[0]}-{name.rsplit('.', 1)[1]}.copc.laz"
        result = to_copc(LAS_DIR / name, dst, verify="full")
        assert result.engine == "native" and result.path == dst
        paths[name] = dst
    return paths


def xyz_order(las: laspy.LasData) -> np.ndarray:
    """A point order that depends only on the integer coordinates (and then on gps time)."""
    return np.lexsort((np.asarray(las.gps_time) if "gps_time" in las.point_format.dimension_names
                       else np.zeros(len(las.X)), las.Z, las.Y, las.X))  # fmt: skip


@pytest.mark.parametrize("name", SAMPLES)
def test_points_and_attributes_survive(name: str, converted: dict[str, Path]) -> None:
    src, dst = laspy.read(LAS_DIR / name), laspy.read(converted[name])
    assert dst.header.version.minor == 4
    assert dst.header.point_format.id == {1: 6, 3: 7, 6: 6}[src.header.point_format.id]
    assert len(dst.points) == len(src.points)
    np.testing.assert_array_equal(dst.header.scales, src.header.scales)
    np.testing.assert_array_equal(dst.header.offsets, src.header.offsets)
    a, b = xyz_order(src), xyz_order(dst)
    for dim in ("X", "Y", "Z"):  # same integer coordinates: nothing moved or re-quantised
        np.testing.assert_array_equal(np.asarray(src[dim])[a], np.asarray(dst[dim])[b])
    for dim in DIMS:
        if dim in src.point_format.dimension_names:
            np.testing.assert_array_equal(
                np.asarray(src[dim])[a], np.asarray(dst[dim])[b], err_msg=dim
            )
    np.testing.assert_allclose(dst.header.mins, src.header.mins, atol=1e-6)
    np.testing.assert_allclose(dst.header.maxs, src.header.maxs, atol=1e-6)
    assert list(dst.header.number_of_points_by_return[:5]) == list(
        np.bincount(np.asarray(src.return_number), minlength=6)[1:6]
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_crs_is_kept_as_wkt(name: str, converted: dict[str, Path]) -> None:
    src_crs = laspy.open(LAS_DIR / name).header.parse_crs()
    with laspy.open(converted[name]) as reader:
        dst_crs = reader.header.parse_crs()
        assert reader.header.global_encoding.wkt  # LAS 1.4 formats 6+ require the WKT bit
    if src_crs is None:
        assert dst_crs is None
    else:
        assert dst_crs is not None and dst_crs.equals(src_crs)


def test_legacy_scan_angle_and_flags_are_repacked(converted: dict[str, Path]) -> None:
    src, dst = laspy.read(LAS_DIR / "mvk-thin.las"), laspy.read(converted["mvk-thin.las"])
    a, b = xyz_order(src), xyz_order(dst)
    degrees = np.asarray(dst.scan_angle)[b] * 0.006
    np.testing.assert_allclose(degrees, np.asarray(src.scan_angle_rank)[a], atol=0.003)
    assert set(np.unique(dst.classification)) == {1, 2, 4, 5, 9, 12}  # class 12 stays a class


@pytest.mark.parametrize("name", SAMPLES)
def test_copclib_and_laspy_read_everything(name: str, converted: dict[str, Path]) -> None:
    path = converted[name]
    reader = copclib.FileReader(str(path))
    assert reader.ValidateSpatialBounds()
    assert sum(n.point_count for n in reader.GetAllNodes()) == laspy.open(path).header.point_count
    with laspy.CopcReader.open(path) as copc:
        everything = copc.query()
        assert (
            len(everything)
            == copc.header.point_count
            == laspy.open(LAS_DIR / name).header.point_count
        )
        gps = np.asarray(everything.gps_time)
        assert (copc.copc_info.gps_min, copc.copc_info.gps_max) == (gps.min(), gps.max())
    result = validate_copc(path, strict=True)
    assert result.is_valid and result.errors == ()
    assert result.warnings == (("no CRS",) if name == "1.2-with-color.las" else ())


@pytest.mark.parametrize("name", ["autzen_trim.las", "mvk-thin.las"])
def test_bbox_query_returns_exactly_the_points_inside(
    name: str, converted: dict[str, Path]
) -> None:
    src = laspy.read(LAS_DIR / name)
    x, y = np.asarray(src.x), np.asarray(src.y)
    lo = np.array([np.quantile(x, 0.2), np.quantile(y, 0.35)])
    hi = np.array([np.quantile(x, 0.55), np.quantile(y, 0.9)])
    with laspy.CopcReader.open(converted[name]) as copc:
        found = copc.query(bounds=Bounds(mins=lo, maxs=hi))
    fx, fy = np.asarray(found.x), np.asarray(found.y)
    assert np.all((fx >= lo[0] - 1e-9) & (fx <= hi[0] + 1e-9))
    assert np.all((fy >= lo[1] - 1e-9) & (fy <= hi[1] + 1e-9))
    inside = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
    assert len(found) == int(inside.sum()) > 0
    expected = np.sort(np.asarray(src.X)[inside] * 10**9 + np.asarray(src.Y)[inside])
    got = np.sort(np.asarray(found.X) * 10**9 + np.asarray(found.Y))
    np.testing.assert_array_equal(got, expected)


# --- the level-of-detail property ---------------------------------------------------------------


def _cells(points: laspy.ScaleAwarePointRecord, info: object, spacing: float) -> np.ndarray:
    """Cell id of each point on a grid of ``spacing`` anchored at the COPC cube's minimum."""
    lo = info.center - info.halfsize  # type: ignore[attr-defined]
    n = round(2 * info.halfsize / spacing)  # type: ignore[attr-defined]
    xyz = np.column_stack([points.x, points.y, points.z])
    c = np.clip(np.floor((xyz - lo) / spacing).astype(np.int64), 0, n - 1)
    return (c[:, 0] * n + c[:, 1]) * n + c[:, 2]


def test_each_level_is_an_even_one_point_per_cell_subset(tmp_path: Path) -> None:
    """Root: exactly one point in every occupied cell of the root grid (spacing = COPC info
    spacing); level 1: the same on the grid of half that spacing. A random subset of the same
    size, or the first points of the file, cannot pass these checks (verified below)."""
    path = tmp_path / "lod.copc.laz"
    to_copc(LAS_DIR / "autzen_trim.las", path, max_leaf_points=8192)
    keys = {tuple(k) for k in read_hierarchy(path).keys.tolist()}
    for d, x, y, z in keys:  # levels 0 and 1 are inner nodes, so they must be thinned
        if d <= 1:
            assert any((d + 1, 2 * x + i, 2 * y + j, 2 * z + k) in keys
                       for i in (0, 1) for j in (0, 1) for k in (0, 1))  # fmt: skip
    with laspy.CopcReader.open(path) as copc:
        info = copc.copc_info
        root, level1, everything = copc.query(level=0), copc.query(level=1), copc.query()
    assert 0 < len(root) < len(everything) / 5  # a real thinning, not "everything in the root"
    root_cells = _cells(root, info, info.spacing)
    occupied = np.unique(_cells(everything, info, info.spacing))
    assert len(np.unique(root_cells)) == len(root)  # at most one point per cell...
    np.testing.assert_array_equal(np.unique(root_cells), occupied)  # ...and every cell served
    level1_cells = _cells(level1, info, info.spacing / 2)
    assert len(np.unique(level1_cells)) == len(level1)

    # The checks discriminate: a random sample of the same size piles up in some cells and
    # misses others; the file's first points cover only the first flight lines.
    rng = np.random.default_rng(42)
    sample = everything[rng.choice(len(everything), len(root), replace=False)]
    assert len(np.unique(_cells(sample, info, info.spacing))) < 0.8 * len(root)
    src = laspy.read(LAS_DIR / "autzen_trim.las")
    coarse = _coarse_coverage(src, src.points[: len(root)])
    assert coarse < 0.5 and _coarse_coverage(src, root) == 1.0


def _coarse_coverage(src: laspy.LasData, points: object) -> float:
    """Share of the cells of a 32 x 16 grid over the data that hold at least one of ``points``."""

    def cells(x: np.ndarray, y: np.ndarray) -> set[int]:
        ix = np.clip(((x - src.x.min()) / (src.x.max() - src.x.min()) * 32).astype(int), 0, 31)
        iy = np.clip(((y - src.y.min()) / (src.y.max() - src.y.min()) * 16).astype(int), 0, 15)
        return set((ix * 16 + iy).tolist())

    data = cells(np.asarray(src.x), np.asarray(src.y))
    got = cells(np.asarray(points.x), np.asarray(points.y))  # type: ignore[attr-defined]
    return len(got & data) / len(data)


def test_small_leaves_give_a_deep_tree_that_still_validates(tmp_path: Path) -> None:
    dst = tmp_path / "deep.copc.laz"
    result = to_copc(LAS_DIR / "1.2-with-color.las", dst, max_leaf_points=32, lod_grid=16)
    assert result.max_depth >= 3 and result.node_count > 10
    assert validate_copc(dst, strict=True).is_valid
    assert copclib.FileReader(str(dst)).ValidateSpatialBounds()


# --- extra dimensions ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_extra_dims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """autzen_trim with three extra dimensions (float, scaled integer, 3-byte array)."""
    las = laspy.read(LAS_DIR / "autzen_trim.las")
    las.add_extra_dims(
        [
            laspy.ExtraBytesParams("height", "f4", description="height above ground"),
            laspy.ExtraBytesParams(
                "quality", "u2", scales=np.array([0.5]), offsets=np.array([1.0])
            ),
            laspy.ExtraBytesParams("triple", "3u1"),
        ]
    )
    rng = np.random.default_rng(7)
    las.height = rng.random(len(las.points)).astype("f4") * 30
    las.quality = rng.integers(0, 1000, len(las.points)) * 0.5 + 1
    las.triple = rng.integers(0, 255, (len(las.points), 3))
    path = tmp_path_factory.mktemp("eb") / "extra.las"
    las.write(path)
    return path


def test_extra_dimensions_are_kept(with_extra_dims: Path, tmp_path: Path) -> None:
    dst = tmp_path / "extra.copc.laz"
    to_copc(with_extra_dims, dst, verify="full")
    src, out = laspy.read(with_extra_dims), laspy.read(dst)
    assert list(out.point_format.extra_dimension_names) == ["height", "quality", "triple"]
    eb = {d.name: d for d in out.point_format.extra_dimensions}
    assert eb["height"].description == "height above ground"
    np.testing.assert_array_equal(eb["quality"].scales, [0.5])
    a, b = xyz_order(src), xyz_order(out)
    for dim in ("height", "quality", "triple"):
        np.testing.assert_array_equal(np.asarray(src[dim])[a], np.asarray(out[dim])[b])
    assert copclib.FileReader(str(dst)).ValidateSpatialBounds()
    assert validate_copc(dst, strict=True).is_valid


# --- COPC inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["1.2-with-color.copc.laz", "simple_with_page.copc.laz"])
def test_existing_copc_is_verified_and_copied(name: str, tmp_path: Path) -> None:
    dst = tmp_path / name
    result = to_copc(COPC_DIR / name, dst)
    assert result.copied and result.engine == "copy"
    assert sha256(dst) == sha256(COPC_DIR / name)
    assert result.point_count == 1065


def test_force_rebuilds_an_existing_copc(tmp_path: Path) -> None:
    src = COPC_DIR / "1.2-with-color.copc.laz"
    dst = tmp_path / "rebuilt.copc.laz"
    result = to_copc(src, dst, force=True)
    assert result.engine == "native"
    a, b = laspy.read(src), laspy.read(dst)
    np.testing.assert_array_equal(np.sort(np.asarray(a.X)), np.sort(np.asarray(b.X)))
    assert b.header.parse_crs().equals(a.header.parse_crs())


# --- broken inputs ----------------------------------------------------------------------------

BROKEN = {
    "empty": EmptyInputError,
    "garbage": UnreadableInputError,
    "truncated_las": TruncatedInputError,
    "truncated_laz": TruncatedInputError,
    "header_only": UnreadableInputError,
    "bad_count": TruncatedInputError,
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_raises_precise_error_and_leaves_nothing(
    case: str, broken_las: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BROKEN[case]) as excinfo:
        to_copc(broken_las[case], out / "x.copc.laz")
    assert isinstance(excinfo.value, ConversionError)
    assert folder_is_empty(out)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_copc_reports_broken_files(case: str, broken_las: dict[str, Path]) -> None:
    result = validate_copc(broken_las[case])
    assert not result.is_valid and result.errors


def test_validate_copc_rejects_plain_laz_and_wrong_counts(converted: dict[str, Path]) -> None:
    assert not validate_copc(LAS_DIR / "autzen_trim.laz").is_valid
    result = validate_copc(converted["autzen_trim.las"], expected_count=1)
    assert not result.is_valid and "expected 1" in result.errors[0]


def test_validate_copc_detects_a_truncated_copc(converted: dict[str, Path], tmp_path: Path) -> None:
    data = converted["autzen_trim.las"].read_bytes()
    cut = tmp_path / "cut.copc.laz"
    cut.write_bytes(data[: len(data) // 2])
    assert not validate_copc(cut).is_valid


def test_third_party_copc_with_rounded_header_bounds_is_valid_with_a_warning() -> None:
    """PDAL clips store header bounds rounded inwards; copclib's exact check fails on them."""
    result = validate_copc(COPC_DIR / "autzen_clip_native.copc.laz")
    assert result.is_valid and any("copclib" in w for w in result.warnings)
    assert not validate_copc(COPC_DIR / "autzen_clip_native.copc.laz", strict=True).is_valid


def test_output_failing_validation_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.convert.copc as copc_module

    monkeypatch.setattr(
        copc_module, "validate_copc", lambda *a, **k: ValidationResult(False, ("on purpose",))
    )
    out = tmp_path / "out"
    with pytest.raises(InvalidOutputError, match="on purpose"):
        to_copc(LAS_DIR / "test1_4.las", out / "x.copc.laz")
    assert folder_is_empty(out)


# --- an independent reader: copc.js -------------------------------------------------------------

COPCJS_SCRIPT = Path(__file__).with_name("copcjs_read.cjs")


@pytest.fixture(scope="session")
def copcjs() -> Path:
    """The node_modules folder holding copc.js (tests/node, installed by setup)."""
    return node_module("copc").parent


@pytest.mark.parametrize("name", ["autzen_trim.las", "mvk-thin.las", "1.2-with-color.las"])
def test_copcjs_reads_our_output(name: str, converted: dict[str, Path], copcjs: Path) -> None:
    run = subprocess.run(
        ["node", str(COPCJS_SCRIPT), str(converted[name])],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NODE_PATH": str(copcjs)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    las = laspy.read(LAS_DIR / name)
    assert report["pointCount"] == report["points"] == len(las.points)
    assert report["outside"] == 0  # every point inside its node's cube, as copc.js computes it
    np.testing.assert_allclose(report["min"], las.header.mins, atol=1e-6)
    np.testing.assert_allclose(report["max"], las.header.maxs, atol=1e-6)
    assert report["hasWkt"] == (las.header.parse_crs() is not None)


def test_validate_copc_catches_nodes_whose_points_are_elsewhere(tmp_path: Path) -> None:
    """Swap the keys of two sibling nodes: the structure stays plausible, the data does not."""
    path = tmp_path / "swapped.copc.laz"
    to_copc(LAS_DIR / "1.2-with-color.las", path, max_leaf_points=32, lod_grid=16)
    assert validate_copc(path, strict=True).is_valid
    with laspy.CopcReader.open(path) as copc:
        offset, size = copc.copc_info.hierarchy_root_offset, copc.copc_info.hierarchy_root_size
    data = bytearray(path.read_bytes())
    entries = np.frombuffer(data, dtype="<i4", count=size // 4, offset=offset).reshape(-1, 8)
    depth1 = [i for i, e in enumerate(entries) if e[0] == 1 and e[7] > 0][:2]
    assert len(depth1) == 2
    a, b = (offset + 32 * i for i in depth1)
    data[a + 4 : a + 16], data[b + 4 : b + 16] = data[b + 4 : b + 16], data[a + 4 : a + 16]
    path.write_bytes(bytes(data))
    result = validate_copc(path)
    assert not result.is_valid
    assert "outside their node" in " ".join(result.errors)


def test_validate_copc_checks_nodes_in_batches(
    converted: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.validate.copc as validate_module

    monkeypatch.setattr(validate_module, "_BATCH_POINTS", 5_000)
    assert validate_copc(converted["autzen_trim.las"], strict=True).is_valid
