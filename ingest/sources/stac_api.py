"""Any STAC API by URL, searched with pystac-client (a partner's catalog, a mirror, ours)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pystac_client import Client
from pystac_client.exceptions import APIError

from ingest.errors import SourceError, TransientError
from ingest.items.versions import to_current_stac
from ingest.sources.base import Product, SearchQuery, classify, safe_id, self_href


class StacApiSource:
    """``stac:<url>``: items come as the API has them; assets are fetched over HTTP."""

    def __init__(self, url: str, *, timeout: float = 60) -> None:
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"source: stac:<url> needs an http(s) URL, got {url!r}")
        self.url = url.rstrip("/")
        self.name = f"stac:{self.url}"
        self.timeout = timeout

    def _client(self) -> Client:
        try:
            return Client.open(self.url, timeout=self.timeout)
        except APIError as e:
            raise _api_error(self.url, e) from None
        except Exception as e:  # noqa: BLE001 - connection errors of requests, JSON errors
            raise TransientError(f"STAC API {self.url} is unreachable ({type(e).__name__})") from e

    def search(self, query: SearchQuery) -> Iterator[Product]:
        if not query.collection:
            raise SourceError("collection: a STAC API search needs --collection")
        client = self._client()
        params: dict[str, Any] = {"collections": [query.collection]}
        if query.bbox:
            params["bbox"] = list(query.bbox)
        if query.datetime:
            params["datetime"] = query.datetime
        if query.ids:
            params["ids"] = list(query.ids)
        if query.max_cloud is not None:
            params["query"] = {"eo:cloud_cover": {"lte": query.max_cloud}}
        if query.limit:
            params["max_items"] = query.limit
        collection = self._collection(client, query.collection)
        try:
            for item in client.search(**params).items_as_dicts():
                yield self.product(item, collection, query)
        except APIError as e:
            raise _api_error(self.url, e) from None

    def _collection(self, client: Client, cid: str) -> dict[str, Any] | None:
        try:
            collection = client.get_collection(cid)
        except Exception:  # noqa: BLE001 - a missing collection document is not fatal
            return None
        return None if collection is None else collection.to_dict(transform_hrefs=False)

    def product(
        self, item: dict[str, Any], collection: dict[str, Any] | None, query: SearchQuery
    ) -> Product:
        item = to_current_stac(item)  # USGS per-scene items are STAC 0.7.0
        return Product(
            source=self.name,
            collection=query.collection or str(item.get("collection")),
            item_id=safe_id(str(item["id"])),
            kind=classify(item),
            item=item,
            source_collection=collection,
            source_href=self_href(item),
            assets=list(query.assets),
        )

    def auth_for(self, product: Product) -> Any:
        return None


def _api_error(url: str, e: APIError) -> Exception:
    status = getattr(e, "status_code", None)
    if status is None or status >= 500 or status == 429:
        return TransientError(f"STAC API {url} failed to answer ({status or type(e).__name__})")
    return SourceError(f"STAC API {url} refused the search ({status}): {str(e)[:200]}")
