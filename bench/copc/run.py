"""Benchmark: our LAS -> COPC against the floor, writing the same points as plain LAZ.

Both runs start from the same uncompressed LAS file and include reading it, so the ratio is
the cost of the octree and COPC layout over bare LAZ compression (laspy + lazrs, parallel).
The input is synthesised from the real Autzen points: the 110k-point tile repeated on a grid
with millimetre jitter (fixed seed), about a million points.

Usage: ``python bench/copc/run.py [--points N] [--repeat K]``. Progress goes to stderr; the
last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import laspy
import numpy as np

from ingest.convert import to_copc
from ingest.validate import validate_copc

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "data" / "lidar" / "las" / "autzen_trim.las"
CACHE = ROOT / "bench" / ".cache"
SEED = 20240611


def synthesise(points: int) -> Path:
    """Tile the real Autzen cloud until ``points`` is reached (cached between runs)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"autzen_tiled_{points}_{SEED}.las"
    if path.is_file():
        return path
    src = laspy.read(SOURCE)
    n = len(src.points)
    tiles = -(-points // n)
    cols = int(np.ceil(np.sqrt(tiles * 2)))  # Autzen is about twice as wide as tall
    width = int(src.X.max() - src.X.min()) + 1000
    height = int(src.Y.max() - src.Y.min()) + 1000
    rng = np.random.default_rng(SEED)
    parts = []
    for t in range(tiles):
        tile = src.points.copy()
        jitter = rng.integers(-1, 2, size=(n, 3), dtype=np.int32)  # +-1 cm at scale 0.01
        tile.X = src.X + (t % cols) * width + jitter[:, 0]
        tile.Y = src.Y + (t // cols) * height + jitter[:, 1]
        tile.Z = src.Z + jitter[:, 2]
        tile.gps_time = src.gps_time + t * 10_000.0
        parts.append(tile.array)
    out = laspy.LasData(src.header.copy())
    out.points = laspy.ScaleAwarePointRecord(
        np.concatenate(parts)[:points], src.point_format, src.header.scales, src.header.offsets
    )
    out.update_header()
    out.write(path)
    return path


def floor_laz(src: Path, dst: Path) -> None:
    """The floor: read the LAS and write the same points as LAZ, nothing else."""
    las = laspy.read(src)
    las.write(dst, laz_backend=laspy.LazBackend.LazrsParallel)


def timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(first run, median of the following runs) in seconds."""
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    src = synthesise(args.points)
    count = laspy.open(src).header.point_count
    print(f"input: {src} ({count} points)", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        laz, copc = Path(tmp) / "floor.laz", Path(tmp) / "ours.copc.laz"
        base_cold, base = timed(lambda: floor_laz(src, laz), args.repeat)
        print(f"floor LAZ: {base:.3f}s", file=sys.stderr)
        ours_cold, ours = timed(lambda: to_copc(src, copc), args.repeat)
        print(f"ours COPC: {ours:.3f}s", file=sys.stderr)
        result = to_copc(src, copc)
        t0 = time.perf_counter()
        check = validate_copc(copc, expected_count=count, strict=True)
        validate_s = time.perf_counter() - t0
        assert check.is_valid, check.errors
        laz_size, copc_size = laz.stat().st_size, copc.stat().st_size

    print(
        json.dumps(
            {
                "name": "copc_convert_1e6",
                "baseline": "laspy read LAS + write LAZ (lazrs parallel)",
                "baseline_s": round(base, 4),
                "ours_s": round(ours, 4),
                "ratio": round(ours / base, 3),
                "points": count,
                "points_per_s": round(count / ours),
                "baseline_points_per_s": round(count / base),
                "cold_baseline_s": round(base_cold, 4),
                "cold_ours_s": round(ours_cold, 4),
                "deep_validate_s": round(validate_s, 4),
                "nodes": result.node_count,
                "max_depth": result.max_depth,
                "laz_bytes": laz_size,
                "copc_bytes": copc_size,
                "repeat": args.repeat,
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "laspy": version("laspy"),
                    "lazrs": version("lazrs"),
                    "copclib": version("copclib"),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
