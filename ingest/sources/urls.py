"""Products given directly as URLs: LAS/LAZ/COPC or raster files, or STAC item documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import requests

from ingest.errors import SourceError, TransientError
from ingest.sources.base import Product, ProductKind, SearchQuery, classify, safe_id

POINTCLOUD_EXT = (".las", ".laz")
RASTER_EXT = (".tif", ".tiff", ".jp2")


def file_stem(url: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name
    for ext in (".copc.laz", ".json", *POINTCLOUD_EXT, *RASTER_EXT):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


class UrlsSource:
    """``urls``: one product per URL, into ``--collection`` (files carry no collection)."""

    name = "urls"

    def __init__(self, *, timeout: float = 60) -> None:
        self.timeout = timeout

    def search(self, query: SearchQuery) -> Iterator[Product]:
        if not query.urls:
            raise SourceError("urls: give at least one --url")
        if not query.collection:
            raise SourceError("collection: the urls source needs --collection")
        for url in query.urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise SourceError(f"urls: {url!r} is not an http(s) URL")
            low = urlsplit(url).path.lower()
            if low.endswith(".json"):
                yield self._stac_item(url, query)
                continue
            kind: ProductKind
            if low.endswith(POINTCLOUD_EXT):
                kind = "pointcloud"
            elif low.endswith(RASTER_EXT):
                kind = "raster"
            else:
                raise SourceError(f"urls: {url!r} is neither LAS/LAZ/COPC, a raster nor JSON")
            item_id = safe_id(file_stem(url))
            item: dict[str, Any] = {
                "type": "Feature",
                "id": item_id,
                "properties": {},
                "assets": {"data": {"href": url, "roles": ["data"]}},
                "links": [],
            }
            yield Product(
                source=self.name,
                collection=query.collection,
                item_id=item_id,
                kind=kind,
                item=item,
                source_href=url,
                assets=list(query.assets),
            )

    def _stac_item(self, url: str, query: SearchQuery) -> Product:
        try:
            r = requests.get(url, timeout=self.timeout)
        except requests.RequestException as e:
            raise TransientError(f"urls: cannot fetch {url} ({type(e).__name__})") from None
        if r.status_code >= 500:
            raise TransientError(f"urls: {url} answered {r.status_code}")
        if r.status_code != 200:
            raise SourceError(f"urls: {url} answered {r.status_code}")
        try:
            item = r.json()
        except ValueError:
            raise SourceError(f"urls: {url} is not JSON") from None
        if item.get("type") != "Feature":
            raise SourceError(f"urls: {url} is not a STAC item")
        return Product(
            source=self.name,
            collection=query.collection or item["collection"],
            item_id=safe_id(str(item["id"])),
            kind=classify(item),
            item=item,
            source_href=url,
            assets=list(query.assets),
        )

    def auth_for(self, product: Product) -> Any:
        return None
