"""S3 (or any S3-compatible endpoint) as an object store, through boto3."""

from __future__ import annotations

import builtins
import io
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import SecretStr
from s3transfer.exceptions import RetriesExceededError
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from ._base import ObjectInfo, ObjectStore, Readable, expiry_seconds
from .errors import InvalidKey, ObjectNotFound, StoreConfigError, StoreError, StoreUnavailable
from .keys import validate_key, validate_prefix
from .settings import MIB, parse_bucket, parse_endpoint

__all__ = ["S3Store"]

log = logging.getLogger("objectstore")

_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_CONFIG = {
    "AccessDenied",
    "AllAccessDisabled",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "NoSuchBucket",
    "PermanentRedirect",
    "SignatureDoesNotMatch",
    "403",
    "301",
}
_TRANSIENT = {
    "BandwidthLimitExceeded",
    "InternalError",
    "RequestLimitExceeded",
    "RequestTimeout",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
}
_DELETE_BATCH = 1000  # DeleteObjects' limit


def _secret(value: SecretStr | str | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class S3Store(ObjectStore):
    """Objects under ``s3://bucket/prefix/`` on AWS S3 or any S3-compatible endpoint.

    Atomicity: uploads go straight to the final key. S3 publishes an object only when a
    PUT, or the CompleteMultipartUpload of a multipart upload, succeeds, and s3transfer
    aborts a multipart upload whose part or source stream fails; so readers never see a
    partial object. A temp key plus server-side copy would add a second full write (a
    multipart copy for large files) and a window where an orphaned temp object can be left
    behind, for no gain. A killed process can still leave an *incomplete multipart upload*
    (invisible, but billed): give the bucket an AbortIncompleteMultipartUpload lifecycle
    rule.

    Args:
        bucket: the bucket name.
        prefix: key prefix inside the bucket (whole segments, no slashes at the ends).
        endpoint_url: ``http(s)://host:port`` of an S3-compatible server; None for AWS.
        region: signing region (``us-east-1`` by default with a custom endpoint).
        access_key_id / secret_access_key / session_token: explicit credentials; when None
            boto3's usual chain applies (env, ~/.aws, container/instance roles).
        multipart_threshold: upload in parts above this many bytes.
        multipart_chunksize: part size in bytes (S3 requires >= 5 MiB).
        max_concurrency: parallel part transfers per upload/download.
        max_attempts: total attempts per request, first one included.
        retry_mode: botocore's ``standard`` (exponential backoff with jitter) or
            ``adaptive`` (also rate-limits the client after throttling).
        connect_timeout / read_timeout: seconds.
        addressing_style: ``path`` (default with ``endpoint_url``) or ``virtual``.
        request_checksums: botocore's ``request_checksum_calculation``.
        client: a ready boto3 S3 client, replacing the one built from the options above.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: SecretStr | str | None = None,
        secret_access_key: SecretStr | str | None = None,
        session_token: SecretStr | str | None = None,
        multipart_threshold: int = 64 * MIB,
        multipart_chunksize: int = 16 * MIB,
        max_concurrency: int = 4,
        max_attempts: int = 5,
        retry_mode: Literal["standard", "adaptive"] = "standard",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        addressing_style: Literal["path", "virtual"] | None = None,
        request_checksums: Literal["when_supported", "when_required"] = "when_supported",
        client: Any = None,
    ) -> None:
        try:
            self.bucket: str = parse_bucket(bucket)
            self.prefix: str = validate_prefix(prefix)
            self.endpoint_url = parse_endpoint(endpoint_url) if endpoint_url else None
        except ValueError as exc:  # InvalidKey is a ValueError too
            raise StoreConfigError(str(exc)) from None
        self._root = f"{self.prefix}/" if self.prefix else ""
        self.region = region or ("us-east-1" if self.endpoint_url else None)
        key_id, secret = _secret(access_key_id), _secret(secret_access_key)
        if (key_id is None) != (secret is None):
            raise StoreConfigError("give both access_key_id and secret_access_key, or neither")
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        if client is None:
            config = Config(
                region_name=self.region,
                signature_version="s3v4",
                retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=max(10, 2 * max_concurrency),
                s3={
                    "addressing_style": addressing_style
                    or ("path" if self.endpoint_url else "virtual")
                },
                request_checksum_calculation=request_checksums,
            )
            session = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=_secret(session_token),
                region_name=self.region,
            )
            client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
        self._client = client

    def __repr__(self) -> str:
        endpoint = self.endpoint_url or "aws"
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={endpoint!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client (for operations this interface does not cover)."""
        return self._client

    def close(self) -> None:
        self._client.close()

    # -- helpers ---------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self._root + validate_key(key)

    def _folder(self, prefix: str) -> str:
        norm = validate_prefix(prefix)
        return f"{self._root}{norm}/" if norm else self._root

    @contextmanager
    def _translate(self, op: str, key: str) -> Iterator[None]:
        """Turn boto errors into store errors with stable messages and no secrets."""
        where = f"{op} of {key!r} in s3://{self.bucket}"
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            log.debug("S3 %s failed: code=%s status=%s", where, code, status)
            if code in _NOT_FOUND:
                raise ObjectNotFound(f"no object at key {key!r}", key=key) from exc
            if code in _TRANSIENT or status >= 500 or status == 429:
                raise StoreUnavailable(
                    f"S3 {where} failed: the endpoint answered {code or status} (transient)",
                    key=key,
                ) from exc
            if code in _CONFIG or status in (301, 403):
                raise StoreConfigError(
                    f"S3 {where} refused: {code or status} (check the bucket, region and "
                    "credentials)",
                    key=key,
                ) from exc
            raise StoreError(f"S3 {where} failed: {code or status}", key=key) from exc
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
            raise StoreConfigError(
                f"S3 {where}: no usable credentials (set STACWORKS_S3_ACCESS_KEY_ID and "
                "STACWORKS_S3_SECRET_ACCESS_KEY, or configure the AWS credential chain)",
                key=key,
            ) from exc
        except (
            BotoConnectionError,
            HTTPClientError,
            RetriesExceededError,
            Urllib3HTTPError,
        ) as exc:
            log.debug("S3 %s failed: %s", where, type(exc).__name__)
            endpoint = self.endpoint_url or "the AWS S3 endpoint"
            raise StoreUnavailable(
                f"S3 {where} failed: cannot reach {endpoint} ({type(exc).__name__})", key=key
            ) from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 {where} failed ({type(exc).__name__})", key=key) from exc

    def _info(self, key: str, head: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head.get("ETag", "")).strip('"'),
            modified=head["LastModified"],
        )

    # -- writing ---------------------------------------------------------------------------

    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        full = self._key(key)
        filename = os.fspath(path)
        os.stat(filename)  # errors about the caller's file stay theirs (FileNotFoundError)
        self._upload(key, full, filename)
        return self.stat(key)

    def put_stream(self, key: str, fileobj: Readable) -> ObjectInfo:
        full = self._key(key)
        self._upload(key, full, fileobj)
        return self.stat(key)

    def _upload(self, key: str, full: str, source: str | Readable) -> None:
        # TransferManager directly (not client.upload_file) so the raw ClientError reaches
        # _translate instead of boto3's S3UploadFailedError, whose text embeds the message.
        with (
            self._translate("put", key),
            create_transfer_manager(self._client, self._transfer_config) as manager,
        ):
            manager.upload(source, self.bucket, full).result()

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        full = self._key(key)
        with self._translate("get", key):
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            with response["Body"] as body:
                return cast(bytes, body.read())

    def open(self, key: str) -> BinaryIO:
        full = self._key(key)
        with self._translate("open", key):
            response = self._client.get_object(Bucket=self.bucket, Key=full)
        return io.BufferedReader(_S3Body(self, key, response["Body"]), buffer_size=1024 * 1024)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """One ``Range: bytes=start-end`` GetObject (the base class would open a stream)."""
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")
        if length == 0:
            return b""
        full = self._key(key)
        with self._translate("get", key):
            response = self._client.get_object(
                Bucket=self.bucket, Key=full, Range=f"bytes={start}-{start + length - 1}")
            with response["Body"] as body:
                return cast(bytes, body.read())

    def download(self, key: str, path: str | os.PathLike[str]) -> ObjectInfo:
        full = self._key(key)
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
        try:
            with (
                self._translate("download", key),
                create_transfer_manager(self._client, self._transfer_config) as manager,
            ):
                manager.download(self.bucket, full, os.fspath(tmp)).result()
            os.replace(tmp, dest)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise
        return self.stat(key)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def stat(self, key: str) -> ObjectInfo:
        full = self._key(key)
        with self._translate("stat", key):
            head = self._client.head_object(Bucket=self.bucket, Key=full)
        return self._info(key, head)

    def _iter_raw(self, folder: str, op: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._translate(op, folder):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                yield from page.get("Contents", [])

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for obj in self._iter_raw(self._folder(prefix), "list"):
            key = obj["Key"][len(self._root) :]
            try:
                validate_key(key)
            except InvalidKey:
                log.debug("list: skipping foreign key %r", obj["Key"])
                continue
            yield ObjectInfo(
                key=key,
                size=int(obj["Size"]),
                etag=str(obj.get("ETag", "")).strip('"'),
                modified=obj["LastModified"],
            )

    # -- deleting --------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        full = self._key(key)
        with self._translate("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=full)

    def delete_prefix(self, prefix: str) -> int:
        norm = validate_prefix(prefix)
        if not norm:
            raise InvalidKey("invalid prefix '': refusing to delete the whole store")
        folder = self._folder(norm)
        count = 0
        batch: builtins.list[dict[str, str]] = []
        for obj in self._iter_raw(folder, "delete_prefix"):
            batch.append({"Key": obj["Key"]})
            if len(batch) == _DELETE_BATCH:
                count += self._delete_batch(norm, batch)
                batch = []
        if batch:
            count += self._delete_batch(norm, batch)
        return count

    def _delete_batch(self, prefix: str, batch: builtins.list[dict[str, str]]) -> int:
        with self._translate("delete_prefix", prefix):
            response = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        errors = response.get("Errors", [])
        if errors:
            codes = sorted({str(e.get("Code", "?")) for e in errors})
            raise StoreError(
                f"S3 delete_prefix of {prefix!r}: {len(errors)} object(s) not deleted "
                f"({', '.join(codes)})",
                key=prefix,
            )
        return len(batch)

    # -- addressing ------------------------------------------------------------------------

    def gdal_path(self, key: str) -> str:
        return f"/vsis3/{self.bucket}/{self._key(key)}"

    def href(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def download_url(self, key: str, expires: int | timedelta = 3600) -> str | None:
        """A presigned GET URL (signed locally; it carries the access key id, not the secret)."""
        full = self._key(key)
        seconds = expiry_seconds(expires)
        with self._translate("download_url", key):
            return cast(
                str,
                self._client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": full},
                    ExpiresIn=seconds,
                ),
            )

    def key_for_href(self, href: str) -> str | None:
        """Accept ``s3://bucket/prefix/key`` and ``/vsis3/bucket/prefix/key``, else ``None``.

        The bucket must match exactly and the prefix on whole segments; the rest must be a
        valid key, which rules out ``..``, empty segments, ``%``-encoding, ``?``/``#``,
        backslashes and control characters. Chained GDAL paths (``/vsizip//vsis3/...``),
        ``/vsicurl/`` and http(s) URLs are refused.
        """
        if not isinstance(href, str):
            return None
        for scheme in ("s3://", "/vsis3/"):
            if href.startswith(scheme):
                rest = href[len(scheme) :]
                break
        else:
            return None
        bucket, sep, full = rest.partition("/")
        if not sep or bucket != self.bucket or not full.startswith(self._root):
            return None
        key = full[len(self._root) :]
        try:
            return validate_key(key)
        except InvalidKey:
            return None


class _S3Body(io.RawIOBase):
    """A GetObject body as a raw stream whose network errors become store errors."""

    def __init__(self, store: S3Store, key: str, body: Any) -> None:
        self._store = store
        self._key = key
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with self._store._translate("read", self._key):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
