"""One error vocabulary for the catalog, mapped to HTTP status codes in one place."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of every catalog error; ``str()`` is a stable message safe to show a user."""

    status_code = 500


class InvalidInput(CatalogError):
    """A request field is malformed; the message names the field."""

    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(CatalogError):
    status_code = 404


class Conflict(CatalogError):
    status_code = 409


class UnsupportedMediaType(CatalogError):
    """A request body in a media type the operation does not read (it reads JSON)."""

    status_code = 415


# Set-up errors: raised by the cluster manager and migrations, shown by the CLI without a traceback.
class SetupError(CatalogError):
    """Something on this machine stops the catalog from starting; the message says what to do."""

    status_code = 503


class PostgresMissing(SetupError):
    pass


class PostgisMissing(SetupError):
    pass


class PortInUse(SetupError):
    pass


class DatabaseUnreachable(SetupError):
    pass


class BadCredentials(SetupError):
    pass


class DataFolderNotWritable(SetupError):
    pass


STATUS_CODES: dict[type[CatalogError], int] = {
    cls: cls.status_code
    for cls in (
        CatalogError,
        InvalidInput,
        NotFound,
        Conflict,
        UnsupportedMediaType,
        SetupError,
    )
}
