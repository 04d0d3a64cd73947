"""Write to the catalog: the collection (created from the source's when missing), the item
(upserted, so a retried product never duplicates), and the collection's extent."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.types.json import Jsonb

from catalog.access import AccessRecords
from catalog.queryables import json_type, register_terms

#: Fields of a source collection that describe the source's service, not the data.
_DROP = ("links", "assets")


def collection_from_source(cid: str, source: dict[str, Any] | None) -> dict[str, Any]:
    """Our collection: the source collection's metadata (title, description, licence,
    providers, keywords, item_assets, render presets) under our id, or a minimal one."""
    col = copy.deepcopy(source) if source else {}
    for key in _DROP:
        col.pop(key, None)
    col.update(id=cid, type="Collection", links=[])
    col.setdefault("stac_version", "1.0.0")
    col.setdefault("description", f"Products ingested into {cid}.")
    col.setdefault("license", "other")
    col["extent"] = {
        "spatial": {"bbox": [[-180, -90, 180, 90]]},
        "temporal": {"interval": [[None, None]]},
    }
    return col


_LOOPBACK_HOSTS = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback_url(href: str) -> bool:
    """An http(s) URL on this machine (``127.0.0.0/8``, ``::1``, ``localhost``, 0.0.0.0):
    a temporary server (the demo's, a test's), dead for every other reader."""
    try:
        parts = urlsplit(href)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host in _LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def durable_links(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` without links to loopback servers (``via``, ``derived_from``, ... to a source
    published on loopback, as the offline demo does): they would be dead once stored."""
    links = item.get("links")
    if isinstance(links, list):
        item["links"] = [lk for lk in links if not (
            isinstance(lk, dict) and is_loopback_url(str(lk.get("href", ""))))]
    return item


def register_item(dsn: str, item: dict[str, Any], collection: dict[str, Any]) -> bool:
    """Upsert the item (creating its collection first if needed) and refresh the extent.

    ``collection`` is created when the catalog has none with the item's collection id (see
    :func:`collection_from_source`). Returns whether the collection was created by this call.
    """
    cid = item["collection"]
    item = durable_links(item)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")  # pgstac's functions expect it
        exists = conn.execute("SELECT 1 FROM pgstac.collections WHERE id = %s", (cid,)).fetchone()
        if not exists:
            # Private, no owner (admins', like ingest itself), whatever rights a deleted
            # collection of the same id once had.
            AccessRecords(dsn, pooled=False).claim_new_collection(cid, None)
            # upsert, not create: two workers may race to create the same collection.
            conn.execute("SELECT pgstac.upsert_collection(%s)", (Jsonb(collection),))
        with conn.transaction():
            conn.execute("SELECT pgstac.upsert_item(%s)", (Jsonb(item),))
        conn.execute(
            "UPDATE pgstac.collections SET content = jsonb_set_lax(content, '{extent}', "
            "pgstac.collection_extent(id, true), true, 'return_target') WHERE id = %s",
            (cid,),
        )
    # Make the item's properties queryable (filter/sortby check terms against queryables).
    register_terms(dsn, {cid: {k: json_type(v) for k, v in item["properties"].items()}})
    return not exists


def catalog_item(dsn: str, collection: str, item_id: str) -> dict[str, Any] | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection)).fetchone()
    return row[0] if row and row[0] else None
