"""The tile service's access rules, on the catalog's one access model.

- ``/collections/{id}/...`` (collection mosaics, items, their WMTS): the caller must be able to
  read the collection, else 404, like the STAC API.
- ``/searches/{id}/...``: a registered search is only a query; at tile time it is narrowed to
  the collections the caller may read (:func:`search_id_params`), so registering a search, or
  learning an admin's search id, never widens access. A search naming only collections the
  caller cannot read answers 404, like an unknown id.
- ``/searches`` (the list of every registered query): admins only.
- rate limits: search registration, mosaic tiles and WMS requests.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request
from starlette.responses import JSONResponse, Response
from titiler.pgstac.errors import MosaicNotFoundError

from catalog.access import NO_COLLECTION, Denied, RequestInfo, readable_of, require_collection
from catalog.access.middleware import COLLECTION_PATH
from catalog.api import restrict_collections

__all__ = ["TilesPolicy", "search_id_params"]

_SEARCH_PATH = re.compile(r"^/searches/([^/]+)/.+$")
_MOSAIC_TILE = re.compile(r"^/(searches|collections)/[^/]+/tiles/")
_ITEM_PATH = re.compile(r"^/collections/[^/]+/items/")
_SEARCH_LIST = re.compile(r"^/searches/?(list)?/?$")


@dataclass
class TilesPolicy:
    def rate_bucket(self, method: str, path: str) -> str | None:
        if method == "POST" and path.rstrip("/") == "/searches/register":
            return "register"
        if _MOSAIC_TILE.match(path) and not _ITEM_PATH.match(path):
            return "mosaic"
        if path.rstrip("/") == "/wms":  # a GetMap reads mosaics (through the bbox route)
            return "mosaic"
        return None

    def wants_body(self, method: str, path: str) -> bool:
        return False

    def search_scope(self, path: str) -> str | None:
        m = _SEARCH_PATH.match(path)
        return m.group(1) if m else None

    def check(self, info: RequestInfo) -> None:
        m = COLLECTION_PATH.match(info.path)
        if m:
            require_collection(info, m.group(1), write=False)
        elif info.method == "GET" and _SEARCH_LIST.match(info.path) and not info.principal.admin:
            if info.principal.anonymous:
                raise Denied(401, "authentication required")
            raise Denied(403, "only admins list every registered search")

    def error(self, denied: Denied) -> Response:
        return JSONResponse({"detail": denied.message}, status_code=denied.status)


_NARROWED: dict[tuple[str, frozenset[str]], str] = {}
_LOCK = threading.Lock()


def search_id_params(
    request: Request,
    search_id: Annotated[str, Path(description="PgSTAC Search Identifier (Hash)")],
) -> str:
    """``path_dependency`` of search mosaics: the search narrowed to what the caller reads.

    The narrowed query is registered (pgstac keys searches by their hash) and cached, so tiles
    of the same search and caller reuse it.
    """
    readable = readable_of(request)
    if readable is None:
        return search_id
    key = (search_id, frozenset(readable))
    with _LOCK:
        if key in _NARROWED:
            return _NARROWED[key]
    with request.app.state.dbpool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT search, metadata FROM pgstac.searches WHERE hash = %s",
                    (search_id,))
        row = cur.fetchone()
        if row is None:
            return search_id  # titiler answers its own 404
        search: dict[str, Any] = dict(row[0] or {})
        asked = search.get("collections")
        allowed = restrict_collections(asked, readable)
        if asked and allowed == [NO_COLLECTION]:
            # Nothing in it is the caller's to see: the same answer as an unknown id, so a
            # search id (an admin's, say) is no oracle for what it names.
            raise MosaicNotFoundError(f"SearchId `{search_id}` not found")
        if asked and allowed == asked:
            narrowed = search_id
        else:
            search["collections"] = allowed
            cur.execute("SELECT hash FROM pgstac.search_query(%s, _metadata => %s)",
                        (json.dumps(search), json.dumps(row[1] or {})))
            out = cur.fetchone()
            narrowed = out[0] if out else search_id
    with _LOCK:
        if len(_NARROWED) > 10_000:
            _NARROWED.clear()
        _NARROWED[key] = narrowed
    return narrowed
