"""Queryables kept in step with the data, so unknown terms in filter/sortby are a 400.

Item searches check filter and sortby terms against the queryables of the searched collections
(pgstac's ``additional_properties=false`` would do it in SQL, but it also applies to collection
search, where it rejects the ``type`` term pgstac itself adds). We register the properties loaded
items carry: pgstac's ``missing_queryables`` after bulk loads, the item's keys after a transaction.
"""

from __future__ import annotations

from typing import Any

import json

import psycopg

# Item fields that are always searchable, whatever the queryables table says.
CORE_TERMS = frozenset(
    {"id", "collection", "geometry", "datetime", "start_datetime", "end_datetime", "bbox"}
)
JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string"}


def refresh(dsn: str, collections: list[str] | None = None) -> int:
    """Register the properties found in the collections' items (all collections when None)."""
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
        rows = conn.execute(sql, args).fetchall()
        for collection, name, definition in rows:
            conn.execute(
                "SELECT pgstac.upsert_queryable(%s, %s::jsonb, NULL, NULL, ARRAY[%s])",
                (name, psycopg.types.json.Jsonb(definition or {"type": "string"}), collection),
            )
            added += 1
    return added


def definition_for(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object"}
    return {"type": JSON_TYPES.get(type(value), "string")}


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
