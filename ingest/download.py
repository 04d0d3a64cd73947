"""Fetch one asset to a local file, sorting failures into "retry later" and "bad product".

requests rather than httpx: eodag's provider authenticators (CDSE tokens, Planetary Computer
SAS signing) are ``requests.auth.AuthBase`` objects, and this way they plug in unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from ingest.errors import ProductError, TransientError

CHUNK = 1024 * 1024
#: HTTP statuses worth retrying (server trouble, rate limits, gateway timeouts).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def fetch(
    href: str,
    dest: Path,
    *,
    auth: Any = None,
    timeout: float = 60,
    session: requests.Session | None = None,
) -> int:
    """Download ``href`` to ``dest`` (written beside it, then renamed); return the size.

    Raises:
        TransientError: timeouts, connection errors, 5xx/429 answers.
        ProductError: 4xx answers, unsupported schemes (the product is wrong as published).
    """
    scheme = urlsplit(href).scheme
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        if scheme in ("http", "https"):
            size = _fetch_http(href, tmp, auth=auth, timeout=timeout, session=session)
        elif scheme == "s3":
            size = _fetch_s3(href, tmp)
        else:
            raise ProductError(f"asset {href!r}: cannot download {scheme or 'local'} hrefs")
        os.replace(tmp, dest)
        return size
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_http(
    href: str, tmp: Path, *, auth: Any, timeout: float, session: requests.Session | None
) -> int:
    get = (session or requests).get
    try:
        with get(href, stream=True, timeout=timeout, auth=auth) as r:
            if r.status_code in RETRY_STATUSES:
                raise TransientError(f"{_where(href)} answered {r.status_code}; will retry")
            if r.status_code in (401, 403):
                raise ProductError(
                    f"{_where(href)} refused access ({r.status_code}); "
                    "check the source's credentials"
                )
            if r.status_code != 200:
                raise ProductError(f"{_where(href)} answered {r.status_code}")
            expected = r.headers.get("Content-Length")
            size = 0
            with open(tmp, "wb") as out:
                for chunk in r.iter_content(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
    except (requests.Timeout, requests.ConnectionError) as e:
        raise TransientError(f"{_where(href)}: {type(e).__name__}; will retry") from None
    except requests.RequestException as e:
        raise TransientError(f"{_where(href)}: {type(e).__name__}") from None
    if expected is not None and int(expected) != size:
        raise TransientError(f"{_where(href)}: got {size} of {expected} bytes; will retry")
    return size


def _fetch_s3(href: str, tmp: Path) -> int:
    """Public buckets (Earth Search COGs once eodag rewrites them to s3://): unsigned boto3,
    unless the AWS credential chain has credentials (requester-pays buckets)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(href)
    session = boto3.session.Session()
    signed = session.get_credentials() is not None
    client = session.client(
        "s3",
        config=Config(signature_version=None if signed else UNSIGNED, retries={"max_attempts": 3}),
    )
    extra = {"RequestPayer": "requester"} if signed else {}
    try:
        client.download_file(parts.netloc, parts.path.lstrip("/"), str(tmp), ExtraArgs=extra)
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in ("SlowDown", "InternalError", "ServiceUnavailable", "503", "500"):
            raise TransientError(f"{_where(href)}: S3 {code}; will retry") from None
        raise ProductError(f"{_where(href)}: S3 refused ({code or 'error'})") from None
    except BotoCoreError as e:
        raise TransientError(f"{_where(href)}: {type(e).__name__}; will retry") from None
    return tmp.stat().st_size


def _where(href: str) -> str:
    """The href without its query string (signed URLs carry tokens there)."""
    p = urlsplit(href)
    return f"{p.scheme}://{p.netloc}{p.path}"
