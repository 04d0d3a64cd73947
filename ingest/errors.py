"""One error vocabulary for ingest: what a worker retries, and what fails a product for good."""

from __future__ import annotations

from typing import ClassVar


class IngestError(Exception):
    """Base of ingest errors; ``str()`` is a stable message safe to show a user."""

    status_code: ClassVar[int] = 500
    #: Whether trying the same product again later may succeed.
    retryable: ClassVar[bool] = False


class TransientError(IngestError):
    """A remote hiccup (HTTP 5xx/429, timeout, connection reset): retried with backoff."""

    status_code = 503
    retryable = True


class ProductError(IngestError):
    """This product cannot be ingested as it is (bad file, missing asset, invalid item)."""

    status_code = 422


class SourceError(IngestError):
    """The source or the request is wrong (unknown source, bad bbox, refused credentials)."""

    status_code = 400


class RunNotFound(IngestError):
    status_code = 404


def is_retryable(exc: BaseException) -> bool:
    """Transient ingest errors and store outages are retried; everything else is final."""
    from objectstore import StoreError

    if isinstance(exc, IngestError | StoreError):
        return bool(exc.retryable)
    return False
