"""Fixtures for the conversion/validation tests: broken copies of real sample files."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from samples import LAS_DIR, RGB_TIF


@pytest.fixture(scope="session")
def broken_las(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Damaged copies of real LAS/LAZ files, one per failure a download can produce."""
    root = tmp_path_factory.mktemp("broken_las")
    las = (LAS_DIR / "autzen_trim.las").read_bytes()
    laz = (LAS_DIR / "autzen_trim.laz").read_bytes()
    files = {
        "empty": b"",
        "garbage": b"this is not a point cloud\n" * 40,
        "truncated_las": las[: len(las) // 2],
        "truncated_laz": laz[: len(laz) // 2],
        "header_only": las[:300],
    }
    out = {}
    for name, data in files.items():
        path = root / f"{name}.las"
        path.write_bytes(data)
        out[name] = path
    # A complete file whose header promises 5000 more points than it holds.
    bad = bytearray(las)
    (count,) = struct.unpack_from("<I", bad, 107)
    struct.pack_into("<I", bad, 107, count + 5000)
    out["bad_count"] = root / "bad_count.las"
    out["bad_count"].write_bytes(bytes(bad))
    return out


@pytest.fixture
def rgb_copy(tmp_path: Path) -> Path:
    """A writable copy of the non-COG RGB.byte.tif."""
    path = tmp_path / "src" / "RGB.byte.tif"
    path.parent.mkdir()
    shutil.copyfile(RGB_TIF, path)
    return path
