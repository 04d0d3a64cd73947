"""The access middleware: attached from outside to each service, the one place it is checked.

For every HTTP request it (1) resolves the principal from ``Authorization: Bearer``, or the
``key=`` / ``token=`` query parameters that map clients put in tile URLs (a credential that is
malformed, tampered with, expired or revoked is a 401, never a silent downgrade to anonymous),
(2) applies the service's rate limits, (3) asks the service's :class:`Policy` whether this
method and path are allowed, and (4) leaves ``request.state.principal`` and
``request.state.readable`` (collection ids, None for all) for the lists and searches to filter by.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import anyio
from starlette._utils import get_route_path
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.asgi import replay
from catalog.errors import CatalogError

from .model import ANONYMOUS, OPEN, SHARE_PREFIX, Principal
from .oidc import OidcVerifier, looks_like_jwt
from .records import AccessRecords, InvalidCredentials
from .settings import AccessSettings

__all__ = [
    "Access",
    "AccessMiddleware",
    "Denied",
    "Policy",
    "PostgresRateLimiter",
    "RateLimiter",
    "RequestInfo",
    "credentials_of",
    "is_credential_param",
    "role_at_least",
]

_RANK = {None: 0, "viewer": 1, "editor": 2, "admin": 3}
#: Query parameters that carry credentials: never logged, never echoed.
SECRET_PARAMS = ("key", "token", "access_token")


def role_at_least(principal: Principal, role: str) -> bool:
    return principal.unrestricted or _RANK.get(principal.role, 0) >= _RANK[role]


@dataclass
class Denied(Exception):  # not frozen: Starlette sets __traceback__ on exceptions it handles
    """A refusal: 401 (who are you?), 403 (you may not), 404 (nothing here for you), 429."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass
class RequestInfo:
    method: str
    path: str
    principal: Principal
    access: Access
    body: bytes | None = None
    _json: Any = field(default=None, init=False)
    _readable: set[str] | None = field(default=None, init=False)
    _readable_known: bool = field(default=False, init=False)

    def readable(self) -> set[str] | None:
        """The collections the principal may read (None: all), queried once per request: the
        policy's check and the lists' filter share it."""
        if not self._readable_known:
            self._readable = self.access.store.readable(self.principal)
            self._readable_known = True
        return self._readable

    def json(self) -> Any:
        if self._json is None and self.body:
            try:
                self._json = json.loads(self.body)
            except ValueError:
                self._json = None
        return self._json


class Policy(Protocol):
    """One service's rules, in terms of the shared model (:class:`AccessRecords`)."""

    def rate_bucket(self, method: str, path: str) -> str | None: ...

    def wants_body(self, method: str, path: str) -> bool: ...

    def search_scope(self, path: str) -> str | None: ...

    def check(self, info: RequestInfo) -> None:
        """Raise :class:`Denied` to refuse; runs in a worker thread (it may query)."""

    def error(self, denied: Denied) -> Response: ...


def default_error(denied: Denied) -> Response:
    codes = {400: "InvalidInput", 401: "Unauthorized", 403: "Forbidden", 404: "NotFoundError",
             429: "TooManyRequests"}
    return JSONResponse({"code": codes.get(denied.status, "Error"),
                         "description": denied.message}, status_code=denied.status)


class RateLimiter:
    """Fixed-window counters per (bucket, caller); in memory, per process."""

    inline = True  # cheap: called on the event loop

    def __init__(self, limits: dict[str, int], window_s: float) -> None:
        self.limits = limits
        self.window = window_s
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, caller: str) -> int | None:
        """None when allowed, else the seconds until the caller may try again."""
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > 100_000:  # bounded memory under a flood of callers
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
            start, count = self._counts.get((bucket, caller), (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= limit:
                return max(1, math.ceil(start + self.window - now))
            self._counts[(bucket, caller)] = (start, count + 1)
        return None


class PostgresRateLimiter:
    """The same fixed windows, counted in the catalog database: one budget per caller across
    every process and host of a deployment. One upsert per rate-limited request."""

    inline = False  # a database round trip: called from a worker thread

    _HIT = """
        INSERT INTO stacworks.access_rate_counters AS c (bucket, caller, window_start, count)
        VALUES (%(bucket)s, %(caller)s, now(), 1)
        ON CONFLICT (bucket, caller) DO UPDATE SET
            window_start = CASE WHEN c.window_start <= now() - %(window)s * interval '1 second'
                                THEN now() ELSE c.window_start END,
            count = CASE WHEN c.window_start <= now() - %(window)s * interval '1 second'
                         THEN 1 ELSE c.count + 1 END
        RETURNING count, extract(epoch FROM c.window_start
                                 + %(window)s * interval '1 second' - now()) AS left_s
    """

    def __init__(self, store: AccessRecords, limits: dict[str, int], window_s: float) -> None:
        self.store = store
        self.limits = limits
        self.window = window_s
        self._hits = 0

    def hit(self, bucket: str, caller: str) -> int | None:
        limit = self.limits.get(bucket)
        if limit is None:
            return None
        args = {"bucket": bucket, "caller": caller, "window": self.window}
        with self.store.connection() as conn:
            row = conn.execute(self._HIT, args).fetchone()
            self._hits += 1
            if self._hits % 1000 == 0:  # forget windows long past (bounded table)
                conn.execute("DELETE FROM stacworks.access_rate_counters WHERE window_start "
                             "< now() - %(window)s * interval '2 second'", args)
        if row is None or row["count"] <= limit:
            return None
        return max(1, math.ceil(float(row["left_s"])))


def _nul_parameter(query_string: bytes) -> str | None:
    """The name of the first query parameter holding NUL, if any."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def credentials_of(scope: Scope) -> str | None:
    """The credential of a request: Bearer header first, then ``key``/``token`` parameters."""
    auth = Headers(scope=scope).get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return "\x00invalid"  # an Authorization header we do not understand is not anonymous
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if is_credential_param(name, value):
            return value or "\x00invalid"
    return None


def is_credential_param(name: str, value: str) -> bool:
    """``key=``/``access_token=`` always; ``token=`` only for a share link (``sws_...``).

    ``token`` is also the STAC API's paging parameter (``token=next:...`` in every ``next``
    link): only the share-link prefix tells the two apart.
    """
    if name == "token":
        return value.startswith(f"{SHARE_PREFIX}_")
    return name in SECRET_PARAMS


class Access:
    """The access model of a deployment: settings, the store, OIDC, the rate limiter."""

    def __init__(self, dsn: str, settings: AccessSettings | None = None) -> None:
        self.settings = settings or AccessSettings()
        self.store = AccessRecords(dsn)
        self.oidc = OidcVerifier(self.settings) if self.settings.oidc else None
        s = self.settings
        limits = ({"register": s.rate_register, "mosaic": s.rate_mosaic, "jobs": s.rate_jobs}
                  if s.rate_limits else {})
        self.limiter: RateLimiter | PostgresRateLimiter = (
            PostgresRateLimiter(self.store, limits, s.rate_window_s)
            if s.rate_store == "postgres" else RateLimiter(limits, s.rate_window_s)
        )

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def authenticate(self, credential: str | None) -> Principal:
        if credential is None:
            return ANONYMOUS
        if self.oidc is not None and looks_like_jwt(credential):
            return self.oidc.principal(credential)
        return self.store.principal_for_token(credential)


class AccessMiddleware:
    """ASGI middleware applying ``policy`` with ``access`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, access: Access, policy: Policy) -> None:
        self.app = app
        self.access = access
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["access"] = self.access
        if not self.access.enabled:
            state["principal"], state["readable"] = OPEN, None
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], get_route_path(scope)
        # PostgreSQL text cannot hold NUL (a 500 deeper down): no id has one, and no parameter.
        if "\x00" in path:
            await self.policy.error(Denied(404, "not found"))(scope, receive, send)
            return
        nul = _nul_parameter(scope.get("query_string", b""))
        if nul is not None:
            await self.policy.error(Denied(400, f"{nul}: contains the NUL character"))(
                scope, receive, send)
            return
        try:
            await self._check(scope, receive, send, state, method, path)
        except Denied as denied:
            response = self.policy.error(denied)
            if denied.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="stacworks"'
            if denied.retry_after is not None:
                response.headers["Retry-After"] = str(denied.retry_after)
            await response(scope, receive, send)
            return
        send = _private_when_credentialed(send) if credentials_of(scope) else _vary(send)
        await self.app(scope, replay(state.pop("_body", None), receive), send)

    async def _check(self, scope: Scope, receive: Receive, send: Send, state: dict[str, Any],
                     method: str, path: str) -> None:
        credential = credentials_of(scope)
        try:
            # Anonymous needs no lookup: no worker-thread hop for it (most tile requests).
            principal = (ANONYMOUS if credential is None else
                         await anyio.to_thread.run_sync(self.access.authenticate, credential))
        except InvalidCredentials:
            raise Denied(401, "invalid, expired or revoked credentials") from None
        except CatalogError:
            raise Denied(401, "invalid, expired or revoked credentials") from None
        state["principal"] = principal
        if method == "OPTIONS":  # CORS pre-flight: no data, no credentials
            state["readable"] = None if principal.admin else set()
            return
        bucket = self.policy.rate_bucket(method, path)
        if bucket is not None:
            client = scope.get("client") or ("unknown", 0)
            caller = principal.label if not principal.anonymous else f"ip:{client[0]}"
            limiter = self.access.limiter
            wait = (limiter.hit(bucket, caller) if limiter.inline
                    else await anyio.to_thread.run_sync(limiter.hit, bucket, caller))
            if wait is not None:
                raise Denied(429, "too many requests; retry later", retry_after=wait)
        body = None
        if self.policy.wants_body(method, path):
            body = await _read_body(receive)
            state["_body"] = body
        info = RequestInfo(method=method, path=path, principal=principal, access=self.access,
                           body=body)
        search_id = self.policy.search_scope(path)

        def decide() -> set[str] | None:
            self.policy.check(info)
            if search_id is None:
                return info.readable()
            return self.access.store.readable(principal, search_id=search_id)

        state["readable"] = await anyio.to_thread.run_sync(decide)


def _vary(send: Send) -> Send:
    """Answers depend on the Authorization header: shared caches must key on it."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.add_vary_header("Authorization")
        await send(message)

    return wrapped


def _private_when_credentialed(send: Send) -> Send:
    """A response to a credentialed request is never stored by a shared cache."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.add_vary_header("Authorization")
            cc = headers.get("cache-control")
            if cc:
                headers["cache-control"] = ", ".join(
                    ["private", *(p.strip() for p in cc.split(",")
                                  if p.strip() and p.strip() not in ("public", "private"))])
        await send(message)

    return wrapped


async def _read_body(receive: Receive, limit: int = 64 * 1024 * 1024) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Denied(413, "request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


COLLECTION_PATH = re.compile(r"^/collections/([^/]+)(?:/.*)?$")


def install_access(app: Any, access: Access, policy: Policy) -> None:
    """Attach the middleware to a built app (outermost but for CORS and compression)."""
    app.add_middleware(AccessMiddleware, access=access, policy=policy)


def principal_of(request: Any) -> Principal:
    """The request's principal (OPEN when the app runs without the middleware)."""
    return getattr(request.state, "principal", OPEN)


def readable_of(request: Any) -> set[str] | None:
    return getattr(request.state, "readable", None)


Factory = Callable[[], Policy]
