"""Queryables kept in step with the data, so unknown terms in filter/sortby are a 400.

Item searches check filter and sortby terms against the queryables of the searched collections
(pgstac's ``additional_properties=false`` would do it in SQL, but it also applies to collection
search, where it rejects the ``type`` term pgstac itself adds). We register the properties loaded
items carry: the loader's first pass collects them (no table scan), transactions add the item's.
"""

from __future__ import annotations

from typing import Any

import json

import psycopg

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


def register_terms(dsn: str, terms: dict[str, dict[str, str]]) -> int:
    """Make loaded property names queryable for their collection (the loader saw them all)."""
    added = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        for collection, props in terms.items():
            row = conn.execute("SELECT pgstac.get_queryables(%s::text[])", ([collection],)).fetchone()
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
    for name, value in props.items():
        if name not in names and name not in CORE_TERMS:
            await conn.execute(
                "SELECT pgstac.upsert_queryable($1, $2::text::jsonb, NULL, NULL, ARRAY[$3])",
                name,
                json.dumps(definition_for(value)),
                collection,
            )


async def known_terms(conn: Any, collections: list[str] | None) -> set[str]:
    q = await conn.fetchval("SELECT pgstac.get_queryables($1::text[])", collections or None)
    return CORE_TERMS | set(((q or {}).get("properties") or {}).keys())


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
