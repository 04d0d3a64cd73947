"""A second server on the session database, with access control on, and its principals.

The legacy suites run with ``STACWORKS_AUTH_ENABLED=false``; this one serves the same database
with the defaults (access control on) plus low rate limits and an OIDC provider on loopback.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import serve
from tests.samples import COG_TYPE, bbox_item

ISSUER = "https://idp.example.test/"
AUDIENCE = "stacworks-tests"
PUBLIC, PRIVATE, SHARED = "acc-public", "acc-private", "acc-shared"
COLLECTIONS = (PUBLIC, PRIVATE, SHARED)


RENDERS = {"rgb": {"title": "RGB", "assets": ["data"], "asset_bidx": "data|1,2,3"}}


def collection(cid: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "description": cid,
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[10, 40, 11, 41]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "renders": RENDERS,
    }


def item(cid: str, iid: str | None = None, href: str | None = None) -> dict[str, Any]:
    """An item over (10, 40, 11, 41); ``href``: its ``data`` asset (a COG in the store)."""
    return bbox_item(cid, iid or f"{cid}-item", (10, 40, 11, 41), "2020-06-01T00:00:00Z",
                     {"data": {"href": href or f"/nowhere/{cid}.tif", "type": COG_TYPE}},
                     renders=RENDERS)


@dataclass
class Oidc:
    url: str
    private_key: Any
    kid: str = "test-key"

    def token(
        self,
        sub: str,
        role: str | None = "viewer",
        *,
        key: Any = None,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        expires_in: int = 300,
    ) -> str:
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "aud": audience,
            "exp": int(time.time()) + expires_in,
            "iat": int(time.time()),
        }
        if role:
            claims["stacworks_role"] = role
        return jwt.encode(
            claims, key or self.private_key, algorithm="RS256", headers={"kid": self.kid}
        )


@dataclass
class Secured:
    base: str
    log: Path
    tokens: dict[str, str | None] = field(default_factory=dict)
    principals: dict[str, str] = field(default_factory=dict)
    oidc: Oidc | None = None
    #: collection -> href of its item's ``data`` COG in the local store
    hrefs: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        token = self.tokens.get(who)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, who: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.headers(who), timeout=30, **kw)

    def post(self, who: str, path: str, body: Any, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, headers=self.headers(who), json=body, timeout=30, **kw)


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Oidc]:
    """A JWKS document served on loopback for a locally generated RSA key pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()
    jwks = json.dumps(
        {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": "test-key",
                    "use": "sig",
                    "alg": "RS256",
                    "n": _b64(pub.n),
                    "e": _b64(pub.e),
                }
            ]
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Oidc(url=f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private_key=key)
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def secured(
    stacworks_env: dict[str, str],
    dsn: str,
    oidc_provider: Oidc,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Secured]:
    from catalog.access import AccessRecords

    env = {
        **stacworks_env,
        "STACWORKS_AUTH_ENABLED": "true",
        "STACWORKS_AUTH_RATE_REGISTER": "5",
        "STACWORKS_AUTH_RATE_WINDOW_S": "3600",
        # This suite sends hundreds of bad credentials on purpose (tests/hardening checks the
        # failed-authentication limit itself).
        "STACWORKS_AUTH_FAIL_LIMIT": "1000000",
        "STACWORKS_AUTH_OIDC_ISSUER": ISSUER,
        "STACWORKS_AUTH_OIDC_AUDIENCE": AUDIENCE,
        "STACWORKS_AUTH_OIDC_JWKS_URL": oidc_provider.url,
    }
    store = AccessRecords(dsn, pooled=False)
    keys = {role: store.create_key(f"test {role}", role) for role in ("admin", "editor", "viewer")}
    keys["editor2"] = store.create_key("test other editor", "editor")
    log = tmp_path_factory.mktemp("access-logs") / "serve.log"
    with serve(env, "--access-log", log=log) as base:
        s = Secured(base=base, log=log, oidc=oidc_provider)
        s.tokens = {"anonymous": None, **{k: v["token"] for k, v in keys.items()}}
        s.principals = {k: v["principal"] for k, v in keys.items()}
        _populate(s, store, Path(stacworks_env["STACWORKS_HOME"]),
                  tmp_path_factory.mktemp("access-cogs"))
        yield s


def small_cog(folder: Path, seed: int) -> Path:
    """A 3-band 256x256 uint8 COG over the items' footprint, so tiles render real pixels."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds

    path = folder / f"small-{seed}.tif"
    data = np.random.default_rng(seed).integers(1, 255, (3, 256, 256), dtype=np.uint8)
    profile = {"driver": "COG", "width": 256, "height": 256, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": from_bounds(10, 40, 11, 41, 256, 256)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _populate(s: Secured, store: Any, home: Path, scratch: Path) -> None:
    """public (admin's, made public), private and shared (the editor's); viewer granted read
    on shared; a share link for shared. Each has one item with a real COG in the store."""
    from objectstore import LocalStore

    objects = LocalStore(home / "objects")
    for n, (cid, owner) in enumerate(
        ((PUBLIC, "admin"), (PRIVATE, "editor"), (SHARED, "editor"))
    ):
        httpx.delete(f"{s.base}/stac/collections/{cid}", headers=s.headers("admin"), timeout=30)
        r = s.post(owner, "/stac/collections", collection(cid))
        assert r.status_code in (200, 201), r.text
        key = f"{cid}/{cid}-item/data.tif"
        objects.put_file(key, small_cog(scratch, n))
        s.hrefs[cid] = objects.href(key)
        r = s.post(owner, f"/stac/collections/{cid}/items", item(cid, href=s.hrefs[cid]))
        assert r.status_code in (200, 201), r.text
    r = httpx.put(
        f"{s.base}/admin/collections/{PUBLIC}/visibility",
        json={"visibility": "public"},
        headers=s.headers("admin"),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    r = s.post(
        "editor",
        "/admin/grants",
        {"principal": s.principals["viewer"], "collection": SHARED, "permission": "read"},
    )
    assert r.status_code == 201, r.text
    r = s.post("editor", "/admin/shares", {"collection": SHARED, "expires_in_hours": 1})
    assert r.status_code == 201, r.text
    s.tokens["share"] = r.json()["token"]
    s.principals["share"] = r.json()["id"]
    # OIDC principal with a read grant on the private collection.
    # Long-lived: the session-wide principal must outlive a slow suite (a busy CI machine).
    s.tokens["oidc"] = s.oidc.token(  # type: ignore[union-attr]
        "alice", "viewer", expires_in=3 * 3600
    )
    store.grant("oidc:alice", PRIVATE, "read")


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "COLLECTIONS",
    "PRIVATE",
    "PUBLIC",
    "SHARED",
    "Secured",
    "collection",
    "item",
    "timedelta",
    "utcnow",
]
