"""The tile service's error vocabulary and its one map to HTTP status codes and messages.

titiler answers ``{"detail": str(exc)}`` for every mapped exception. For GDAL/rasterio errors
that string holds the path that failed (and, for a local store, the server's folder layout),
and different texts for "missing", "forbidden" and "a directory" would let a client map the
file system (titiler #1422). So errors from below our readers get fixed messages here; the
detail goes to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, cast
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from rasterio.errors import RasterioError, RasterioIOError
from rio_tiler.errors import InvalidAssetName, MissingAssets
from starlette import status
from starlette.responses import JSONResponse, Response
from titiler.core.errors import DEFAULT_STATUS_CODES
from titiler.mosaic.errors import MOSAIC_STATUS_CODES
from titiler.pgstac.errors import PGSTAC_STATUS_CODES

__all__ = [
    "ASSET_NOT_FOUND",
    "STATUS_CODES",
    "AssetNotFound",
    "InvalidParameter",
    "ReadTooLarge",
    "TileNotInMatrix",
    "TimeBudgetExceeded",
    "TilesError",
    "WmsError",
    "add_error_handlers",
    "service_exception",
]

log = logging.getLogger(__name__)

#: The one body for every asset that cannot be served: not in the item, outside the store,
#: missing from the store, a folder, or not a GeoTIFF. Identical on purpose (no oracle).
ASSET_NOT_FOUND = "Asset not found."


class TilesError(Exception):
    """Base of the errors the tile service raises itself; messages are safe to show."""


class AssetNotFound(TilesError):
    """An asset cannot be served (see :data:`ASSET_NOT_FOUND`); the reason is only logged."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(ASSET_NOT_FOUND)
        self.reason = reason


class InvalidParameter(TilesError, ValueError):
    """A request parameter is malformed or over a limit; the message names it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"invalid parameter '{name}': {reason}")
        self.name = name


class TileNotInMatrix(TilesError):
    """z/x/y lies outside the TileMatrixSet (negative, too deep, beyond the matrix)."""


class WmsError(TilesError):
    """A WMS request the service refuses, as an OGC exception (``code``: the WMS 1.3.0
    vocabulary, e.g. ``InvalidParameterValue``, ``LayerNotDefined``, ``InvalidCRS``)."""

    def __init__(self, code: str, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code


def service_exception(code: str, message: str, status_code: int = 400) -> Response:
    """An OGC WMS 1.3.0 ``ServiceExceptionReport`` (what WMS clients parse and show)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ServiceExceptionReport version="1.3.0" xmlns="http://www.opengis.net/ogc">\n'
        f'  <ServiceException code="{escape(code)}">{escape(message)}</ServiceException>\n'
        "</ServiceExceptionReport>\n"
    )
    return Response(body, status_code=status_code, media_type="text/xml")


def _is_wms(request: Request) -> bool:
    """WMS clients read OGC exceptions, not JSON: errors of ``/wms`` (the app-wide limits
    run before its handler) are written as such."""
    return request.url.path.rstrip("/").endswith("/wms")


class ReadTooLarge(TilesError):
    """One read would take more source pixels than ``STACWORKS_TILES_MAX_PIXELS``, even from
    the file's best overview (a huge raster without overviews, seen from far out)."""


class TimeBudgetExceeded(TilesError):
    """The request ran past ``STACWORKS_TILES_TIME_BUDGET_S``, its client left, or the server
    is shutting down: its remaining reads are skipped."""


#: Our classes on top of titiler's maps (titiler's, titiler.mosaic's, titiler.pgstac's).
STATUS_CODES: dict[type[Exception], int] = {
    **DEFAULT_STATUS_CODES,
    **MOSAIC_STATUS_CODES,
    **cast(dict[type[Exception], int], PGSTAC_STATUS_CODES),
    InvalidAssetName: status.HTTP_404_NOT_FOUND,
    MissingAssets: status.HTTP_400_BAD_REQUEST,
    AssetNotFound: status.HTTP_404_NOT_FOUND,
    InvalidParameter: status.HTTP_400_BAD_REQUEST,
    TileNotInMatrix: status.HTTP_404_NOT_FOUND,
    ReadTooLarge: 422,  # Unprocessable Content
    TimeBudgetExceeded: status.HTTP_503_SERVICE_UNAVAILABLE,
    WmsError: status.HTTP_400_BAD_REQUEST,
    TilesError: status.HTTP_400_BAD_REQUEST,
}

#: Fixed messages for classes whose own text may leak paths, hosts or library internals.
STABLE_MESSAGES: dict[type[Exception], str] = {
    InvalidAssetName: ASSET_NOT_FOUND,
    MissingAssets: "invalid parameter 'assets': no asset given and no default render",
    RasterioIOError: "The data could not be read.",
    RasterioError: "The data could not be read.",
    Exception: "Internal server error.",
}


def _handler(code: int, exc_class: type[Exception]) -> Callable[[Request, Exception], Response]:
    fixed = STABLE_MESSAGES.get(exc_class)

    def handle(request: Request, exc: Exception) -> Response:
        if code == status.HTTP_204_NO_CONTENT:
            return Response(status_code=code)
        if isinstance(exc, TimeBudgetExceeded):
            log.warning("%s %s -> 503: %s", request.method, request.url.path, exc)
            return JSONResponse(
                {"detail": f"The request stopped: {exc}; try a smaller area or a higher zoom."},
                status_code=code, headers={"Retry-After": "5", "Cache-Control": "no-store"},
            )
        if code >= 500 or fixed is not None:
            log.warning(
                "%s %s -> %s: %s: %s", request.method, request.url.path, code,
                type(exc).__name__, exc, exc_info=code >= 500,
            )
        if isinstance(exc, WmsError):
            return service_exception(exc.code, str(exc), exc.status_code)
        if _is_wms(request):
            kind = "NoApplicableCode" if code >= 500 else "InvalidParameterValue"
            return service_exception(kind, fixed or str(exc), code)
        return JSONResponse({"detail": fixed or str(exc)}, status_code=code)

    return handle


def _validation_handler(request: Request, exc: Exception) -> Response:
    """400 naming the query parameter; 422 when the path itself is wrong (z/x/y, TMS id).

    FastAPI's default 422 echoes the offending input back; ours names the parameter only.
    """
    errors: Sequence[Any] = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {"loc": ("query", "?"), "msg": "invalid"}
    loc = [str(p) for p in first.get("loc", ())]
    where, name = (loc[0], loc[-1]) if len(loc) > 1 else ("body", loc[0] if loc else "?")
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    code = status.HTTP_400_BAD_REQUEST if where == "query" else 422
    if _is_wms(request):
        return service_exception("InvalidParameterValue", f"invalid parameter '{name}': {msg}")
    return JSONResponse({"detail": f"invalid parameter '{name}': {msg}"}, status_code=code)


def add_error_handlers(app: FastAPI) -> None:
    """Install :data:`STATUS_CODES` with stable messages, and the request-validation handler."""
    for exc_class, code in STATUS_CODES.items():
        app.add_exception_handler(exc_class, _handler(code, exc_class))
    app.add_exception_handler(RequestValidationError, _validation_handler)
