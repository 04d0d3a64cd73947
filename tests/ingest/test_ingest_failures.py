"""Bad inputs fail their product with a clear message and leave nothing behind; a worker
killed halfway is resumed by the next one without duplicates, orphans or temp files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.harness import BIN, ROOT, stacworks
from tests.ingest.fixtures import Loopback, catalog_settings, store_for, stored_href

pytestmark = pytest.mark.slow

EXPECTED = {
    "truncated": "not a raster that GDAL can read",
    "empty": "input file is empty (0 bytes)",
    "garbage": "not a raster that GDAL can read",
    "nogeo": "no coordinate reference system",
    "badcount": "header promises 115000 points, the file holds 110000",
    "cut-short": "truncated",
}


def _leftovers(env: dict[str, str]) -> list[Path]:
    """Files in the ingest scratch folder and in the local store's temp folder."""
    home = Path(env["STACWORKS_HOME"])
    found = []
    for folder in (home / "ingest-work", home / "objects" / ".tmp"):
        found += [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return found


def test_bad_inputs_fail_cleanly(
    ingest_env: dict[str, str], loopback: Loopback, ingest_stac_url: str
) -> None:
    urls = loopback.published["bad"]
    args = ["ingest", "--source", "urls", "--collection", "bad-inputs", "--json"]
    res = stacworks(
        *args, *[a for u in urls.values() for a in ("--url", u)], env=ingest_env, check=False
    )
    assert res.returncode == 1, res.stdout + res.stderr
    status = json.loads(res.stdout)
    assert status["counts"] == {
        "found": 6,
        "queued": 0,
        "running": 0,
        "retrying": 0,
        "done": 0,
        "failed": 6,
        "skipped": 0,
    }
    errors = {p["item_id"]: p["error"] for p in status["products"]}
    for item_id, words in EXPECTED.items():
        assert words in errors[item_id], (item_id, errors[item_id])
        assert errors[item_id].startswith("asset 'data': ")
        assert "/ingest-work/" not in errors[item_id]  # no scratch paths in messages
    # Transient-free bad input is not retried: one attempt each.
    assert {p["attempts"] for p in status["products"]} == {1}
    # Nothing registered, nothing stored, nothing left in scratch folders.
    assert httpx.get(f"{ingest_stac_url}/collections/bad-inputs", timeout=10).status_code == 404
    assert list(store_for(ingest_env).list("bad-inputs")) == []
    assert _leftovers(ingest_env) == []
    # The status is readable through the CLI too.
    shown = stacworks("ingest", "run-status", str(status["id"]), env=ingest_env)
    assert "failed   bad-inputs/empty — asset 'data': input file is empty (0 bytes)" in shown.stdout


def _product(env: dict[str, str], collection: str) -> dict[str, object] | None:
    dsn = catalog_settings(env).dsn
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT status, stage, assets_done, attempts FROM stacworks.ingest_products "
            "WHERE collection = %s ORDER BY id DESC LIMIT 1",
            (collection,),
        ).fetchone()
    return (
        None
        if row is None
        else dict(zip(("status", "stage", "done", "attempts"), row, strict=True))
    )


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "stacworks"), "worker"],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_is_resumed(
    ingest_env: dict[str, str], loopback: Loopback, ingest_stac_url: str, tmp_path: Path
) -> None:
    env = {**ingest_env, "STACWORKS_INGEST_STORE_TMP_GRACE_S": "0"}
    url = loopback.published["resume"]
    red = next(p for p in loopback.stac.files if p.endswith("/B04.tif"))
    loopback.stac.delay[f"/files/{red}"] = 30  # the worker will hang on this asset
    res = stacworks(
        "ingest",
        "--source",
        "urls",
        "--collection",
        "resume-test",
        "--url",
        url,
        "--queue",
        env=env,
    )
    assert "1 found, 1 queued" in res.stderr
    log = tmp_path / "worker.log"
    first = _worker(env, log)
    try:
        _wait(
            lambda: (_product(env, "resume-test") or {}).get("done", 0) >= 2,
            90,
            "two assets converted",
        )
        os.kill(first.pid, signal.SIGKILL)  # mid-product: some assets done, one downloading
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert _product(env, "resume-test")["status"] == "running"  # type: ignore[index]
    second = _worker(env, log)
    try:
        _wait(
            lambda: (_product(env, "resume-test") or {}).get("status") == "done",
            120,
            "the product to finish after resume:\n" + log.read_text()[-2000:],
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    product = _product(env, "resume-test")
    assert product is not None and product["attempts"] >= 2
    # One item, whose assets are exactly the objects under its prefix: no duplicates/orphans.
    body = httpx.get(
        f"{ingest_stac_url}/search", params={"collections": "resume-test"}, timeout=30
    ).json()
    assert [f["id"] for f in body["features"]] == ["resume-scene"]
    store = store_for(env)
    keys = sorted(o.key for o in store.list("resume-test"))
    item = body["features"][0]
    assert keys == sorted(store.key_for_href(stored_href(a)) for a in item["assets"].values())
    assert len(keys) == 5
    assert _leftovers(env) == []
