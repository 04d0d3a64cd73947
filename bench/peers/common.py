"""What the peer benchmarks share: a private catalog, our server and the stock peers' servers.

The stock peers are the applications an eoAPI deployment runs, imported as their packages ship
them (``titiler.pgstac.main:app``, ``stac_fastapi.pgstac.app:app``), served by uvicorn on
loopback exactly as `stacworks serve` serves ours (one process, uvicorn's defaults, no access
log), on the same pgstac database. Both get the same GDAL options (``apply_gdal_env``'s
values), so the raster reads are configured alike and only the services differ.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.helpers import Catalog, private_catalog  # noqa: E402
from tests.harness import BIN, free_port, serve_process, stacworks, stop, wait_http  # noqa: E402

__all__ = ["Catalog", "machine", "pct", "private_catalog", "serve_ours", "serve_stock",
           "summary"]


@contextlib.contextmanager
def serve_ours(cat: Catalog, profile: Path | None = None,
               env: dict[str, str] | None = None) -> Iterator[str]:
    """`stacworks serve` (access control on, as in production); with ``profile``, sampled by
    py-spy (when installed) into a collapsed-stack file for finding where time goes; ``env``:
    settings of this server only."""
    with serve_process({**cat.env, **(env or {})}) as (base, proc):
        spy = None
        if profile is not None and (BIN / "py-spy").exists():
            spy = subprocess.Popen(
                [str(BIN / "py-spy"), "record", "-p", str(proc.pid), "-o", str(profile),
                 "-f", "raw", "-r", "200", "--threads", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        try:
            yield base
        finally:
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=60)


@contextlib.contextmanager
def serve_stock(cat: Catalog, app: str, health: str, *, factory: bool = False) -> Iterator[str]:
    """A stock peer (``module:app``) under uvicorn on loopback, on the catalog's database."""
    from objectstore import gdal_env, load_settings

    s = cat.settings
    env = {**cat.env, **s.pg_env(), "DATABASE_URL": s.dsn,
           **gdal_env(load_settings(home=s.home))}
    env.setdefault("GDAL_CACHEMAX", "256")  # our tile server's default block cache
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", *(["--factory"] if factory else [])],
        env=env, cwd=cat.home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}{health}", timeout=90, proc=proc)
        yield base
    finally:
        stop(proc)


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def summary(times: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(times), 5), "p95_s": round(pct(times, 95), 5)}


def machine() -> dict[str, object]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


__all__ += ["BIN", "ROOT", "stacworks"]
