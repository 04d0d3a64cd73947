"""Items and collections the API serves validate against the official STAC schemas, offline."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.exceptions import Unretrievable

from tests.conftest import SHARED_DATA

MIRROR = SHARED_DATA / "stac-schemas"


@cache
def _registry() -> Registry:
    def retrieve(uri: str) -> Resource:
        path = MIRROR / uri.split("://", 1)[1].split("#", 1)[0]
        return Resource.from_contents(json.loads(Path(path).read_text()))

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def validate_stac(obj: dict, *, core_only: bool = False) -> None:
    """Validate against the core schema for the object's version and every extension it names."""
    kind = {
        "Feature": "item-spec/json-schema/item.json",
        "Collection": "collection-spec/json-schema/collection.json",
    }[obj["type"]]
    schemas = [f"https://schemas.stacspec.org/v{obj['stac_version']}/{kind}"]
    if not core_only:
        schemas += obj.get("stac_extensions", [])
    for uri in schemas:
        schema = _registry().get_or_retrieve(uri).value.contents
        jsonschema.Draft7Validator(schema, registry=_registry()).validate(obj)


def _valid(obj: dict) -> bool:
    try:
        validate_stac(obj)
    except (jsonschema.ValidationError, Unretrievable):  # pre-1.0 versions are not mirrored
        return False
    return True


def test_served_items_are_valid_stac(stac_url: str, sample_loaded: list[Path]) -> None:
    """Every served item validates whenever its source did (some real items break their
    extension schemas upstream, e.g. Earth Search's `s2:sequence`; we must not add breakage)."""
    from catalog.load import iter_records

    sources = {
        (r.get("collection"), r["id"]): r
        for p in sample_loaded
        for r in iter_records(p)
        if r.get("type") == "Feature"
    }
    body = httpx.get(f"{stac_url}/search", params={"limit": 500}).json()
    assert len(body["features"]) > 100
    checked = core = 0
    for item in body["features"]:
        if item["stac_version"] in ("1.0.0", "1.1.0"):
            validate_stac(item, core_only=True)
            core += 1
        src = sources.get((item["collection"], item["id"]))
        if src is None or _valid(src):
            validate_stac(item)
            checked += 1
    assert core >= 30 and checked >= 2


def test_served_collections_are_valid_stac(stac_url: str) -> None:
    for c in httpx.get(f"{stac_url}/collections").json()["collections"]:
        if c.get("stac_version") in ("1.0.0", "1.1.0"):  # the versions the mirror holds
            validate_stac(c)


def test_validator_catches_a_broken_item(stac_url: str) -> None:
    item = httpx.get(f"{stac_url}/search", params={"limit": 1, "collections": "joplin"}).json()[
        "features"
    ][0]
    del item["properties"]["datetime"]
    with pytest.raises(jsonschema.ValidationError):
        validate_stac(item)
