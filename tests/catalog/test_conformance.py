"""stac-api-validator (its own virtualenv, schemas served offline) against the live server.

Every conformance class the landing page advertises is validated. Two places where the
validator itself is wrong are pinned here:
- sort and query: it POSTs ``collections`` as a string; we accept a string as one collection id
  (lenient, harmless) rather than answer 400;
- query ``in``: it checks results with ``set(value)``, so string properties must hold single
  characters for the check to pass; the test collection carries such a property (``grade``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SHARED_DATA
from tests.harness import stacworks

VALIDATOR_VENV = ROOT / ".venv-validator"
VALIDATOR = VALIDATOR_VENV / "bin" / "stac-api-validator"
SHIM = Path(__file__).parent / "validator_shim"
COLLECTION = "conformance-joplin"
# Joplin moved east, so these copies never show up in other tests' searches over Joplin.
SHIFT_LON = 20.0


def shifted(geom: dict) -> dict:
    def move(c: list) -> list:
        return (
            [c[0] + SHIFT_LON, *c[1:]] if isinstance(c[0], (int, float)) else [move(x) for x in c]
        )

    return {**geom, "coordinates": move(geom["coordinates"])}


# Landing-page conformance URIs -> validator class names.
CLASSES = {
    "https://api.stacspec.org/v1.0.0/core": "core",
    "https://api.stacspec.org/v1.0.0/ogcapi-features": "features",
    "https://api.stacspec.org/v1.0.0/collections": "collections",
    "https://api.stacspec.org/v1.0.0/item-search": "item-search",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter": "filter",
    "https://api.stacspec.org/v1.0.0/item-search#fields": "item-search#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields": "features#fields",
    "https://api.stacspec.org/v1.0.0/item-search#query": "item-search#query",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#query": "features#query",
    "https://api.stacspec.org/v1.1.0/item-search#sort": "item-search#sort",
    "https://api.stacspec.org/v1.1.0/ogcapi-features#sort": "features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction": "transaction",
}


@pytest.fixture(scope="session")
def validator() -> Path:
    if not VALIDATOR.exists():
        uv = shutil.which("uv")
        assert uv, "uv is needed to build the validator's virtualenv (see Makefile setup)"
        subprocess.run([uv, "venv", "-q", "-p", "python3.11", str(VALIDATOR_VENV)], check=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "-q",
                "-p",
                str(VALIDATOR_VENV / "bin/python"),
                "stac-api-validator==0.6.8",
            ],
            check=True,
        )
    return VALIDATOR


@pytest.fixture(scope="session")
def conformance_collection(
    stacworks_env: dict[str, str], stac_url: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Joplin's items in a collection of their own, with a one-letter `grade` property."""
    doc = json.loads((SHARED_DATA / "stac/joplin/index.geojson").read_text())
    coll = json.loads((SHARED_DATA / "stac/joplin/collection.json").read_text())
    coll["id"] = COLLECTION
    ((w, s_, e, n),) = coll["extent"]["spatial"]["bbox"]
    coll["extent"]["spatial"]["bbox"] = [[w + SHIFT_LON, s_, e + SHIFT_LON, n]]
    items = []
    for n, f in enumerate(doc["features"]):
        f = {
            **f,
            "id": f"conf-{f['id']}",
            "collection": COLLECTION,
            "geometry": shifted(f["geometry"]),
            "bbox": [
                f["bbox"][0] + SHIFT_LON,
                f["bbox"][1],
                f["bbox"][2] + SHIFT_LON,
                f["bbox"][3],
            ],
        }
        f["properties"] = {**f["properties"], "grade": "AB"[n % 2]}
        f["links"] = []
        items.append(f)
    d = tmp_path_factory.mktemp("conformance")
    (d / "collection.json").write_text(json.dumps(coll))
    (d / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    stacworks(
        "load",
        "--mode",
        "upsert",
        str(d / "collection.json"),
        str(d / "items.json"),
        env=stacworks_env,
    )
    return COLLECTION


def run_validator(validator: Path, stac_url: str, classes: list[str]) -> str:
    first = json.loads((SHARED_DATA / "stac/joplin/index.geojson").read_text())["features"][0]
    geometry = shifted(first["geometry"])
    args = [
        str(validator),
        "--root-url",
        f"{stac_url}/",
        "--collection",
        COLLECTION,
        "--geometry",
        json.dumps(geometry),
        "--transaction-collection",
        COLLECTION,
        "--query-comparison-field",
        "proj:epsg",
        "--query-eq-value",
        "3857",
        "--query-neq-value",
        "26915",
        "--query-lt-value",
        "4000",
        "--query-lte-value",
        "3857",
        "--query-gt-value",
        "3000",
        "--query-gte-value",
        "3857",
        "--query-substring-field",
        "orientation",
        "--query-starts-with-value",
        "nad",
        "--query-ends-with-value",
        "dir",
        "--query-contains-value",
        "adi",
        "--query-in-field",
        "grade",
        "--query-in-values",
        "A,C",
        "--fields-nested-property",
        "properties.proj:epsg",
    ]
    for c in classes:
        args += ["--conformance", c]
    env = {
        **os.environ,
        "STAC_SCHEMA_MIRROR": str(SHARED_DATA / "stac-schemas"),
        "PYTHONPATH": str(SHIM),
    }
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    return res.stdout + res.stderr


def _errors(output: str) -> list[str]:
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Errors:")), None)
    assert start is not None, output[-3000:]
    if lines[start].strip() == "Errors: none":
        return []
    return [line.strip() for line in lines[start + 1 :] if line.strip().startswith("-")]


def advertised(stac_url: str) -> list[str]:
    conforms = httpx.get(f"{stac_url}/").json()["conformsTo"]
    return [CLASSES[c] for c in conforms if c in CLASSES]


def test_every_advertised_class_passes(
    validator: Path, stac_url: str, conformance_collection: str
) -> None:
    classes = advertised(stac_url)
    assert {
        "core",
        "features",
        "collections",
        "item-search",
        "filter",
        "transaction",
        "item-search#query",
        "item-search#fields",
        "item-search#sort",
    } <= set(classes)
    out = run_validator(validator, stac_url, classes)
    assert _errors(out) == []


def test_validator_quirk_collections_as_a_string(
    stac_url: str, conformance_collection: str
) -> None:
    """The validator POSTs ``collections`` as a string (sort, query); we read it as one id."""
    r = httpx.post(
        f"{stac_url}/search",
        json={
            "collections": conformance_collection,
            "sortby": [{"field": "properties.datetime", "direction": "desc"}],
            "limit": 100,
        },
    )
    assert r.status_code == 200
    assert {f["collection"] for f in r.json()["features"]} == {conformance_collection}
    assert len(r.json()["features"]) == 30
