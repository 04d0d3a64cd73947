"""Fetch one asset to a local file, sorting failures into "retry later" and "bad product".

requests rather than httpx: eodag's provider authenticators (CDSE tokens, Planetary Computer
SAS signing) are ``requests.auth.AuthBase`` objects, and this way they plug in unchanged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from ingest.errors import ProductError, TransientError

CHUNK = 1024 * 1024
#: HTTP statuses worth retrying (server trouble, rate limits, gateway timeouts).
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_ENV = "STACWORKS_INGEST_"
#: What ``raw.read1`` raises on a read timeout or a dropped connection (requests wraps these
#: only inside ``iter_content``).
_URLLIB3_TIMEOUTS = (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)


@dataclass(frozen=True)
class DownloadLimits:
    """Bounds of one download (``STACWORKS_INGEST_DOWNLOAD_*``): a source that trickles
    bytes, stalls between reads shorter than the read timeout, or sends without end fails
    the product instead of holding a worker."""

    deadline_s: float = 7200
    min_rate: float = 10 * 1024
    rate_window_s: float = 60
    max_bytes: int = 50 * 1024**3

    @classmethod
    def from_settings(cls, s: Any) -> DownloadLimits:
        return cls(
            deadline_s=s.download_deadline_s,
            min_rate=s.download_min_rate,
            rate_window_s=s.download_rate_window_s,
            max_bytes=s.download_max_bytes,
        )


class _Meter:
    """Checks a download against its :class:`DownloadLimits` as bytes arrive."""

    def __init__(self, href: str, limits: DownloadLimits) -> None:
        self.href, self.limits = href, limits
        self.start = self.window_start = time.monotonic()
        self.size = self.window_size = 0

    def check_declared(self, length: str | None) -> None:
        if length is not None and length.isdigit() and int(length) > self.limits.max_bytes:
            raise ProductError(
                f"{_where(self.href)}: {int(length):,} bytes, more than "
                f"{_ENV}DOWNLOAD_MAX_BYTES={self.limits.max_bytes:,}"
            )

    def remaining(self) -> float:
        return self.limits.deadline_s - (time.monotonic() - self.start)

    def add(self, n: int) -> None:
        self.size += n
        lim = self.limits
        if self.size > lim.max_bytes:
            raise ProductError(
                f"{_where(self.href)}: more than {_ENV}DOWNLOAD_MAX_BYTES={lim.max_bytes:,} bytes"
            )
        now = time.monotonic()
        if now - self.start > lim.deadline_s:
            raise ProductError(
                f"{_where(self.href)}: not downloaded within {_ENV}DOWNLOAD_DEADLINE_S="
                f"{lim.deadline_s:g} s ({self.size:,} bytes received)"
            )
        span = now - self.window_start
        if span >= lim.rate_window_s:
            rate = (self.size - self.window_size) / span
            if rate < lim.min_rate:
                raise ProductError(
                    f"{_where(self.href)}: {rate:,.0f} bytes/s over {span:.0f} s, slower than "
                    f"{_ENV}DOWNLOAD_MIN_RATE={lim.min_rate:g}"
                )
            self.window_start, self.window_size = now, self.size


def fetch(
    href: str,
    dest: Path,
    *,
    auth: Any = None,
    timeout: float = 60,
    session: requests.Session | None = None,
    limits: DownloadLimits | None = None,
) -> int:
    """Download ``href`` to ``dest`` (written beside it, then renamed); return the size.

    Raises:
        TransientError: timeouts, connection errors, 5xx/429 answers.
        ProductError: 4xx answers, unsupported schemes (the product is wrong as published),
            and downloads past ``limits`` (too large, too slow, past the deadline).
    """
    limits = limits or DownloadLimits()
    scheme = urlsplit(href).scheme
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        if scheme in ("http", "https"):
            size = _fetch_http(
                href, tmp, auth=auth, timeout=timeout, session=session, limits=limits
            )
        elif scheme == "s3":
            size = _fetch_s3(href, tmp, limits)
        else:
            raise ProductError(f"asset {href!r}: cannot download {scheme or 'local'} hrefs")
        os.replace(tmp, dest)
        return size
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_http(
    href: str, tmp: Path, *, auth: Any, timeout: float, session: requests.Session | None,
    limits: DownloadLimits,
) -> int:
    get = (session or requests).get
    meter = _Meter(href, limits)
    try:
        read_timeout = min(timeout, max(meter.remaining(), 0.1))
        with get(href, stream=True, timeout=(timeout, read_timeout), auth=auth) as r:
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
            meter.check_declared(expected)
            # read1: whatever has arrived (up to CHUNK), so the limits are checked as bytes
            # trickle in, not once a whole chunk has been waited for.
            with open(tmp, "wb") as out:
                while chunk := r.raw.read1(CHUNK, decode_content=True):
                    out.write(chunk)
                    meter.add(len(chunk))
            size = meter.size
    except (requests.Timeout, requests.ConnectionError, *_URLLIB3_TIMEOUTS) as e:
        if meter.remaining() <= 0:
            raise ProductError(
                f"{_where(href)}: not downloaded within {_ENV}DOWNLOAD_DEADLINE_S="
                f"{limits.deadline_s:g} s ({meter.size:,} bytes received)"
            ) from None
        raise TransientError(f"{_where(href)}: {type(e).__name__}; will retry") from None
    except requests.RequestException as e:
        raise TransientError(f"{_where(href)}: {type(e).__name__}") from None
    if expected is not None and int(expected) != size:
        raise TransientError(f"{_where(href)}: got {size} of {expected} bytes; will retry")
    return size


def _fetch_s3(href: str, tmp: Path, limits: DownloadLimits) -> int:
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
    meter = _Meter(href, limits)
    try:
        head = client.head_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), **extra)
        meter.check_declared(str(head.get("ContentLength", "")))
        client.download_file(
            parts.netloc, parts.path.lstrip("/"), str(tmp), ExtraArgs=extra,
            Callback=meter.add,  # size, deadline and rate, as parts arrive
        )
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
