"""Stock GIS clients over HTTP against the server with access control on (issue 12).

pystac-client pages with GET and POST through every page of a public collection anonymously,
of a private one with a key and with a share link; ``matched()`` counts; every asset href is a
URL the client can fetch (httpx, GDAL ``/vsicurl/`` with Range requests), and no response names
a path on the server.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from pystac_client import Client

from tests.access.conftest import Secured, collection, small_cog
from tests.samples import COG_TYPE, bbox_item

PUB, PRIV = "gis-public", "gis-private"
N_ITEMS, PAGE = 7, 3  # three pages each
IDS = [f"scene-{n}" for n in range(N_ITEMS)]


def _item(cid: str, iid: str, href: str) -> dict[str, Any]:
    return bbox_item(cid, iid, (10, 40, 11, 41), f"2020-06-0{IDS.index(iid) + 1}T00:00:00Z",
                     {"data": {"href": href, "type": COG_TYPE, "roles": ["data"]}})


@pytest.fixture(scope="module")
def gis(secured: Secured, stacworks_env: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A public collection (admin's) and a private one (the editor's), N_ITEMS items each,
    every item with its own COG in the local store; a share link for the private one."""
    from objectstore import LocalStore

    home = Path(stacworks_env["STACWORKS_HOME"])
    objects = LocalStore(home / "objects")
    cog = small_cog(tmp_path_factory.mktemp("gis-cogs"), 7)
    for cid, owner in ((PUB, "admin"), (PRIV, "editor")):
        httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("admin"),
                     timeout=30)
        r = secured.post(owner, "/stac/collections", collection(cid))
        assert r.status_code in (200, 201), r.text
        for iid in IDS:
            key = f"{cid}/{iid}/data.tif"
            objects.put_file(key, cog)
            r = secured.post(owner, f"/stac/collections/{cid}/items",
                             _item(cid, iid, objects.href(key)))
            assert r.status_code in (200, 201), r.text
    r = httpx.put(f"{secured.base}/admin/collections/{PUB}/visibility",
                  json={"visibility": "public"}, headers=secured.headers("admin"), timeout=30)
    assert r.status_code == 200, r.text
    r = secured.post("editor", "/admin/shares", {"collection": PRIV, "expires_in_hours": 1})
    assert r.status_code == 201, r.text
    yield {"home": str(home), "share": r.json()["token"], "cog": cog}
    for cid in (PUB, PRIV):
        httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("admin"),
                     timeout=30)


def _client(secured: Secured, who: str) -> Client:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "does not conform to SORT": none expected
        return Client.open(f"{secured.base}/stac/", headers=secured.headers(who))


def _no_server_path(doc: Any, home: str) -> None:
    text = json.dumps(doc)
    assert home not in text and "/objects/" not in text, text[:500]


@pytest.mark.parametrize(("who", "cid"), [("anonymous", PUB), ("editor", PRIV)])
def test_pystac_client_pages_get_and_post(secured: Secured, gis: dict[str, Any], who: str,
                                          cid: str) -> None:
    client = _client(secured, who)
    for method in ("GET", "POST"):
        search = client.search(collections=[cid], limit=PAGE, method=method)
        pages = list(search.pages_as_dicts())
        assert [len(p["features"]) for p in pages] == [3, 3, 1], method
        ids = [f["id"] for p in pages for f in p["features"]]
        assert sorted(ids) == IDS, (method, ids)
        for page in pages:
            _no_server_path(page, gis["home"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "numberMatched/context unavailable" warning
            assert client.search(collections=[cid], limit=PAGE, method=method).matched() == 7
    # GET /collections/{id}/items paged through its next links (as STAC Browser does).
    found = client.get_collection(cid)
    assert found is not None
    items = list(found.get_items())
    assert sorted(i.id for i in items) == IDS
    assert all(i.assets["data"].href == f"{secured.base}/assets/{cid}/{i.id}/data"
               for i in items)


def test_private_collection_is_absent_for_anonymous(secured: Secured, gis: dict[str, Any]) -> None:
    client = _client(secured, "anonymous")
    assert client.search(collections=[PRIV], limit=PAGE, method="GET").matched() == 0
    r = httpx.get(f"{secured.base}/assets/{PRIV}/{IDS[0]}/data", timeout=30)
    assert r.status_code == 404


@pytest.mark.parametrize(("who", "cid"), [("anonymous", PUB), ("editor", PRIV)])
def test_asset_href_downloads_and_opens_with_vsicurl(secured: Secured, gis: dict[str, Any],
                                                     who: str, cid: str) -> None:
    found = _client(secured, who).get_collection(cid)
    assert found is not None
    item = found.get_item(IDS[2])
    assert item is not None
    href = item.assets["data"].href
    assert href == f"{secured.base}/assets/{cid}/{IDS[2]}/data"
    r = httpx.get(href, headers=secured.headers(who), follow_redirects=True, timeout=30)
    assert r.status_code == 200 and r.content == Path(gis["cog"]).read_bytes()
    part = httpx.get(href, headers={**secured.headers(who), "Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == r.content[:100]
    options: dict[str, str] = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    if who != "anonymous":
        options["GDAL_HTTP_HEADERS"] = f"Authorization: {secured.headers(who)['Authorization']}"
    with rasterio.Env(**options), rasterio.open(f"/vsicurl/{href}") as src:
        assert (src.count, src.width, src.crs.to_epsg()) == (3, 256, 4326)
        assert np.asarray(src.read(1, window=((0, 16), (0, 16)))).std() > 0


def test_share_link_pages_and_its_hrefs_carry_the_token(secured: Secured,
                                                        gis: dict[str, Any]) -> None:
    """A share-link holder pages with GET (``?token=sws_...`` kept beside the paging token)
    and downloads through hrefs that carry the token (QGIS and GDAL send no headers)."""
    token = gis["share"]
    url: str | None = f"{secured.base}/stac/collections/{PRIV}/items?limit={PAGE}&token={token}"
    seen: list[str] = []
    while url:
        r = httpx.get(url, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        _no_server_path(body, gis["home"])
        for f in body["features"]:
            seen.append(f["id"])
            href = f["assets"]["data"]["href"]
            assert href == f"{secured.base}/assets/{PRIV}/{f['id']}/data?token={token}"
        url = next((lk["href"] for lk in body["links"] if lk["rel"] == "next"), None)
    assert sorted(seen) == IDS
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), \
            rasterio.open(f"/vsicurl/{secured.base}/assets/{PRIV}/{IDS[0]}/data?token={token}"
                          ) as src:
        assert src.count == 3
    # With the token as a Bearer header, pystac-client pages the same way.
    client = Client.open(f"{secured.base}/stac/", headers={"Authorization": f"Bearer {token}"})
    found = list(client.search(collections=[PRIV], limit=PAGE, method="GET").items())
    assert sorted(i.id for i in found) == IDS


def test_paging_tokens_and_share_tokens_never_mix(secured: Secured, gis: dict[str, Any]) -> None:
    base = f"{secured.base}/stac"
    # A paging token is not a credential: anonymous paging of a public collection works.
    first = httpx.get(f"{base}/search", params={"collections": PUB, "limit": PAGE}).json()
    nxt = next(lk["href"] for lk in first["links"] if lk["rel"] == "next")
    assert "token=next" in nxt
    assert httpx.get(nxt, timeout=30).status_code == 200
    # A share token is never echoed, valid or not.
    bogus = "sws_0123abcd_notarealsecret"
    r = httpx.get(f"{base}/search", params={"token": bogus}, timeout=30)
    assert r.status_code == 401 and bogus not in r.text
    r = httpx.get(f"{base}/search?token={gis['share']}&token=next:bogus", timeout=30)
    assert r.status_code == 400 and "token" in r.text and gis["share"] not in r.text


def test_landing_page_conforms_to_both_versions(secured: Secured, gis: dict[str, Any]) -> None:
    conforms = set(httpx.get(f"{secured.base}/stac/", timeout=30).json()["conformsTo"])
    for ext in ("sort", "fields", "query", "filter"):
        for version in ("v1.0.0", "v1.1.0"):
            assert f"https://api.stacspec.org/{version}/item-search#{ext}" in conforms


def test_service_roots_without_a_slash_redirect(secured: Secured, gis: dict[str, Any]) -> None:
    """What a person pastes ("…/stac") reaches the service: pystac-client follows the redirect."""
    r = httpx.get(f"{secured.base}/stac?x=1", timeout=30)
    assert r.status_code == 308 and r.headers["location"] == "stac/?x=1", r.headers
    client = Client.open(f"{secured.base}/stac", headers=secured.headers("editor"))
    assert {c.id for c in client.get_collections()} >= {PUB, PRIV}
    assert httpx.get(f"{secured.base}/tiles", timeout=30, follow_redirects=True).status_code != 404


def test_tiler_item_lists_give_download_urls(secured: Secured, gis: dict[str, Any]) -> None:
    """The tiler's ``.../assets`` item lists name assets like the STAC API (no server path);
    a share link's token rides along in its hrefs."""
    r = httpx.get(f"{secured.base}/tiles/collections/{PUB}/bbox/10,40,11,41/assets", timeout=30)
    assert r.status_code == 200, r.text
    items = r.json()
    assert items and {i["id"] for i in items} <= set(IDS)  # pgstac stops once covered
    _no_server_path(items, gis["home"])
    assert all(i["assets"]["data"]["href"] == f"{secured.base}/assets/{PUB}/{i['id']}/data"
               for i in items)
    token = gis["share"]
    r = httpx.get(f"{secured.base}/tiles/collections/{PRIV}/point/10.5,40.5/assets",
                  params={"token": token}, timeout=30)
    assert r.status_code == 200, r.text
    hrefs = [i["assets"]["data"]["href"] for i in r.json()]
    assert hrefs and all(h.endswith(f"/data?token={token}") for h in hrefs)
    assert httpx.get(hrefs[0], headers={"Range": "bytes=0-1"}, timeout=30).status_code == 206
