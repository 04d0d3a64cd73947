"""Render presets of catalog collections, managed from the command line.

``stacworks renders add|list|remove`` and ``stacworks load --renders auto`` call these. Every
preset is checked and normalised (:func:`tiler.render.normalize_render`) before it is stored,
so what the tiler reads back is always in the render extension's shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import psycopg

from catalog.errors import InvalidInput, NotFound

from .render import (
    RENDER_EXTENSION,
    add_default_renders,
    derived_renders,
    normalize_render,
    normalize_renders,
)

__all__ = ["add_derived", "auto_renders", "list_renders", "put_render", "remove_render"]

_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")


def _collection(conn: psycopg.Connection[Any], collection_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT content FROM pgstac.collections WHERE id = %s",
                       (collection_id,)).fetchone()
    if row is None:
        raise NotFound(f"no collection {collection_id!r} in the catalog")
    return dict(row[0])


def _store(conn: psycopg.Connection[Any], content: dict[str, Any],
           renders: dict[str, dict[str, Any]]) -> None:
    extensions = [e for e in content.get("stac_extensions") or [] if e != RENDER_EXTENSION]
    if renders:
        extensions.append(RENDER_EXTENSION)
    updated = {**content, "renders": renders, "stac_extensions": extensions}
    if not renders:
        updated.pop("renders")
    conn.execute("SELECT pgstac.upsert_collection(%s::jsonb)", (json.dumps(updated),))


def list_renders(dsn: str, collection_id: str) -> dict[str, dict[str, Any]]:
    """The collection's presets, normalised (those that cannot draw left out)."""
    with psycopg.connect(dsn) as conn:
        return normalize_renders(_collection(conn, collection_id).get("renders"))


def _check(render: dict[str, Any], item_assets: dict[str, Any]) -> dict[str, Any]:
    fixed = normalize_render(render)
    if fixed is None:
        raise InvalidInput("assets", "a preset names at least one asset")
    if item_assets:
        unknown = [a for a in fixed["assets"] if a.split("|", 1)[0] not in item_assets]
        if unknown:
            raise InvalidInput("assets", f"not in the collection's item_assets: {unknown} "
                                         f"(known: {sorted(item_assets)})")
    if "rescale" in render and "rescale" not in fixed:
        raise InvalidInput("rescale", "expected lo,hi (one per band)")
    from rio_tiler.colormap import cmap  # here: titiler and rio-tiler load in seconds

    from .guards import check_expression

    name = fixed.get("colormap_name")
    if name is not None and name not in cmap.list():
        raise InvalidInput("colormap_name", f"unknown colormap {name!r}")
    if "expression" in fixed:
        try:
            check_expression(fixed["expression"], max_length=512, max_terms=128, max_depth=8,
                             max_bands=8)
        except ValueError as exc:
            raise InvalidInput("expression", str(exc)) from None
    return fixed


def put_render(
    dsn: str, collection_id: str, name: str, render: dict[str, Any], *, replace: bool = False
) -> dict[str, Any]:
    """Add (or with ``replace``, overwrite) one preset; returns it as stored.

    Raises:
        InvalidInput: a bad name or preset (the message names the field).
        NotFound: no such collection.
    """
    if not _NAME.match(name):
        raise InvalidInput("name", "letters, digits, '.', '_', '~' or '-' (it goes into URLs)")
    with psycopg.connect(dsn, autocommit=True) as conn:
        content = _collection(conn, collection_id)
        renders = normalize_renders(content.get("renders"))
        if name in renders and not replace:
            raise InvalidInput("name", f"preset {name!r} exists (use --replace)")
        renders[name] = _check(render, dict(content.get("item_assets") or {}))
        _store(conn, content, renders)
        return renders[name]


def remove_render(dsn: str, collection_id: str, name: str) -> None:
    """Remove one preset (NotFound when the collection or the preset does not exist)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        content = _collection(conn, collection_id)
        renders = normalize_renders(content.get("renders"))
        if name not in renders:
            raise NotFound(f"collection {collection_id!r} has no preset {name!r}")
        del renders[name]
        _store(conn, content, renders)


def auto_renders(dsn: str, collection_ids: Sequence[str]) -> list[str]:
    """Derived presets for those of the collections that have none; returns the ids changed
    (``stacworks load --renders auto``)."""
    return add_default_renders(dsn, only=list(collection_ids))


def add_derived(dsn: str, collection_id: str, *, replace: bool = False) -> list[str]:
    """Add the derived presets (:func:`tiler.render.derived_renders`) a collection lacks
    (with ``replace``, overwrite those of the same names); returns the names written."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        content = _collection(conn, collection_id)
        renders = normalize_renders(content.get("renders"))
        derived = {k: v for k, v in derived_renders(conn, content).items()
                   if replace or k not in renders}
        if derived:
            _store(conn, content, {**renders, **derived})
        return sorted(derived)
