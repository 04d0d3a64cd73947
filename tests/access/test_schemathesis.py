"""Property-based API tests: schemathesis against the live server's own OpenAPI documents.

Only the ``not_a_server_error`` check, with a small fixed budget (seed 1, 10 examples per
operation, examples and fuzzing phases; about 15 s in all), on the server with access control
on and a dedicated admin key (its own rate-limit budget). Only read-only operations run: the
session database is shared with the other suites.

Operations left out because they still answer 5xx to malformed input, in code outside this
suite's fixes (see the README's developer section; remove an entry once it is fixed):

- STAC ``GET /search``, ``GET /collections``, ``GET /collections/{id}/items``: 500 on
  malformed ``query`` / ``fields`` / ``filter`` combinations ("Can only use either query or
  filter at one time", a ``GeoJson geometry not supported`` from pgstac).
- tiles collection mosaics (``/collections/{id}/...`` but items): titiler.pgstac's collection
  dependency raises a pydantic ``ValidationError`` (500) for ``filter=null`` or a collection id
  that is not valid CQL2 text; ``/searches/{id}/...``: 500 on ``time_limit`` overflow;
  ``/searches/list``: 500 on huge ``offset`` / bad ``sortby``; ``POST .../feature`` and
  ``.../statistics``: 500 for a null geometry; ``/colorMaps/{id}``: 500 for negative sizes.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.access.conftest import Secured
from tests.harness import BIN

COMMON = [
    "--checks", "not_a_server_error",
    "--max-examples", "10",
    "--phases", "examples,fuzzing",  # the coverage phase alone takes ~100 s on the tiles
    "--seed", "1",
    "--workers", "4",
    "--no-color",
    "--generation-database", "none",
    "--request-timeout", "30",
]
DOCUMENTS = {
    "stac": [
        "--include-method", "GET",
        "--exclude-path", "/search",
        "--exclude-path", "/collections",
        "--exclude-path", "/collections/{collection_id}/items",
    ],
    "tiles": [
        "--include-path", "/searches/register",  # a malformed query is a 400, not a 500
        "--include-path", "/",
        "--include-path", "/healthz",
        "--include-path", "/WMTSCapabilities.xml",
        "--include-path-regex", r"^/(tileMatrixSets|algorithms)",
        "--include-path-regex", r"^/collections/\{collection_id\}/items/",
    ],
    "admin": ["--include-method", "GET"],
    "assets": [],
}


@pytest.fixture(scope="module")
def fuzz_key(secured: Secured, dsn: str) -> str:
    from catalog.access import AccessStore

    return str(AccessStore(dsn, pooled=False).create_key("schemathesis", "admin")["token"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("service", list(DOCUMENTS))
def test_no_server_errors(secured: Secured, fuzz_key: str, service: str) -> None:
    started = time.monotonic()
    cmd = [
        str(BIN / "schemathesis"), "run", f"{secured.base}/{service}/api",
        "--url", f"{secured.base}/{service}",
        "--header", f"Authorization: Bearer {fuzz_key}",
        *COMMON, *DOCUMENTS[service],
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    out = res.stdout + res.stderr
    assert "Server error" not in out, out[-6000:]
    assert res.returncode == 0, out[-6000:]
    assert " passed" in out, out[-2000:]
    assert time.monotonic() - started < 120


@pytest.mark.parametrize(
    "body",
    [
        {"filter": {"op": "nope"}},  # unknown operator (was a 500 from titiler.pgstac)
        {"filter": {"op": "=", "args": [1]}},  # wrong arity
        {"query": {}},  # pgstac: "The and operator requires an array of args."
        {"datetime": "garbage"},
        {"collections": ["a\u0000"]},  # jsonb cannot hold NUL
    ],
)
def test_register_refuses_malformed_searches(secured: Secured, dsn: str, body: dict) -> None:
    import httpx

    from catalog.access import AccessStore

    key = AccessStore(dsn, pooled=False).create_key("register-400", "viewer")["token"]
    r = httpx.post(f"{secured.base}/tiles/searches/register", json=body,
                   headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 400, r.text
    assert "invalid parameter" in r.json()["detail"]
    assert "Backend" not in r.text and "Traceback" not in r.text
