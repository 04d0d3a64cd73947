"""Every route of every service, against every principal and every kind of collection.

The table below names, for each operation in the OpenAPI documents of the STAC API, the tiles,
the jobs API, ingest, the access API and asset downloads, the rule it follows. The first test
fails when a route exists that the table does not classify (or the table names one that is
gone), so a new route cannot ship without an access rule. Each route's test then calls it as
anonymous, a viewer, an editor, another editor, an admin, a share-link holder and an OIDC
subject, on the public, the private and the shared collection (routes naming a collection or a
search), and asserts the exact status each gets: the model's table, written as an attacker
would check it (404 not 403 for what one may not see, 401 for writes without credentials).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.access.conftest import (
    COLLECTIONS,
    PRIVATE,
    PUBLIC,
    SHARED,
    Secured,
    collection,
    item,
)
from tests.access.test_access import NO_TRACE, PRINCIPALS, SEES, WRITES

#: service -> (its OpenAPI document, the prefix its paths are served under)
DOCUMENTS = {
    "stac": ("/stac/api", "/stac"),
    "tiles": ("/tiles/api", "/tiles"),
    "jobs": ("/processes/openapi.json", ""),
    "ingest": ("/ingest/openapi.json", "/ingest"),
    "admin": ("/admin/api", "/admin"),
    "assets": ("/assets/api", "/assets"),
}
ROLE = {"anonymous": None, "share": None, "viewer": "viewer", "oidc": "viewer",
        "editor": "editor", "editor2": "editor", "admin": "admin"}
RANK = {None: 0, "viewer": 1, "editor": 2, "admin": 3}
#: The owner of the private and shared collections (and of the jobs and shares below).
OWNER = "editor"
WORKFLOW = "acc-pass"
FEATURE = {
    "type": "Feature",
    "properties": {},
    "geometry": {"type": "Polygon", "coordinates": [
        [[10.2, 40.2], [10.8, 40.2], [10.8, 40.8], [10.2, 40.8], [10.2, 40.2]]]},
}


# -- the rules ----------------------------------------------------------------------------------

Expect = Callable[[str, str | None], int | set[int]]


def open_(ok: int | set[int] = 200) -> Expect:
    """Anyone, with or without credentials (lists and searches filter what they show)."""
    return lambda who, cid: ok


def read(ok: int | set[int] = 200) -> Expect:
    """Read of one collection (or its items, tiles, assets): 404 when one may not see it."""
    return lambda who, cid: ok if cid in SEES[who] else 404


def write(ok: int) -> Expect:
    """A transaction on one collection: the WRITES table, with this route's success status."""
    return lambda who, cid: ok if WRITES[who][cid] == 201 else WRITES[who][cid]  # type: ignore[index]


def role(least: str, ok: int | set[int] = 200) -> Expect:
    """Needs a key with at least this role: 401 without one (a share link is not a key)."""

    def expect(who: str, cid: str | None) -> int | set[int]:
        if ROLE[who] is None:
            return 401
        return ok if RANK[ROLE[who]] >= RANK[least] else 403

    return expect


def owner_or_admin(ok: int | set[int] = 200, others: int = 404) -> Expect:
    """Something one key owns: its owner and admins; other keys get ``others`` (404 for a job
    or a share link: no oracle; 403 to change a workflow every key may read), no key 401."""

    def expect(who: str, cid: str | None) -> int | set[int]:
        if ROLE[who] is None:
            return 401
        return ok if who in (OWNER, "admin") else others

    return expect


def job_start(ok: int, least: str = "editor") -> Expect:
    """A job over one collection's items: the role, then items the caller cannot read are
    unknown input (400 naming them, the same as ids that do not exist)."""
    gate = role(least, ok)

    def expect(who: str, cid: str | None) -> int | set[int]:
        status = gate(who, cid)
        return 400 if status == ok and cid not in SEES[who] else status

    return expect


def collection_writer(ok: int | set[int] = 200) -> Expect:
    """The access API's collection routes: 404 hidden, 403 visible but not writable."""

    def expect(who: str, cid: str | None) -> int | set[int]:
        if ROLE[who] is None:
            return 401
        if cid not in SEES[who]:
            return 404
        return ok if WRITES[who][cid] == 201 else 403  # type: ignore[index]

    return expect


@dataclass
class Route:
    expect: Expect
    #: the request body (a function of the collection and principal), if any
    body: Callable[[str | None, str], Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: which collection the call names: per collection, or none
    per_collection: bool = True
    #: run before each call (re-creates what a destructive call removes); returns fill values
    setup: Callable[[Secured, str | None, str], dict[str, str]] | None = None


TILE = {"assets": "data"}


#: collection -> href of its COG (set by the ``ctx`` fixture): items written here are real
#: data, so the collection mosaics keep rendering.
HREFS: dict[str, str] = {}


def _item(cid: str | None, iid: str) -> dict[str, Any]:
    assert cid is not None
    return item(cid, iid, href=HREFS[cid])


def _body_item(cid: str | None, who: str) -> dict[str, Any]:
    return _item(cid, f"{cid}-rt-{who}")


def _feature(cid: str | None, who: str) -> dict[str, Any]:
    return FEATURE


def _scratch_item(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    assert cid is not None
    s.post("admin", f"/stac/collections/{cid}/items", _item(cid, f"{cid}-scratch"))
    return {"item_id": f"{cid}-scratch"}


def _replica(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    """A copy of ``cid`` (same owner, visibility and grants) for a call that deletes it."""
    assert cid is not None
    copy = f"{cid}-copy"
    httpx.delete(f"{s.base}/stac/collections/{copy}", headers=s.headers("admin"), timeout=30)
    owner = "admin" if cid == PUBLIC else OWNER
    r = s.post(owner, "/stac/collections", collection(copy))
    assert r.status_code in (200, 201), r.text
    if cid == PUBLIC:
        r = httpx.put(f"{s.base}/admin/collections/{copy}/visibility",
                      json={"visibility": "public"}, headers=s.headers("admin"), timeout=30)
        assert r.status_code == 200, r.text
    if cid == SHARED:
        for principal in (s.principals["viewer"],):
            s.post(OWNER, "/admin/grants",
                   {"principal": principal, "collection": copy, "permission": "read"})
    if cid == PRIVATE:
        s.post(OWNER, "/admin/grants",
               {"principal": "oidc:alice", "collection": copy, "permission": "read"})
    return {"collection_id": copy}


def _scratch_job(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    return {"job_id": _start_job(s)}


def _scratch_workflow(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    wid = f"acc-scratch-{who}"
    s.post(OWNER, "/workflows", {"id": wid, "definition": PASS})
    return {"workflow_id": wid}


def _scratch_algorithm(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    name = f"acc-scratch-{who}"
    s.post("admin", "/algorithms", _algorithm(name))
    return {"name": name}


def _scratch_key(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    return {"key_id": s.post("admin", "/admin/keys", {"name": "scratch", "role": "viewer"})
            .json()["id"]}


def _scratch_share(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    r = s.post(OWNER, "/admin/shares", {"collection": SHARED, "expires_in_hours": 1})
    return {"share_id": r.json()["id"]}


def _grant_params(s: Secured, cid: str | None, who: str) -> dict[str, str]:
    """DELETE /admin/grants names a grant; re-create it first (an allowed call removes it)."""
    assert cid is not None
    principal = "oidc:rt-grantee"  # nobody in the table: the grant changes no one's view
    s.post("admin", "/admin/grants", {"principal": principal, "collection": cid,
                                      "permission": "read"})
    return {"?principal": principal, "?collection": cid}


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _algorithm(name: str) -> dict[str, Any]:
    return {"name": name, "version": "1.0.0", "cpu": 256, "memory": 512,
            "local_command": ["/bin/true"], "parameters": {"type": "object"},
            "typical_duration_seconds": 1}


def _inputs(cid: str | None, who: str) -> dict[str, Any]:
    return {"inputs": {"collection": cid, "ids": [f"{cid}-item"]}}


def _start_job(s: Secured) -> str:
    r = s.post(OWNER, f"/processes/{WORKFLOW}/execution", _inputs(PUBLIC, OWNER))
    assert r.status_code == 201, r.text
    return str(r.json()["jobID"])


def owned_change(ok: int) -> Expect:
    """Changing a trigger or webhook: an editor's work (viewers 403), then its owner's and
    admins' (another editor learns nothing: 404)."""

    def expect(who: str, cid: str | None) -> int | set[int]:
        if ROLE[who] is None:
            return 401
        if RANK[ROLE[who]] < RANK["editor"]:
            return 403
        return ok if who in (OWNER, "admin") else 404

    return expect


#: A cron that fires on 29 February only: the servers' trigger loops leave these alone.
NEVER = "0 0 29 2 *"
_TRIGGERS: dict[str, str] = {}


def _trigger_body(kind: str) -> Callable[[str | None, str], dict[str, Any]]:
    def body(cid: str | None, who: str) -> dict[str, Any]:
        if kind == "schedule":
            return {"workflow_id": WORKFLOW, "cron": NEVER, **_inputs(cid, who)}
        if kind == "subscription":
            return {"collection": cid, "cron": NEVER, "workflow_id": WORKFLOW,
                    "search": {"filter": "eo:cloud_cover < 20"}}
        return {"collection": cid, "workflow_id": WORKFLOW}
    return body


def _owned(kind: str, fresh: bool = False) -> Callable[[Secured, str | None, str],
                                                       dict[str, str]]:
    """The owner's schedule, subscription or webhook (made once; ``fresh``: for each call
    that deletes it)."""

    def setup(s: Secured, cid: str | None, who: str) -> dict[str, str]:
        if fresh or kind not in _TRIGGERS:
            if kind == "webhook":
                r = s.post(OWNER, "/triggers/webhooks", {"url": "http://127.0.0.1:9/rt"})
            else:
                r = s.post(OWNER, f"/triggers/{kind}s", _trigger_body(kind)(PUBLIC, OWNER))
            assert r.status_code == 201, r.text
            if fresh:
                return {f"{'webhook' if kind == 'webhook' else 'trigger'}_id": r.json()["id"]}
            _TRIGGERS[kind] = r.json()["id"]
        return {f"{'webhook' if kind == 'webhook' else 'trigger'}_id": _TRIGGERS[kind]}

    return setup


def read_or(hidden: int, ok: int = 200) -> Expect:
    """A read whose refusal is not a 404 (WMS: an OGC exception for an unknown layer)."""
    return lambda who, cid: ok if cid in SEES[who] else hidden


WMS_GETMAP = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0",
              "LAYERS": "{collection_id}", "STYLES": "", "CRS": "EPSG:4326",
              "BBOX": "40.1,10.1,40.9,10.9", "WIDTH": "64", "HEIGHT": "64",
              "FORMAT": "image/png"}
T_READ = Route(read(), params=TILE)
T_READ_204 = Route(read({200, 204}), params=TILE)  # a mosaic tile with no data is a 204
T_FEATURE = Route(read(), body=_feature, params=TILE)
T_SEARCH = Route(read(), params=TILE)  # searches: see search_routes below
T_OPEN = Route(open_(), per_collection=False)


def _collection_create(cid: str | None, who: str) -> dict[str, Any]:
    return collection(f"acc-rt-new-{who}")


ROUTES: dict[str, Route] = {
    # -- STAC API --
    "GET /stac/": T_OPEN,
    "GET /stac/conformance": T_OPEN,
    "GET /stac/queryables": T_OPEN,
    "GET /stac/_mgmt/ping": T_OPEN,
    "GET /stac/_mgmt/health": T_OPEN,
    "GET /stac/search": T_OPEN,  # filtered: test_lists_and_searches_show_exactly_what_is_readable
    "POST /stac/search": Route(open_(), body=lambda c, w: {"limit": 1}, per_collection=False),
    "GET /stac/collections": T_OPEN,
    "POST /stac/collections": Route(role("editor", 201), body=_collection_create,
                                    per_collection=False),
    "GET /stac/collections/{collection_id}": Route(read()),
    "PUT /stac/collections/{collection_id}": Route(write(200), body=lambda c, w: collection(c)),
    "PATCH /stac/collections/{collection_id}": Route(write(200),
                                                     body=lambda c, w: {"description": c}),
    "DELETE /stac/collections/{collection_id}": Route(write(200), setup=_replica),
    "GET /stac/collections/{collection_id}/items": Route(read()),
    "POST /stac/collections/{collection_id}/items": Route(write(201), body=_body_item),
    "POST /stac/collections/{collection_id}/bulk_items": Route(
        write(200), body=lambda c, w: {"items": {f"{c}-bulk-{w}": _item(c, f"{c}-bulk-{w}")},
                                       "method": "upsert"}),
    "GET /stac/collections/{collection_id}/items/{item_id}": Route(read()),
    "PUT /stac/collections/{collection_id}/items/{item_id}": Route(
        write(204), setup=_scratch_item, body=lambda c, w: _item(c, f"{c}-scratch")),
    "PATCH /stac/collections/{collection_id}/items/{item_id}": Route(
        write(204), setup=_scratch_item, body=lambda c, w: {"properties": {"title": "patched"}}),
    "DELETE /stac/collections/{collection_id}/items/{item_id}": Route(write(204),
                                                                       setup=_scratch_item),
    "GET /stac/collections/{collection_id}/queryables": Route(read()),
    # -- tiles: landing, catalogue-wide documents, registries --
    "GET /tiles/": T_OPEN,
    "GET /tiles/healthz": T_OPEN,
    "GET /tiles/WMTSCapabilities.xml": T_OPEN,  # filtered: test_catalog_wmts_lists_only_visible
    # WMS GetMap of one collection: a layer one may not see is an unknown layer (OGC's 400).
    "GET /tiles/wms": Route(read_or(400), params=WMS_GETMAP),
    "GET /tiles/tileMatrixSets": T_OPEN,
    "GET /tiles/tileMatrixSets/{tileMatrixSetId}": T_OPEN,
    "GET /tiles/colorMaps": T_OPEN,
    "GET /tiles/colorMaps/{colorMapId}": T_OPEN,
    "GET /tiles/algorithms": T_OPEN,
    "GET /tiles/algorithms/{algorithmId}": T_OPEN,
    # Rate-limited (5 an hour here): test_search_registration_is_rate_limited spends some
    # principals' budgets first, so a 429 is as right as a 200.
    "POST /tiles/searches/register": Route(open_({200, 429}), per_collection=False,
                                           body=lambda c, w: {"collections": [PUBLIC]}),
    "GET /tiles/searches/": Route(role("admin"), per_collection=False),
    "GET /tiles/searches/list": Route(role("admin"), per_collection=False),
    # -- access API --
    "GET /admin/whoami": Route(open_(), per_collection=False),
    "GET /admin/keys": Route(role("admin"), per_collection=False),
    "POST /admin/keys": Route(role("admin", 201), per_collection=False,
                              body=lambda c, w: {"name": f"rt-{w}", "role": "viewer"}),
    "DELETE /admin/keys/{key_id}": Route(role("admin", 204), per_collection=False,
                                         setup=_scratch_key),
    "GET /admin/collections/{collection_id}/visibility": Route(read()),
    "PUT /admin/collections/{collection_id}/visibility": Route(
        collection_writer(), body=lambda c, w: {"visibility": "public" if c == PUBLIC
                                                else "private"}),
    "GET /admin/grants": Route(collection_writer(), params={"collection": "{collection_id}"}),
    "POST /admin/grants": Route(collection_writer(201), body=lambda c, w: {
        "principal": "oidc:rt-nobody", "collection": c, "permission": "read"}),
    "DELETE /admin/grants": Route(collection_writer(204), setup=_grant_params),
    "GET /admin/shares": Route(role("viewer"), per_collection=False),
    "POST /admin/shares": Route(collection_writer(201), body=lambda c, w: {
        "collection": c, "expires_in_hours": 1}),
    # Revoking a share: its creator and admins; anyone else learns nothing (404).
    "DELETE /admin/shares/{share_id}": Route(owner_or_admin(204), per_collection=False,
                                             setup=_scratch_share),
    # -- assets --
    "GET /assets/{collection}/{item_id}/{asset_key}": Route(read()),
    # -- ingest: an admin's work (runs name every source and collection) --
    "GET /ingest/runs": Route(role("admin"), per_collection=False),
    "POST /ingest/runs": Route(role("admin", {400, 422}), per_collection=False,
                               body=lambda c, w: {"source": "no-such-source"}),
    "GET /ingest/runs/{run_id}": Route(role("admin", 404), per_collection=False),
    # -- jobs API --
    "GET /processes": Route(role("viewer"), per_collection=False),
    "GET /processes/{process_id}": Route(role("viewer"), per_collection=False),
    # Jobs read only what their owner may read.
    "POST /processes/{process_id}/execution": Route(job_start(201), body=_inputs),
    "POST /processes/{process_id}/estimate": Route(job_start(200, "viewer"), body=_inputs),
    "GET /jobs": Route(role("viewer"), per_collection=False),
    "GET /jobs/{job_id}": Route(owner_or_admin(), per_collection=False),
    "DELETE /jobs/{job_id}": Route(owner_or_admin(), per_collection=False, setup=_scratch_job),
    "GET /jobs/{job_id}/results": Route(owner_or_admin(), per_collection=False),
    "GET /jobs/{job_id}/history": Route(owner_or_admin(), per_collection=False),
    "GET /jobs/{job_id}/logs": Route(owner_or_admin(), per_collection=False),
    "GET /workflows": Route(role("viewer"), per_collection=False),
    "POST /workflows": Route(role("editor", 201), per_collection=False,
                             body=lambda c, w: {"id": f"acc-rt-{w}", "definition": PASS}),
    "POST /workflows/import": Route(role("editor", 201), per_collection=False,
                                    params={"id": "acc-rt-imp-{who}"}, body=lambda c, w: PASS),
    "POST /workflows/validate": Route(role("viewer"), per_collection=False,
                                      body=lambda c, w: PASS),
    "GET /workflows/{workflow_id}": Route(role("viewer"), per_collection=False),
    "PUT /workflows/{workflow_id}": Route(owner_or_admin(others=403), per_collection=False,
                                          body=lambda c, w: {"id": WORKFLOW, "definition": PASS}),
    "DELETE /workflows/{workflow_id}": Route(owner_or_admin(204, 403), per_collection=False,
                                             setup=_scratch_workflow),
    "GET /workflows/{workflow_id}/versions": Route(role("viewer"), per_collection=False),
    "POST /workflows/{workflow_id}/duplicate": Route(
        role("editor", 201), per_collection=False, body=lambda c, w: {"id": f"acc-rt-dup-{w}"}),
    "GET /workflows/{workflow_id}/asl": Route(role("viewer"), per_collection=False),
    "GET /algorithms": Route(role("viewer"), per_collection=False),
    "POST /algorithms": Route(role("admin", 201), per_collection=False,
                              body=lambda c, w: _algorithm(f"acc-rt-{w}")),
    "GET /algorithms/{name}": Route(role("viewer"), per_collection=False),
    "DELETE /algorithms/{name}": Route(role("admin", 204), per_collection=False,
                                       setup=_scratch_algorithm),
    "GET /algorithms/{name}/versions": Route(role("viewer"), per_collection=False),
    # -- triggers: an editor's; each trigger and webhook its owner's and admins' --
    "GET /triggers": Route(role("viewer"), per_collection=False),
    # A trigger reads only what its owner may read: unknown collections are a 400, as for jobs.
    "POST /triggers/schedules": Route(job_start(201), body=_trigger_body("schedule")),
    "POST /triggers/subscriptions": Route(job_start(201), body=_trigger_body("subscription")),
    "POST /triggers/watches": Route(job_start(201), body=_trigger_body("watch")),
    "GET /triggers/{trigger_id}": Route(owner_or_admin(), per_collection=False,
                                        setup=_owned("schedule")),
    "DELETE /triggers/{trigger_id}": Route(owned_change(204), per_collection=False,
                                           setup=_owned("schedule", fresh=True)),
    "POST /triggers/{trigger_id}/pause": Route(owned_change(200), per_collection=False,
                                               setup=_owned("schedule")),
    "POST /triggers/{trigger_id}/resume": Route(owned_change(200), per_collection=False,
                                                setup=_owned("schedule")),
    "GET /triggers/{trigger_id}/firings": Route(owner_or_admin(), per_collection=False,
                                                setup=_owned("schedule")),
    "GET /triggers/{trigger_id}/products": Route(owner_or_admin(), per_collection=False,
                                                 setup=_owned("subscription")),
    "GET /triggers/webhooks": Route(role("viewer"), per_collection=False),
    "POST /triggers/webhooks": Route(role("editor", 201), per_collection=False,
                                     body=lambda c, w: {"url": "http://127.0.0.1:9/rt",
                                                        "events": ["job.failed"]}),
    "DELETE /triggers/webhooks/{webhook_id}": Route(owned_change(204), per_collection=False,
                                                    setup=_owned("webhook", fresh=True)),
    "GET /triggers/webhooks/{webhook_id}/deliveries": Route(owner_or_admin(),
                                                            per_collection=False,
                                                            setup=_owned("webhook")),
    # Budgets: anyone may see a workflow's; its owner and admins set them.
    "GET /triggers/budgets/{workflow_id}": Route(role("viewer"), per_collection=False),
    "PUT /triggers/budgets/{workflow_id}": Route(owner_or_admin(others=403), per_collection=False,
                                                 body=lambda c, w: {"soft_usd": 100,
                                                                    "hard_usd": 1000}),
    "DELETE /triggers/budgets/{workflow_id}": Route(owner_or_admin(204, 403),
                                                    per_collection=False),
}


def _tile_routes() -> Iterator[tuple[str, Route]]:
    """The tiler's per-collection, per-item and per-search routes: every one is a read."""
    for scope in ("/collections/{collection_id}", "/collections/{collection_id}/items/{item_id}",
                  "/searches/{search_id}"):
        item_only = "items" in scope
        gets = [
            "/tiles", "/tiles/{tileMatrixSetId}", "/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}",
            "/tiles/{tileMatrixSetId}/{z}/{x}/{y}", "/{tileMatrixSetId}/map.html",
            "/{tileMatrixSetId}/tilejson.json", "/point/{lon},{lat}",
            "/bbox/{minx},{miny},{maxx},{maxy}/{width}x{height}.{format}",
            "/bbox/{minx},{miny},{maxx},{maxy}.{format}", "/WMTSCapabilities.xml",
        ]
        posts = ["/feature/{width}x{height}.{format}", "/feature.{format}", "/feature"]
        if item_only:
            gets += ["/info", "/info.geojson", "/assets", "/asset_statistics", "/statistics",
                     "/preview/{width}x{height}.{format}", "/preview.{format}", "/preview",
                     "/renders", "/renders/{render_id}"]
            posts += ["/statistics"]
        else:
            gets += ["/bbox/{minx},{miny},{maxx},{maxy}/assets", "/point/{lon},{lat}/assets",
                     "/tiles/{tileMatrixSetId}/{z}/{x}/{y}/assets", "/info"]
            posts += ["/statistics"]
        for suffix in gets:
            route = T_SEARCH if scope.startswith("/searches") else T_READ
            if not item_only and "{z}" in suffix and "assets" not in suffix:
                route = T_READ_204
            yield f"GET /tiles{scope}{suffix}", route
        for suffix in posts:
            yield f"POST /tiles{scope}{suffix}", T_FEATURE


ROUTES.update(dict(_tile_routes()))


# -- filling in a call ----------------------------------------------------------------------


@dataclass
class Context:
    secured: Secured
    searches: dict[str, str]
    job: str
    run: str = "0"


def _values(ctx: Context, cid: str | None) -> dict[str, str]:
    # The tile at zoom 8 over (10.5, 40.5), inside every item's footprint.
    values = {"tileMatrixSetId": "WebMercatorQuad", "z": "8", "x": "135", "y": "96",
              "minx": "10.1", "miny": "40.1", "maxx": "10.9", "maxy": "40.9",
              "lon": "10.5", "lat": "40.5", "format": "png", "width": "64", "height": "64",
              "colorMapId": "viridis", "algorithmId": "hillshade", "render_id": "rgb",
              "process_id": WORKFLOW, "workflow_id": WORKFLOW, "name": "acc-algo",
              "job_id": ctx.job, "run_id": ctx.run, "key_id": "none", "share_id": "none"}
    if cid is not None:
        values.update({"collection_id": cid, "collection": cid, "item_id": f"{cid}-item",
                       "asset_key": "data", "search_id": ctx.searches[cid]})
    return values


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], template)


def call(ctx: Context, key: str, route: Route, who: str, cid: str | None) -> httpx.Response:
    s = ctx.secured
    method, template = key.split(" ", 1)
    values = {**_values(ctx, cid), "who": who}
    if route.setup is not None:
        values.update(route.setup(s, cid, who))
    params = {k: _fill(v, values) for k, v in route.params.items()}
    params.update({k[1:]: v for k, v in values.items() if k.startswith("?")})
    body = route.body(cid, who) if route.body else None
    return httpx.request(method, s.base + _fill(template, values), params=params,
                         json=body, headers=s.headers(who), timeout=60)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(secured: Secured) -> Context:
    HREFS.update(secured.hrefs)
    searches = {}
    for cid in COLLECTIONS:
        r = secured.post("admin", "/tiles/searches/register", {"collections": [cid]})
        assert r.status_code == 200, r.text
        searches[cid] = r.json()["id"]
    for doc in (_algorithm("acc-algo"),):
        r = secured.post("admin", "/algorithms", doc)
        assert r.status_code in (201, 409), r.text
    r = secured.post(OWNER, "/workflows", {"id": WORKFLOW, "definition": PASS})
    assert r.status_code in (201, 409), r.text
    return Context(secured=secured, searches=searches, job=_start_job(secured))


def test_every_route_has_a_rule(secured: Secured) -> None:
    documented = set()
    for _service, (doc_path, prefix) in DOCUMENTS.items():
        doc = secured.get("admin", doc_path).json()
        for path, ops in doc["paths"].items():
            for method in ops:
                if method in ("get", "post", "put", "patch", "delete"):
                    documented.add(f"{method.upper()} {prefix}{path}")
    assert documented - set(ROUTES) == set(), "routes without an access rule"
    assert set(ROUTES) - documented == set(), "rules for routes that do not exist"


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_route(ctx: Context, key: str) -> None:
    route = ROUTES[key]
    cids: tuple[str | None, ...] = COLLECTIONS if route.per_collection else (None,)
    wrong = []
    for who, cid in itertools.product(PRINCIPALS, cids):
        expected = route.expect(who, cid)
        r = call(ctx, key, route, who, cid)
        allowed = expected if isinstance(expected, set) else {expected}
        if r.status_code not in allowed:
            wrong.append(f"{who:9} {cid or '-':12} got {r.status_code} want {expected}: "
                         f"{r.text[:160]!r}")
        assert r.status_code < 500, (key, who, cid, r.text[:300])
        assert not NO_TRACE.search(r.text), (key, who, cid, r.text[:300])
    assert not wrong, f"{key}\n" + "\n".join(wrong)
