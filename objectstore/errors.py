"""One error vocabulary for every store: callers catch these, never boto or OS errors."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "DEFAULT_STATUS_CODES",
    "InvalidKey",
    "ObjectNotFound",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(Exception):
    """Base of every error raised by :mod:`objectstore`.

    Messages are stable and safe to log: they name the operation and the key, never a
    credential, a signed URL or a raw backend message.
    """

    #: Whether retrying the same call later may succeed.
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ObjectNotFound(StoreError):
    """The key does not name an object in this store."""


class InvalidKey(StoreError, ValueError):
    """The key (or prefix, or href) breaks the layout rules; the message names the part."""


class StoreUnavailable(StoreError):
    """The backend could not be reached or answered with a transient failure."""

    retryable: ClassVar[bool] = True


class StoreConfigError(StoreError):
    """The store is misconfigured: bad settings, missing bucket, refused credentials."""


#: One status map for services that expose store errors over HTTP (most specific first).
DEFAULT_STATUS_CODES: dict[type[StoreError], int] = {
    ObjectNotFound: 404,
    InvalidKey: 400,
    StoreUnavailable: 503,
    StoreConfigError: 500,
    StoreError: 500,
}
