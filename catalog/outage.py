"""The database away, or a request past its time budget: one answer for every service.

Services translate database errors their own way (a processing error, a STAC 500); what they
all share is the exception chain. :func:`classify` reads it, so the composition root can turn
any of them into a 503: with ``Retry-After`` (outage), or naming the time budget, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import asyncpg
import psycopg
import psycopg_pool
from asyncpg import exceptions as apg

log = logging.getLogger(__name__)

__all__ = ["DatabaseUnavailable", "classify", "pooled_connection", "with_statement_timeout"]


class DatabaseUnavailable(Exception):
    """No connection within the pool wait (``STACWORKS_DB_POOL_WAIT_S``)."""


_OUTAGE: tuple[type[BaseException], ...] = (
    DatabaseUnavailable,
    ConnectionRefusedError,
    ConnectionResetError,
    apg.PostgresConnectionError,  # ConnectionDoesNotExist, ConnectionFailure, ...
    apg.CannotConnectNowError,
    apg.AdminShutdownError,
    apg.CrashShutdownError,
    apg.TooManyConnectionsError,
    psycopg_pool.PoolTimeout,
    psycopg_pool.TooManyRequests,
)
_TIMEOUT: tuple[type[BaseException], ...] = (apg.QueryCanceledError, psycopg.errors.QueryCanceled)


def _one(exc: BaseException) -> Literal["outage", "timeout"] | None:
    if isinstance(exc, _TIMEOUT):
        return "timeout"
    if isinstance(exc, _OUTAGE):
        return "outage"
    if isinstance(exc, psycopg.OperationalError):  # connection lost, server shutting down
        return "outage"
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return "outage"  # "connection is closed", "pool is closed"
    if isinstance(exc, apg.InternalClientError):
        # The server ended a pooled connection mid-operation (a shutdown) and asyncpg's
        # protocol state is left behind: "cannot switch to state 12; another operation (2)
        # is in progress" on the next query. The connection is gone; a retry gets another.
        return "outage"
    return None


def classify(exc: BaseException) -> Literal["outage", "timeout"] | None:
    """``outage``, ``timeout`` or None, looking through the causes and contexts a service's
    own translation left (``raise ... from None`` keeps ``__context__``)."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen and len(seen) < 8:
        seen.add(id(node))
        kind = _one(node)
        if kind is not None:
            return kind
        node = node.__cause__ or node.__context__
    return None


def pooled_connection(wait_s: float) -> Callable[..., Any]:
    """stac-fastapi-pgstac's ``get_connection`` with a bounded wait for a pooled connection
    (its own waits forever when the pool is exhausted): past ``wait_s``, DatabaseUnavailable."""
    from stac_fastapi.pgstac.db import translate_pgstac_errors

    @asynccontextmanager
    async def get_connection(request: Any, readwrite: str = "r") -> AsyncIterator[Any]:
        state = request.app.state
        pool = state.readpool if readwrite != "w" else getattr(state, "writepool", None)
        if pool is None:
            raise DatabaseUnavailable("no connection pool for writes")
        acquiring = pool.acquire(timeout=wait_s)
        try:
            conn = await acquiring.__aenter__()
        except TimeoutError:
            raise DatabaseUnavailable(f"no database connection within {wait_s} s") from None
        try:
            with translate_pgstac_errors():
                yield conn
        finally:
            try:
                await acquiring.__aexit__(None, None, None)
            except Exception as e:  # a connection lost mid-query fails its reset; the pool has
                # already closed it, and the error that matters is the one above (or none)
                log.debug("releasing a broken connection: %s", type(e).__name__)

    return get_connection


def with_statement_timeout(settings: Any, timeout_s: float) -> Any:
    """A copy of stac-fastapi-pgstac ``PostgresSettings`` whose connections cancel any
    statement past ``timeout_s`` on the server (the work stops, not only the wait)."""
    server = settings.server_settings.model_copy(
        update={"statement_timeout": str(max(1, round(timeout_s * 1000)))})
    return settings.model_copy(update={"server_settings": server})
