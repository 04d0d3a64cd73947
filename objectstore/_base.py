"""The one interface every part uses to write and read assets, whatever the backend."""

from __future__ import annotations

import abc
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import BinaryIO, Protocol, Self

__all__ = ["ObjectInfo", "ObjectStore", "Readable"]

#: Largest presigned-URL lifetime S3 (SigV4) accepts.
MAX_URL_EXPIRY = timedelta(days=7)


class Readable(Protocol):
    """Anything with a blocking ``read(size) -> bytes``: files, BytesIO, HTTP responses."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object without reading it.

    Attributes:
        key: the object's key, relative to the store (never includes the S3 prefix).
        size: size in bytes.
        etag: opaque change token. S3: the object's ETag (the MD5 for single-part uploads,
            ``<md5>-<parts>`` for multipart). Local: ``<mtime_ns>-<size>`` in hex (cheap;
            hashing every file on each listing would not be). Compare it only with tokens
            from the same store.
        modified: last modification time, timezone-aware UTC.
    """

    key: str
    size: int
    etag: str
    modified: datetime


class ObjectStore(abc.ABC):
    """A flat namespace of immutable-by-convention objects under validated keys.

    Writes are atomic: a reader sees either the previous object or the complete new one,
    never a partial one, and a failed write leaves nothing behind. Keys are validated by
    :func:`objectstore.keys.validate_key`; prefixes are folder-like (``"a/b"`` covers
    ``a/b/...``, not ``a/bc``). Implementations are safe to share between threads.
    """

    # -- writing ---------------------------------------------------------------------------

    @abc.abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` atomically and return its info.

        Errors reading ``path`` itself (e.g. ``FileNotFoundError``) propagate unchanged.
        """

    @abc.abstractmethod
    def put_stream(self, key: str, fileobj: Readable) -> ObjectInfo:
        """Store everything read from ``fileobj`` under ``key`` atomically.

        If ``fileobj.read`` raises, the exception propagates unchanged and no object (and no
        temporary) is left behind.
        """

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """Store ``data`` under ``key`` (small documents: item JSON, thumbnails)."""
        return self.put_stream(key, io.BytesIO(data))

    # -- reading ---------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the whole object. Raises :class:`ObjectNotFound`."""

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads; close it (``with store.open(k) as f:``)."""

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start+length`` of the object (fewer at its end): one ranged read,
        so a reader of an indexed format (COPC octree nodes, say) never fetches the whole
        object. Raises :class:`ObjectNotFound`."""
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")
        with self.open(key) as f:
            f.seek(start)
            return f.read(length)

    @abc.abstractmethod
    def download(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        """Copy the object to ``path`` (atomically: a temp file beside it, then renamed)."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (a "folder" is not an object)."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Return the object's info. Raises :class:`ObjectNotFound`."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield every object under ``prefix`` (folder-like), lazily, in key order."""

    # -- deleting --------------------------------------------------------------------------

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing key is not an error (retries are safe)."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` and return how many were deleted.

        An empty prefix is refused (:class:`InvalidKey`): wiping a whole store must be a
        deliberate act outside this API.
        """

    # -- addressing ------------------------------------------------------------------------

    @abc.abstractmethod
    def gdal_path(self, key: str) -> str:
        """A path GDAL can open: a local absolute path or ``/vsis3/bucket/prefix/key``."""

    @abc.abstractmethod
    def href(self, key: str) -> str:
        """The canonical href for STAC: a local absolute path or ``s3://bucket/prefix/key``."""

    @abc.abstractmethod
    def download_url(self, key: str, expires: int | timedelta = 3600) -> str | None:
        """A time-limited URL a client can GET, or ``None`` when the API must serve it.

        No request is made: the URL is signed locally and does not prove the key exists.
        """

    @abc.abstractmethod
    def key_for_href(self, href: str) -> str | None:
        """The key ``href`` names if it lies inside this store, else ``None``.

        This is the allow-list check readers (the tile server) apply before opening any
        user-influenced href: anything not provably inside this store answers ``None``.
        """

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release network connections (no-op for stores that hold none)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def expiry_seconds(expires: int | timedelta) -> int:
    """Validate a presigned-URL lifetime and return it in whole seconds."""
    seconds = int(expires.total_seconds()) if isinstance(expires, timedelta) else int(expires)
    if not 1 <= seconds <= int(MAX_URL_EXPIRY.total_seconds()):
        raise ValueError(f"expires must be between 1 s and 7 days, got {seconds} s")
    return seconds
