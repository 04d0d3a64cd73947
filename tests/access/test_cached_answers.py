"""The tile server's caches never hand one caller's answer to another.

titiler-pgstac keeps item documents and each search's per-tile item lists in memory (a TTL
cache keyed by collection/item and by search hash + tile), and we keep each caller's narrowed
search id. Those keys say nothing about who asked, so what keeps them safe is that access is
decided before and after them: the collection check runs on every request, a search is
narrowed to the caller's collections (another hash, so another cache entry) and asset hrefs
are checked per caller. These tests warm each cache as a privileged caller first, then ask as
others; and change visibility while the caches are warm.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from objectstore import LocalStore
from tests.access.conftest import (
    PRIVATE,
    PUBLIC,
    SHARED,
    Secured,
    collection,
    item,
    small_cog,
)

TILE = "tiles/WebMercatorQuad/8/135/96"
EVERY = {"exitwhenfull": "false", "skipcovered": "false"}
OUTSIDERS = ("anonymous", "editor2", "viewer", "share")  # none of them reads PRIVATE


def test_an_item_document_cached_for_its_owner_is_not_served_to_others(secured: Secured) -> None:
    base = f"/tiles/collections/{PRIVATE}/items/{PRIVATE}-item"
    for _ in range(2):  # the second answer comes from the warm item cache
        r = secured.get("editor", f"{base}/{TILE}.png", params={"assets": "data"})
        assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    for who in OUTSIDERS:
        for path in (f"{base}/{TILE}.png", f"{base}/info", f"{base}/assets"):
            r = secured.get(who, path, params={"assets": "data"})
            assert r.status_code == 404, (who, path, r.status_code)
            assert r.content[:4] != b"\x89PNG" and PRIVATE + "-item" not in r.text


def test_a_search_tile_cached_for_its_owner_lists_only_the_callers_items(
    secured: Secured,
) -> None:
    # The editor owns PRIVATE and SHARED (and reads PUBLIC): its search names all three.
    # (Registered as the editor: the suite's admin spends its registration budget elsewhere.)
    r = secured.post("editor", "/tiles/searches/register",
                     {"collections": [PRIVATE, PUBLIC, SHARED]})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    assets = f"/tiles/searches/{sid}/{TILE}/assets"
    seen = {a["id"] for a in secured.get("editor", assets, params=EVERY).json()}
    assert {f"{PRIVATE}-item", f"{PUBLIC}-item", f"{SHARED}-item"} <= seen
    for who, sees in (("anonymous", {PUBLIC}), ("viewer", {PUBLIC, SHARED}),
                      ("editor2", {PUBLIC}), ("share", {PUBLIC, SHARED})):
        for _ in range(2):  # and again, now that the caller's own entry is warm
            r = secured.get(who, assets, params=EVERY)
            assert r.status_code == 200, (who, r.text)
            assert {a["id"] for a in r.json()} == {f"{c}-item" for c in sees}, who
        # The same search's tile is drawn from the caller's items only.
        png = secured.get(who, f"/tiles/searches/{sid}/{TILE}.png",
                          params={"assets": "data", **EVERY})
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG", who
    # The owner's answer is still the owner's after the others warmed theirs.
    assert {a["id"] for a in secured.get("editor", assets, params=EVERY).json()} == seen


def test_visibility_changes_apply_at_once_while_caches_are_warm(
    secured: Secured, stacworks_env: dict[str, str], tmp_path: Path
) -> None:
    cid = "acc-cache-flip"
    admin = secured.headers("admin")
    httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=admin, timeout=30)
    assert secured.post("editor", "/stac/collections", collection(cid)).status_code in (200, 201)
    # The item draws from its own collection's objects (an item may not render another's).
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects")
    key = f"{cid}/{cid}-item/data.tif"
    store.put_file(key, small_cog(tmp_path, 7))
    doc = item(cid, href=store.href(key))
    assert secured.post("editor", f"/stac/collections/{cid}/items", doc).status_code == 201
    tile = f"/tiles/collections/{cid}/items/{cid}-item/{TILE}.png"
    mosaic = f"/tiles/collections/{cid}/{TILE}.png"

    def flip(visibility: str) -> None:
        r = httpx.put(f"{secured.base}/admin/collections/{cid}/visibility",
                      json={"visibility": visibility}, headers=admin, timeout=30)
        assert r.status_code == 200, r.text

    try:
        flip("public")
        for path in (tile, mosaic):
            for _ in range(2):
                r = secured.get("anonymous", path, params={"assets": "data", **EVERY})
                assert r.status_code == 200 and r.content[:4] == b"\x89PNG", path
        flip("private")  # the item document and the mosaic's item list are still cached
        for path in (tile, mosaic):
            r = secured.get("anonymous", path, params={"assets": "data", **EVERY})
            assert r.status_code == 404 and r.content[:4] != b"\x89PNG", path
        flip("public")
        r = secured.get("anonymous", tile, params={"assets": "data"})
        assert r.status_code == 200
    finally:
        httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=admin, timeout=30)

