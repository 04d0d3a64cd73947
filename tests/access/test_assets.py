"""Asset downloads (``/assets/{collection}/{item}/{asset}``) under the access rules.

Every principal against public, private and shared collections; the exact bytes from the local
store (with ETag, Range, 304); a presigned redirect from S3 (moto_server over HTTP); and one
404 body for everything that cannot be served (hidden, missing, outside the store).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.access.conftest import COLLECTIONS, PRIVATE, PUBLIC, SHARED, Secured
from tests.access.test_access import NO_TRACE, PRINCIPALS, SEES
from tests.harness import moto_server, serve
from tests.samples import bbox_item

NOT_FOUND = {"code": "NotFoundError", "description": "Asset not found."}
#: Away from the bbox (10,40,11,41) the other access tests search.
BBOX = [20, 40, 21, 41]


def _data(cid: str) -> bytes:
    return hashlib.sha256(cid.encode()).digest() * 512 + cid.encode()  # ~16 KiB, distinct


def _item(cid: str, iid: str, assets: dict[str, str]) -> dict[str, Any]:
    return bbox_item(cid, iid, BBOX, "2020-06-01T00:00:00Z",
                     {k: {"href": v, "type": "image/tiff"} for k, v in assets.items()})


def _put_item(secured: Secured, item: dict[str, Any]) -> None:
    cid, iid = item["collection"], item["id"]
    httpx.delete(f"{secured.base}/stac/collections/{cid}/items/{iid}",
                 headers=secured.headers("admin"), timeout=30)
    r = secured.post("admin", f"/stac/collections/{cid}/items", item)
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def local_assets(secured: Secured, stacworks_env: dict[str, str]) -> dict[str, bytes]:
    """One item per collection with an asset in the local store, plus assets that must never
    be served: outside the store, missing from it, and (in the public collection) pointing
    into the private collection's objects."""
    from objectstore import LocalStore

    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects")
    data = {}
    for cid in COLLECTIONS:
        key = f"{cid}/{cid}-dl/data.tif"
        store.put_bytes(key, _data(cid))
        data[cid] = _data(cid)
        _put_item(secured, _item(cid, f"{cid}-dl", {
            "data": store.href(key),
            "fileurl": "file://" + store.href(key),
            "outside": "/etc/passwd",
            "dotdot": store.href(key).replace(f"/{cid}/", f"/{cid}/../{cid}/"),
            "http": "http://169.254.169.254/latest/meta-data/",
            "missing": store.href(f"{cid}/{cid}-dl/nothing.tif"),
            "intoprivate": store.href(f"{PRIVATE}/{PRIVATE}-dl/data.tif"),
        }))
    return data


def _url(cid: str, asset: str = "data", item: str | None = None) -> str:
    return f"/assets/{cid}/{item or cid + '-dl'}/{asset}"


def _is_stable_404(r: httpx.Response) -> bool:
    return r.status_code == 404 and r.json() == NOT_FOUND and not NO_TRACE.search(r.text)


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("cid", COLLECTIONS)
def test_download_follows_the_access_table(
    secured: Secured, local_assets: dict[str, bytes], who: str, cid: str
) -> None:
    r = secured.get(who, _url(cid))
    if cid in SEES[who]:
        assert r.status_code == 200, (who, cid, r.status_code, r.text[:200])
        assert r.content == local_assets[cid]
        assert r.headers["content-length"] == str(len(local_assets[cid]))
        assert r.headers["content-type"] == "image/tiff"
        assert r.headers["etag"].startswith('"')
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment")
    else:
        assert _is_stable_404(r), (who, cid, r.status_code, r.text[:200])


def test_share_link_and_key_in_the_query(secured: Secured, local_assets: dict[str, bytes]) -> None:
    share, viewer = secured.tokens["share"], secured.tokens["viewer"]
    r = httpx.get(secured.base + _url(SHARED), params={"token": share}, timeout=30)
    assert r.status_code == 200 and r.content == local_assets[SHARED]
    assert _is_stable_404(httpx.get(secured.base + _url(PRIVATE), params={"token": share}))
    r = httpx.get(secured.base + _url(SHARED), params={"key": viewer}, timeout=30)
    assert r.status_code == 200 and r.content == local_assets[SHARED]
    bad = httpx.get(secured.base + _url(PUBLIC), params={"key": "swk_00000000_nope"})
    assert bad.status_code == 401


def test_range_etag_and_head(secured: Secured, local_assets: dict[str, bytes]) -> None:
    data = local_assets[PUBLIC]
    url = secured.base + _url(PUBLIC)
    r = httpx.get(url, headers={"Range": "bytes=10-99"}, timeout=30)
    assert r.status_code == 206 and r.content == data[10:100]
    assert r.headers["content-range"] == f"bytes 10-99/{len(data)}"
    etag = secured.get("anonymous", _url(PUBLIC)).headers["etag"]
    again = httpx.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    # A hidden collection's asset is the same 404 for HEAD and for other methods.
    assert httpx.head(secured.base + _url(PRIVATE)).status_code == 404
    assert _is_stable_404(httpx.post(secured.base + _url(PRIVATE)))


@pytest.mark.parametrize("asset", ["outside", "fileurl", "dotdot", "http", "missing",
                                   "intoprivate", "nope"])
def test_unservable_assets_are_one_404(
    secured: Secured, local_assets: dict[str, bytes], asset: str
) -> None:
    """Outside the store, missing, no such asset or item, a hidden collection: one body."""
    if asset == "fileurl":  # a file: URL inside the store is fine
        r = secured.get("admin", _url(PUBLIC, asset))
        assert r.status_code == 200 and r.content == local_assets[PUBLIC]
        return
    r = secured.get("anonymous", _url(PUBLIC, asset))
    assert _is_stable_404(r), (asset, r.status_code, r.text[:200])
    assert "passwd" not in r.text and "169.254" not in r.text
    for other in (_url(PUBLIC, item="nope"), _url(PRIVATE), _url("no-such-collection"),
                  "/assets/%00/x/y"):
        assert secured.get("anonymous", other).json() == r.json()
    if asset == "intoprivate":  # the owner of the private collection may follow it
        got = secured.get("editor", _url(PUBLIC, asset))
        assert got.status_code == 200 and got.content == local_assets[PRIVATE]


# -- S3: a presigned, expiring redirect -------------------------------------------------------


@pytest.fixture(scope="module")
def s3_assets(
    secured: Secured, stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, bytes, str]]:
    """A second server (the assets service alone) whose store is a bucket on moto_server;
    yields (its base URL, the object's bytes, the item's S3 href)."""
    import boto3

    from objectstore import S3Store

    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test",
                     ).create_bucket(Bucket="assets")
        store = S3Store("assets", "objects", endpoint_url=endpoint, region="us-east-1",
                        access_key_id="test", secret_access_key="test")
        key = f"{PRIVATE}/{PRIVATE}-s3/data.tif"
        data = os.urandom(50_000)
        store.put_bytes(key, data)
        _put_item(secured, _item(PRIVATE, f"{PRIVATE}-s3", {
            "data": store.href(key),
            "otherbucket": f"s3://other/objects/{key}",
            "missing": store.href(f"{PRIVATE}/{PRIVATE}-s3/nothing.tif"),
        }))
        env = {
            **{k: v for k, v in stacworks_env.items() if not k.startswith("AWS_")},
            "STACWORKS_AUTH_ENABLED": "true",
            "STACWORKS_STORE": "s3://assets/objects",
            "STACWORKS_S3_ENDPOINT": endpoint,
            "STACWORKS_S3_ACCESS_KEY_ID": "test",
            "STACWORKS_S3_SECRET_ACCESS_KEY": "test",
            "STACWORKS_ASSETS_URL_EXPIRES_S": "120",
        }
        log = tmp_path_factory.mktemp("assets-s3") / "serve.log"
        with serve(env, "assets", log=log) as base:
            yield base, data, store.href(key)


def test_s3_asset_redirects_to_a_presigned_url(
    secured: Secured, s3_assets: tuple[str, bytes, str]
) -> None:
    base, data, href = s3_assets
    url = f"{base}/assets/{PRIVATE}/{PRIVATE}-s3/data"
    r = httpx.get(url, headers=secured.headers("editor"), timeout=30)
    assert r.status_code == 307, r.text
    location = r.headers["location"]
    assert "no-store" in r.headers["cache-control"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
    assert secured.tokens["editor"] not in location  # our credential never travels on
    fetched = httpx.get(location, timeout=30)  # no credentials: the signature is the key
    assert fetched.status_code == 200 and fetched.content == data
    # The same rules as the local store: hidden -> the one 404, never a redirect.
    for who in ("anonymous", "viewer", "editor2", "share"):
        got = httpx.get(url, headers=secured.headers(who), timeout=30)
        assert _is_stable_404(got), (who, got.status_code)
    for asset in ("otherbucket", "missing"):
        got = httpx.get(f"{base}/assets/{PRIVATE}/{PRIVATE}-s3/{asset}",
                        headers=secured.headers("admin"), timeout=30)
        assert _is_stable_404(got), (asset, got.status_code)
    # The local-store server refuses the S3 href: outside its store.
    assert _is_stable_404(secured.get("admin", f"/assets/{PRIVATE}/{PRIVATE}-s3/data"))
    assert href.startswith("s3://assets/objects/")
