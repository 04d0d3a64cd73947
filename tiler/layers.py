"""The catalog's map layers: what the catalog-wide WMTS and the WMS advertise.

A layer is a collection the caller may read, with a render preset whose assets lie in our
store. A collection of remote items (Earth Search hrefs, say) can never draw a tile here (the
readers open only store objects), so it is not advertised: a GIS client would list it and get
only empty tiles. A layer's extent is that of its drawable items (a collection of remote and
ingested items zooms to the ingested ones). Both are looked up once per ``ttl``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cachetools
from psycopg.rows import dict_row
from starlette.requests import Request

from catalog.access import readable_of
from objectstore import ObjectStore

from .render import default_render_name, normalize_renders
from .settings import TilerSettings

__all__ = ["CatalogLayers", "Layer"]

#: Render names usable as a WMTS style / WMS style as they are (they go into URL templates).
_STYLE_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")

# The first store object an item of the collection names among the given assets, if any.
_IN_STORE = """
SELECT a.value->>'href' AS href
FROM pgstac.items i, jsonb_each(i.content->'assets') a
WHERE i.collection = %(cid)s AND a.key = ANY(%(assets)s)
  AND EXISTS (SELECT 1 FROM unnest(%(prefixes)s::text[]) p
              WHERE starts_with(a.value->>'href', p))
LIMIT 1
"""
# How many items draw from the store (up to ``most``), and their extent.
_EXTENT = """
SELECT count(*) AS n, ST_XMin(ST_Extent(geometry)) AS w, ST_YMin(ST_Extent(geometry)) AS s,
       ST_XMax(ST_Extent(geometry)) AS e, ST_YMax(ST_Extent(geometry)) AS n2
FROM (SELECT i.geometry FROM pgstac.items i
      WHERE i.collection = %(cid)s AND EXISTS (
        SELECT 1 FROM jsonb_each(i.content->'assets') a
        WHERE a.key = ANY(%(assets)s) AND EXISTS (
          SELECT 1 FROM unnest(%(prefixes)s::text[]) p WHERE starts_with(a.value->>'href', p)))
      LIMIT %(most)s) drawable
"""
#: Past this many drawable items a layer keeps its collection's extent (no scan of millions).
EXTENT_ITEMS = 10_000
_NOT_DRAWN = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Layer:
    """One collection as a map layer; ``renders`` are normalised presets, default first."""

    id: str
    title: str
    abstract: str
    bbox: tuple[float, float, float, float]
    renders: dict[str, dict[str, Any]]
    default: str
    zooms: tuple[int, int]


def _bbox(collection: dict[str, Any]) -> tuple[float, float, float, float]:
    try:
        box = collection["extent"]["spatial"]["bbox"][0]
        w, s, e, n = (float(box[0]), float(box[1]), float(box[-2]), float(box[-1]))
    except (KeyError, IndexError, TypeError, ValueError):
        return (-180.0, -90.0, 180.0, 90.0)
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        return (-180.0, -90.0, 180.0, 90.0)
    return (w, s, e, n)


class CatalogLayers:
    """Lists the layers a caller may see (see the module docstring)."""

    def __init__(
        self, stores: Sequence[ObjectStore], settings: TilerSettings, ttl: float = 60.0
    ) -> None:
        self._stores = tuple(stores)
        self._settings = settings
        self._drawable: cachetools.TTLCache[
            tuple[str, tuple[str, ...]], tuple[float, float, float, float]
        ] = (
            cachetools.TTLCache(maxsize=4096, ttl=ttl)
        )
        self._lock = threading.Lock()

    def layers(self, request: Request, only: Sequence[str] | None = None) -> list[Layer]:
        """The readable collections with a render drawing from the store, by id (of those
        in ``only`` when given: a GetMap reads its own layers, not the catalog)."""
        with request.app.state.dbpool.connection() as conn, conn.cursor(
            row_factory=dict_row
        ) as cur:
            cur.execute("SELECT content FROM pgstac.collections WHERE content ? 'renders' "
                        "AND (%(only)s::text[] IS NULL OR id = ANY(%(only)s)) ORDER BY id",
                        {"only": list(only) if only is not None else None})
            collections = [row["content"] for row in cur.fetchall()]
            readable = readable_of(request)
            out = []
            for coll in collections:
                cid = str(coll.get("id"))
                if readable is not None and cid not in readable:
                    continue
                layer = self._layer(coll)
                if layer is None:
                    continue
                extent = self._drawn(cur, cid, layer.renders[layer.default], layer.bbox)
                if extent != _NOT_DRAWN:
                    out.append(replace(layer, bbox=extent))
        return out

    def _layer(self, coll: dict[str, Any]) -> Layer | None:
        renders = {name: r for name, r in normalize_renders(coll.get("renders")).items()
                   if _STYLE_NAME.match(name)}
        default = default_render_name(renders)
        if default is None:
            return None
        ordered = {default: renders[default],
                   **{k: v for k, v in sorted(renders.items()) if k != default}}
        zooms = renders[default].get("minmax_zoom") or self._settings.catalog_wmts_zooms
        return Layer(
            id=str(coll["id"]),
            title=str(coll.get("title") or coll["id"]),
            abstract=str(coll.get("description") or "")[:2000],
            bbox=_bbox(coll),
            renders=ordered,
            default=default,
            zooms=(int(zooms[0]), int(zooms[1])),
        )

    def _drawn(
        self, cur: Any, cid: str, render: dict[str, Any],
        extent: tuple[float, float, float, float],
    ) -> tuple[float, float, float, float]:
        """The extent of the items of ``cid`` whose render assets are in the store, under the
        collection's own prefix (objects of other collections are not its to draw);
        ``_NOT_DRAWN`` when there are none. A collection of local and remote items gets the
        extent of its local ones (QGIS zooms there), one of very many keeps ``extent``."""
        assets = tuple(str(a).split("|", 1)[0] for a in render.get("assets") or [])
        key = (cid, assets)
        with self._lock:
            if key in self._drawable:
                return self._drawable[key]
        prefixes: list[str] = []
        for store in self._stores:
            for make in (store.href, store.gdal_path):
                try:
                    prefixes.append(make(f"{cid}/_")[:-1])
                except Exception:  # an id no key can hold: nothing of it is in the store
                    continue
        found = _NOT_DRAWN
        args = {"cid": cid, "assets": list(assets), "prefixes": sorted(set(prefixes)),
                "most": EXTENT_ITEMS + 1}
        if prefixes and assets:
            cur.execute(_IN_STORE, args)
            row = cur.fetchone()
            href = row["href"] if row else None
            if href is not None and any(
                (k := s.key_for_href(href)) is not None and k.startswith(f"{cid}/")
                for s in self._stores
            ):
                cur.execute(_EXTENT, args)
                box = cur.fetchone()
                found = extent if box["n"] > EXTENT_ITEMS or box["w"] is None else _clamped(
                    (box["w"], box["s"], box["e"], box["n2"]))
        with self._lock:
            self._drawable[key] = found
        return found


def _clamped(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A lon/lat box inside the world, never empty (a point item gets a little width)."""
    w, s, e, n = (float(v) for v in box)
    pad = 1e-4
    w, e = max(-180.0, min(w, e - pad)), min(180.0, max(e, w + pad))
    s, n = max(-90.0, min(s, n - pad)), min(90.0, max(n, s + pad))
    return (w, s, e, n)
