"""key_for_href: the allow-list the tile server applies before opening anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from objectstore import InvalidKey, LocalStore, S3Store

KEY = "c/i/a.tif"


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "objects")
    store.put_bytes(KEY, b"a")
    return store


def local_attacks(root: str) -> list[object]:
    return [
        f"{root}/../outside.tif",
        f"{root}/c/../../etc/passwd",
        f"{root}/c/i/../../../etc/passwd",
        f"{root}/c/i/%2e%2e/%2e%2e/x.tif",
        f"file://{root}/c/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"file://{root}/c/i/%252e%252e/x.tif",
        f"file://{root}/c/i/a.tif%00.png",
        f"file://{root}/c/i/a.tif?x=1",
        f"file://{root}/c/i/a.tif#frag",
        f"file://evil.example{root}/c/i/a.tif",
        f"file://localhost.evil{root}/c/i/a.tif",
        f"file:{root}x/c/i/a.tif",
        f"//host{root}/c/i/a.tif",
        f"{root}x/c/i/a.tif",  # a sibling folder whose name starts like the root
        f"{root}",
        f"{root}/",
        f"{root}/.tmp/abc.part",
        f"{root}//c/i/a.tif",
        f"{root}/c/i/a.tif/",
        f"{root}/c/./i/a.tif",
        f"{root}/c/i/a.tif\x00.png",
        f"{root}/c/i/a\n.tif",
        f"{root}/c\\..\\..\\x.tif",
        f"{root}/c/i/\u2025/a.tif",
        f"{root}/c/\uff0e\uff0e/\uff0e\uff0e/x.tif",
        f"/vsicurl/http://127.0.0.1/{root}/c/i/a.tif",
        f"/vsigzip/{root}/c/i/a.tif",
        f"/vsizip/{root}/c/i/a.zip/a.tif",
        f"/vsis3/bucket{root}/c/i/a.tif",
        f"s3://bucket{root}/c/i/a.tif",
        f"http://127.0.0.1{root}/c/i/a.tif",
        f"GTIFF_DIR:1:{root}/c/i/a.tif",
        "c/i/a.tif",
        "./c/i/a.tif",
        "",
        None,
        b"/c/i/a.tif",
    ]


def test_local_accepts_its_own_forms(local: LocalStore) -> None:
    root = str(local.root)
    assert local.key_for_href(f"{root}/{KEY}") == KEY
    assert local.key_for_href(f"file://{root}/{KEY}") == KEY
    assert local.key_for_href(f"file://localhost{root}/{KEY}") == KEY
    assert local.key_for_href(f"file:{root}/{KEY}") == KEY
    assert local.key_for_href(f"FILE://{root}/c/i/%61.tif") == KEY  # one decoding, as URLs do
    assert local.key_for_href(f"{root}/c/i/not-yet-written.tif") == "c/i/not-yet-written.tif"


def test_local_refuses_everything_else(local: LocalStore) -> None:
    for href in local_attacks(str(local.root)):
        assert local.key_for_href(href) is None, href  # type: ignore[arg-type]


def test_local_refuses_symlinks_out_of_the_root(local: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.tif").write_bytes(b"secret")
    os.symlink(outside, local.root / "c" / "link")
    os.symlink(outside / "secret.tif", local.root / "c" / "i" / "file-link.tif")
    for key in ("c/link/secret.tif", "c/i/file-link.tif"):
        assert local.key_for_href(f"{local.root}/{key}") is None
        with pytest.raises(InvalidKey, match="outside the store root"):
            local.get(key)
    assert [o.key for o in local.list()] == [KEY]  # listing ignores symlinks


def test_local_accepts_the_real_path_of_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    alias = tmp_path / "alias"
    os.symlink(real, alias)
    store = LocalStore(alias)
    store.put_bytes(KEY, b"a")
    assert store.key_for_href(f"{alias}/{KEY}") == KEY
    assert store.key_for_href(f"{real}/{KEY}") == KEY
    assert store.key_for_href(f"{tmp_path}/other/{KEY}") is None


@pytest.fixture(scope="module")
def s3() -> S3Store:
    """No request is made: key_for_href is pure string work."""
    return S3Store("bucket", "pre/fix", endpoint_url="http://127.0.0.1:1")


def test_s3_accepts_its_own_forms(s3: S3Store) -> None:
    store = s3
    assert store.key_for_href(f"s3://bucket/pre/fix/{KEY}") == KEY
    assert store.key_for_href(f"/vsis3/bucket/pre/fix/{KEY}") == KEY
    unprefixed = S3Store("bucket", endpoint_url="http://127.0.0.1:1")
    assert unprefixed.key_for_href(f"s3://bucket/{KEY}") == KEY


@pytest.mark.parametrize(
    "href",
    [
        "s3://bucket/pre/fixx/c/i/a.tif",
        "s3://bucket/pre/c/i/a.tif",
        "s3://bucket/c/i/a.tif",
        "s3://bucket/pre/fix/../fix2/c/i/a.tif",
        "s3://bucket/pre/fix/c/../../../x.tif",
        "s3://other/pre/fix/c/i/a.tif",
        "s3://bucket.evil/pre/fix/c/i/a.tif",
        "s3://bucketx/pre/fix/c/i/a.tif",
        "s3://bucket@evil/pre/fix/c/i/a.tif",
        "s3://evil/bucket/pre/fix/c/i/a.tif",
        "s3://bucket:443/pre/fix/c/i/a.tif",
        "s3://bucket/pre/fix/c/i/%2e%2e/x.tif",
        "s3://bucket/pre%2ffix/c/i/a.tif",
        "s3://bucket/pre/fix/c/i/a.tif?versionId=1",
        "s3://bucket/pre/fix/c/i/a.tif#x",
        "s3://bucket/pre/fix//c/i/a.tif",
        "s3://bucket/pre/fix/",
        "s3://bucket/pre/fix",
        "s3://bucket",
        "s3://bucket/pre/fix/c/i/a.tif\x00",
        "s3://bucket/pre/fix/c\\i\\a.tif",
        "S3://bucket/pre/fix/c/i/a.tif",
        " s3://bucket/pre/fix/c/i/a.tif",
        "/vsis3_streaming/bucket/pre/fix/c/i/a.tif",
        "/vsizip//vsis3/bucket/pre/fix/c/i/a.zip/a.tif",
        "/vsicurl/http://127.0.0.1:1/bucket/pre/fix/c/i/a.tif",
        "/vsis3//bucket/pre/fix/c/i/a.tif",
        "http://127.0.0.1:1/bucket/pre/fix/c/i/a.tif",
        "https://bucket.s3.amazonaws.com/pre/fix/c/i/a.tif",
        "/bucket/pre/fix/c/i/a.tif",
        "/pre/fix/c/i/a.tif",
        "pre/fix/c/i/a.tif",
        "",
    ],
)
def test_s3_refuses_everything_else(s3: S3Store, href: str) -> None:
    assert s3.key_for_href(href) is None


def test_stores_refuse_each_others_hrefs(local: LocalStore, s3: S3Store) -> None:
    assert s3.key_for_href(local.href(KEY)) is None
    assert local.key_for_href(s3.href(KEY)) is None
    assert local.key_for_href(s3.gdal_path(KEY)) is None
