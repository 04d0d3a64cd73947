"""One error vocabulary for conversion: callers catch these, never rasterio/laspy/copclib errors."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

__all__ = [
    "ConversionError",
    "EmptyInputError",
    "InputNotFoundError",
    "InvalidOutputError",
    "NotGeoreferencedError",
    "TruncatedInputError",
    "UnreadableInputError",
    "UnsupportedInputError",
]


class ConversionError(Exception):
    """Base of every error raised by :mod:`ingest.convert`.

    Messages are stable and name the file and the cause; the backend's own exception, when
    there is one, is kept as ``__cause__`` for logs, never in the message.
    """

    #: Whether fetching the input again may help (a short download, a partial copy).
    refetch: ClassVar[bool] = False

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


class InputNotFoundError(ConversionError):
    """The input path does not exist or is not a regular file."""

    refetch = True


class EmptyInputError(ConversionError):
    """The input file has zero bytes (a failed or interrupted download, usually)."""

    refetch = True


class UnreadableInputError(ConversionError):
    """The input cannot be decoded: not the expected format, or corrupt."""


class TruncatedInputError(UnreadableInputError):
    """The input ends before the data its header promises (pixels, tiles or points)."""

    refetch = True


class NotGeoreferencedError(ConversionError):
    """The input has no coordinate reference system, so the output could not be placed."""


class UnsupportedInputError(ConversionError):
    """The input is readable but uses a feature this converter does not handle."""


class InvalidOutputError(ConversionError):
    """The written output failed validation; it was discarded, the destination is untouched."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, errors: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, path=path)
        self.errors = errors
