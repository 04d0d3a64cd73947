"""Asset hrefs a remote client can fetch: store objects are served as ``{base}/assets/{c}/{i}/{a}``.

The catalog keeps where an asset lives (a path in the local store, ``s3://bucket/key``): that is
what the tiler, jobs and ``/assets`` read. A response, though, goes to clients that can reach
neither the server's disk nor (without credentials) the bucket, and a server path says where the
platform is installed. So every API response rewrites, per asset:

- an href inside the configured store, or any other server path (an absolute path, ``file:``,
  ``/vsi...``), to the download service (``/assets``, which applies the access rules, answers
  ``Range`` requests and redirects to a presigned URL on S3); a share-link reader's token rides
  along as ``?token=`` (a key holder sends its key, as for every other call);
- the stored location of an in-store object to an alternate (the alternate-assets extension):
  ``alternate.s3`` for clients on the same network with bucket credentials, and, only when
  ``STACWORKS_STAC_ALTERNATE_FILE`` is on (single-machine set-ups), ``alternate.file``;
- hrefs anywhere else (``https://``, another bucket) stay as the provider published them.

The rows in pgstac are never changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.asgi import app_path, buffered
from objectstore import ObjectStore

__all__ = ["ALTERNATE_ASSETS", "AssetHrefsMiddleware", "AssetLinks", "AssetLinksSettings",
           "is_server_path", "keep_share_token", "share_token"]

ALTERNATE_ASSETS = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


class AssetLinksSettings(BaseSettings):
    """How asset hrefs are written in STAC responses (env prefix ``STACWORKS_STAC_``)."""

    model_config = SettingsConfigDict(env_prefix="STACWORKS_STAC_", extra="ignore")

    assets_url: str = Field(
        default="../assets/",
        description="Base of the asset download URLs: relative to the STAC API root (default: "
        "the /assets service beside /stac, behind any proxy prefix) or absolute.",
    )
    alternate_file: bool = Field(
        default=False,
        description="Also give local-store assets their file path as alternate.file (clients "
        "on the same machine); off by default because it reveals the server's paths.",
    )


def is_server_path(href: str) -> bool:
    """An href naming a file on the server (never fetchable by a remote client)."""
    if href.startswith("/") and not href.startswith("//"):
        return True  # an absolute path, /vsis3/..., /vsicurl/...
    return href[:5].lower() == "file:" or bool(_WINDOWS_PATH.match(href))


@dataclass
class AssetLinks:
    """Rewrites the assets of items in responses (see the module docstring).

    Args:
        store: the configured object store (what ``/assets`` serves from); None: no alternates.
        assets_url: base of the download URLs, relative to the API root or absolute.
        alternate_file: expose a local-store object's path as ``alternate.file``.
    """

    store: ObjectStore | None
    assets_url: str = "../assets/"
    alternate_file: bool = False
    _extension: str = field(default=ALTERNATE_ASSETS, init=False)

    @classmethod
    def from_settings(
        cls, store: ObjectStore | None, settings: AssetLinksSettings | None = None
    ) -> AssetLinks:
        s = settings or AssetLinksSettings()
        return cls(store, assets_url=s.assets_url, alternate_file=s.alternate_file)

    def base(self, api_root: str) -> str:
        """The download service's URL for a request whose STAC API root is ``api_root``."""
        root = api_root if api_root.endswith("/") else api_root + "/"
        return urljoin(root, self.assets_url).rstrip("/")

    def rewrite_items(
        self, items: Iterable[Any], api_root: str, token: str | None = None
    ) -> None:
        """Rewrite, in place, the assets of each item (a dict with ``collection`` and ``id``)."""
        base = self.base(api_root)
        for item in items:
            if isinstance(item, dict):
                self.rewrite_item(item, base, token)

    def rewrite_item(self, item: dict[str, Any], base: str, token: str | None = None) -> None:
        assets = item.get("assets")
        collection, item_id = item.get("collection"), item.get("id")
        if not isinstance(assets, dict) or not isinstance(collection, str) \
                or not isinstance(item_id, str):
            return
        alternates = False
        for key, asset in assets.items():
            if isinstance(asset, dict) and isinstance(asset.get("href"), str):
                alternates |= self._rewrite_asset(asset, base, collection, item_id, key, token)
        if alternates:
            exts = item.get("stac_extensions")
            exts = list(exts) if isinstance(exts, list) else []
            if self._extension not in exts:
                item["stac_extensions"] = [*exts, self._extension]

    def _rewrite_asset(self, asset: dict[str, Any], base: str, collection: str, item_id: str,
                       key: str, token: str | None) -> bool:
        """True when an alternate was added."""
        href: str = asset["href"]
        server = is_server_path(href)
        # The store's key only matters for an alternate: a local store's lookup resolves the
        # path on disk, so it is skipped for server paths unless alternate.file is wanted.
        wanted = self.store is not None and (
            not server or self.alternate_file or href.startswith("/vsis3/"))
        stored = self.store.key_for_href(href) if wanted and self.store is not None else None
        if stored is None and not server:
            return False  # remote (https://, another bucket): as the provider published it
        url = "/".join((base, *(quote(p, safe="@:+,=~") for p in (collection, item_id, key))))
        asset["href"] = f"{url}?token={quote(token, safe='')}" if token else url
        alternate = asset.get("alternate")
        # An alternate of our own making may not carry a server path either.
        kept = {name: alt for name, alt in alternate.items()
                if not (isinstance(alt, dict) and isinstance(alt.get("href"), str)
                        and is_server_path(alt["href"]))} if isinstance(alternate, dict) else {}
        if stored is not None and self.store is not None:
            location = self.store.href(stored)
            if urlsplit(location).scheme == "s3":
                kept["s3"] = {"href": location, "title": "Object in the store's S3 bucket"}
            elif self.alternate_file:
                kept["file"] = {"href": location, "title": "File on the server"}
        if kept:
            asset["alternate"] = kept
        else:
            asset.pop("alternate", None)
        return bool(kept)


def share_token(request: Any) -> str | None:
    """The share-link token a request was read with (it goes into the hrefs), else None."""
    from catalog.access.middleware import credentials_of, is_credential_param, principal_of

    if principal_of(request).share is None:
        return None
    credential = credentials_of(request.scope)
    return credential if credential and is_credential_param("token", credential) else None


def keep_share_token(links: Any, token: str) -> None:
    """GET paging links keep a share link's ``token=sws_...`` (stac-fastapi's ``next`` link
    replaces the one ``token`` parameter with the paging token). The share token goes first:
    the access layer takes the ``sws_`` one as the credential, the API the last as the page."""
    for link in links if isinstance(links, list) else []:
        if not (isinstance(link, dict) and link.get("rel") in ("next", "prev", "previous")
                and str(link.get("method", "GET")).upper() == "GET"
                and isinstance(link.get("href"), str)):
            continue
        parts = urlsplit(link["href"])
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if not (k == "token" and v == token)]
        query.insert(0, ("token", token))
        link["href"] = urlunsplit(parts._replace(query=urlencode(query)))


class AssetHrefsMiddleware:
    """Rewrites the items of JSON responses on some paths (a service's own item lists, e.g. the
    tiler's ``.../assets`` routes) as :class:`AssetLinks` does for the STAC API.

    Sits inside the access middleware (it reads the request's principal when the answer is
    sent) and inside any compression (it reads the plain body).
    """

    def __init__(self, app: ASGIApp, *, links: AssetLinks, paths: re.Pattern[str]) -> None:
        self.app = app
        self.links = links
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if not self.paths.search(app_path(scope)):
            await self.app(scope, receive, send)
            return

        async def finish(start: Message, body: bytes) -> None:
            await self._finish(scope, start, body, send)

        await self.app(scope, receive, buffered(send, finish))

    async def _finish(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        headers = MutableHeaders(scope=start)
        if start["status"] == 200 and "json" in headers.get("content-type", "") \
                and "content-encoding" not in headers:
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            items = doc.get("features") if isinstance(doc, dict) else doc
            if isinstance(items, list):
                request = Request(scope)
                self.links.rewrite_items(items, str(request.base_url), share_token(request))
                body = json.dumps(doc, separators=(",", ":")).encode()
                headers["content-length"] = str(len(body))
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})
