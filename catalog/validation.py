"""Request normalisation and error bodies for the STAC API: bad input is a 400 naming the field."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.errors import CatalogError

log = logging.getLogger(__name__)
ITEMS_PATH = re.compile(r"/collections/[^/]+/items(/[^/]+)?/?$")


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    # pydantic adds model/union branch names to the location; keep the request's own names.
    parts = [p for p in parts if not p[:1].isupper() and "[" not in p]
    return ".".join(parts) or "body"


def _describe(exc: RequestValidationError) -> str:
    msgs = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        msgs.append(f"{_field_name(err.get('loc', ()))}: {msg}")
    return "; ".join(dict.fromkeys(msgs))


def add_error_handlers(app: FastAPI) -> None:
    """One error body for every client error: {"code", "description"} (STAC API style)."""

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"code": "InvalidParameterValue", "description": _describe(exc)}, status_code=400
        )

    async def on_catalog(request: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse(
            {"code": type(exc).__name__, "description": str(exc)}, status_code=exc.status_code
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"code": "ServerError", "description": "internal error; see the server log"},
            status_code=500,
        )

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(CatalogError, on_catalog)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


class RequestValidationMiddleware:
    """Accept items without ``links`` on item transactions: the server writes links itself.

    stac-pydantic (the transaction request model) requires ``links``; the STAC API transaction
    spec lets a client omit what the server owns, and the conformance validator does so.
    """

    def __init__(self, app: ASGIApp, max_limit: int = 10_000) -> None:
        self.app = app
        self.max_limit = max_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT")
            or not ITEMS_PATH.search(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
            for f in feats if isinstance(feats, list) else []:
                if isinstance(f, dict) and f.get("type") == "Feature" and "links" not in f:
                    f["links"] = []
            body = json.dumps(doc).encode()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replay, send)
