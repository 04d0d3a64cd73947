"""What no single request may do to the process, enforced once for every service it serves.

- :class:`RequestLimits`: body size (413, read with a cap whatever ``Content-Length`` says),
  query string size (414), CQL2 ``filter`` and the nesting of JSON parameters and bodies (400),
  measured by linear scans before any recursive parser sees them (:mod:`catalog.limits`).
- :class:`FailedAuthLimit`: failed credentials per client address (429 + Retry-After), each
  failure logged with the key id only.
- :func:`install_outage_handlers`: a database outage is a 503 with Retry-After, a read past
  its time budget a 503 naming it, from every service, never a 500
  (:func:`catalog.outage.classify`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.access import AccessSettings
from catalog.access.middleware import credentials_of
from catalog.access.model import split_token
from catalog.asgi import replay
from catalog.errors import InvalidInput
from catalog.limits import LimitSettings, check_filter, check_nesting
from catalog.outage import classify

log = logging.getLogger("stacworks.guard")

__all__ = ["FailedAuthLimit", "RequestLimits", "install_outage_handlers", "key_label"]

#: The bulk route keeps its own, higher body limit (large loads).
BULK_PATH = re.compile(r"^/stac/collections/[^/]+/bulk_items/?$")
RETRY_AFTER_S = 5
_SCAN_INLINE_BYTES = 256 * 1024


def _error(status: int, code: str, description: str, scope: Scope | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """A refusal; readable by a cross-origin page when the request's ``scope`` is given (see
    :func:`_cors`)."""
    cors = _cors(scope) if scope is not None else {}
    return JSONResponse({"code": code, "description": description}, status_code=status,
                        headers={**(headers or {}), **cors} or None)


def _cors(scope: Scope) -> dict[str, str]:
    """CORS headers for a refusal of a request from another origin.

    These refusals are sent before the request reaches a service and its CORS middleware;
    without the headers a browser hides them from the page (a bare network error instead of
    "body too large" or "retry after 30 s"). Any origin may read them: the body is our own
    generic message, and a request that needed a preflight has already passed the service's
    own origin check (a refusal does not change what the page may send). ``Vary: Origin`` is
    on every refusal: a 414 is cacheable by default, and a cache must not hand the answer
    without CORS headers to a page.
    """
    if not any(name == b"origin" for name, _ in scope.get("headers", ())):
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin"}


class _TooLarge(Exception):
    pass


class RequestLimits:
    """ASGI middleware: body and query-string sizes, CQL2 and JSON nesting (see the module)."""

    def __init__(self, app: ASGIApp, limits: LimitSettings | None = None) -> None:
        self.app = app
        self.limits = limits or LimitSettings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_query(scope.get("query_string", b""))
        except InvalidInput as e:
            await _error(400, "InvalidInput", str(e), scope)(scope, receive, send)
            return
        except _TooLarge as e:
            await _error(414, "URITooLong", str(e), scope)(scope, receive, send)
            return
        if not _has_body(scope):
            await self.app(scope, receive, send)
            return
        bulk = bool(BULK_PATH.match(scope.get("path", "")))
        limit = self.limits.bulk_body_bytes if bulk else self.limits.body_bytes
        setting = "STACWORKS_LIMIT_BULK_BODY_BYTES" if bulk else "STACWORKS_LIMIT_BODY_BYTES"
        hint = "" if bulk else "; load large collections with `stacworks load` or bulk_items"
        too_large = _error(413, "PayloadTooLarge",
                           f"body: larger than the limit of {limit} bytes ({setting}){hint}",
                           scope, {"Connection": "close"})
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await too_large(scope, receive, send)
            return
        body = await _read_capped(receive, limit)
        if body is None:  # the client left
            return
        if isinstance(body, _TooLarge):
            await too_large(scope, receive, send)
            return
        try:
            if scope["method"] == "POST" and not bulk and b'"filter"' in body:
                self._check_body_filter(body)
            if _is_json(scope, body):
                # every JSON body, not only searches: a workflow document or a trigger nested
                # deeply enough overflows the recursive checks behind the parser (a 500, or a
                # worker thread's stack)
                # (a large one off the event loop: 64 MiB is a second of scanning)
                scan = functools.partial(check_nesting, "body", body.decode("utf-8", "replace"),
                                         self.limits.json_depth)
                if len(body) > _SCAN_INLINE_BYTES:
                    await run_in_threadpool(scan)
                else:
                    scan()
        except InvalidInput as e:
            await _error(400, "InvalidInput", str(e), scope)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)

    def _check_query(self, query_string: bytes) -> None:
        if len(query_string) > self.limits.query_bytes:
            raise _TooLarge(f"query string: {len(query_string)} bytes is over the limit of "
                            f"{self.limits.query_bytes} (STACWORKS_LIMIT_QUERY_BYTES); "
                            "send large searches as POST bodies")
        if not query_string:
            return
        params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                           encoding="utf-8", errors="replace")
        lang = next((v for k, v in params if k == "filter-lang"), None)
        for name, value in params:
            if name == "filter":
                check_filter(value, lang, self.limits)
            elif any(c in value for c in "[{("):
                check_nesting(name, value, self.limits.json_depth)

    def _check_body_filter(self, body: bytes) -> None:
        try:
            doc = json.loads(body)
        except RecursionError:
            raise InvalidInput("body", "is nested too deeply") from None
        except ValueError:
            return  # not JSON: the service names the error
        if isinstance(doc, dict) and "filter" in doc:
            lang = doc.get("filter-lang")
            check_filter(doc["filter"], lang if isinstance(lang, str) else None, self.limits)


def _is_json(scope: Scope, body: bytes) -> bool:
    """A JSON body by its media type, or by its first character when none is declared."""
    for k, v in scope.get("headers", ()):
        if k == b"content-type":
            return b"json" in v.lower()
    return body.lstrip()[:1] in (b"{", b"[")


def _has_body(scope: Scope) -> bool:
    if scope["method"] in ("POST", "PUT", "PATCH"):
        return True
    headers = dict(scope.get("headers", ()))
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


async def _read_capped(receive: Receive, limit: int) -> bytes | _TooLarge | None:
    """The whole body, or _TooLarge as soon as it passes ``limit`` (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# -- failed authentication --------------------------------------------------------------------


def key_label(credential: str) -> str:
    """What may be logged of a credential: its public id (``swk_1a2b3c4d``), never the secret."""
    if credential.count(".") == 2:
        return "a JWT"
    parsed = split_token(credential)
    return f"{parsed[0]}_{parsed[1]}" if parsed else "a malformed credential"


class _Failures:
    """Failures per address in fixed windows; bounded memory under a flood of addresses."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window = limit, window_s
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(address, (now, 0))
        if now - start >= self.window or count < self.limit:
            return None
        return max(1, math.ceil(start + self.window - now))

    def record(self, address: str) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items()
                                if now - v[0] < self.window}
            start, count = self._counts.get(address, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._counts[address] = (start, count + 1)
            return count + 1


class FailedAuthLimit:
    """ASGI middleware: a credential refused with 401 counts against the client's address;
    past ``STACWORKS_AUTH_FAIL_LIMIT`` in ``_FAIL_WINDOW_S`` its credentialed requests are 429
    with Retry-After (before any lookup: guessing keys stops costing us a query)."""

    def __init__(self, app: ASGIApp, settings: AccessSettings | None = None) -> None:
        self.app = app
        s = settings or AccessSettings()
        self.active = s.enabled and s.rate_limits
        self.failures = _Failures(s.fail_limit, s.fail_window_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        credential = credentials_of(scope) if scope["type"] == "http" and self.active else None
        if credential is None:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self.failures.wait(address)
        if wait is not None:
            await _error(429, "TooManyRequests",
                         "too many failed authentications from this address; retry later",
                         scope, {"Retry-After": str(wait)})(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 401:
            n = self.failures.record(address)
            log.warning("authentication failed from %s with %s (%d in this window)",
                        address, key_label(credential), n)


# -- database outages ---------------------------------------------------------------------------

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def outage_response(kind: str) -> JSONResponse:
    if kind == "timeout":  # a 503 like the tiles' own time budget, without Retry-After
        return _error(503, "Timeout", "the request ran past its time budget in the database and "
                      "was cancelled (STACWORKS_STAC_SEARCH_TIMEOUT_S for searches); narrow it")
    return _error(503, "ServiceUnavailable",
                  "the database is unavailable; retry in a few seconds",
                  headers={"Retry-After": str(RETRY_AFTER_S)})


def _guarded(handler: Handler | None) -> Handler:
    async def guarded(request: Request, exc: Exception) -> Response:
        kind = classify(exc)
        if kind is not None:
            log.warning("%s on %s %s: %s", kind, request.method, request.url.path,
                        type(exc).__name__)
            return outage_response(kind)
        if handler is None:
            return PlainTextResponse("Internal Server Error", status_code=500)
        if is_async_callable(handler):
            return await handler(request, exc)
        # As Starlette runs a plain handler: in a worker thread (stac-fastapi's logs with
        # exc_info, which there finds no exception: no traceback per 404 in the log).
        return await run_in_threadpool(handler, request, exc)  # type: ignore[arg-type]

    return guarded


def install_outage_handlers(app: FastAPI) -> None:
    """Every exception handler of ``app`` (and its last-resort 500) first asks whether the
    error is the database away or a cancelled read: services translate database errors their
    own way, the chain under their error still says what happened."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _guarded(handler)
    last_resort = app.exception_handlers.get(Exception) or app.exception_handlers.get(500)
    app.exception_handlers[Exception] = _guarded(last_resort)


class OutageShield:
    """Around a mounted service: an outage error that its last-resort handler already
    answered is not re-raised to the server (one warning line, not a traceback per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            kind = classify(exc)
            if kind is None or scope["type"] != "http":
                raise
            if not started:
                await outage_response(kind)(scope, receive, send)


def readiness(check: Callable[[], dict[str, str]]) -> Callable[[], Any]:
    """A ``/readyz`` endpoint around ``check`` (run in a thread, bounded in time)."""
    import anyio

    async def readyz() -> JSONResponse:
        try:
            with anyio.fail_after(5):
                parts = await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        except TimeoutError:
            parts = {"database": "no answer in 5 s"}
        ready = all(v == "ok" for v in parts.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **parts},
                            status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": str(RETRY_AFTER_S)})

    return readyz


def probe(dsn: str, open_store: Callable[[], Any]) -> Callable[[], dict[str, str]]:
    """Database (a query on a fresh connection) and object store (its root answers); the
    store is opened on the first probe, so a bad store setting shows here, not at start-up."""
    stores: list[Any] = []

    def check() -> dict[str, str]:
        import psycopg

        from objectstore import LocalStore, StoreError

        parts: dict[str, str] = {}
        try:
            with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1 FROM pgstac.collections LIMIT 1")
            parts["database"] = "ok"
        except psycopg.Error as e:
            parts["database"] = f"unavailable ({type(e).__name__})"
        try:
            if not stores:
                stores.append(open_store())
            store = stores[0]
            if isinstance(store, LocalStore) and not store.root.is_dir():
                raise FileNotFoundError("store folder missing")
            store.exists("readyz/probe")
            parts["store"] = "ok"
        except (StoreError, OSError) as e:
            parts["store"] = f"unavailable ({type(e).__name__})"
        return parts

    return check
