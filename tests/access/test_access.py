"""Access control, tested as an attacker would: every principal against every kind of collection,
on the STAC API, the tiles and the jobs API of one server with access control on."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.access.conftest import COLLECTIONS, PRIVATE, PUBLIC, SHARED, Secured, item
from tests.harness import serve

#: Mosaic asset lists that name every item under the bbox, not only those until it is covered.
EVERY = "?exitwhenfull=false&skipcovered=false"

PRINCIPALS = ("anonymous", "viewer", "editor", "editor2", "admin", "share", "oidc")
#: What each principal may read (the table the model promises).
SEES: dict[str, set[str]] = {
    "anonymous": {PUBLIC},
    "viewer": {PUBLIC, SHARED},  # read grant on shared
    "editor": {PUBLIC, PRIVATE, SHARED},  # owner of private and shared
    "editor2": {PUBLIC},  # an editor with no grants
    "admin": {PUBLIC, PRIVATE, SHARED},
    "share": {PUBLIC, SHARED},  # the share link for shared
    "oidc": {PUBLIC, PRIVATE},  # an OIDC subject with a read grant on private
}
#: Routes naming one collection: visible -> 200, hidden -> 404 (never 403: no oracle).
COLLECTION_ROUTES = (
    "/stac/collections/{c}",
    "/stac/collections/{c}/items",
    "/stac/collections/{c}/items/{c}-item",
    "/stac/collections/{c}/queryables",
    "/tiles/collections/{c}/items/{c}-item/assets",
    "/tiles/collections/{c}/WebMercatorQuad/tilejson.json?assets=data",
    "/tiles/collections/{c}/info",
    "/tiles/collections/{c}/bbox/10,40,11,41/assets",
)
NO_TRACE = re.compile(r"Traceback|File \"/|site-packages|\.py\", line")


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("cid", COLLECTIONS)
@pytest.mark.parametrize("route", COLLECTION_ROUTES)
def test_collection_routes(secured: Secured, who: str, cid: str, route: str) -> None:
    r = secured.get(who, route.format(c=cid))
    expected = 200 if cid in SEES[who] else 404
    assert r.status_code == expected, (who, cid, route, r.status_code, r.text[:300])
    assert not NO_TRACE.search(r.text)
    if expected == 404:
        assert cid not in r.text or "does not exist" in r.text  # nothing but the id asked for


@pytest.mark.parametrize("who", PRINCIPALS)
def test_lists_and_searches_show_exactly_what_is_readable(secured: Secured, who: str) -> None:
    ours = set(COLLECTIONS)
    r = secured.get(who, "/stac/collections", params={"limit": 1000})
    assert r.status_code == 200
    assert {c["id"] for c in r.json()["collections"]} & ours == SEES[who]
    landing = secured.get(who, "/stac/").text
    assert not any(f"/collections/{c}" in landing for c in ours - SEES[who])
    for response in (
        secured.get(who, "/stac/search", params={"collections": ",".join(COLLECTIONS)}),
        secured.post(who, "/stac/search", {"collections": list(COLLECTIONS)}),
        secured.post(
            who, "/stac/search", {"ids": [f"{c}-item" for c in COLLECTIONS], "limit": 100}
        ),
        secured.get(who, "/stac/search", params={"bbox": "10,40,11,41", "limit": 1000}),
        secured.post(
            who,
            "/stac/search",
            {
                "filter": {"op": "=", "args": [{"property": "collection"}, PRIVATE]},
                "filter-lang": "cql2-json",
            },
        ),
    ):
        assert response.status_code == 200, response.text
        got = {f["collection"] for f in response.json()["features"]} & ours
        assert got <= SEES[who], (who, got)
    found = secured.post(who, "/stac/search", {"ids": [f"{c}-item" for c in COLLECTIONS]})
    assert {f["collection"] for f in found.json()["features"]} == SEES[who]
    # A collection search by free text or filter never reveals a hidden one either.
    r = secured.get(who, "/stac/collections", params={"q": "acc"})
    assert {c["id"] for c in r.json()["collections"]} & ours <= SEES[who]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_catalog_wmts_lists_only_visible_collections(secured: Secured, who: str) -> None:
    every = secured.get("admin", "/tiles/WMTSCapabilities.xml").text
    mine = secured.get(who, "/tiles/WMTSCapabilities.xml")
    assert mine.status_code == 200
    layers = set(re.findall(r"<ows:Identifier>([^<]+)</ows:Identifier>", mine.text))
    hidden = set(re.findall(r"<ows:Identifier>([^<]+)</ows:Identifier>", every)) - layers
    readable = {
        c["id"]
        for c in secured.get(who, "/stac/collections", params={"limit": 1000}).json()["collections"]
    }
    assert not (hidden & readable) or who == "admin"
    for cid in hidden:  # nowhere in the document (as a whole name: "red" is in "acc-shared")
        assert not re.search(rf"(?<![\w-]){re.escape(cid)}(?![\w-])", mine.text), cid


@pytest.mark.parametrize("param", ["key", "token"])
def test_wmts_and_tilejson_fetched_with_a_credential_carry_it_to_their_tiles(
    secured: Secured, param: str
) -> None:
    """QGIS and map clients cannot send headers: the credential in the document's URL must be
    in every tile URL the document gives them, and those tiles must load."""
    who = "share" if param == "token" else "viewer"
    credential = secured.tokens[who]
    assert credential is not None
    documents = {
        "/tiles/WMTSCapabilities.xml": r'template="([^"]+)"',
        f"/tiles/collections/{SHARED}/WMTSCapabilities.xml?assets=data": r'template="([^"]+)"',
        f"/tiles/collections/{SHARED}/WebMercatorQuad/tilejson.json?assets=data":
            r'"tiles":\["([^"]+)"',
    }
    for path, pattern in documents.items():
        sep = "&" if "?" in path else "?"
        r = httpx.get(f"{secured.base}{path}{sep}{param}={credential}", timeout=30)
        assert r.status_code == 200, (path, r.text[:300])
        templates = [t.replace("&amp;", "&") for t in re.findall(pattern, r.text)
                     if f"/collections/{SHARED}/" in t
                     and ("WebMercatorQuad" in t or "{TileMatrixSet}" in t)]
        assert templates, (path, r.text[:500])
        for template in templates:
            assert f"{param}={credential}" in template, template
            url = (template.replace("{TileMatrixSet}", "WebMercatorQuad")
                   .replace("{Style}", "rgb").replace("{TileMatrix}", "8")
                   .replace("{TileCol}", "135").replace("{TileRow}", "96")
                   .replace("{z}", "8").replace("{x}", "135").replace("{y}", "96"))
            tile = httpx.get(url, timeout=60)
            assert tile.status_code == 200, (url, tile.text[:300])
            assert tile.content[:4] == b"\x89PNG"
            # ... and without the credential the same tile is hidden.
            bare = re.sub(rf"[?&]{param}=[^&]+", "", url)
            assert httpx.get(bare, timeout=60).status_code == 404


def test_catalog_queryables_show_only_readable_collections_properties(secured: Secured) -> None:
    probe = item(PRIVATE, f"{PRIVATE}-queryable-probe", href=secured.hrefs[PRIVATE])
    probe["properties"]["acc_private_only"] = 42
    r = secured.post("editor", f"/stac/collections/{PRIVATE}/items", probe)
    assert r.status_code in (201, 409), r.text
    try:
        for who in PRINCIPALS:
            r = secured.get(who, "/stac/queryables")
            assert r.status_code == 200, r.text
            assert ("acc_private_only" in r.json()["properties"]) == (PRIVATE in SEES[who]), who
            assert "datetime" in r.json()["properties"]  # the global ones, for everyone
    finally:
        # The probe covers the private item's footprint: left behind, it hides that item from
        # mosaic asset lists (exitwhenfull) that later tests read.
        r = httpx.delete(f"{secured.base}/stac/collections/{PRIVATE}/items/{probe['id']}",
                         headers=secured.headers("editor"), timeout=30)
        assert r.status_code in (200, 204), r.text


def test_refusals_carry_cors_headers(secured: Secured) -> None:
    """A browser app on another origin must be able to read why it was refused."""
    for path in (f"/stac/collections/{PRIVATE}", "/stac/search?bbox=1,2,3",
                 f"/tiles/collections/{PRIVATE}/info"):
        r = httpx.get(secured.base + path, headers={"Origin": "https://app.example",
                                                    "Authorization": "Bearer swk_bad"})
        assert r.status_code == 401, path
        assert r.headers.get("access-control-allow-origin") in ("*", "https://app.example"), path
        assert r.headers.get("access-control-allow-credentials") != "true"


# -- writes --------------------------------------------------------------------------------

WRITES: dict[str, dict[str, int]] = {
    # who: {collection: status of POST item}
    "anonymous": {PUBLIC: 401, PRIVATE: 401, SHARED: 401},
    "share": {PUBLIC: 401, PRIVATE: 401, SHARED: 401},
    "viewer": {PUBLIC: 403, PRIVATE: 404, SHARED: 403},
    "oidc": {PUBLIC: 403, PRIVATE: 403, SHARED: 404},
    "editor2": {PUBLIC: 403, PRIVATE: 404, SHARED: 404},
    "editor": {PUBLIC: 403, PRIVATE: 201, SHARED: 201},
    "admin": {PUBLIC: 201, PRIVATE: 201, SHARED: 201},
}


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("cid", COLLECTIONS)
def test_transactions(secured: Secured, who: str, cid: str) -> None:
    expected = WRITES[who][cid]
    new = item(cid, f"{cid}-by-{who}")
    r = secured.post(who, f"/stac/collections/{cid}/items", new)
    assert r.status_code == expected, (who, cid, r.status_code, r.text[:300])
    if expected == 401:
        assert r.headers.get("www-authenticate", "").startswith("Bearer")
    update = httpx.put(
        f"{secured.base}/stac/collections/{cid}/items/{cid}-item",
        json=item(cid, href=secured.hrefs[cid]),
        headers=secured.headers(who),
        timeout=30,
    )
    assert update.status_code == (204 if expected == 201 else expected), update.text
    delete = httpx.delete(
        f"{secured.base}/stac/collections/{cid}/items/{cid}-by-{who}",
        headers=secured.headers(who),
        timeout=30,
    )
    assert delete.status_code == (204 if expected == 201 else expected)


def test_creating_collections_needs_an_editor_and_makes_them_private(secured: Secured) -> None:
    assert secured.post("anonymous", "/stac/collections", {"id": "x"}).status_code == 401
    assert secured.post("viewer", "/stac/collections", {"id": "x"}).status_code == 403
    from tests.access.conftest import collection

    httpx.delete(f"{secured.base}/stac/collections/acc-new", headers=secured.headers("admin"))
    r = secured.post("editor2", "/stac/collections", collection("acc-new"))
    assert r.status_code in (200, 201), r.text
    assert secured.get("editor2", "/stac/collections/acc-new").status_code == 200
    assert secured.get("anonymous", "/stac/collections/acc-new").status_code == 404
    assert secured.get("editor", "/stac/collections/acc-new").status_code == 404
    # Another editor cannot take it over by posting the same id again.
    assert secured.post("editor", "/stac/collections", collection("acc-new")).status_code == 404
    assert (
        httpx.put(
            f"{secured.base}/admin/collections/acc-new/visibility",
            json={"visibility": "public"},
            headers=secured.headers("editor"),
        ).status_code
        == 404
    )
    r = httpx.put(
        f"{secured.base}/admin/collections/acc-new/visibility",
        json={"visibility": "public"},
        headers=secured.headers("editor2"),
    )
    assert r.status_code == 200
    assert secured.get("anonymous", "/stac/collections/acc-new").status_code == 200
    r = httpx.put(
        f"{secured.base}/admin/collections/acc-new/visibility",
        json={"visibility": "private"},
        headers=secured.headers("editor2"),
    )
    assert secured.get("anonymous", "/stac/collections/acc-new").status_code == 404


# -- every route of the STAC and tile services ---------------------------------------------


def _fill(path: str, cid: str) -> str:
    values = {
        "collection_id": cid,
        "collectionId": cid,
        "item_id": f"{cid}-item",
        "itemId": f"{cid}-item",
        "tileMatrixSetId": "WebMercatorQuad",
        "z": "3",
        "x": "4",
        "y": "2",
        "minx": "10",
        "miny": "40",
        "maxx": "11",
        "maxy": "41",
        "lon": "10.5",
        "lat": "40.5",
        "format": "png",
        "scale": "1",
        "width": "64",
        "height": "64",
        "search_id": "0",
    }
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.mark.parametrize("service", ["stac", "tiles"])
def test_every_collection_route_hides_private_collections(secured: Secured, service: str) -> None:
    """Every GET route of the OpenAPI document naming a collection: 404 for anonymous."""
    doc = secured.get("admin", f"/{service}/api").json()
    checked = 0
    for path, ops in doc["paths"].items():
        if "{collection_id}" not in path and "{collectionId}" not in path:
            continue
        for method in ops:
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for who in ("anonymous", "editor2", "share"):
                r = httpx.request(
                    method.upper(),
                    secured.base + f"/{service}" + _fill(path, PRIVATE),
                    headers=secured.headers(who),
                    json={} if method != "get" else None,
                    timeout=60,
                )
                allowed = {404} if method == "get" else {401, 404}
                if who == "editor2" and method != "get":
                    allowed = {404}
                assert r.status_code in allowed, (who, method, path, r.status_code, r.text[:200])
                assert not NO_TRACE.search(r.text)
                checked += 1
    assert checked >= 5


# -- searches cannot widen access ----------------------------------------------------------


def test_registered_search_is_narrowed_to_the_caller(secured: Secured) -> None:
    r = secured.post("admin", "/tiles/searches/register", {"collections": [PRIVATE, PUBLIC]})
    assert r.status_code == 200, r.text
    search_id = r.json()["id"]
    assets = (
        f"/tiles/searches/{search_id}/bbox/10,40,11,41/assets?exitwhenfull=false&skipcovered=false"
    )
    admin_items = {a["id"] for a in secured.get("admin", assets).json()}
    assert f"{PRIVATE}-item" in admin_items
    for who in ("anonymous", "editor2", "viewer", "share"):
        r = secured.get(who, assets)
        seen = {a["id"] for a in r.json()} if r.status_code == 200 else set()
        assert f"{PRIVATE}-item" not in seen, who
        assert PRIVATE not in secured.get(who, f"/tiles/searches/{search_id}/info").text
    # A search registered by anonymous for a private collection reads nothing either.
    r = secured.post("anonymous", "/tiles/searches/register", {"collections": [PRIVATE]})
    sid = r.json()["id"]
    got = secured.get("anonymous", f"/tiles/searches/{sid}/bbox/10,40,11,41/assets")
    assert got.status_code in (200, 204, 404)
    assert f"{PRIVATE}-item" not in got.text
    # ... while the same id read by the owner works (narrowing is per caller, at tile time).
    assert (
        f"{PRIVATE}-item"
        in secured.get("editor", f"/tiles/searches/{sid}/bbox/10,40,11,41/assets{EVERY}").text
    )
    # The list of every registered search is for admins.
    assert secured.get("anonymous", "/tiles/searches/").status_code == 401
    assert secured.get("viewer", "/tiles/searches/").status_code == 403
    assert secured.get("admin", "/tiles/searches/").status_code == 200


def test_search_share_link_opens_that_search_only(secured: Secured) -> None:
    sid = secured.post("editor", "/tiles/searches/register", {"collections": [PRIVATE]}).json()[
        "id"
    ]
    r = secured.post("editor", "/admin/shares", {"search": sid, "expires_in_hours": 1})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assets = f"/tiles/searches/{sid}/bbox/10,40,11,41/assets{EVERY}&token={token}"
    assert f"{PRIVATE}-item" in httpx.get(secured.base + assets).text
    # ... not the collection itself, nor its STAC items.
    assert httpx.get(f"{secured.base}/stac/collections/{PRIVATE}?token={token}").status_code == 404
    assert (
        httpx.get(f"{secured.base}/tiles/collections/{PRIVATE}/info?token={token}").status_code
        == 404
    )


# -- credentials -----------------------------------------------------------------------------


def _tamper(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def test_tampered_malformed_and_foreign_credentials_are_401(secured: Secured) -> None:
    viewer = secured.tokens["viewer"]
    assert viewer is not None
    share = secured.tokens["share"]
    assert share is not None
    bad = [
        _tamper(viewer),
        viewer.replace("swk_", "sws_"),
        _tamper(share),
        "swk_nothing",
        "garbage",
        "swk_00000000_" + "x" * 40,
        secured.oidc.token("mallory", "admin", audience="someone-else"),
        secured.oidc.token("mallory", "admin", issuer="https://evil/"),
        secured.oidc.token("mallory", "admin", expires_in=-60),
    ]
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad.append(secured.oidc.token("mallory", "admin", key=other))
    for token in bad:
        for path in (
            f"/stac/collections/{PUBLIC}",
            "/tiles/WMTSCapabilities.xml",
            "/jobs",
            "/admin/whoami",
        ):
            r = httpx.get(secured.base + path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (token[:20], path, r.status_code)
            assert not NO_TRACE.search(r.text)
        r = httpx.get(f"{secured.base}/tiles/collections/{PUBLIC}/info", params={"key": token})
        assert r.status_code == 401
    r = httpx.get(f"{secured.base}/stac/", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status_code == 401


def test_expired_and_revoked_keys_and_shares(secured: Secured, dsn: str) -> None:
    from datetime import UTC, datetime, timedelta

    from catalog.access import AccessRecords, Principal

    store = AccessRecords(dsn, pooled=False)
    expired = store.create_key("expired", "admin", expires_at=datetime.now(UTC) - timedelta(1))
    r = httpx.get(
        f"{secured.base}/stac/collections/{PRIVATE}",
        headers={"Authorization": f"Bearer {expired['token']}"},
    )
    assert r.status_code == 401
    fresh = secured.post("admin", "/admin/keys", {"name": "short-lived", "role": "editor"})
    assert fresh.status_code == 201
    token, key_id = fresh.json()["token"], fresh.json()["id"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{secured.base}/stac/collections/{PUBLIC}", headers=auth).status_code == 200
    listed = secured.get("admin", "/admin/keys").json()["keys"]
    assert all("token" not in k and "hash" not in k for k in listed)
    assert (
        httpx.delete(
            f"{secured.base}/admin/keys/{key_id}", headers=secured.headers("admin")
        ).status_code
        == 204
    )
    assert httpx.get(f"{secured.base}/stac/collections/{PUBLIC}", headers=auth).status_code == 401
    # A share: revoked by its creator, or expired, stops at once.
    owner = Principal(id=secured.principals["editor"], role="editor")
    dead = store.create_share("collection", SHARED, owner, expires_in=timedelta(seconds=-1))
    assert (
        httpx.get(
            f"{secured.base}/stac/collections/{SHARED}", params={"token": dead["token"]}
        ).status_code
        == 401
    )
    live = secured.post("editor", "/admin/shares", {"collection": SHARED}).json()
    url = f"{secured.base}/tiles/collections/{SHARED}/info"
    assert httpx.get(url, params={"token": live["token"]}).status_code == 200
    assert (
        httpx.delete(
            f"{secured.base}/admin/shares/{live['id']}", headers=secured.headers("editor2")
        ).status_code
        == 404
    )
    assert (
        httpx.delete(
            f"{secured.base}/admin/shares/{live['id']}", headers=secured.headers("editor")
        ).status_code
        == 204
    )
    assert httpx.get(url, params={"token": live["token"]}).status_code == 401
    # A share whose creator's key is revoked dies with it.
    creator = store.create_key("sharer", "editor")
    store.grant(creator["principal"], SHARED, "read")
    share = store.create_share(
        "collection",
        SHARED,
        Principal(id=creator["principal"], role="editor"),
        expires_in=timedelta(hours=1),
    )
    assert httpx.get(url, params={"token": share["token"]}).status_code == 200
    store.revoke_key(creator["id"])
    assert httpx.get(url, params={"token": share["token"]}).status_code == 401


def test_admin_api_needs_the_right_principal(secured: Secured) -> None:
    for who, status in (("anonymous", 401), ("share", 401), ("viewer", 403), ("editor", 403)):
        assert secured.get(who, "/admin/keys").status_code == status
        assert (
            secured.post(who, "/admin/keys", {"name": "x", "role": "admin"}).status_code == status
        )
    assert (
        secured.post(
            "viewer",
            "/admin/grants",
            {
                "principal": secured.principals["viewer"],
                "collection": SHARED,
                "permission": "write",
            },
        ).status_code
        == 403
    )
    assert (
        secured.post(
            "editor2",
            "/admin/grants",
            {
                "principal": secured.principals["editor2"],
                "collection": PRIVATE,
                "permission": "write",
            },
        ).status_code
        == 404
    )
    assert secured.post("editor2", "/admin/shares", {"collection": PRIVATE}).status_code == 404
    who = secured.get("viewer", "/admin/whoami").json()
    assert who["role"] == "viewer" and who["principal"] == secured.principals["viewer"]
    assert secured.get("oidc", "/admin/whoami").json()["principal"] == "oidc:alice"


def test_key_in_tile_url_is_never_logged(secured: Secured) -> None:
    token = secured.tokens["viewer"]
    assert token is not None
    share = secured.tokens["share"]
    assert share is not None
    assert (
        httpx.get(
            f"{secured.base}/tiles/collections/{PUBLIC}/info", params={"key": token}
        ).status_code
        == 200
    )
    assert (
        httpx.get(
            f"{secured.base}/tiles/collections/{SHARED}/info", params={"token": share}
        ).status_code
        == 200
    )
    httpx.get(f"{secured.base}/tiles/collections/{PUBLIC}/info", params={"key": _tamper(token)})
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = secured.log.read_text(errors="replace")
        if "/tiles/collections/acc-shared/info" in text:
            break
        time.sleep(0.1)
    assert "/tiles/collections/acc-public/info?key=***" in text  # the access log is on
    secret = token.split("_", 2)[2]
    assert secret not in text and share.split("_", 2)[2] not in text
    assert _tamper(token).split("_", 2)[2] not in text


# -- jobs ----------------------------------------------------------------------------------


def test_jobs_api(secured: Secured) -> None:
    assert secured.get("anonymous", "/jobs").status_code == 401
    assert secured.get("anonymous", "/processes").status_code == 401
    assert secured.get("viewer", "/jobs").json()["jobs"] == []
    assert (
        secured.post("viewer", "/processes/anything/execution", {"inputs": {}}).status_code == 403
    )
    assert secured.post("editor", "/algorithms", {"name": "x"}).status_code == 403
    assert secured.get("viewer", "/jobs/00000000000000000000000000000000").status_code == 404
    assert secured.get("viewer", "/jobs/00000000000000000000000000000000/logs").status_code == 404


def test_jobs_only_read_readable_items(
    secured: Secured, dsn: str, stacworks_env: dict[str, str]
) -> None:
    """Resolved with the caller's rights: hidden items and server paths are refused."""
    from pathlib import Path

    from catalog.settings import CatalogSettings
    from objectstore import LocalStore
    from processing.db import Database
    from processing.executions import ExecutionManager
    from processing.settings import ProcessingSettings

    db = Database(dsn)
    db.open()
    try:
        manager = ExecutionManager(
            db=db,
            settings=ProcessingSettings(),
            dsn=dsn,
            home=CatalogSettings().home,
            object_store=LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects"),
            store_settings=None,
        )  # type: ignore[arg-type]
        from processing.errors import InvalidInput

        ok = manager.resolve_items(
            {"ids": [f"{PUBLIC}-item"], "collection": PUBLIC}, "http://x/stac", {PUBLIC}
        )
        assert len(ok) == 1
        for inputs in (
            {"ids": [f"{PRIVATE}-item"], "collection": PRIVATE},
            {"items": ["/etc/passwd"]},
            {"items": ["http://evil.example/a.json"]},
        ):
            with pytest.raises(InvalidInput):
                manager.resolve_items(inputs, "http://x/stac", {PUBLIC})
        found = manager.resolve_items(
            {"search": {"collections": [PRIVATE, PUBLIC]}}, "http://x/stac", {PUBLIC}
        )
        assert all(PRIVATE not in ref for ref in found) and found
    finally:
        db.close()


def test_a_job_cannot_read_another_collection_through_an_own_item(secured: Secured) -> None:
    """editor2's own item naming the private collection's COG cannot be processed by editor2
    (its outputs would carry the private pixels); the same job over its own data runs."""
    from tests.access.conftest import collection

    cid = "acc-e2-jobs"
    httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("admin"))
    assert secured.post("editor2", "/stac/collections", collection(cid)).status_code in (200, 201)
    for iid, href in ((f"{cid}-sneaky", secured.hrefs[PRIVATE]),
                      (f"{cid}-public", secured.hrefs[PUBLIC])):
        r = secured.post("editor2", f"/stac/collections/{cid}/items", item(cid, iid, href=href))
        assert r.status_code == 201, r.text
    wf = {"id": "acc-e2-pass",
          "definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}
    assert secured.post("editor2", "/workflows", wf).status_code in (201, 409)
    r = secured.post("editor2", "/processes/acc-e2-pass/execution",
                     {"inputs": {"collection": cid, "ids": [f"{cid}-sneaky"]}})
    assert r.status_code == 400, r.text
    assert "cannot read" in r.text and secured.hrefs[PRIVATE] not in r.text
    # An asset in a public collection's objects is readable by everyone: allowed.
    r = secured.post("editor2", "/processes/acc-e2-pass/execution",
                     {"inputs": {"collection": cid, "ids": [f"{cid}-public"]}})
    assert r.status_code == 201, r.text


# -- rate limits, CORS, errors ---------------------------------------------------------------


def test_search_registration_is_rate_limited(secured: Secured) -> None:
    statuses = []
    for i in range(8):
        r = secured.post(
            "editor2", "/tiles/searches/register", {"collections": [PUBLIC], "limit": i + 1}
        )
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["retry-after"]) > 0
            assert not NO_TRACE.search(r.text)
    assert 429 in statuses and statuses[0] == 200
    # Another key has its own budget.
    assert (
        secured.post("viewer", "/tiles/searches/register", {"collections": [PUBLIC]}).status_code
        == 200
    )


def test_postgres_rate_limits_are_one_budget_across_processes(dsn: str) -> None:
    """Two limiters on the catalog database (two server processes) share each caller's budget;
    another caller and another bucket have their own; the window ends and it starts again."""
    import uuid

    from catalog.access import AccessRecords
    from catalog.access.middleware import PostgresRateLimiter

    store = AccessRecords(dsn, pooled=False)
    first = PostgresRateLimiter(store, {"register": 3}, window_s=2)
    second = PostgresRateLimiter(store, {"register": 3}, window_s=2)
    caller = f"key:{uuid.uuid4().hex[:8]}"
    got = [limiter.hit("register", caller) for limiter in (first, second, first)]
    assert got == [None, None, None]
    wait = second.hit("register", caller)
    assert wait is not None and 1 <= wait <= 2
    assert first.hit("register", caller + "x") is None
    assert first.hit("mosaic", caller) is None  # no limit configured for that bucket
    # The window ends: the counters run on the database's clock, so move the window's start
    # back by a whole window instead of sleeping through it.
    with store.connection() as conn:
        conn.execute(
            "UPDATE stacworks.access_rate_counters SET window_start = window_start"
            " - interval '2 seconds' WHERE caller = %s",
            (caller,),
        )
    assert second.hit("register", caller) is None


def test_server_with_postgres_rate_store(stacworks_env: dict[str, str]) -> None:
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true", "STACWORKS_AUTH_RATE_STORE":
           "postgres", "STACWORKS_AUTH_RATE_REGISTER": "2"}
    with serve(env) as base:
        statuses = [httpx.post(f"{base}/tiles/searches/register",
                               json={"collections": [PUBLIC]}, timeout=30)
                    for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) > 0


def test_anonymous_rate_limits_cannot_be_dodged_with_forwarded_headers(
    stacworks_env: dict[str, str],
) -> None:
    """Anonymous callers are counted by address; X-Forwarded-For is only believed from
    ``STACWORKS_AUTH_TRUSTED_PROXIES`` (here: nobody), so a client cannot name a new one."""
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true",
           "STACWORKS_AUTH_RATE_REGISTER": "3", "STACWORKS_AUTH_TRUSTED_PROXIES": "192.0.2.1"}
    with serve(env) as base:
        statuses = [
            httpx.post(f"{base}/tiles/searches/register", json={"collections": [PUBLIC]},
                       headers={"X-Forwarded-For": f"198.51.100.{i}"}, timeout=30).status_code
            for i in range(5)
        ]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429], statuses


@pytest.mark.parametrize(
    "path", ["/stac/collections", "/tiles/WMTSCapabilities.xml", "/jobs", "/admin/whoami"]
)
def test_cors_never_allows_credentials_with_wildcard(secured: Secured, path: str) -> None:
    pre = httpx.options(
        secured.base + path,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.headers.get("access-control-allow-credentials") != "true"
    r = httpx.get(
        secured.base + path, headers={"Origin": "https://evil.example", **secured.headers("admin")}
    )
    if r.headers.get("access-control-allow-origin") in ("*", "https://evil.example"):
        assert r.headers.get("access-control-allow-credentials") != "true"


def test_credentialed_tiles_are_never_shared_by_caches(secured: Secured) -> None:
    r = secured.get(
        "editor", f"/tiles/collections/{PRIVATE}/WebMercatorQuad/tilejson.json?assets=data"
    )
    assert r.status_code == 200
    assert "public" not in r.headers.get("cache-control", "")
    assert "authorization" in r.headers.get("vary", "").lower()


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_error_bodies_carry_no_stack_traces(secured: Secured, who: str) -> None:
    for method, path, body in (
        ("GET", "/stac/search?bbox=1,2,3", None),
        ("POST", "/stac/search", {"filter": {"op": "nope"}}),
        ("GET", "/stac/collections/%00", None),
        ("GET", "/tiles/collections/acc-public/items/nope/info", None),
        ("GET", f"/tiles/collections/{PUBLIC}/tiles/WebMercatorQuad/99/0/0.png", None),
        ("POST", "/admin/keys", {"role": 3}),
        ("POST", "/admin/shares", {"collection": None}),
        ("GET", "/jobs/../../etc/passwd", None),
        ("POST", "/processes/nope/execution", [1, 2]),
    ):
        r = httpx.request(
            method, secured.base + path, headers=secured.headers(who), json=body, timeout=30
        )
        assert r.status_code < 500 or r.status_code == 503, (method, path, r.text[:200])
        assert not NO_TRACE.search(r.text), (method, path, r.text[:300])


def test_oidc_principal_gets_its_grants(secured: Secured) -> None:
    token = secured.oidc.token("alice", "viewer")  # type: ignore[union-attr]
    r = httpx.get(
        f"{secured.base}/stac/collections/{PRIVATE}", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    r = httpx.get(
        f"{secured.base}/stac/collections/{PRIVATE}",
        headers={"Authorization": f"Bearer {secured.oidc.token('bob', 'viewer')}"},
    )
    assert r.status_code == 404


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

    from catalog.access import AccessRecords

    key = AccessRecords(dsn, pooled=False).create_key("register-400", "viewer")["token"]
    r = httpx.post(f"{secured.base}/tiles/searches/register", json=body,
                   headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 400, r.text
    assert "invalid parameter" in r.json()["detail"]
    assert "Backend" not in r.text and "Traceback" not in r.text


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/admin/keys", {"name": "a\u0000b", "role": "viewer"}, "name"),
        ("POST", "/admin/keys", {"name": "a\ud800b", "role": "viewer"}, "name"),
        ("POST", "/admin/grants", {"principal": "x\u0000", "collection": PUBLIC,
                                   "permission": "read"}, "principal"),
        ("GET", "/jobs?offset=66868732399839855960391680", None, "offset"),
        ("POST", "/workflows", {"id": "nul\u0000", "definition": {}}, "id"),
        ("GET", "/ingest/runs?source=%00", None, "source"),
        ("GET", "/workflows/any?version=-549755813888", None, "version"),
        ("GET", "/workflows/any/asl?version=762315535664", None, "version"),
        ("POST", "/workflows/any/duplicate", {"id": "copy", "version": 2**40}, "version"),
    ],
)
def test_values_postgresql_cannot_store_are_400s(
    secured: Secured, method: str, path: str, body: object, field: str
) -> None:
    """NUL and lone surrogates (which PostgreSQL refuses), and integers past its range, are a
    400 naming the field in every service, never a 500."""
    content = None
    if body is not None:
        import json

        content = json.dumps(body).encode()  # keeps "\ud800" escaped, as a client would send
    r = httpx.request(method, secured.base + path, content=content,
                      headers={**secured.headers("admin"), "Content-Type": "application/json"},
                      timeout=30)
    assert r.status_code in (400, 422), (path, r.status_code, r.text)
    assert field in r.text, r.text
    assert not NO_TRACE.search(r.text)


def test_a_collection_recreated_by_ingest_does_not_inherit_old_rights(
    secured: Secured, dsn: str
) -> None:
    """Rights belong to a collection, not to its id: one deleted and made again (here by an
    ingest worker) starts private, without the old grants, visibility or share links."""
    from ingest.register import register_item
    from tests.access.conftest import collection

    cid = "acc-stale"
    httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("admin"))
    assert secured.post("editor", "/stac/collections", collection(cid)).status_code in (200, 201)
    assert httpx.put(f"{secured.base}/admin/collections/{cid}/visibility",
                     json={"visibility": "public"}, headers=secured.headers("editor"),
                     timeout=30).status_code == 200
    grant = {"principal": secured.principals["viewer"], "collection": cid, "permission": "read"}
    assert secured.post("editor", "/admin/grants", grant).status_code == 201
    share = secured.post("editor", "/admin/shares", {"collection": cid}).json()["token"]
    assert secured.get("anonymous", f"/stac/collections/{cid}").status_code == 200
    r = httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("editor"))
    assert r.status_code in (200, 204), r.text

    register_item(dsn, item(cid, f"{cid}-ingested"), collection(cid))
    for who in ("anonymous", "viewer", "editor"):
        assert secured.get(who, f"/stac/collections/{cid}").status_code == 404, who
    assert httpx.get(f"{secured.base}/stac/collections/{cid}",
                     params={"token": share}).status_code in (401, 404)
    assert secured.get("admin", f"/stac/collections/{cid}/items/{cid}-ingested").status_code == 200


def test_an_item_cannot_point_tiles_into_a_collection_its_reader_cannot_read(
    secured: Secured,
) -> None:
    """editor2 may not read the private collection; an item of its own naming the private
    collection's COG renders nothing for it (or anyone who cannot read that collection)."""
    from tests.access.conftest import collection

    cid = "acc-e2-own"
    httpx.delete(f"{secured.base}/stac/collections/{cid}", headers=secured.headers("admin"))
    assert secured.post("editor2", "/stac/collections", collection(cid)).status_code in (200, 201)
    sneaky = item(cid, f"{cid}-sneaky", href=secured.hrefs[PRIVATE])
    assert secured.post("editor2", f"/stac/collections/{cid}/items", sneaky).status_code == 201
    base = f"/tiles/collections/{cid}/items/{cid}-sneaky"
    for path in (f"{base}/tiles/WebMercatorQuad/8/135/96.png", f"{base}/point/10.5,40.5",
                 f"{base}/preview.png", f"{base}/statistics",
                 f"/tiles/collections/{cid}/tiles/WebMercatorQuad/8/135/96.png"):
        r = secured.get("editor2", path, params={"assets": "data"})
        assert r.status_code in (204, 404), (path, r.status_code)
        assert r.content[:4] != b"\x89PNG"
    # The owner of the private collection, who can read it, sees the pixels through the item.
    httpx.put(f"{secured.base}/admin/collections/{cid}/visibility", json={"visibility": "public"},
              headers=secured.headers("editor2"), timeout=30)
    r = secured.get("editor", f"{base}/tiles/WebMercatorQuad/8/135/96.png",
                    params={"assets": "data"})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    r = secured.get("anonymous", f"{base}/tiles/WebMercatorQuad/8/135/96.png",
                    params={"assets": "data"})
    assert r.status_code == 404
