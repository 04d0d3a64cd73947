"""Transactions: stac-fastapi-pgstac's client plus the checks pgstac would turn into a 500.

An item for an unknown collection is a 404 (pgstac answers "no partition found", a 500 upstream),
and the new item's property names become queryables so a filter on them works at once.

Every write is checked whole before anything is written, so a refused request changes nothing:
a PUT names the collection it replaces in its path (upstream writes whichever the body names),
a PATCH is applied here and the result validated as a full Item/Collection, then stored through
the PUT path (upstream stores whatever the patch produced, or fails with a 500), and a bulk
insert is refused as a whole when one of its items is invalid (upstream inserts the rest).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, TypeVar

import attr
import jsonpatch
import jsonpointer
from fastapi import APIRouter, Body, FastAPI, HTTPException, Request
from json_merge_patch import merge
from pydantic import BaseModel, ValidationError
from stac_fastapi.api.models import CollectionUri
from stac_fastapi.api.routes import create_async_endpoint
from stac_fastapi.extensions import BulkTransactionExtension
from stac_fastapi.extensions.bulk_transactions import BulkTransactionModel, Items
from stac_fastapi.pgstac.transactions import BulkTransactionsClient, TransactionsClient
from stac_fastapi.types.errors import ConflictError, NotFoundError
from stac_pydantic import Collection, Item
from starlette.responses import JSONResponse, Response

from catalog.errors import Conflict, InvalidInput
from catalog.geojson import check_geometry
from catalog.queryables import register_item_terms
from catalog.renders import check_renders
from catalog.validation import invalid_input

M = TypeVar("M", bound=BaseModel)


async def _require_collection(request: Request, collection_id: str) -> None:
    async with request.app.state.get_connection(request, "r") as conn:
        found = await conn.fetchval("SELECT 1 FROM pgstac.collections WHERE id = $1", collection_id)
    if not found:
        raise NotFoundError(f"Collection {collection_id} does not exist.")


async def _stored(request: Request, sql: str, *args: str) -> dict[str, Any] | None:
    async with request.app.state.get_connection(request, "r") as conn:
        found: dict[str, Any] | None = await conn.fetchval(sql, *args)
    return found


def _features(item: Any) -> list[dict[str, Any]]:
    d = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
    return d.get("features", []) if d.get("type") == "FeatureCollection" else [d]


def parse_as(model: type[M], doc: Any, prefix: str = "") -> M:
    """``doc`` validated as ``model`` (a STAC Item or Collection), or a 400 naming the field."""
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise invalid_input(e.errors(), prefix) from None


def _with_normalised_renders(collection: Any) -> Any:
    """The collection with its render presets in the render extension's own shape
    (``rescale: "0,3000"`` stored as ``[[0, 3000]]``), or a 400 naming a preset that cannot
    draw: every reader of the catalog (tiles, WMTS, WMS, ``/renders``) then sees one shape."""
    extra = getattr(collection, "model_extra", None) or {}
    if extra.get("renders") is None:
        return collection
    doc = collection.model_dump(mode="json", by_alias=True, exclude_unset=True)
    doc["renders"] = check_renders(extra["renders"])
    return parse_as(type(collection), doc)


def apply_patch(doc: dict[str, Any], patch: Any) -> Any:
    """``patch`` (a JSON Patch list or a merge-patch model) applied to a copy of ``doc``.

    An operation that cannot apply to the stored document (a failed ``test``, a missing path)
    is a 409 naming the operation, never the bare jsonpatch exception (a 500 upstream).
    """
    if not isinstance(patch, list):
        return merge(copy.deepcopy(doc), patch.model_dump(mode="json"))
    out: Any = copy.deepcopy(doc)
    for i, op in enumerate(patch):
        try:
            out = jsonpatch.JsonPatch([op.model_dump(mode="json")]).apply(out, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            reason = str(e).split(" in {")[0][:200]  # jsonpointer appends the whole document
            raise Conflict(f"patch.{i}: cannot be applied ({reason})") from None
    return out


class _ItemChecks:
    """Checks on every item written, beside stac-fastapi-pgstac's own (ids, collection)."""

    def _validate_item(self, request: Request, item: Any, collection_id: str,
                       expected_item_id: str | None = None) -> None:
        check_geometry(item.get("geometry"))
        super()._validate_item(request, item, collection_id, expected_item_id)  # type: ignore[misc]


def _with_links(doc: Any) -> Any:
    """``links`` defaulted to []: the server writes its own links, a client may omit them."""
    return {"links": [], **doc} if isinstance(doc, dict) else doc


class CatalogTransactionsClient(_ItemChecks, TransactionsClient):
    async def create_item(self, collection_id: str, item: Any, request: Request, **kw: Any) -> Any:  # type: ignore[override]
        await _require_collection(request, collection_id)
        try:
            out = await super().create_item(collection_id, item, request, **kw)
        except ConflictError:
            ids = [f.get("id") for f in _features(item)]
            raise Conflict(f"id: {ids[0] if len(ids) == 1 else ids} already exists in "
                           f"collection {collection_id!r}") from None
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
        """The patched item, validated whole, stored as a PUT would (queryables included)."""
        existing = await _stored(
            request, "SELECT * FROM pgstac.get_item($1::text, $2::text)", item_id, collection_id
        )
        if existing is None:
            await _require_collection(request, collection_id)
            raise NotFoundError(f"Item {item_id} does not exist in collection {collection_id}.")
        item = parse_as(Item, _with_links(apply_patch(existing, patch)))
        return await self.update_item(request, collection_id, item_id, item, **kw)  # type: ignore[no-any-return]

    async def create_collection(self, collection: Any, request: Request, **kw: Any) -> Any:  # type: ignore[override]
        collection = _with_normalised_renders(collection)
        try:
            return await super().create_collection(collection, request, **kw)
        except ConflictError:
            raise Conflict(f"id: collection {collection.id!r} already exists") from None

    async def update_collection(  # type: ignore[override]
        self, collection_id: str, collection: Any, request: Request, **kw: Any
    ) -> Any:
        """Replace the collection the path names: upstream writes the one the body names."""
        if collection.id != collection_id:
            raise InvalidInput("id", f"must be the collection id in the path ({collection_id!r})")
        await _require_collection(request, collection_id)
        return await super().update_collection(_with_normalised_renders(collection), request,
                                               **kw)

    async def patch_collection(  # type: ignore[override]
        self, collection_id: str, patch: Any, request: Request, **kw: Any
    ) -> Any:
        """The patched collection, validated whole (upstream stores any result unchecked)."""
        existing = await _stored(request, "SELECT * FROM pgstac.get_collection($1::text)",
                                 collection_id)
        if existing is None:
            raise NotFoundError(f"Collection {collection_id} does not exist.")
        collection = parse_as(Collection, apply_patch(existing, patch))
        return await self.update_collection(collection_id, collection, request, **kw)

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


class CatalogBulkTransactionsClient(_ItemChecks, BulkTransactionsClient):
    """Bulk inserts, all or nothing: every item is checked before any is written."""

    async def bulk_item_insert(  # type: ignore[override]
        self, items: Items, collection_id: str, request: Request, **kw: Any
    ) -> Any:
        await _require_collection(request, collection_id)
        for item_id, doc in items.items.items():
            field = f"items.{item_id}"
            parse_as(Item, _with_links(doc), field)
            check_geometry(doc.get("geometry"), f"{field}.geometry")
            try:
                self._validate_item(request, dict(doc), collection_id, item_id)
            except HTTPException as e:
                raise InvalidInput(field, str(e.detail)) from None
        try:
            return await super().bulk_item_insert(items, request=request, **kw)
        except ConflictError:
            raise Conflict("items: an item with one of these ids already exists "
                           '(use "method": "upsert" to replace)') from None


@attr.s
class BulkItems(CollectionUri):
    """POST /collections/{collection_id}/bulk_items: the collection is a declared path
    parameter (upstream reads it from the raw path, so its OpenAPI document omits it)."""

    items: Annotated[Items, Body()] = attr.ib(default=None)


@attr.s
class CatalogBulkTransactionExtension(BulkTransactionExtension):
    """The bulk route with :class:`BulkItems` as its request model; otherwise upstream's."""

    def register(self, app: FastAPI) -> None:
        router = APIRouter(prefix=app.state.router_prefix)
        router.add_api_route(
            name="Bulk Create Item",
            path="/collections/{collection_id}/bulk_items",
            response_model=BulkTransactionModel,
            responses={200: {"content": {"application/json": {}}, "model": BulkTransactionModel}},
            response_class=JSONResponse,
            response_model_exclude_unset=False,
            methods=["POST"],
            endpoint=create_async_endpoint(self.client.bulk_item_insert, BulkItems),
            dependencies=self.route_dependencies,
        )
        app.include_router(router, tags=["Bulk Transaction Extension"])
