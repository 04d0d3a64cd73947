"""Guessing credentials, and looking for them in answers and logs, against a real
`stacworks serve` with access control on (the session catalog, read only).

Before: 200 wrong API keys in 10 s from one address were 200 plain 401s and no log line.
Now: past ``STACWORKS_AUTH_FAIL_LIMIT`` failures in a window an address gets 429 with
Retry-After (other addresses and anonymous requests do not), each failure is logged with the
key id only, and no key or share-link token shows in any error answer or in the server log.
Client addresses are simulated with ``X-Forwarded-For`` (the server trusts loopback proxies).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.hardening.capped import Capped, capped_serve

FAIL_LIMIT = 5
FAIL_WINDOW_S = 4


@dataclass
class Guarded:
    server: Capped
    key: str
    share: str


@pytest.fixture(scope="module")
def guarded(stacworks_env: dict[str, str], sample_loaded: Any, dsn: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    from catalog.access import AccessRecords

    env = {
        **stacworks_env,
        "STACWORKS_AUTH_ENABLED": "true",
        "STACWORKS_AUTH_FAIL_LIMIT": str(FAIL_LIMIT),
        "STACWORKS_AUTH_FAIL_WINDOW_S": str(FAIL_WINDOW_S),
    }
    key = AccessRecords(dsn, pooled=False).create_key("hardening auth", "admin")["token"]
    log = tmp_path_factory.mktemp("hardening-auth") / "serve.log"
    with capped_serve(env, log, "--access-log") as server:
        r = httpx.post(f"{server.base}/admin/shares", json={"collection": "joplin"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 201, r.text
        yield Guarded(server=server, key=key, share=r.json()["token"])


def _from(address: str, credential: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return headers


def _tampered(token: str) -> str:
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


def test_failed_credentials_are_rate_limited_per_address(guarded: Guarded) -> None:
    base, attacker, neighbour = guarded.server.base, "203.0.113.7", "198.51.100.9"
    wrong = "swk_deadbeef_" + "x" * 43
    for _ in range(FAIL_LIMIT):
        r = httpx.get(f"{base}/stac/search", headers=_from(attacker, wrong), timeout=30)
        assert r.status_code == 401, r.text
    for credential in (wrong, guarded.key):  # once blocked, no credential is even checked
        r = httpx.get(f"{base}/stac/search", headers=_from(attacker, credential), timeout=30)
        assert r.status_code == 429, r.text
        assert set(r.json()) == {"code", "description"}
        assert 1 <= int(r.headers["Retry-After"]) <= FAIL_WINDOW_S
    # a page of another origin can read the refusal and its Retry-After
    r = httpx.get(f"{base}/stac/search", timeout=30,
                  headers={**_from(attacker, wrong), "Origin": "https://maps.example.org"})
    assert r.status_code == 429 and r.headers["access-control-allow-origin"] == "*"
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    # Other addresses, and anonymous requests from the same one, are not held back.
    assert httpx.get(f"{base}/stac/search", headers=_from(neighbour, guarded.key),
                     timeout=30).status_code == 200
    assert httpx.get(f"{base}/stac/", headers=_from(attacker), timeout=30).status_code == 200
    time.sleep(FAIL_WINDOW_S + 0.5)
    assert httpx.get(f"{base}/stac/search", headers=_from(attacker, guarded.key),
                     timeout=30).status_code == 200
    log = guarded.server.log_text()
    assert log.count("authentication failed from 203.0.113.7 with swk_deadbeef") == FAIL_LIMIT
    assert "x" * 43 not in log


def _requests(base: str, credential: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Error-producing requests carrying ``credential`` in every way a client sends one (and
    as the paging ``token`` of a search body, where a share link's token may land); never in
    a field whose value an error may rightly quote back."""
    deep = "(" * 40 + "id='x'" + ")" * 40
    header = {"headers": {"Authorization": f"Bearer {credential}"}}
    return [
        ("GET", f"{base}/stac/search?limit=abc", header),
        ("GET", f"{base}/stac/search", {"params": {"key": credential, "limit": "abc"}}),
        ("GET", f"{base}/stac/search", {"params": {"token": credential, "bbox": "1,2"}}),
        ("GET", f"{base}/stac/search", {"params": {"key": credential, "filter": deep}}),
        ("GET", f"{base}/stac/search", {"params": {"key": credential, "pad": "a" * 20_000}}),
        ("GET", f"{base}/stac/collections/nope", {"params": {"key": credential}}),
        ("POST", f"{base}/stac/search", {**header, "json": {"token": credential}}),
        ("POST", f"{base}/stac/search", {**header, "json": {"limit": "abc"}}),
        ("POST", f"{base}/stac/search", {**header, "content": b"{not json"}),
        ("GET", f"{base}/tiles/collections/joplin/tiles/WebMercatorQuad/1/2/3.png",
         {"params": {"key": credential, "bidx": "abc"}}),
        ("GET", f"{base}/tiles/collections/nope/tilejson.json", {"params": {"token": credential}}),
        ("GET", f"{base}/tiles/searches/nope/info", {"params": {"key": credential}}),
        ("GET", f"{base}/jobs/nope", {"params": {"key": credential}}),
        ("GET", f"{base}/processes/nope", header),
        ("POST", f"{base}/ingest/runs", {**header, "json": {"source": "nope"}}),
        ("GET", f"{base}/admin/whoami", {"params": {"access_token": credential}}),
        ("POST", f"{base}/admin/keys", {**header, "json": {"name": "n", "role": "x"}}),
        ("GET", f"{base}/assets/joplin/nope/data", {"params": {"key": credential}}),
        ("GET", f"{base}/stac/search", {"headers": {"Authorization": f"Basic {credential}"}}),
    ]


def test_credentials_never_in_error_answers_or_logs(guarded: Guarded) -> None:
    """Error answers (401, 404, 400, 413/414, 422...) carry neither the credential sent nor
    its secret part, nor does the server log (access log on). Links a map client fetched
    with ``?key=`` keep that key by design (README): those are successes, not checked here."""
    base = guarded.server.base
    credentials = [guarded.key, guarded.share, _tampered(guarded.key), _tampered(guarded.share)]
    answers = 0
    for i, credential in enumerate(credentials):
        secret = credential.split("_", 2)[2]
        for method, url, kw in _requests(base, credential):
            kw = {**kw, "headers": {**kw.get("headers", {}), "X-Forwarded-For": f"192.0.2.{i}"}}
            r = httpx.request(method, url, timeout=30, **kw)
            assert r.status_code < 500, (url, r.status_code, r.text[:300])
            if r.status_code >= 400:
                answers += 1
                assert secret not in r.text, (method, url, r.status_code, r.text[:300])
                assert all(secret not in v for v in r.headers.values()), (url, r.headers)
    assert answers >= 3 * len(credentials)
    log = guarded.server.log_text()
    for credential in credentials:
        assert credential.split("_", 2)[2] not in log
    assert "authentication failed from 192.0.2.2 with swk_" in log  # tampered key: id only
