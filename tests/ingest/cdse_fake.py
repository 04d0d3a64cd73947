"""A Copernicus Data Space Ecosystem stand-in on loopback, for eodag's real ``cop_dataspace``
provider configuration with its endpoints overridden (``EODAG__COP_DATASPACE__...``).

- ``GET /odata/v1/Products``: replays the recorded OData search response
  (provider-responses/eodag/cop_dataspace_search.json) unchanged, except that its
  ``@odata.nextLink`` points back here (later pages are empty);
- ``/auth/realms/CDSE/...``: a Keycloak-shaped OIDC discovery document, JWKS and password-grant
  token endpoint issuing RS256 JWTs for the ``CLOUDFERRO_PUBLIC`` audience (as CDSE does);
- ``GET /odata/v1/Products(<Id>)/$value``: the product archive, only with a valid ``token=``.

Every request is recorded (method, path, query, form) so tests assert on what eodag sent.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

RECORDED = Path("provider-responses/eodag/cop_dataspace_search.json")
REALM = "/auth/realms/CDSE"
PRODUCTS = "/odata/v1/Products"
AUDIENCE = "CLOUDFERRO_PUBLIC"
_VALUE = re.compile(r"/odata/v1/Products\(([0-9a-f-]{36})\)/\$value")


@dataclass
class Seen:
    """One request as the server received it (query and form values decoded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class FakeCdse:
    recorded: dict[str, Any]
    archive: bytes
    username: str
    password: str
    base: str = ""
    #: Status the search / token / OIDC endpoints answer with instead of 200 (None: 200).
    search_status: int | None = None
    token_status: int | None = None
    oidc_status: int | None = None
    seen: list[Seen] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def oidc_config_url(self) -> str:
        return f"{self.base}{REALM}/.well-known/openid-configuration"

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def eodag_env(self, cfg_dir: Path) -> dict[str, str]:
        """eodag's settings for the bundled ``cop_dataspace`` provider pointed at this server:
        only its endpoints change (environment overrides, eodag's documented mechanism)."""
        cfg_dir.mkdir(parents=True, exist_ok=True)
        (cfg_dir / "eodag.yml").write_text("")
        (cfg_dir / "ext.json").write_text("{}")
        return {
            "EODAG_CFG_DIR": str(cfg_dir),
            "EODAG_EXT_COLLECTIONS_CFG_URI": str(cfg_dir / "ext.json"),
            "EODAG_PROVIDERS_WHITELIST": '["cop_dataspace"]',
            "EODAG__COP_DATASPACE__SEARCH__API_ENDPOINT": f"{self.base}{PRODUCTS}",
            "EODAG__COP_DATASPACE__SEARCH__METADATA_MAPPING__EODAG_DOWNLOAD_LINK": (
                f"{self.base}{PRODUCTS}({{uid}})/$value"
            ),
            "EODAG__COP_DATASPACE__AUTH__OIDC_CONFIG_URL": self.oidc_config_url,
            "EODAG__COP_DATASPACE__AUTH__MATCHING_URL": self.base,
        }

    # -- documents ---------------------------------------------------------------------------

    def search_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        if query.get("$skip", ["0"])[0] != "0":
            return {"@odata.context": self.recorded["@odata.context"], "value": []}
        page = dict(self.recorded)
        page["@odata.nextLink"] = page["@odata.nextLink"].replace(
            "https://catalogue.dataspace.copernicus.eu", self.base
        )
        return page

    def oidc_config(self) -> dict[str, Any]:
        oidc = f"{self.base}{REALM}/protocol/openid-connect"
        return {
            "issuer": f"{self.base}{REALM}",
            "authorization_endpoint": f"{oidc}/auth",
            "token_endpoint": f"{oidc}/token",
            "jwks_uri": f"{oidc}/certs",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        pub = self.key.public_key().public_numbers()
        return {
            "keys": [
                {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256"}
                | {"n": _b64(pub.n), "e": _b64(pub.e)}
            ]
        }

    def grant(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Keycloak's password grant: a token for the right user, its 401 body otherwise."""
        if self.token_status:
            return self.token_status, {"error": "temporarily_unavailable"}
        ok = (
            form.get("grant_type") == ["password"]
            and form.get("client_id") == ["cdse-public"]
            and form.get("username") == [self.username]
            and form.get("password") == [self.password]
        )
        if not ok:
            return 401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}
        now = int(time.time())
        claims = {"sub": "user-1", "aud": AUDIENCE, "iat": now, "exp": now + 600}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
        self.tokens.append(token)
        return 200, {"access_token": token, "expires_in": 600, "token_type": "Bearer"}

    def authorised(self, query: dict[str, list[str]]) -> bool:
        token = (query.get("token") or [""])[0]
        try:
            jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=AUDIENCE)
        except jwt.PyJWTError:
            return False
        return True


def _b64(n: int) -> str:
    return (
        base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
    )


def _handler(fake: FakeCdse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode())

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            fake.seen.append(Seen("GET", path, query))
            if path == PRODUCTS:
                if fake.search_status:
                    return self._json(fake.search_status, {"detail": "simulated"})
                return self._json(200, fake.search_page(query))
            if path == f"{REALM}/.well-known/openid-configuration":
                return self._json(fake.oidc_status or 200, fake.oidc_config())
            if path == f"{REALM}/protocol/openid-connect/certs":
                return self._json(200, fake.jwks())
            if _VALUE.fullmatch(path):
                if not fake.authorised(query):
                    return self._json(401, {"detail": "Expired signature!"})
                return self._send(200, fake.archive, "application/zip")
            self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            size = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(size).decode())
            path = unquote(urlsplit(self.path).path)
            fake.seen.append(Seen("POST", path, {}, form))
            if path == f"{REALM}/protocol/openid-connect/token":
                return self._json(*fake.grant(form))
            self._send(404, b"not found", "text/plain")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_cdse(data: Path, archive: bytes, username: str, password: str) -> Iterator[FakeCdse]:
    """The fake on a free loopback port, for the ``with`` block."""
    fake = FakeCdse(json.loads((data / RECORDED).read_text()), archive, username, password)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
