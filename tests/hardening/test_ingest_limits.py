"""Ingest inputs built to exhaust a worker, through the real CLI and worker (subprocesses under
a memory cap) from a loopback HTTP source: each fails its product with a clear error naming
the setting that refused it, quickly, and leaves no scratch files behind.

- a raster whose header claims 100000x100000 pixels, a LAS over the point limit;
- a download larger than the size cap (declared, and undeclared while streaming), one that
  trickles bytes (minimum throughput), one steady but endless (overall deadline);
- a 2 MB zip expanding to 2 GiB (refused before anything is written);
- a product whose worker dies every time (here: SIGKILL while it downloads, as the OOM killer
  would): retried up to ``STACWORKS_INGEST_MAX_ATTEMPTS`` runs, then failed with the reason.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import laspy
import numpy as np
import psycopg
import pytest

from tests.hardening.test_tile_limits import sparse_raster
from tests.harness import BIN, ROOT

pytestmark = pytest.mark.slow  # real servers and workers, end to end

MEMORY_CAP = 4 * 1024**3
GiB = 1024**3


def zip_bomb(path: Path, name: str, expanded: int = 2 * GiB) -> None:
    """A zip whose one member inflates from ~2 MB to ``expanded`` zero bytes, written in a
    second: one deflated MiB of zeros (ending in a full flush, so it stands alone) repeated."""
    mib = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(mib) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    n = expanded // len(mib)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(mib, crc)
    size = len(block) * n + len(tail)
    fname = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, size, expanded,
                        len(fname), 0) + fname
    with open(path, "wb") as f:
        f.write(local)
        for _ in range(n):
            f.write(block)
        f.write(tail)
        cd_offset = f.tell()
        central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                              size, expanded, len(fname), 0, 0, 0, 0, 0, 0) + fname
        f.write(central)
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), cd_offset,
                            0))


def small_las(path: Path, points: int) -> None:
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([500000.0, 4000000.0, 0.0])
    las = laspy.LasData(header)
    rng = np.random.default_rng(1)
    las.x = 500000 + rng.uniform(0, 100, points)
    las.y = 4000000 + rng.uniform(0, 100, points)
    las.z = rng.uniform(0, 10, points)
    las.write(path)


class Source:
    """A loopback HTTP server: static files, and paths that misbehave on purpose."""

    def __init__(self, files: dict[str, Path | bytes]) -> None:
        self.files = files
        self.special: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                try:
                    if path in source.special:
                        source.special[path](self)
                        return
                    body = source.files.get(path)
                    if body is None:
                        self.send_error(404)
                        return
                    data = body.read_bytes() if isinstance(body, Path) else body
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the downloader gave up: expected for the hostile paths

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def paced(total: int, chunk: int, every: float, *, declared: int | None = None
          ) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler sending ``chunk`` bytes every ``every`` seconds, up to ``total``."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(declared if declared is not None else total))
        h.end_headers()
        sent = 0
        while sent < total:
            h.wfile.write(b"\0" * chunk)
            h.wfile.flush()
            sent += chunk
            time.sleep(every)

    return handle


def unsized(total: int) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler streaming ``total`` bytes with no Content-Length (to the connection's end)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        block = b"\0" * (1 << 16)
        for _ in range(total // len(block)):
            h.wfile.write(block)

    return handle


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    tmp = tmp_path_factory.mktemp("hostile-source")
    sparse_raster(tmp / "huge.tif")
    small_las(tmp / "many.las", 1000)
    t = time.monotonic()
    zip_bomb(tmp / "bomb.zip", "S2B_MSIL2A_20240101T000000_N0510_R000_T00XXX_20240101T000000"
                               ".SAFE/GRANULE/zeros.jp2")
    took = time.monotonic() - t
    print(f"\nzip bomb: {(tmp / 'bomb.zip').stat().st_size:,} bytes in {took:.1f} s")
    src = Source({"/huge.tif": tmp / "huge.tif", "/many.las": tmp / "many.las",
                  "/bomb.SAFE.zip": tmp / "bomb.zip"})
    bomb_item = {
        "type": "Feature", "stac_version": "1.0.0", "id": "S2B_MSIL2A_BOMB", "properties": {
            "datetime": "2024-01-01T00:00:00Z"},
        "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": [0, 0, 0, 0],
        "links": [], "assets": {"product": {
            "href": f"{src.base}/bomb.SAFE.zip", "type": "application/zip"}},
    }
    src.files["/bomb.json"] = json.dumps(bomb_item).encode()
    src.special["/big.tif"] = paced(64, 64, 0, declared=5_000_000)
    src.special["/endless.tif"] = unsized(8_000_000)
    src.special["/trickle.tif"] = paced(1_000_000, 100, 0.5)
    src.special["/steady.tif"] = paced(2_000_000, 16384, 0.5)  # 32 kB/s: fast enough, long
    yield src
    src.close()


@pytest.fixture(scope="module")
def env(stacworks_env: dict[str, str], shared_data: Path) -> dict[str, str]:
    return {
        **stacworks_env,
        "STACWORKS_INGEST_SCHEMA_MIRROR": str(shared_data / "stac-schemas"),
        "STACWORKS_INGEST_HTTP_TIMEOUT_S": "10",
        "STACWORKS_INGEST_RETRY_WAIT_S": "0",
    }


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "stacworks"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, preexec_fn=_cap_memory,
    )


def _scratch(env: dict[str, str]) -> list[Path]:
    work = Path(env["STACWORKS_HOME"]) / "ingest-work"
    return [p for p in work.rglob("*") if p.is_file()] if work.exists() else []


def test_oversized_inputs_fail_their_product_quickly(
    env: dict[str, str], source: Source
) -> None:
    limits = {
        "STACWORKS_INGEST_MAX_POINTS": "500",
        "STACWORKS_INGEST_DOWNLOAD_MAX_BYTES": "3000000",
        "STACWORKS_INGEST_DOWNLOAD_MIN_RATE": "4096",
        "STACWORKS_INGEST_DOWNLOAD_RATE_WINDOW_S": "1.5",
        "STACWORKS_INGEST_DOWNLOAD_DEADLINE_S": "4",
    }
    names = ["huge.tif", "many.las", "big.tif", "endless.tif", "trickle.tif", "steady.tif",
             "bomb.json"]
    urls = [a for n in names for a in ("--url", f"{source.base}/{n}")]
    t0 = time.monotonic()
    res = _cli({**env, **limits}, "ingest", "--source", "urls", "--collection", "hard-limits",
               "--json", *urls)
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stdout + res.stderr
    status = json.loads(res.stdout)
    errors = {p["item_id"]: p["error"] for p in status["products"]}
    assert status["counts"]["failed"] == len(names), errors
    expected = {
        "huge": ["100000x100000 pixels", "STACWORKS_INGEST_MAX_RASTER_PIXELS"],
        "many": ["1,000 points", "STACWORKS_INGEST_MAX_POINTS=500"],
        "big": ["5,000,000 bytes", "STACWORKS_INGEST_DOWNLOAD_MAX_BYTES=3,000,000"],
        "endless": ["STACWORKS_INGEST_DOWNLOAD_MAX_BYTES=3,000,000"],
        "trickle": ["bytes/s", "STACWORKS_INGEST_DOWNLOAD_MIN_RATE=4096"],
        "S2B_MSIL2A_BOMB": ["2,147,483,648 bytes", "ARCHIVE_MAX_RATIO=200"],
    }
    for item_id, words in expected.items():
        for w in words:
            assert w in errors[item_id], (item_id, errors[item_id])
        assert "/ingest-work/" not in errors[item_id]
    assert {p["attempts"] for p in status["products"]} == {1}  # refusals are not retried
    assert took < 60, took  # the slowest refusal is the deadline's (4 s)
    assert _scratch(env) == []
    print(f"\nseven hostile products refused in {took:.1f} s (CLI start included)")


def _product(env: dict[str, str], collection: str) -> dict[str, object]:
    from catalog.settings import CatalogSettings

    dsn = CatalogSettings(home=Path(env["STACWORKS_HOME"]),
                          db_port=int(env["STACWORKS_DB_PORT"])).dsn
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT status, stage, attempts, error FROM stacworks.ingest_products "
            "WHERE collection = %s ORDER BY id DESC LIMIT 1", (collection,),
        ).fetchone()
    assert row is not None
    return dict(zip(("status", "stage", "attempts", "error"), row, strict=True))


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_product_that_kills_its_worker_fails_after_max_attempts(
    env: dict[str, str], source: Source, tmp_path: Path
) -> None:
    env = {**env, "STACWORKS_INGEST_MAX_ATTEMPTS": "2", "STACWORKS_INGEST_HEARTBEAT_S": "0.5",
           "STACWORKS_INGEST_STALLED_AFTER_S": "1.5", "STACWORKS_INGEST_DOWNLOAD_MIN_RATE": "0"}
    res = _cli(env, "ingest", "--source", "urls", "--collection", "hard-crash", "--queue",
               "--url", f"{source.base}/trickle.tif")
    assert res.returncode == 0, res.stderr
    # A scratch folder left by some earlier killed worker, for a product no one works on.
    stray = Path(env["STACWORKS_HOME"]) / "ingest-work" / "hard-gone" / "old-product"
    stray.mkdir(parents=True)
    (stray / "download.part").write_bytes(b"x" * 1000)
    log = tmp_path / "worker.log"

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(BIN / "stacworks"), "worker"], env=env, cwd=ROOT,
                                stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                preexec_fn=_cap_memory)

    def running(run: int) -> Callable[[], bool]:
        def check() -> bool:
            p = _product(env, "hard-crash")
            return p["status"] == "running" and p["attempts"] == run

        return check

    for run in (1, 2):  # each run dies while the product downloads
        w = worker()
        try:
            _wait(running(run), 90,
                  f"run {run} to start:\n{log.read_text()[-2000:]}")
            assert not stray.exists()  # a worker removes abandoned scratch folders on start
            time.sleep(0.5)
            os.kill(w.pid, signal.SIGKILL)
            w.wait(10)
        finally:
            if w.poll() is None:
                w.kill()
    w = worker()
    try:
        _wait(lambda: _product(env, "hard-crash")["status"] == "failed", 60,
              f"the product to fail:\n{log.read_text()[-2000:]}")
    finally:
        w.send_signal(signal.SIGTERM)
        w.wait(30)
    product = _product(env, "hard-crash")
    assert product["attempts"] == 2
    assert "worker died while ingesting this product in each of 2 runs" in str(product["error"])
    assert "STACWORKS_INGEST_MAX_ATTEMPTS=2" in str(product["error"])
    assert _scratch(env) == []
