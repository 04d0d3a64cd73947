"""A small connection pool over the catalog database, and the boundary that translates its
errors into our vocabulary (never echoing SQL to a client)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from catalog.limits import pool_wait_s
from processing.errors import Conflict, ProcessingError

__all__ = ["Database", "translate_db_errors"]

log = logging.getLogger(__name__)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Database refusals as our errors: a unique violation is a conflict, the rest a 500."""
    try:
        yield
    except ProcessingError:
        raise
    except psycopg.errors.UniqueViolation:
        raise Conflict("already exists") from None
    except psycopg.Error as exc:
        log.exception("database error")
        what = type(exc).__name__
        raise ProcessingError(f"the database refused the operation ({what})") from None


class Database:
    """A lazily opened pool of autocommit connections returning rows as dicts.

    One per service or CLI command: the executor threads, the API's thread pool and the event
    flusher share it.
    """

    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        self.dsn = dsn
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            open=False,
            # pgstac's functions (search) call each other unqualified.
            kwargs={"autocommit": True, "row_factory": dict_row,
                    "options": "-c search_path=pgstac,public"},
            name="stacworks-processing",
            timeout=pool_wait_s(),  # an outage is a quick 503, not a 30 s wait
        )
        self._opened = False

    def open(self) -> None:
        if not self._opened:
            self._pool.open(wait=True, timeout=15)
            self._opened = True

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, errors translated."""
        self.open()
        with translate_db_errors(), self._pool.connection() as conn:
            yield conn
