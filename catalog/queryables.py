"""Queryables kept in step with the data, so unknown terms in filter/sortby are a 400.

Item searches check filter and sortby terms against the queryables of the searched collections
(pgstac's ``additional_properties=false`` would do it in SQL, but it also applies to collection
search, where it rejects the ``type`` term pgstac itself adds). We register the properties loaded
items carry: the loader's first pass collects them (no table scan), transactions add the item's.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
from stac_fastapi.pgstac.extensions.filter import FiltersClient
from starlette.requests import Request

from catalog.access import NO_COLLECTION, readable_of

# Item fields that are always searchable, whatever the queryables table says.
CORE_TERMS = frozenset(
    {"id", "collection", "geometry", "datetime", "start_datetime", "end_datetime", "bbox"}
)


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def refresh(dsn: str, collections: list[str] | None = None) -> int:
    """Register the properties found in the collections' items (all collections when None).

    Uses pgstac's ``missing_queryables`` (a scan of the collections' items): fine for ingest
    runs and small collections; bulk loads use :func:`register_terms` from their own pass.
    """
    sql = (
        "SELECT c.id, m.name, m.definition FROM pgstac.collections c, "
        "LATERAL pgstac.missing_queryables(c.id, 100, 0) m"
    )
    args: tuple[Any, ...] = ()
    if collections:
        sql += " WHERE c.id = ANY(%s)"
        args = (collections,)
    added = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for collection, name, definition in conn.execute(sql, args).fetchall():
            conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s::jsonb, NULL, NULL, ARRAY[%s])",
                (name, json.dumps(definition or {"type": "string"}), collection),
            )
            added += 1
    return added


def register_terms(dsn: str, terms: dict[str, dict[str, str]]) -> int:
    """Make loaded property names queryable for their collection (the loader saw them all)."""
    added = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for collection, props in terms.items():
            row = conn.execute(
                "SELECT pgstac.get_queryables(%s::text[])", ([collection],)
            ).fetchone()
            known = set(((row[0] if row else None) or {}).get("properties", {}).keys())
            for name, kind in props.items():
                if name in known or name in CORE_TERMS:
                    continue
                conn.execute(
                    "SELECT pgstac.upsert_queryable(%s, %s::jsonb, NULL, NULL, ARRAY[%s])",
                    (name, json.dumps({"type": kind}), collection),
                )
                added += 1
    return added


def definition_for(value: Any) -> dict[str, Any]:
    return {"type": json_type(value)}


async def register_item_terms(conn: Any, item: dict[str, Any]) -> None:
    """After a transaction: make the item's property names known for its collection."""
    collection = item.get("collection")
    props = item.get("properties") or {}
    if not collection or not props:
        return
    known = await conn.fetchval("SELECT pgstac.get_queryables($1::text[])", [collection]) or {}
    names = set((known.get("properties") or {}).keys())
    missing = [n for n in props if n not in names and n not in CORE_TERMS]
    for name, value in props.items():
        if name in missing:
            await conn.execute(
                "SELECT pgstac.upsert_queryable($1, $2::text::jsonb, NULL, NULL, ARRAY[$3])",
                name,
                json.dumps(definition_for(value)),
                collection,
            )


# get_queryables() aggregates the whole queryables table: too slow to run on every search.
# The cache is keyed by the table's (row count, max id), a cheap query that changes whenever a
# queryable is added or removed by any process (a loader, another server).
_terms_cache: dict[tuple[str, ...] | None, tuple[tuple[int, int], set[str]]] = {}
# When each key's version was last confirmed (monotonic seconds), see recent_terms.
_checked_at: dict[tuple[str, ...] | None, float] = {}


def _key(collections: list[str] | None) -> tuple[str, ...] | None:
    return tuple(sorted(collections)) if collections else None


def recent_terms(collections: list[str] | None, max_age_s: float) -> set[str] | None:
    """The cached terms when their version was confirmed within ``max_age_s``, else None.

    Only for accepting terms: a term missing here must be looked up with :func:`known_terms`
    before it is refused (it may have been registered since). A term removed from the table is
    still accepted for at most ``max_age_s``; pgstac then evaluates it like any property.
    """
    key = _key(collections)
    hit, at = _terms_cache.get(key), _checked_at.get(key)
    if hit is None or at is None or time.monotonic() - at > max_age_s:
        return None
    return hit[1]


async def known_terms(conn: Any, collections: list[str] | None) -> set[str]:
    """Property names a search on these collections may use (cached, see above)."""
    key = _key(collections)
    row = await conn.fetchrow("SELECT count(*), coalesce(max(id), 0) FROM pgstac.queryables")
    version = (int(row[0]), int(row[1]))
    hit = _terms_cache.get(key)
    if hit and hit[0] == version:
        _checked_at[key] = time.monotonic()
        return hit[1]
    q = await conn.fetchval("SELECT pgstac.get_queryables($1::text[])", collections or None)
    terms = set(CORE_TERMS) | set(((q or {}).get("properties") or {}).keys())
    if len(_terms_cache) > 1024:
        _terms_cache.clear()
        _checked_at.clear()
    _terms_cache[key] = (version, terms)
    _checked_at[key] = time.monotonic()
    return terms


def filter_terms(expr: Any) -> set[str]:
    """Every ``{"property": name}`` referenced by a CQL2 JSON expression."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("property"), str) and len(node) == 1:
                found.add(node["property"].removeprefix("properties."))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(expr)
    return found


class ScopedFiltersClient(FiltersClient):
    """Queryables of what the caller may read.

    stac-fastapi-pgstac's catalog-wide ``/queryables`` merges every collection's; with access
    control it merges only the readable collections' (plus the global ones), so the property
    names of a hidden collection are not shown to everyone. A collection's own queryables are
    behind the collection route's 404 already.
    """

    async def get_queryables(  # type: ignore[override]
        self, request: Request, collection_id: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        readable = readable_of(request)
        if collection_id is not None or readable is None:
            return await super().get_queryables(request, collection_id, **kwargs)
        async with request.app.state.get_connection(request, "r") as conn:
            found = await conn.fetchval(
                "SELECT pgstac.get_queryables($1::text[])", sorted(readable) or [NO_COLLECTION]
            )
        queryables = dict(found or {
            "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "title": "STAC Queryables.", "properties": {}, "additionalProperties": True,
        })
        queryables["$id"] = str(request.url)
        return queryables
