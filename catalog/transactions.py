"""Transactions: stac-fastapi-pgstac's client plus the checks pgstac would turn into a 500.

An item for an unknown collection is a 404 (pgstac answers "no partition found", a 500 upstream),
and the new item's property names become queryables so a filter on them works at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
from stac_fastapi.types.errors import NotFoundError
from starlette.responses import JSONResponse, Response

from catalog.queryables import register_item_terms


async def _require_collection(request: Request, collection_id: str) -> None:
    async with request.app.state.get_connection(request, "r") as conn:
        found = await conn.fetchval("SELECT 1 FROM pgstac.collections WHERE id = $1", collection_id)
    if not found:
        raise NotFoundError(f"Collection {collection_id} does not exist.")


def _features(item: Any) -> list[dict[str, Any]]:
    d = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
    return d.get("features", []) if d.get("type") == "FeatureCollection" else [d]


class CatalogTransactionsClient(TransactionsClient):
    async def create_item(self, collection_id: str, item: Any, request: Request, **kw: Any) -> Any:  # type: ignore[override]
        await _require_collection(request, collection_id)
        out = await super().create_item(collection_id, item, request, **kw)
        await self._register(request, collection_id, item)
        if isinstance(out, dict):  # a created Item is GeoJSON
            return JSONResponse(out, status_code=201, media_type="application/geo+json")
        return out

    async def update_item(  # type: ignore[override]
        self, request: Request, collection_id: str, item_id: str, item: Any, **kw: Any
    ) -> Any:
        """204 No Content (the transaction spec allows 200 or 204; its validator wants 204)."""
        await _require_collection(request, collection_id)
        await super().update_item(request, collection_id, item_id, item, **kw)
        await self._register(request, collection_id, item)
        return Response(status_code=204)

    async def patch_item(  # type: ignore[override]
        self, collection_id: str, item_id: str, patch: Any, request: Request, **kw: Any
    ) -> Response:
        await super().patch_item(collection_id, item_id, patch, request, **kw)
        return Response(status_code=204)

    async def delete_item(  # type: ignore[override]
        self, item_id: str, collection_id: str, request: Request, **kw: Any
    ) -> Response:
        """204 No Content; deleting what is already gone is not an error (idempotent DELETE)."""
        try:
            await super().delete_item(item_id, collection_id, request, **kw)
        except NotFoundError:
            await _require_collection(request, collection_id)
        return Response(status_code=204)

    async def _register(self, request: Request, collection_id: str, item: Any) -> None:
        async with request.app.state.get_connection(request, "w") as conn:
            for f in _features(item):
                await register_item_terms(conn, {**f, "collection": collection_id})


class CatalogBulkTransactionsClient(BulkTransactionsClient):
    """Bulk inserts, unchanged: kept as a seam beside the single-item client."""
