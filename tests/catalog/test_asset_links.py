"""Asset hrefs in responses (catalog.asset_links) and conformance URIs, without a server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from catalog.asset_links import ALTERNATE_ASSETS, AssetLinks, is_server_path, keep_share_token
from catalog.conformance import both_versions
from objectstore import LocalStore, S3Store

API = "https://eo.example.org/prefix/stac/"


def _item(hrefs: dict[str, str]) -> dict[str, Any]:
    return {"type": "Feature", "id": "scene-1", "collection": "c1", "stac_extensions": [],
            "assets": {k: {"href": h, "type": "image/tiff"} for k, h in hrefs.items()}}


def test_local_store_objects_become_download_urls(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes("c1/scene-1/red.tif", b"II*\x00")
    inside = store.href("c1/scene-1/red.tif")
    item = _item({"red": inside, "elsewhere": "/etc/passwd", "vsi": "/vsicurl/http://x/y.tif",
                  "remote": "https://data.example.com/a.tif", "bucket": "s3://other/a.tif"})
    AssetLinks(store).rewrite_items([item], API)
    a = item["assets"]
    assert a["red"]["href"] == "https://eo.example.org/prefix/assets/c1/scene-1/red"
    # Every server path becomes a URL (which /assets refuses with its 404), never shown as is.
    assert a["elsewhere"]["href"].endswith("/assets/c1/scene-1/elsewhere")
    assert a["vsi"]["href"].endswith("/assets/c1/scene-1/vsi")
    assert a["remote"]["href"] == "https://data.example.com/a.tif"
    assert a["bucket"]["href"] == "s3://other/a.tif"
    assert "alternate" not in a["red"] and ALTERNATE_ASSETS not in item["stac_extensions"]
    assert str(tmp_path) not in str(item)
    # Opt-in (same machine): the stored path as alternate.file.
    again = _item({"red": inside})
    AssetLinks(store, alternate_file=True).rewrite_items([again], API, token="sws_ab12cd34_x")
    red = again["assets"]["red"]
    assert red["href"].endswith("/assets/c1/scene-1/red?token=sws_ab12cd34_x")
    assert red["alternate"]["file"]["href"] == inside
    assert again["stac_extensions"] == [ALTERNATE_ASSETS]


def test_s3_objects_get_an_s3_alternate() -> None:
    store = S3Store("bucket", "objects", endpoint_url="http://127.0.0.1:9", region="us-east-1",
                    access_key_id="test", secret_access_key="test")
    item = _item({"data": "s3://bucket/objects/c1/scene-1/data.tif",
                  "vsis3": "/vsis3/bucket/objects/c1/scene-1/data.tif",
                  "public": "s3://sentinel-cogs/a.tif"})
    links = AssetLinks(store, assets_url="https://cdn.example.org/assets/")
    links.rewrite_items([item], API)
    a = item["assets"]
    assert a["data"]["href"] == "https://cdn.example.org/assets/c1/scene-1/data"
    assert a["data"]["alternate"]["s3"]["href"] == "s3://bucket/objects/c1/scene-1/data.tif"
    assert a["vsis3"]["alternate"]["s3"]["href"] == "s3://bucket/objects/c1/scene-1/data.tif"
    assert a["public"] == {"href": "s3://sentinel-cogs/a.tif", "type": "image/tiff"}
    assert item["stac_extensions"] == [ALTERNATE_ASSETS]


def test_items_without_assets_or_ids_are_left_alone(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    docs: list[Any] = [{"id": "x"}, {"collection": "c", "assets": {"a": {"href": "/x"}}},
                       {"id": "i", "collection": "c", "assets": {"a": {"type": "t"}}}, "junk"]
    before = copy.deepcopy(docs)
    AssetLinks(store).rewrite_items(docs, API)
    assert docs == before


@pytest.mark.parametrize(("href", "server"), [
    ("/data/x.tif", True), ("file:///data/x.tif", True), ("C:\\data\\x.tif", True),
    ("/vsis3/b/k", True), ("//cdn.example.org/x.tif", False), ("https://x/y", False),
    ("s3://b/k", False), ("x.tif", False),
])
def test_server_paths(href: str, server: bool) -> None:
    assert is_server_path(href) is server


def test_get_paging_links_keep_a_share_token_first() -> None:
    links: list[dict[str, Any]] = [{"rel": "next", "method": "GET",
              "href": "https://h/stac/search?limit=3&token=next%3Aabc"},
             {"rel": "next", "method": "POST", "href": "https://h/stac/search",
              "body": {"token": "next:abc"}}, {"rel": "self", "href": "https://h/stac/search"}]
    keep_share_token(links, "sws_ab12cd34_secret")
    assert links[0]["href"] == ("https://h/stac/search?token=sws_ab12cd34_secret&limit=3"
                                "&token=next%3Aabc")
    assert links[1]["href"] == "https://h/stac/search" and links[2]["href"].endswith("/search")


def test_conformance_in_both_versions() -> None:
    out = both_versions([
        "https://api.stacspec.org/v1.1.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
        "https://api.stacspec.org/v1.0.0/core",
    ])
    assert out == [
        "https://api.stacspec.org/v1.1.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "https://api.stacspec.org/v1.0.0/item-search#filter",
        "https://api.stacspec.org/v1.1.0/item-search#filter",
        "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
        "https://api.stacspec.org/v1.1.0/ogcapi-features#fields",
        "https://api.stacspec.org/v1.0.0/core",
    ]
