"""Request normalisation and error bodies for the STAC API: bad input is a 400 naming the field."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.errors import CatalogError, InvalidInput, NotFound, UnsupportedMediaType

log = logging.getLogger(__name__)
ITEMS_PATH = re.compile(r"/collections/[^/]+/items(/[^/]+)?/?$")
#: Methods whose body is a JSON document on every STAC route (search, transactions).
BODY_METHODS = ("POST", "PUT", "PATCH")


def _field_name(loc: Iterable[Any], prefix: str = "") -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    # pydantic adds model/union branch names to the location; keep the request's own names.
    parts = [p for p in parts if not p[:1].isupper() and "[" not in p]
    return ".".join([prefix, *parts] if prefix else parts) or prefix or "body"


def describe_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> str:
    """pydantic errors as one ``field: message; ...`` line (fields prefixed with ``prefix``)."""
    msgs = []
    for err in errors:
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        msgs.append(f"{_field_name(err.get('loc', ()), prefix)}: {msg}")
    return "; ".join(dict.fromkeys(msgs))


def invalid_input(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> InvalidInput:
    """An :class:`InvalidInput` for pydantic errors; its field is the first one named."""
    first, _, rest = describe_errors(errors, prefix).partition(": ")
    return InvalidInput(first, rest)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_values(doc: Any) -> None:
    """Strings PostgreSQL cannot store and numbers JSON cannot carry, named by their path.

    jsonb and text refuse NUL, UTF-8 refuses lone surrogates (``"\\ud800"``) and a number that
    overflows a float reads as infinity: each would fail deep in pgstac as a 500.
    """
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                _check_string(path or "body", key, what="a member name")
                stack.append((f"{path}.{key}" if path else key, value))
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node))
        elif isinstance(node, str):
            _check_string(path or "body", node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidInput(path or "body", "is a number too large to represent")


def _check_string(field: str, value: str, what: str = "the value") -> None:
    if "\x00" in value:
        raise InvalidInput(field, f"{what} contains the NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, f"{what} is not valid Unicode (a lone surrogate)") from None


def parse_json_body(body: bytes, *, patch: bool = False) -> Any:
    """The request body as a JSON object (a JSON Patch array too when ``patch``), checked.

    Every STAC request body is a JSON document: an empty, malformed or non-object body, or a
    value PostgreSQL cannot store, is refused here with a 400 naming the field.
    """
    if not body.strip():
        raise InvalidInput("body", "a JSON body is required")
    try:
        doc = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidInput("body", "is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, huge ints
        raise InvalidInput("body", f"is not valid JSON ({e})") from None
    if not isinstance(doc, dict) and not (patch and isinstance(doc, list)):
        kind = "a JSON object or a JSON Patch array" if patch else "a JSON object"
        raise InvalidInput("body", f"must be {kind}, not {type(doc).__name__}")
    check_values(doc)
    return doc


def check_content_type(content_type: str | None) -> None:
    """A body is JSON (``application/json`` or any ``+json`` type; none given reads as JSON):
    FastAPI hands any other type to the models as raw bytes, which they cannot read (a 500)."""
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        raise UnsupportedMediaType(f"content-type: {media or '(empty)'} is not read here; "
                                   "send application/json")


def check_query_string(query_string: bytes) -> None:
    """No query parameter may hold NUL: no id or term contains one and PostgreSQL refuses it."""
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            raise InvalidInput(key.replace("\x00", "") or "query", "contains the NUL character")


def error_response(exc: CatalogError) -> JSONResponse:
    """The one error body: ``{"code", "description"}`` (STAC API style)."""
    return JSONResponse(
        {"code": type(exc).__name__, "description": str(exc)}, status_code=exc.status_code
    )


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "HTTPError"


def add_error_handlers(app: FastAPI) -> None:
    """One error body for every client error: {"code", "description"} (STAC API style)."""

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"code": "InvalidParameterValue", "description": describe_errors(exc.errors())},
            status_code=400,
        )

    async def on_catalog(request: Request, exc: CatalogError) -> JSONResponse:
        return error_response(exc)

    async def on_http(request: Request, exc: HTTPException) -> Response:
        # stac-fastapi(-pgstac) raises these with FastAPI's {"detail"} body; same vocabulary.
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"code": _status_code_name(exc.status_code),
                             "description": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"code": "ServerError", "description": "internal error; see the server log"},
            status_code=500,
        )

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(CatalogError, on_catalog)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


class RequestValidationMiddleware:
    """Checks every request's JSON body and query string before anything below parses them.

    It is the outermost layer, so the access check (which reads a new collection's id) and
    the API only ever see well-formed JSON that PostgreSQL can store (:func:`parse_json_body`).
    It also accepts items without ``links`` on item transactions: stac-pydantic requires
    ``links``, but the transaction spec lets a client omit what the server owns (the server
    writes links itself) and the conformance validator does so.
    """

    def __init__(self, app: ASGIApp, max_limit: int = 10_000) -> None:
        self.app = app
        self.max_limit = max_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if "\x00" in scope["path"]:
                raise NotFound("not found")  # no collection or item id contains NUL
            check_query_string(scope.get("query_string", b""))
            if scope["method"] not in BODY_METHODS:
                await self.app(scope, receive, send)
                return
            check_content_type(_header(scope, b"content-type"))
            body = await _read_body(receive)
            doc = parse_json_body(body, patch=scope["method"] == "PATCH")
        except CatalogError as e:
            await error_response(e)(scope, receive, send)
            return
        if ITEMS_PATH.search(scope["path"]) and scope["method"] in ("POST", "PUT"):
            feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
            if _add_links(feats):
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


def _add_links(features: Any) -> bool:
    """Give features without ``links`` an empty list; True when one changed."""
    changed = False
    for f in features if isinstance(features, list) else []:
        if isinstance(f, dict) and f.get("type") == "Feature" and "links" not in f:
            f["links"] = []
            changed = True
    return changed


def _header(scope: Scope, name: bytes) -> str | None:
    value = next((v for k, v in scope["headers"] if k.lower() == name), None)
    return None if value is None else value.decode("latin-1")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def storable_input(request: Request) -> None:
    """App dependency of the services whose inputs FastAPI models check (access API, jobs,
    ingest): query values and JSON body strings PostgreSQL cannot store (NUL, lone
    surrogates) are the app's own 400 naming the field, not a 500 from the database."""
    where = "query"
    try:
        check_query_string(request.url.query.encode("latin-1", "replace"))
        body = await request.body()
        if body.strip():
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                return  # not JSON: the route's own body validation says so
            where = "body"
            check_values(doc)
    except InvalidInput as e:
        field = [p for p in e.field.split(".") if p and p != "body"]
        message = str(e).split(": ", 1)[-1]
        raise RequestValidationError(
            [{"loc": (where, *field), "msg": message, "type": "value_error"}]
        ) from None

