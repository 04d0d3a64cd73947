"""The access HTTP API (``/admin``): keys, collection visibility, grants, share links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from catalog.errors import CatalogError
from catalog.validation import storable_input

from .middleware import Access, Denied, install_access, principal_of, role_at_least
from .model import Principal
from .policies import RoleGate
from .records import AccessRecords
from .settings import AccessSettings

__all__ = ["AccessAdminFactory", "create_admin_app"]


class KeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "editor", "viewer"]
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class VisibilityRequest(BaseModel):
    visibility: Literal["private", "public"]


class GrantRequest(BaseModel):
    principal: str = Field(min_length=1, max_length=300)
    collection: str = Field(min_length=1, max_length=300)
    permission: Literal["read", "write"]


class ShareRequest(BaseModel):
    collection: str | None = Field(default=None, min_length=1, max_length=300)
    search: str | None = Field(default=None, min_length=1, max_length=300)
    expires_in_hours: float = Field(default=24 * 7, gt=0)


def _need(ok: bool, principal: Principal, what: str) -> None:
    if not ok:
        if principal.anonymous or principal.share is not None:
            raise Denied(401, "authentication required")
        raise Denied(403, what)


def add_exception_handlers(app: FastAPI) -> None:
    """Our errors, access refusals and request-validation errors as ``{code, description}``."""

    @app.exception_handler(CatalogError)
    async def _ours(request: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse({"code": type(exc).__name__, "description": str(exc)},
                            status_code=exc.status_code if exc.status_code < 500 else 500)

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> Response:
        codes = {400: "InvalidInput", 401: "Unauthorized", 403: "Forbidden", 404: "NotFoundError"}
        resp = JSONResponse({"code": codes.get(exc.status, "Error"), "description": exc.message},
                            status_code=exc.status)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="stacworks"'
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        return JSONResponse({"code": "InvalidInput", "description": f"{loc}: {err['msg']}"},
                            status_code=400)


@dataclass
class AccessAdminFactory:
    """The access API as one object: creating it registers every route on ``router``;
    :meth:`create_app` serves them. Every route's rule is written beside it (this *is* the
    model).

    Seams:
        access: the access model (its store of keys, grants and shares, and its settings).
            It is attached from outside as middleware (``install_access``) when the app is
            built; the routes only read the principal it resolved.
        router: where the routes go; include it in another app to compose a service.
    """

    access: Access
    router: APIRouter = field(default_factory=APIRouter)

    def __post_init__(self) -> None:
        self.register_keys()
        self.register_visibility()
        self.register_grants()
        self.register_shares()

    @property
    def store(self) -> AccessRecords:
        return self.access.store

    # -- the two rules most routes follow ------------------------------------------------------

    def admin_only(self, request: Request) -> Principal:
        p = principal_of(request)
        _need(p.admin, p, "an admin key is required")
        return p

    def collection_writer(self, request: Request, collection: str) -> Principal:
        """A writer of ``collection``: 404 when the caller cannot see it, 403 when read-only."""
        p = principal_of(request)
        _need(not p.anonymous and p.share is None, p, "")
        if not self.store.can_read(p, collection):
            raise Denied(404, f"Collection {collection} does not exist.")
        _need(self.store.can_write(p, collection), p, "no write access to this collection")
        return p

    # -- routes --------------------------------------------------------------------------------

    def register_keys(self) -> None:
        access, store, admin_only = self.access, self.store, self.admin_only

        @self.router.get("/whoami", summary="The caller's principal and role")
        def whoami(request: Request) -> dict[str, Any]:
            p = principal_of(request)
            return {"principal": p.id, "role": p.role, "anonymous": p.anonymous,
                    "share": p.share.id if p.share else None, "auth_enabled": access.enabled}

        @self.router.post("/keys", status_code=201,
                          summary="Create an API key (its token is shown once)")
        def create_key(request: Request, body: KeyRequest) -> dict[str, Any]:
            p = admin_only(request)
            expires = (datetime.now(UTC) + timedelta(days=body.expires_in_days)
                       if body.expires_in_days else None)
            return store.create_key(body.name, body.role, expires_at=expires, created_by=p.id)

        @self.router.get("/keys", summary="API keys (never their tokens)")
        def list_keys(request: Request) -> dict[str, Any]:
            admin_only(request)
            return {"keys": store.list_keys()}

        @self.router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
        def revoke_key(request: Request, key_id: str) -> Response:
            admin_only(request)
            store.revoke_key(key_id)
            return Response(status_code=204)

    def register_visibility(self) -> None:
        store, collection_writer = self.store, self.collection_writer

        @self.router.get("/collections/{collection_id}/visibility",
                         summary="A collection's visibility")
        def get_visibility(request: Request, collection_id: str) -> dict[str, Any]:
            if not store.can_read(principal_of(request), collection_id):
                raise Denied(404, f"Collection {collection_id} does not exist.")
            return store.visibility(collection_id)

        @self.router.put("/collections/{collection_id}/visibility",
                         summary="Make a collection public/private")
        def set_visibility(request: Request, collection_id: str,
                           body: VisibilityRequest) -> dict[str, Any]:
            collection_writer(request, collection_id)
            return store.set_visibility(collection_id, body.visibility)

    def register_grants(self) -> None:
        store, admin_only, collection_writer = self.store, self.admin_only, self.collection_writer

        @self.router.get("/grants",
                         summary="Grants (all for admins; one collection's for its writers)")
        def list_grants(
            request: Request, collection: Annotated[str | None, Query(max_length=300)] = None
        ) -> dict[str, Any]:
            if collection is None:
                admin_only(request)
            else:
                collection_writer(request, collection)
            return {"grants": store.list_grants(collection)}

        @self.router.post("/grants", status_code=201,
                          summary="Grant read or write on a collection")
        def grant(request: Request, body: GrantRequest) -> dict[str, Any]:
            p = collection_writer(request, body.collection)
            return store.grant(body.principal, body.collection, body.permission,
                               created_by=p.id)

        @self.router.delete("/grants", status_code=204, summary="Remove a grant")
        def revoke_grant(request: Request, principal: Annotated[str, Query(max_length=300)],
                         collection: Annotated[str, Query(max_length=300)]) -> Response:
            collection_writer(request, collection)
            store.revoke_grant(principal, collection)
            return Response(status_code=204)

    def register_shares(self) -> None:
        access, store, collection_writer = self.access, self.store, self.collection_writer

        @self.router.post("/shares", status_code=201,
                          summary="A share link for a collection or a search")
        def create_share(request: Request,
                         body: Annotated[ShareRequest, Body()]) -> dict[str, Any]:
            p = principal_of(request)
            if (body.collection is None) == (body.search is None):
                raise Denied(400, "give exactly one of collection or search")
            hours = min(body.expires_in_hours, access.settings.share_max_days * 24)
            if body.collection is not None:
                collection_writer(request, body.collection)
                return store.create_share("collection", body.collection, p,
                                          expires_in=timedelta(hours=hours))
            _need(role_at_least(p, "editor") and p.share is None, p,
                  "an editor key is required")
            assert body.search is not None
            return store.create_share("search", body.search, p,
                                      expires_in=timedelta(hours=hours))

        @self.router.get("/shares", summary="Share links (all for admins; one's own otherwise)")
        def list_shares(request: Request) -> dict[str, Any]:
            p = principal_of(request)
            _need(not p.anonymous and p.share is None, p, "")
            return {"shares": store.list_shares(None if p.admin else p.id)}

        @self.router.delete("/shares/{share_id}", status_code=204,
                            summary="Revoke a share link")
        def revoke_share(request: Request, share_id: str) -> Response:
            p = principal_of(request)
            _need(not p.anonymous and p.share is None, p, "")
            store.revoke_share(share_id, by=p)
            return Response(status_code=204)

    def create_app(self) -> FastAPI:
        app = FastAPI(title="stacworks access", openapi_url="/api", docs_url="/api.html",
                      dependencies=[Depends(storable_input)], redoc_url=None)
        add_exception_handlers(app)
        app.include_router(self.router)
        # The routes check their own rules (above); the middleware resolves the principal.
        install_access(app, self.access, RoleGate(rules=[], default=None))
        return app


def create_admin_app(dsn: str, settings: AccessSettings | None = None,
                     access: Access | None = None) -> FastAPI:
    """Build the access API (see :class:`AccessAdminFactory`)."""
    return AccessAdminFactory(access or Access(dsn, settings)).create_app()
