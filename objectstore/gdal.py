"""GDAL/rasterio configuration derived from the store settings, with safe defaults.

Which to use:

* a service (tiler, worker) calls :func:`apply_gdal_env` once at start-up: it sets the
  process environment, which GDAL reads on every open, in every thread.
* code that opens rasters under ``rasterio.Env`` uses :func:`rasterio_env`: credentials
  go through a rasterio ``AWSSession``, because ``rasterio.Env(AWS_ACCESS_KEY_ID=...)``
  raises ``EnvError``.
* tests and scripts use :func:`gdal_environment`, which also restores the environment.

What is *not* here, and why:

* ``GDAL_SKIP=VRT`` is opt-in (``STACWORKS_GDAL_SKIP_VRT``): rasterio 1.4 reprojects
  through an internal VRT, so with the driver skipped rio-tiler's ``tile()`` fails. The
  defence against a hostile VRT (which can read local files) is to open store objects
  with ``driver=SAFE_RASTER_DRIVER`` (``rasterio.open(path, driver="GTiff")``, or
  ``Reader(path, dataset=...)`` in rio-tiler): a VRT, even named ``.tif``, is refused.
* GDAL 3.10 has no option to stop following HTTP redirects (there is no
  ``GDAL_HTTP_FOLLOWLOCATION``); curl limits redirects to http(s). So readers must only
  open paths that passed ``ObjectStore.key_for_href``, never ``/vsicurl/`` URLs from users.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .settings import StoreSettings, load_settings

if TYPE_CHECKING:
    import rasterio

__all__ = [
    "ALLOWED_EXTENSIONS",
    "CREDENTIAL_KEYS",
    "SAFE_RASTER_DRIVER",
    "apply_gdal_env",
    "gdal_env",
    "gdal_environment",
    "rasterio_env",
]

#: Only these remote files may be opened through /vsicurl/-based handlers (incl. /vsis3/),
#: which also stops GDAL probing for sidecar files (.aux.xml, .ovr, .msk) over HTTP.
ALLOWED_EXTENSIONS = (".tif", ".tiff", ".TIF", ".TIFF", ".jp2", ".JP2", ".laz", ".LAZ",
                      ".las", ".LAS")  # fmt: skip
#: The one raster driver readers should allow when opening store objects (COGs).
SAFE_RASTER_DRIVER = "GTiff"
#: Keys of :func:`gdal_env` that hold secrets: never log them.
CREDENTIAL_KEYS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


def gdal_env(
    settings: StoreSettings | None = None, *, include_credentials: bool = True
) -> dict[str, str]:
    """The GDAL config options for reading from the configured store.

    Always: the safety/robustness options (timeouts, retries, allowed extensions, no
    directory listing on open, no Python in VRTs, Authorization header kept on same-host
    redirects only). With an S3 store: endpoint, HTTPS, addressing style, region and, when
    the settings hold them and ``include_credentials``, the credentials; without explicit
    credentials GDAL falls back to its own AWS chain (env, ~/.aws, instance/container role).

    The result may hold secrets (:data:`CREDENTIAL_KEYS`): do not log it.
    """
    s = settings or load_settings()
    env = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_TIMEOUT": str(s.gdal_http_timeout),
        "GDAL_HTTP_CONNECTTIMEOUT": str(s.gdal_http_connect_timeout),
        "GDAL_HTTP_MAX_RETRY": str(s.gdal_http_max_retry),
        "GDAL_HTTP_RETRY_DELAY": str(s.gdal_http_retry_delay),
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ",".join(ALLOWED_EXTENSIONS),
        "CPL_VSIL_CURL_AUTHORIZATION_HEADER_ALLOWED_IF_REDIRECT": "IF_SAME_HOST",
        "GDAL_VRT_ENABLE_PYTHON": "NO",
    }
    if s.gdal_skip_vrt:
        env["GDAL_SKIP"] = "VRT"
    if s.location.kind == "s3":
        if s.s3_endpoint:
            endpoint = urlsplit(s.s3_endpoint)
            env["AWS_S3_ENDPOINT"] = endpoint.netloc
            env["AWS_HTTPS"] = "YES" if endpoint.scheme == "https" else "NO"
        env["AWS_VIRTUAL_HOSTING"] = "TRUE" if s.addressing_style == "virtual" else "FALSE"
        if s.region:
            env["AWS_REGION"] = s.region
        if include_credentials and s.s3_access_key_id and s.s3_secret_access_key:
            env["AWS_ACCESS_KEY_ID"] = s.s3_access_key_id.get_secret_value()
            env["AWS_SECRET_ACCESS_KEY"] = s.s3_secret_access_key.get_secret_value()
            if s.s3_session_token:
                env["AWS_SESSION_TOKEN"] = s.s3_session_token.get_secret_value()
    return env


def apply_gdal_env(settings: StoreSettings | None = None) -> dict[str, str | None]:
    """Set :func:`gdal_env` in the process environment; return the previous values.

    Process-wide and not thread-safe: call it once at start-up, before worker threads.
    With explicit credentials a stale ``AWS_SESSION_TOKEN`` from elsewhere is removed,
    since it would be sent along with (and break) the configured key.
    """
    env = gdal_env(settings)
    previous: dict[str, str | None] = {name: os.environ.get(name) for name in env}
    for name, value in env.items():
        os.environ[name] = value
    if "AWS_ACCESS_KEY_ID" in env and "AWS_SESSION_TOKEN" not in env:
        previous["AWS_SESSION_TOKEN"] = os.environ.pop("AWS_SESSION_TOKEN", None)
    return previous


def _restore(previous: Mapping[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def gdal_environment(settings: StoreSettings | None = None) -> Iterator[dict[str, str]]:
    """:func:`apply_gdal_env` for the duration of a ``with`` block (tests, scripts)."""
    previous = apply_gdal_env(settings)
    try:
        yield gdal_env(settings)
    finally:
        _restore(previous)


def rasterio_env(settings: StoreSettings | None = None, **options: Any) -> rasterio.Env:
    """A ``rasterio.Env`` with :func:`gdal_env`, credentials passed as an ``AWSSession``.

    Extra ``options`` are added as GDAL config options.
    """
    import rasterio
    from rasterio.session import AWSSession

    s = settings or load_settings()
    env: dict[str, Any] = gdal_env(s, include_credentials=False)
    env.update(options)
    if s.location.kind != "s3":
        return rasterio.Env(**env)
    session = AWSSession(
        aws_access_key_id=_value(s.s3_access_key_id),
        aws_secret_access_key=_value(s.s3_secret_access_key),
        aws_session_token=_value(s.s3_session_token),
        region_name=s.region,
        endpoint_url=env.get("AWS_S3_ENDPOINT"),
    )
    return rasterio.Env(session=session, **env)


def _value(secret: Any) -> str | None:
    return None if secret is None else str(secret.get_secret_value())
