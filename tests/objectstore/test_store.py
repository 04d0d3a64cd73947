"""Behaviour every store must share, run against LocalStore and S3Store (moto over HTTP)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from objectstore import (
    InvalidKey,
    LocalStore,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    S3Store,
)

from .helpers import MIB, failing_stream

KEY = "sentinel-2/S2A_T32TQM_20230101/B04.tif"


def test_put_get_stat_exists(store: ObjectStore) -> None:
    assert not store.exists(KEY)
    info = store.put_bytes(KEY, b"hello world")
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size) == (KEY, 11)
    assert info.etag
    assert info.modified.tzinfo is not None
    assert abs(info.modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert store.exists(KEY)
    assert store.get(KEY) == b"hello world"
    assert store.stat(KEY) == info


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"v1")
    store.put_bytes(KEY, b"version two")
    assert store.get(KEY) == b"version two"
    assert store.stat(KEY).size == 11


def test_put_file_and_download(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    store.put_file(KEY, src)
    dest = tmp_path / "out" / "nested" / "copy.bin"
    info = store.download(KEY, dest)
    assert dest.read_bytes() == data
    assert info.size == len(data)
    assert not [p for p in dest.parent.iterdir() if p.name != "copy.bin"]  # no temp left


def test_put_file_missing_source_is_the_callers_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.put_file(KEY, tmp_path / "nope.tif")
    assert not store.exists(KEY)


def test_open_streams(store: ObjectStore) -> None:
    data = os.urandom(2 * MIB + 123)
    store.put_bytes(KEY, data)
    with store.open(KEY) as f:
        head = f.read(10)
        rest = f.read()
    assert head + rest == data


@pytest.mark.parametrize(
    "call",
    [
        lambda s, d: s.get("c/i/missing.tif"),
        lambda s, d: s.stat("c/i/missing.tif"),
        lambda s, d: s.open("c/i/missing.tif"),
        lambda s, d: s.download("c/i/missing.tif", d / "never-written"),
    ],
    ids=["get", "stat", "open", "download"],
)
def test_missing_objects_raise_object_not_found(
    store: ObjectStore, call: Callable[[ObjectStore, Path], object], tmp_path: Path
) -> None:
    dest = tmp_path / "dl"
    with pytest.raises(ObjectNotFound) as info:
        call(store, dest)
    assert info.value.key == "c/i/missing.tif"
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_folder_is_not_an_object(store: ObjectStore) -> None:
    store.put_bytes("c/i/a.tif", b"a")
    assert not store.exists("c/i")
    with pytest.raises(ObjectNotFound):
        store.get("c/i")


def test_list_is_sorted_folder_like_and_lazy(store: ObjectStore) -> None:
    keys = ["c/i/a.tif", "c/i/b.json", "c/i-2/a.tif", "c/i/sub/x.tif", "d/j/z.tif", "c/ia/q.tif"]
    for k in keys:
        store.put_bytes(k, k.encode())
    everything = list(store.list())
    assert [o.key for o in everything] == sorted(keys)
    assert {o.key: o.size for o in everything} == {k: len(k) for k in keys}
    assert [o.key for o in store.list("c/i")] == ["c/i/a.tif", "c/i/b.json", "c/i/sub/x.tif"]
    assert [o.key for o in store.list("c/i/")] == ["c/i/a.tif", "c/i/b.json", "c/i/sub/x.tif"]
    assert list(store.list("nothing/here")) == []
    assert list(store.list("c/i/a.tif")) == []  # an object is not a folder
    it = store.list("c")
    assert next(it).key == "c/i-2/a.tif"


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"x")
    store.put_bytes("c/i/keep.tif", b"k")
    store.delete(KEY)
    assert not store.exists(KEY)
    store.delete(KEY)  # again: fine
    store.delete("c/never/was.tif")
    assert store.get("c/i/keep.tif") == b"k"


def test_delete_prefix_deletes_only_that_folder(store: ObjectStore) -> None:
    for k in ["c/i/a.tif", "c/i/b.tif", "c/i/sub/c.tif", "c/ii/a.tif", "c/j/a.tif"]:
        store.put_bytes(k, b"1")
    assert store.delete_prefix("c/i") == 3
    assert [o.key for o in store.list()] == ["c/ii/a.tif", "c/j/a.tif"]
    assert store.delete_prefix("c/i") == 0
    assert store.delete_prefix("c/j/a.tif") == 0  # an object is not a folder
    with pytest.raises(InvalidKey, match="whole store"):
        store.delete_prefix("")
    with pytest.raises(InvalidKey, match="absolute"):
        store.delete_prefix("/")


def test_failing_stream_leaves_nothing(store: ObjectStore, s3_or_none: Any) -> None:
    with pytest.raises(RuntimeError, match="mid-stream"):
        store.put_stream(KEY, failing_stream(7 * MIB))  # > multipart threshold on S3
    assert not store.exists(KEY)
    assert list(store.list()) == []
    _assert_no_temporaries(store, s3_or_none)


def test_failing_overwrite_keeps_the_old_object(store: ObjectStore, s3_or_none: Any) -> None:
    store.put_bytes(KEY, b"old and complete")
    with pytest.raises(RuntimeError):
        store.put_stream(KEY, failing_stream(100_000))
    assert store.get(KEY) == b"old and complete"
    _assert_no_temporaries(store, s3_or_none)


def _assert_no_temporaries(store: ObjectStore, s3_admin: Any) -> None:
    if isinstance(store, LocalStore):
        assert list((store.root / ".tmp").iterdir()) == []
    else:
        assert isinstance(store, S3Store)
        uploads = s3_admin.list_multipart_uploads(Bucket=store.bucket)
        assert uploads.get("Uploads", []) == []
        raw = s3_admin.list_objects_v2(Bucket=store.bucket).get("Contents", [])
        assert all(o["Key"].startswith("pre/fix/") for o in raw)


@pytest.fixture
def s3_or_none(store: ObjectStore, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("s3_admin") if isinstance(store, S3Store) else None


BAD_KEYS = ["../escape.tif", "/etc/passwd", "c/i/../../x", "c\\i\\x.tif", "c//x", "c/\x00", ""]

OPS: dict[str, Callable[[ObjectStore, str], object]] = {
    "put_bytes": lambda s, k: s.put_bytes(k, b"x"),
    "put_stream": lambda s, k: s.put_stream(k, io.BytesIO(b"x")),
    "get": lambda s, k: s.get(k),
    "open": lambda s, k: s.open(k),
    "exists": lambda s, k: s.exists(k),
    "stat": lambda s, k: s.stat(k),
    "delete": lambda s, k: s.delete(k),
    "gdal_path": lambda s, k: s.gdal_path(k),
    "href": lambda s, k: s.href(k),
    "download_url": lambda s, k: s.download_url(k),
    "list": lambda s, k: list(s.list(k or "/")),
    "delete_prefix": lambda s, k: s.delete_prefix(k),
}


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
def test_invalid_keys_are_rejected_by_every_operation(store: ObjectStore, bad: str) -> None:
    for name, op in OPS.items():
        with pytest.raises(InvalidKey):
            op(store, bad)
            pytest.fail(f"{name} accepted {bad!r}")
    assert list(store.list()) == []


def test_href_and_gdal_path_round_trip(store: ObjectStore) -> None:
    href, gdal_path = store.href(KEY), store.gdal_path(KEY)
    if isinstance(store, LocalStore):
        assert href == gdal_path == str(store.root / KEY)
        assert os.path.isabs(href)
    else:
        assert isinstance(store, S3Store)
        assert href == f"s3://{store.bucket}/pre/fix/{KEY}"
        assert gdal_path == f"/vsis3/{store.bucket}/pre/fix/{KEY}"
    assert store.key_for_href(href) == KEY
    assert store.key_for_href(gdal_path) == KEY


def test_download_url(store: ObjectStore) -> None:
    data = os.urandom(50_000)
    store.put_bytes(KEY, data)
    url = store.download_url(KEY, expires=timedelta(minutes=5))
    if isinstance(store, LocalStore):
        assert url is None  # the API serves local files itself
    else:
        assert url is not None and "X-Amz-Signature=" in url
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == data
    with pytest.raises(ValueError, match="7 days"):
        store.download_url(KEY, expires=timedelta(days=8))
