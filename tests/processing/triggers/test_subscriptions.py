"""Subscriptions end to end: a loopback STAC API gains a scene between two polls -> it is
ingested once and the workflow runs once on it; repeated polls and a crash mid-poll add
nothing. Catalog watches: an item registered in a watched collection starts the workflow once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from ingest.samples.static_stac import StaticStac
from processing.db import Database
from processing.executions import ExecutionManager
from processing.settings import ProcessingSettings
from processing.triggers.engine import TriggerEngine
from processing.triggers.ingest_bridge import IngestBridge
from processing.triggers.settings import TriggerSettings
from processing.triggers.store import SavedSearch, SubscriptionDoc, TriggerStore, WatchDoc
from processing.triggers.webhooks import SIGNATURE_HEADER, Webhooks, verify
from processing.workflows import WorkflowStore, workflow_from_document
from tests.ingest.fixtures import Loopback

#: The fake clock's epoch: far ahead, so the real trigger loop of a server on the same database
#: (the ingest tests' `stacworks serve`) never finds these slots due while the test drives them.
T0 = datetime(2031, 2, 3, 10, 0, tzinfo=UTC)
PASS_ASL = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
AOI = {"type": "Polygon", "coordinates": [[[5.0, 45.0], [5.2, 45.0], [5.2, 45.2], [5.0, 45.2],
                                           [5.0, 45.0]]]}


def _tiff(bounds: tuple[float, float, float, float]) -> bytes:
    data = (np.arange(32 * 32) % 200).reshape(1, 32, 32).astype("uint8")
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=32, height=32, count=1, dtype="uint8",
                      crs="EPSG:4326", transform=from_bounds(*bounds, 32, 32)) as dst:
            dst.write(data)
        return bytes(mem.read())


def _scene(stac: StaticStac, collection: str, item_id: str, lon: float, cloud: float,
           age: timedelta) -> dict[str, Any]:
    bounds = (lon, 45.05, lon + 0.05, 45.1)
    stac.files[f"trig/{item_id}.tif"] = _tiff(bounds)
    w, s, e, n = bounds
    item = {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
        "stac_extensions": [], "bbox": list(bounds),
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n],
                                                         [w, s]]]},
        "properties": {"datetime": (T0 - age).isoformat().replace("+00:00", "Z"),
                       "eo:cloud_cover": cloud},
        "assets": {"data": {"href": f"{stac.base}/files/trig/{item_id}.tif",
                            "type": "image/tiff; application=geotiff", "roles": ["data"]}},
        "links": [],
    }
    stac.add_item(item)
    return item


@pytest.fixture
def ingest_world(ingest_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path) -> Iterator[tuple[Database, Any, ExecutionManager]]:
    """The ingest tests' database, ingest services from their environment, a manager."""
    for key, value in ingest_env.items():
        if key.startswith(("STACWORKS_", "EODAG_")):
            monkeypatch.setenv(key, value)
    from catalog.settings import CatalogSettings
    from ingest.pipeline import Services
    from ingest.settings import IngestSettings
    from objectstore import load_settings, store_from_settings

    catalog = CatalogSettings()
    svc = Services(catalog, IngestSettings(), store_from_settings(load_settings(
        home=catalog.home)))
    db = Database(catalog.dsn, max_size=6)
    settings = ProcessingSettings(work_dir=tmp_path / "work")
    (tmp_path / "work").mkdir()
    manager = ExecutionManager(db=db, settings=settings, dsn=catalog.dsn, home=tmp_path,
                               object_store=svc.store)
    yield db, svc, manager
    manager.shutdown()
    db.close()


def _ingest_pending(svc: Any, db: Database) -> None:
    """What an ingest worker does: run the queue until the subscription's products are done."""
    from ingest.worker import run_worker

    with db.connection() as conn:
        runs = [r["run_id"] for r in conn.execute(
            "SELECT DISTINCT p.run_id FROM stacworks.ingest_products p JOIN "
            "stacworks.trigger_seen_products s ON s.ingest_product_id = p.id "
            "WHERE p.status IN ('queued', 'running', 'retrying')").fetchall()]
    for run in runs:
        asyncio.run(run_worker(svc, until_run=run, install_signal_handlers=False))


def _wait_jobs(db: Database, workflow: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        with db.connection() as conn:
            rows = conn.execute("SELECT * FROM stacworks.processing_executions WHERE "
                                "workflow_id = %s ORDER BY created_at", (workflow,)).fetchall()
        if len(rows) >= n and all(r["status"] == "successful" for r in rows):
            return list(rows)
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


class _CrashOnce(IngestBridge):
    """The poller dies between recording new products and handing them to ingest."""

    crashed = False

    def queue(self, source: str, subscription_id: str,
              products: list[dict[str, Any]]) -> list[int | None]:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed mid-poll")
        return super().queue(source, subscription_id, products)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback that keeps every event whose signature checks out."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(RECEIVER_SECRET, body, self.headers[SIGNATURE_HEADER])
            if ok:
                got.append(json.loads(body))
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", got
    finally:
        server.shutdown()
        server.server_close()


RECEIVER_SECRET = "subscription-test-secret-0123456789"


def test_new_scene_ingested_and_processed_once(loopback: Loopback, ingest_world: Any,
                                               receiver: Any) -> None:
    db, svc, manager = ingest_world
    url, events = receiver
    stac = loopback.stac
    suffix = uuid.uuid4().hex[:6]
    collection, workflow = f"trig-s2-{suffix}", f"trig-ndvi-{suffix}"
    stac.add_collection({"type": "Collection", "id": collection, "stac_version": "1.0.0",
                         "description": "trigger test", "license": "proprietary", "links": [],
                         "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                    "temporal": {"interval": [[None, None]]}}})
    _scene(stac, collection, f"a-{suffix}", 5.05, 10, timedelta(days=1))
    _scene(stac, collection, f"cloudy-{suffix}", 5.05, 60, timedelta(days=1))  # filter
    _scene(stac, collection, f"far-{suffix}", 9.0, 5, timedelta(days=1))  # outside the AOI
    _scene(stac, collection, f"old-{suffix}", 5.05, 5, timedelta(days=30))  # outside the window
    WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=workflow))

    settings = TriggerSettings(allow_private_urls=True)  # the receiver is on loopback
    store = TriggerStore(db, settings)
    owner = f"farmer-{suffix}"  # the jobs, the webhook and the subscription are this owner's
    Webhooks(db, settings).create(owner, url, ["job.finished", "subscription.matched"],
                                  RECEIVER_SECRET)
    sub = store.create_subscription(SubscriptionDoc(
        source=f"stac:{loopback.base}", collection=collection, workflow_id=workflow, per="item",
        cron="*/5 * * * *", search=SavedSearch(intersects=AOI, window="P10D",
                                               filter="eo:cloud_cover < 20")), owner)
    sub_id = sub["id"]
    with db.connection() as conn:
        conn.execute("UPDATE stacworks.trigger_subscriptions SET created_at = %s WHERE id = %s",
                     (T0 - timedelta(minutes=1), sub_id))

    def launch(wf: str, inputs: dict[str, Any], owner: str | None) -> Any:
        return manager.submit(wf, inputs, stac_url=None, principal=owner)

    crashing = TriggerEngine(db, settings, launch, Webhooks(db, settings),
                             ingest=_CrashOnce(svc))
    server = TriggerEngine(db, settings, launch, Webhooks(db, settings), ingest=IngestBridge(svc))
    slot = T0 - timedelta(minutes=5)
    now = slot + timedelta(minutes=5, seconds=1)

    with pytest.raises(RuntimeError, match="killed mid-poll"):
        crashing.tick(now)  # recorded the match, died before ingest had it
    assert [p["status"] for p in store.seen(sub_id)] == ["new"]
    server.tick(now)  # the same slot: not polled again; the new product goes to ingest
    _ingest_pending(svc, db)
    server.tick(now + timedelta(seconds=20))  # ingested -> the workflow starts
    (job,) = _wait_jobs(db, workflow, 1)
    assert job["input"]["items"] == [f"{collection}/a-{suffix}"] or job["input"]["items"][
        0].endswith(f"a-{suffix}")

    # the next polls find the same scene: nothing new, nothing re-ingested, no second job
    for minutes in (10, 15):
        server.tick(slot + timedelta(minutes=minutes, seconds=1))
    _scene(stac, collection, f"b-{suffix}", 5.1, 3, timedelta(hours=2))  # a new scene arrives
    server.tick(slot + timedelta(minutes=20, seconds=1))
    _ingest_pending(svc, db)
    server.tick(slot + timedelta(minutes=20, seconds=30))
    server.tick(slot + timedelta(minutes=25, seconds=1))  # and once more
    jobs = _wait_jobs(db, workflow, 2)
    assert len(jobs) == 2

    seen = {p["item_id"]: p for p in store.seen(sub_id)}
    assert set(seen) == {f"a-{suffix}", f"b-{suffix}"}
    assert {p["status"] for p in seen.values()} == {"started"}
    assert {p["execution_id"] for p in seen.values()} == {j["id"] for j in jobs}
    with db.connection() as conn:
        ingested = conn.execute(
            "SELECT item_id, count(*) AS n FROM stacworks.ingest_products WHERE collection = %s "
            "GROUP BY item_id", (collection,)).fetchall()
        items = conn.execute("SELECT count(*) AS n FROM pgstac.items WHERE collection = %s",
                             (collection,)).fetchone()
    assert {r["item_id"]: r["n"] for r in ingested} == {f"a-{suffix}": 1, f"b-{suffix}": 1}
    assert items is not None and items["n"] == 2
    polls = store.firings(sub_id)
    assert sorted(f["status"] for f in polls).count("matched") == 2
    assert {j["principal"] for j in jobs} == {owner}

    # a signed webhook for each match and for each job's end (delivered by whichever server)
    deadline = time.monotonic() + 20
    while len(events) < 4 and time.monotonic() < deadline:
        server.tick(slot + timedelta(minutes=25, seconds=30))
        time.sleep(0.2)
    finished = sorted(e["data"]["job_id"] for e in events if e["event"] == "job.finished")
    matched = [e["data"]["products"] for e in events if e["event"] == "subscription.matched"]
    assert finished == sorted(j["id"] for j in jobs)
    assert sorted(matched) == [[f"{collection}/a-{suffix}"], [f"{collection}/b-{suffix}"]]
    store.delete(sub_id)


def test_catalog_watch_starts_once_per_change(ingest_world: Any) -> None:
    db, _svc, manager = ingest_world
    suffix = uuid.uuid4().hex[:6]
    collection, workflow = f"watched-{suffix}", f"on-new-{suffix}"
    WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=workflow))
    settings = TriggerSettings()
    store = TriggerStore(db, settings)
    with db.connection() as conn:
        conn.execute("SELECT pgstac.create_collection(%s::jsonb)", (json.dumps({
            "type": "Collection", "id": collection, "stac_version": "1.0.0", "description": "w",
            "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}}}),))
    watch = store.create_watch(WatchDoc(collection=collection, workflow_id=workflow), None)
    launched: list[dict[str, Any]] = []

    def launch(wf: str, inputs: dict[str, Any], owner: str | None) -> Any:
        launched.append(inputs)
        return {"id": uuid.uuid4().hex}

    servers = [TriggerEngine(db, settings, launch, Webhooks(db, settings)) for _ in range(2)]
    # (the ingest tests' server, on this database, runs the loop too: whoever gets a change
    # starts its run, and the firings say it happened once per change)
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "x1", "collection": collection,
            "geometry": {"type": "Point", "coordinates": [5, 45]}, "bbox": [5, 45, 5, 45],
            "properties": {"datetime": "2026-01-01T00:00:00Z"}, "assets": {}, "links": []}
    with db.connection() as conn:
        conn.execute("SELECT pgstac.create_item(%s::jsonb)", (json.dumps(item),))
    for s in servers:
        s.run_watches()
    with db.connection() as conn:  # the same item updated: a second change, a second run
        conn.execute("SELECT pgstac.upsert_item(%s::jsonb)",
                     (json.dumps({**item, "properties": {**item["properties"], "v": 2}}),))
    for s in servers:
        s.run_watches()
        s.run_watches()
    firings = store.firings(watch["id"])
    assert len(firings) == 2 and len({f["key"] for f in firings}) == 2
    assert {f["status"] for f in firings} == {"started"}
    assert all(len(f["execution_ids"]) == 1 for f in firings)
    assert len(launched) <= 2 and all(i == {"collection": collection, "ids": ["x1"],
                                            "parameters": {}} for i in launched)
    store.delete(watch["id"])

    with db.connection() as conn:  # the change log is pruned after its keep time
        conn.execute("UPDATE stacworks.catalog_changes SET at = now() - interval '200 hours' "
                     "WHERE collection = %s", (collection,))
    assert servers[0].prune_changes() >= 2
    with db.connection() as conn:
        left = conn.execute("SELECT count(*) AS n FROM stacworks.catalog_changes "
                            "WHERE collection = %s", (collection,)).fetchone()
    assert left is not None and left["n"] == 0


def test_an_eodag_provider_as_source(ingest_world: Any) -> None:
    """earth-search through eodag (kept on loopback): the source filters by box, dates and cloud
    cover; the exact AOI and the CQL2 filter are applied here."""
    from ingest.samples.publish import S2_ID

    _db, svc, _manager = ingest_world
    bridge = IngestBridge(svc)
    aoi = {"type": "Polygon", "coordinates": [[[-12, 24], [-10, 24], [-10, 26], [-12, 26],
                                               [-12, 24]]]}
    start, end = datetime(2020, 2, 10, tzinfo=UTC), datetime(2020, 2, 25, tzinfo=UTC)

    def found(cql2: str) -> list[str]:
        search = SavedSearch(intersects=aoi, filter=cql2)
        return [f.product_id for f in bridge.search("earth-search", "sentinel-2-l2a", search,
                                                    start, end, 10)]

    (product,) = found("eo:cloud_cover < 20")
    assert product == f"sentinel-2-l2a/{S2_ID}"
    assert found("eo:cloud_cover < 4") == []  # the scene has 4.05 %
