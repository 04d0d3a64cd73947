"""S3-only behaviour: multipart, retries, unreachable endpoints, secrets, the href allow-list."""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from objectstore import (
    ObjectNotFound,
    S3Store,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)

from .helpers import ACCESS_KEY_ID, MIB, SECRET_ACCESS_KEY, failing_stream, make_s3_store

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FlakyProxy:
    """A loopback HTTP proxy to moto that answers 503 SlowDown to the first ``failures``."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.failures = failures
        self.requests = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        out += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return out
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                with proxy.lock:
                    proxy.requests += 1
                    fail = proxy.requests <= proxy.failures
                if fail:
                    payload = b"<Error><Code>SlowDown</Code><Message>Slow down</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Host"] = self.headers["Host"]
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def s3(moto_endpoint: str, bucket: str) -> Iterator[S3Store]:
    with make_s3_store(moto_endpoint, bucket) as store:
        yield store


def test_large_file_goes_multipart(s3: S3Store, s3_admin: Any, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    data = os.urandom(11 * MIB)  # threshold 1 MiB, parts of 5 MiB -> 3 parts
    src.write_bytes(data)
    info = s3.put_file("c/i/big.tif", src)
    assert info.size == len(data)
    assert info.etag.endswith("-3"), info.etag  # S3's multipart ETag: <md5-of-md5s>-<parts>
    assert s3.get("c/i/big.tif") == data
    dest = tmp_path / "back.bin"
    s3.download("c/i/big.tif", dest)
    assert dest.read_bytes() == data


def test_small_file_is_a_single_put(s3: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "small.bin"
    src.write_bytes(b"s" * 1000)
    assert "-" not in s3.put_file("c/i/small.tif", src).etag


def test_aborted_multipart_leaves_no_upload(s3: S3Store, s3_admin: Any) -> None:
    with pytest.raises(RuntimeError):
        s3.put_stream("c/i/big.tif", failing_stream(12 * MIB))  # 2 parts sent, then it breaks
    assert s3_admin.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert not s3.exists("c/i/big.tif")


def test_transient_503s_are_retried(moto_endpoint: str, bucket: str) -> None:
    with (
        FlakyProxy(moto_endpoint, failures=2) as proxy,
        make_s3_store(proxy.endpoint, bucket, max_attempts=4) as store,
    ):
        store.put_bytes("c/i/a.tif", b"made it")
        assert proxy.requests >= 3  # two 503s, then the PUT (and the HEAD after it)
        assert store.get("c/i/a.tif") == b"made it"


def test_retries_run_out_as_store_unavailable(moto_endpoint: str, bucket: str) -> None:
    with (
        FlakyProxy(moto_endpoint, failures=100) as proxy,
        make_s3_store(proxy.endpoint, bucket, max_attempts=2) as store,
        pytest.raises(StoreUnavailable, match="SlowDown") as info,
    ):
        store.put_bytes("c/i/a.tif", b"x")
    assert info.value.retryable
    assert proxy.requests == 2


def test_dead_endpoint_fails_fast_and_clearly(bucket: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = make_s3_store(f"http://127.0.0.1:{port}", bucket, max_attempts=2, connect_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.put_bytes("c/i/a.tif", b"x")
    assert time.monotonic() - start < 5
    assert f"cannot reach http://127.0.0.1:{port}" in str(info.value)
    assert "put of 'c/i/a.tif'" in str(info.value)
    with pytest.raises(StoreUnavailable):
        store.get("c/i/a.tif")


def test_hung_endpoint_times_out(bucket: str) -> None:
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        store = make_s3_store(
            f"http://127.0.0.1:{s.getsockname()[1]}", bucket, max_attempts=1, read_timeout=0.5
        )
        start = time.monotonic()
        with pytest.raises(StoreUnavailable, match="ReadTimeoutError"):
            store.stat("c/i/a.tif")
        assert time.monotonic() - start < 5


def test_missing_bucket_is_a_config_error(moto_endpoint: str) -> None:
    store = make_s3_store(moto_endpoint, "no-such-bucket-here")
    with pytest.raises(StoreConfigError, match="NoSuchBucket"):
        store.get("c/i/a.tif")
    with pytest.raises(StoreConfigError):
        list(store.list())


def test_list_skips_foreign_keys_and_other_prefixes(s3: S3Store, s3_admin: Any) -> None:
    s3.put_bytes("c/i/a.tif", b"a")
    for foreign in ["pre/fix/c/i/weird key.tif", "pre/fix//double.tif", "pre/fixx/c/i/a.tif"]:
        s3_admin.put_object(Bucket=s3.bucket, Key=foreign, Body=b"f")
    s3_admin.put_object(Bucket=s3.bucket, Key="pre/c/i/a.tif", Body=b"f")
    assert [o.key for o in s3.list()] == ["c/i/a.tif"]
    assert s3.delete_prefix("c") == 2  # the foreign key under c/ goes too
    assert s3_admin.list_objects_v2(Bucket=s3.bucket, Prefix="pre/fix/")["KeyCount"] == 1


def test_credentials_never_leak(
    moto_endpoint: str, bucket: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with make_s3_store(moto_endpoint, bucket) as store:
        texts += [repr(store), str(store), repr(vars(store).get("_transfer_config"))]
        store.put_bytes("c/i/a.tif", b"a")
        store.get("c/i/a.tif")
        for call in (
            lambda: store.get("c/i/missing.tif"),
            lambda: make_s3_store(moto_endpoint, "no-such-bucket").stat("c/i/a.tif"),
            lambda: make_s3_store("http://127.0.0.1:9", bucket, max_attempts=1).get("c/i/a"),
            lambda: S3Store(bucket, access_key_id=ACCESS_KEY_ID),
        ):
            with pytest.raises(StoreError) as info:
                call()
            texts.append("".join(traceback.format_exception(info.value)))
    assert len(texts) == 7
    for text in texts:
        assert SECRET_ACCESS_KEY not in text
        assert ACCESS_KEY_ID not in text
    assert caplog.records
    for record in caplog.records:
        assert SECRET_ACCESS_KEY not in record.getMessage()
        if record.name.startswith("objectstore"):
            assert ACCESS_KEY_ID not in record.getMessage()


def test_presigned_url_carries_no_secret(s3: S3Store) -> None:
    url = s3.download_url("c/i/a.tif", expires=60)
    assert url is not None
    assert SECRET_ACCESS_KEY not in url
    assert "X-Amz-Expires=60" in url


def test_not_found_is_not_a_config_error(s3: S3Store) -> None:
    with pytest.raises(ObjectNotFound):
        s3.stat("c/i/nope.tif")
    assert not s3.exists("c/i/nope.tif")
