"""Ingest with no network and no settings: bundled STAC schemas, pre-1.0 items migrated,
one-line errors on the CLI (issue 12).

The source is the real USGS per-scene Landsat C2 item (STAC 0.7.0) from shared/data, published
on a loopback STAC API with its band files; the CLI runs with every proxy pointing at a closed
port, so anything that tries the internet (a schema URL) fails at once instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingest.samples.static_stac import StaticStac, serve_static_stac
from tests.harness import free_port, stacworks
from tests.ingest.fixtures import catalog_settings

LANDSAT_ID = "LC08_L2SP_001062_20201031_20201106_02_T2"
COLLECTION = "usgs-landsat-c2l2-sr-0-7"
BANDS = ("SR_B4.TIF", "SR_B5.TIF")


@pytest.fixture(scope="module")
def usgs_source(shared_data: Path) -> Iterator[str]:
    """The USGS 0.7.0 item as USGS publishes it, hrefs moved to loopback (MTL left out, so it
    is ingested as a STAC item rather than rebuilt from the MTL by stactools-landsat)."""
    folder = shared_data / "raster/landsat-c2-l2" / LANDSAT_ID
    item = json.loads((folder / f"{LANDSAT_ID}_SR_stac.json").read_text())
    assert item["stac_version"] == "0.7.0"
    stac = StaticStac()
    with serve_static_stac(stac) as base:
        assets = {}
        for key, asset in item["assets"].items():
            name = asset["href"].rsplit("/", 1)[-1]
            if (folder / name).is_file() and "_MTL." not in name:
                stac.files[f"usgs/{name}"] = folder / name
                assets[key] = {**asset, "href": f"{base}/files/usgs/{name}"}
        stac.add_collection({
            "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION,
            "description": "USGS Landsat C2 L2 SR per-scene items (STAC 0.7.0)",
            "license": "PDDL-1.0", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}},
        })
        stac.add_item({**item, "collection": COLLECTION, "assets": assets, "links": [
            *item["links"],
            {"rel": "self", "href": f"{base}/collections/{COLLECTION}/items/{LANDSAT_ID}"}]})
        yield base


def offline_env(home_env: dict[str, str]) -> dict[str, str]:
    """No STACWORKS_INGEST_* settings, and the internet unreachable (loopback still is)."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in home_env.items()
           if not k.startswith(("STACWORKS_INGEST_", "EODAG_")) and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update({"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead,
                "NO_PROXY": "127.0.0.1,localhost"})
    return env


def _stored(env: dict[str, str], item_id: str) -> dict[str, Any] | None:
    with psycopg.connect(catalog_settings(env).dsn) as conn:
        row = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, COLLECTION)).fetchone()
    return row[0] if row else None


def test_stac_0_7_item_ingests_offline_with_no_settings(
    ingest_home: dict[str, str], usgs_source: str
) -> None:
    env = offline_env(ingest_home)
    args = ["ingest", "--source", f"stac:{usgs_source}", "--collection", COLLECTION,
            *(a for b in BANDS for a in ("--asset", b))]
    res = stacworks(*args, env=env, check=False, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 done, 0 failed" in res.stdout, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "schema not available" not in res.stderr
    item = _stored(env, LANDSAT_ID)
    assert item is not None
    assert item["stac_version"].startswith("1.")
    props = item["properties"]
    assert props["datetime"] == "2020-10-31T00:00:00Z"  # a bare date in the 0.7.0 item
    assert props["platform"] == "LANDSAT_8" and "eo:platform" not in props  # migrated
    assert props["landsat:wrs_path"] == "1"
    assert {"SR_B4_TIF", "SR_B5_TIF"} <= set(item["assets"])
    assert all(u.startswith("https://") for u in item["stac_extensions"])
    assert not [lk for lk in item["links"] if "127.0.0.1" in lk["href"]]  # loopback: not kept


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(
    ingest_home: dict[str, str], usgs_source: str
) -> None:
    env = offline_env(ingest_home)
    closed = f"http://127.0.0.1:{free_port()}/"
    res = stacworks("ingest", "--source", f"stac:{closed}", "--collection", COLLECTION,
                    env=env, check=False, timeout=120)
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    # A product that fails (a missing band file) is reported on one line, no traceback.
    missing = {"SR_B9.TIF": {"href": f"{usgs_source}/files/usgs/nothing-here.TIF",
                             "type": "image/tiff; application=geotiff"}}
    res = stacworks("ingest", "--source", "urls", "--collection", "offline-broken",
                    "--url", missing["SR_B9.TIF"]["href"], env=env, check=False, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert "failed" in res.stderr + res.stdout
    debug = stacworks("ingest", "--debug", "--source", "urls", "--collection", "offline-broken",
                      "--url", missing["SR_B9.TIF"]["href"], env=env, check=False, timeout=300)
    assert debug.returncode == 1
    assert "DEBUG" in debug.stderr or "Traceback" in debug.stderr, debug.stderr[-2000:]


def test_bundled_schemas_resolve_without_the_network(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every item of the real samples validates from the bundled schemas alone: the only
    schemas left to the network are ones nobody publishes (USGS's old landsat extension)."""
    import requests

    from ingest.items import schemas

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError("no network in this test")

    monkeypatch.setattr(requests, "get", no_network)
    schemas.registry.cache_clear()
    try:
        checked = 0
        for path in sorted((shared_data / "stac").rglob("items/**/*.json")):
            result = schemas.validate_stac(json.loads(path.read_text()), mirror=None)
            missing = [w for w in result.warnings if "schema not available" in w
                       and "landsat.usgs.gov" not in w]
            assert not missing and not any("not available" in e for e in result.errors), path
            checked += 1
        assert checked >= 8
    finally:
        schemas.registry.cache_clear()
    size = sum(p.stat().st_size for p in schemas.BUNDLED.rglob("*.json"))
    assert size < 400_000, size  # only what is used
