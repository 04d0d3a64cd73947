"""Shared test helpers: credentials, an S3 store factory, a source stream that breaks."""

from __future__ import annotations

import io
import socket
import uuid
from typing import Any

from objectstore import S3Store

ACCESS_KEY_ID = "AKIASTACWORKSTEST0001"
SECRET_ACCESS_KEY = "s3cr3t-" + uuid.uuid4().hex  # unique, so a leak is unambiguous
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_s3_store(endpoint: str, bucket: str, **kwargs: object) -> S3Store:
    options: dict[str, object] = {
        "endpoint_url": endpoint,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "multipart_threshold": 1 * MIB,
        "multipart_chunksize": 5 * MIB,
        "max_attempts": 3,
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    options.update(kwargs)
    return S3Store(bucket, "pre/fix", **options)  # type: ignore[arg-type]


class _FailingRaw(io.RawIOBase):
    """Yields ``size`` bytes, then the source itself fails (a dropped download, say)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise RuntimeError("source broke mid-stream")
        n = min(len(buffer), self.left, 256 * 1024)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def failing_stream(size: int) -> io.BufferedReader:
    """A stream that yields ``size`` bytes and then raises ``RuntimeError``."""
    return io.BufferedReader(_FailingRaw(size))
