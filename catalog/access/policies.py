"""The STAC API's policy, and a role gate other services compose theirs from."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.responses import Response

from .middleware import COLLECTION_PATH, Denied, RequestInfo, default_error, role_at_least

__all__ = ["RoleGate", "StacPolicy", "require_collection"]

_WRITE = {"POST", "PUT", "PATCH", "DELETE"}


def require_collection(info: RequestInfo, collection_id: str, *, write: bool) -> None:
    """404 when the caller may not see it, then (writes) 401 anonymous / 403 no write."""
    store, principal = info.access.store, info.principal
    if write and principal.anonymous:
        raise Denied(401, "authentication required")
    readable = info.readable()
    if readable is not None and collection_id not in readable:
        raise Denied(404, f"Collection {collection_id} does not exist.")
    if write and not store.can_write(principal, collection_id):
        raise Denied(403, "no write access to this collection")


@dataclass
class StacPolicy:
    """Reads of a collection and its items need read; transactions need write (editor/admin).

    Lists and searches are filtered by ``request.state.readable`` in the client.
    """

    read_posts: tuple[str, ...] = ("/search",)

    def rate_bucket(self, method: str, path: str) -> str | None:
        return None

    def wants_body(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/") == "/collections"

    def search_scope(self, path: str) -> str | None:
        return None

    def check(self, info: RequestInfo) -> None:
        method, path = info.method, info.path
        write = method in _WRITE and path.rstrip("/") not in self.read_posts
        if path.rstrip("/") == "/collections" and method == "POST":
            self._create_collection(info)
            return
        m = COLLECTION_PATH.match(path)
        if m:
            require_collection(info, m.group(1), write=write)
        elif write:
            if info.principal.anonymous:
                raise Denied(401, "authentication required")
            if not role_at_least(info.principal, "editor"):
                raise Denied(403, "an editor or admin key is required")

    @staticmethod
    def _create_collection(info: RequestInfo) -> None:
        if info.principal.anonymous:
            raise Denied(401, "authentication required")
        if not role_at_least(info.principal, "editor"):
            raise Denied(403, "an editor or admin key is required")
        doc = info.json()
        cid = doc.get("id") if isinstance(doc, dict) else None
        if isinstance(cid, str) and cid:
            store = info.access.store
            if store.collection_exists(cid):
                require_collection(info, cid, write=True)
            else:
                store.claim_new_collection(cid, info.principal.id)

    def error(self, denied: Denied) -> Response:
        return default_error(denied)


@dataclass
class RoleGate:
    """Rules ``(methods, path regex, least role)``; the first match decides, else ``default``.

    ``owned`` adds a check for paths naming a resource (e.g. a job) that only its owner and
    admins may see: it returns the owner of the id in the path (None when there is none).
    """

    rules: Sequence[tuple[str, str, str | None]]
    default: str | None = "viewer"
    buckets: Sequence[tuple[str, str, str]] = ()
    owned: tuple[str, Callable[[str], str | None | bool]] | None = None
    errors: Callable[[Denied], Response] = default_error
    _compiled: list[tuple[set[str], re.Pattern[str], str | None]] = field(init=False)

    def __post_init__(self) -> None:
        self._compiled = [(set(m.split(",")), re.compile(p), r) for m, p, r in self.rules]
        self._buckets = [(set(m.split(",")), re.compile(p), b) for m, p, b in self.buckets]

    def rate_bucket(self, method: str, path: str) -> str | None:
        for methods, pattern, bucket in self._buckets:
            if method in methods and pattern.match(path):
                return bucket
        return None

    def wants_body(self, method: str, path: str) -> bool:
        return False

    def search_scope(self, path: str) -> str | None:
        return None

    def check(self, info: RequestInfo) -> None:
        need = self.default
        for methods, pattern, role in self._compiled:
            if (info.method in methods or "*" in methods) and pattern.match(info.path):
                need = role
                break
        if need is not None and not role_at_least(info.principal, need):
            if info.principal.anonymous or info.principal.share is not None:
                raise Denied(401, "authentication required")
            raise Denied(403, f"a key with role {need} or above is required")
        if self.owned is not None:
            m = re.match(self.owned[0], info.path)
            if m and not info.principal.admin:
                owner = self.owned[1](m.group(1))
                if owner is False or owner != info.principal.id:
                    raise Denied(404, "not found")

    def error(self, denied: Denied) -> Response:
        return self.errors(denied)
