"""The database stopped and started under a bounded load of requests, against a real
`stacworks serve` on a private catalog of its own (the session's fixtures stay untouched).

Before: every request waited 30 s for a pool connection and then answered 500, some
connections were reset without an answer, and ``/healthz`` kept saying 200. Now: only 200s and
503s with Retry-After (no 500, no reset), each within a few seconds; ``/healthz`` stays
liveness while ``/readyz`` flips to 503 and back; every service recovers without a restart.
A search held past its time budget in the database is cancelled there and answers a 503.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.hardening.capped import Capped, capped_serve
from tests.harness import private_catalog, stacworks

POOL_WAIT_S = 1.0
SEARCH_BUDGET_S = 2.0


@dataclass
class Outage:
    server: Capped
    env: dict[str, str]
    key: str
    dsn: str


@pytest.fixture(scope="module")
def outage(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    from catalog.access import AccessRecords
    from catalog.settings import CatalogSettings

    base = {**os.environ, "STACWORKS_AUTH_ENABLED": "true"}
    with private_catalog("stacworks-outage-", base) as env:
        stacworks("load", str(shared_data / "stac/joplin/collection.json"),
                  str(shared_data / "stac/joplin/index.geojson"), env=env)
        stacworks("visibility", "joplin", "public", env=env)
        dsn = CatalogSettings(home=env["STACWORKS_HOME"], db_port=int(env["STACWORKS_DB_PORT"])).dsn
        key = AccessRecords(dsn, pooled=False).create_key("outage admin", "admin")["token"]
        env = {**env, "STACWORKS_DB_POOL_WAIT_S": str(POOL_WAIT_S),
               "STACWORKS_STAC_SEARCH_TIMEOUT_S": str(SEARCH_BUDGET_S)}
        log = tmp_path_factory.mktemp("outage") / "serve.log"
        with capped_serve(env, log) as server:
            yield Outage(server=server, env=env, key=key, dsn=dsn)


#: Routes of every service that read the database: (path, with the admin key).
ROUTES = [
    ("/stac/search?limit=1", False),
    ("/stac/collections", False),
    ("/stac/collections/joplin/items?limit=1", False),
    ("/tiles/searches/list", True),
    ("/jobs", True),
    ("/workflows", True),
    ("/ingest/runs", True),
    ("/admin/whoami", True),
]


@dataclass
class Load:
    """Worker threads asking every route in turn, recording what each answer was."""

    base: str
    key: str
    phase: str = "before"
    results: list[tuple[str, str, int | str, float, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def worker(self) -> None:
        auth = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(timeout=20) as client:
            while not self.stop.is_set():
                for path, keyed in [*ROUTES, ("/healthz", False)]:
                    phase, start = self.phase, time.monotonic()
                    try:
                        r = client.get(self.base + path, headers=auth if keyed else {})
                        status: int | str = r.status_code
                        retry = r.headers.get("retry-after")
                    except httpx.HTTPError as e:  # a reset or a dropped connection
                        status, retry = type(e).__name__, None
                    self.results.append((phase, path, status, time.monotonic() - start, retry))


def _ready(base: str) -> int:
    return httpx.get(f"{base}/readyz", timeout=10).status_code


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout} s")


def test_database_outage_is_503_and_recovers(outage: Outage) -> None:
    base = outage.server.base
    assert _ready(base) == 200
    load = Load(base=base, key=outage.key)
    threads = [threading.Thread(target=load.worker) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        load.phase = "down"
        stacworks("db", "stop", env=outage.env)
        _wait_for(lambda: _ready(base) == 503, 15)
        time.sleep(3)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # liveness
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.headers["Retry-After"]
        assert ready.json()["database"].startswith("unavailable")
        assert ready.json()["store"] == "ok"
        load.phase = "restarting"
        stacworks("db", "start", env=outage.env)
        _wait_for(lambda: _ready(base) == 200, 30)
        load.phase = "after"
        time.sleep(4)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)

    seen = {(p, s) for p, _, s, _, _ in load.results}
    odd = [r for r in load.results if r[2] not in (200, 503)]
    assert not odd, f"only 200 and 503 (no 500, no reset): {odd[:10]}"
    assert all(s == 200 for p, _, s, _, _ in load.results if p == "before"), seen
    down = [r for r in load.results if r[0] == "down" and r[1] != "/healthz"]
    assert any(r[2] == 503 for r in down)
    assert all(r[4] is not None for r in load.results if r[2] == 503), "503s carry Retry-After"
    assert all(r[3] < POOL_WAIT_S + 5 for r in down), max(r[3] for r in down)
    assert all(s == 200 for p, path, s, _, _ in load.results if path == "/healthz")
    # Recovered without a restart: the last answer of every route is a 200.
    last = {path: s for p, path, s, _, _ in load.results if p == "after"}
    assert last == {path: 200 for path, _ in [*ROUTES, ("/healthz", False)]}, last
    assert outage.server.alive()
    log = outage.server.log_text()  # asyncpg logs its own reconnection attempts; fine
    assert "Exception in ASGI application" not in log and "unhandled error" not in log


def test_search_past_its_budget_is_cancelled(outage: Outage) -> None:
    """A search stuck in the database (the items table locked) answers 503 after the budget,
    and its statement is gone from the server: cancelled, not merely abandoned."""
    base = outage.server.base
    _wait_for(lambda: _ready(base) == 200, 30)
    with psycopg.connect(outage.dsn) as locker:
        locker.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        r = httpx.get(f"{base}/stac/search?collections=joplin&limit=1", timeout=30)
        took = time.monotonic() - start
        assert r.status_code == 503, r.text[:300]
        assert r.json()["code"] == "Timeout"
        assert "STACWORKS_STAC_SEARCH_TIMEOUT_S" in r.json()["description"]
        assert SEARCH_BUDGET_S <= took < SEARCH_BUDGET_S + 5
        with psycopg.connect(outage.dsn, autocommit=True) as watcher:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND pid <> pg_backend_pid()").fetchone()
        assert waiting == (0,), "the cancelled search still waits in the database"
        locker.rollback()
    r = httpx.get(f"{base}/stac/search?collections=joplin&limit=1", timeout=30)
    assert r.status_code == 200 and r.json()["features"]


def test_a_connection_left_in_a_broken_state_is_an_outage() -> None:
    """Seen once when the database stopped under load: the next query on a pooled connection
    the server had ended failed inside asyncpg's protocol (a 500, then a reset connection)."""
    from asyncpg import exceptions as apg

    from catalog.outage import classify

    broken = apg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress")
    assert classify(broken) == "outage"
    try:
        try:
            raise broken
        except apg.InternalClientError:
            raise RuntimeError("translated by a service") from None
    except RuntimeError as wrapped:
        assert classify(wrapped) == "outage"
    assert classify(ValueError("not the database")) is None
