"""Property-based API tests: schemathesis against the live server's own OpenAPI documents.

Every operation of every document (STAC, tiles, jobs, ingest, admin, assets), reads and writes,
with the ``not_a_server_error`` check only and a small fixed budget (seed 1, examples and
fuzzing phases). It runs against a throw-away catalog of its own (its own PostgreSQL cluster and
server, access control on, rate limits off) with an admin key, because the writes create,
change and delete collections, items, keys and workflows at random. The catalog holds one
collection with a real Sentinel-2 COG item, so tile operations read real pixels.

The README's developer section has the same commands for a running server.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import BIN, private_catalog, serve

FUZZ_COLLECTION = "fuzz-s2"
COMMON = [
    "--checks", "not_a_server_error",
    "--max-examples", "10",
    "--phases", "examples,fuzzing",  # the coverage phase alone takes minutes on the tiles
    "--seed", "1",
    "--workers", "1",  # >1 crashes now and then in Hypothesis (CPython ast thread safety, #106905)
    "--no-color",
    "--generation-database", "none",
    "--request-timeout", "30",
]
#: service -> (OpenAPI document path, base path of its operations, extra options).
DOCUMENTS: dict[str, tuple[str, str, list[str]]] = {
    "stac": ("/stac/api", "/stac", []),
    "tiles": ("/tiles/api", "/tiles", []),
    "jobs": ("/processes/openapi.json", "", []),
    "ingest": ("/ingest/openapi.json", "/ingest", []),
    "admin": ("/admin/api", "/admin", []),
    "assets": ("/assets/api", "/assets", []),
}


@dataclass
class Fuzzed:
    base: str
    key: str
    log: Path


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    import os

    from catalog.access import AccessRecords
    from catalog.settings import CatalogSettings
    from objectstore import LocalStore
    from tests.access.conftest import collection
    from tests.samples import stored_s2_item

    base_env = {
        **os.environ,
        "STACWORKS_AUTH_ENABLED": "true",
        "STACWORKS_AUTH_RATE_LIMITS": "false",
    }
    with private_catalog("stacworks-fuzz-", base_env) as env:
        home = Path(env["STACWORKS_HOME"])
        dsn = CatalogSettings(home=home, db_port=int(env["STACWORKS_DB_PORT"])).dsn
        key = str(AccessRecords(dsn, pooled=False).create_key("schemathesis", "admin")["token"])
        log = tmp_path_factory.mktemp("fuzz-logs") / "serve.log"
        with serve(env, log=log) as base:
            auth = {"Authorization": f"Bearer {key}"}
            r = httpx.post(f"{base}/stac/collections", json=collection(FUZZ_COLLECTION),
                           headers=auth, timeout=30)
            assert r.status_code in (200, 201), r.text
            item = stored_s2_item(LocalStore(home / "objects"), FUZZ_COLLECTION, "fuzz-item",
                                  keys=["red", "green", "blue"])
            r = httpx.post(f"{base}/stac/collections/{FUZZ_COLLECTION}/items", json=item,
                           headers=auth, timeout=30)
            assert r.status_code in (200, 201), r.text
            yield Fuzzed(base=base, key=key, log=log)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("service", list(DOCUMENTS))
def test_no_server_errors(fuzzed: Fuzzed, service: str) -> None:
    document, prefix, extra = DOCUMENTS[service]
    started = time.monotonic()
    log_start = fuzzed.log.stat().st_size
    cmd = [
        str(BIN / "schemathesis"), "run", f"{fuzzed.base}{document}",
        "--url", f"{fuzzed.base}{prefix}",
        "--header", f"Authorization: Bearer {fuzzed.key}",
        *COMMON, *extra,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    out = res.stdout + res.stderr
    failures = out[out.find("= FAILURES ="):out.find("= WARNINGS =")] if "FAILURES" in out else ""
    assert "Server error" not in out, (failures or out)[-8000:]
    assert res.returncode == 0, out[-8000:]
    assert " passed" in out, out[-2000:]
    assert time.monotonic() - started < 300
    # The server's log has no tracebacks from this run either (no crash answered as a 4xx).
    with fuzzed.log.open("rb") as f:
        f.seek(log_start)
        logged = f.read().decode(errors="replace")
    assert "Traceback" not in logged, logged[-6000:]
