"""HTTP caching of tiles and documents: Cache-Control, a content ETag, and 304 on a match.

titiler's ``CacheControlMiddleware`` sets one Cache-Control for every path and no validator;
map clients revalidate tiles constantly, so we also send a strong ETag (a hash of the body,
which depends only on the data and the parameters) and answer ``If-None-Match`` with 304.
The tile is still computed on a revalidation; what the 304 saves is the transfer and the
client's decoding. Bodies are buffered, which is fine for tiles and capability documents.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.asgi import app_path, buffered

__all__ = ["HttpCacheMiddleware", "etag_matches"]

_IMAGE = re.compile(r"^image/")
#: Answers that depend on mutable server state, never cached by clients.
NO_STORE_PATHS = re.compile(r"^/(healthz|searches/?|searches/list)$")


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of an If-None-Match list against our ETag."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


@dataclass(frozen=True)
class HttpCacheMiddleware:
    """Cache-Control by kind (images vs documents) plus ETag/304 on successful GET/HEAD."""

    app: ASGIApp
    images: str
    documents: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = app_path(scope)
        if_none_match = Headers(scope=scope).get("if-none-match")

        async def finish(start: Message, body: bytes) -> None:
            await self._finish(path, start, body, if_none_match, send)

        await self.app(scope, receive, buffered(send, finish))

    async def _finish(
        self, path: str, start: Message, body: bytes, if_none_match: str | None, send: Send
    ) -> None:
        headers = MutableHeaders(scope=start)
        code = start["status"]
        if NO_STORE_PATHS.match(path):
            headers["Cache-Control"] = "no-store"
        elif code == 200:
            kind = headers.get("content-type", "")
            if "cache-control" not in headers:
                headers["Cache-Control"] = self.images if _IMAGE.match(kind) else self.documents
            etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
            headers["ETag"] = etag
            if if_none_match and etag_matches(if_none_match, etag):
                keep = {k: v for k, v in headers.items()
                        if k.lower() in ("cache-control", "etag", "vary", "content-location")}
                raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in keep.items()]
                await send({"type": "http.response.start", "status": 304, "headers": raw})
                await send({"type": "http.response.body", "body": b""})
                return
        await send(start)
        await send({"type": "http.response.body", "body": body})
