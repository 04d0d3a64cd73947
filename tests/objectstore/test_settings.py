"""STACWORKS_* settings, the store factory and the derived GDAL environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from objectstore import (
    LocalStore,
    S3Store,
    StoreConfigError,
    StoreSettings,
    apply_gdal_env,
    gdal_env,
    gdal_environment,
    load_settings,
    store_from_settings,
)
from objectstore.settings import MIB

from .helpers import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def test_default_is_a_local_folder_under_stacworks_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = store_from_settings()
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / ".stacworks" / "objects"
    assert LocalStore().root == store.root
    monkeypatch.setenv("STACWORKS_HOME", str(tmp_path / "home"))
    assert store_from_settings().root == tmp_path / "home" / "objects"  # type: ignore[attr-defined]
    monkeypatch.setenv("STACWORKS_STORE", "local")
    assert store_from_settings().root == tmp_path / "home" / "objects"  # type: ignore[attr-defined]


@pytest.mark.parametrize("form", ["{p}", "file://{p}"])
def test_a_plain_path_is_a_local_folder(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACWORKS_STORE", form.format(p=tmp_path / "elsewhere"))
    store = store_from_settings()
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "elsewhere"


def test_s3_url_builds_an_s3_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACWORKS_STORE", "s3://my-bucket/some/prefix/")
    monkeypatch.setenv("STACWORKS_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("STACWORKS_S3_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("STACWORKS_S3_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("STACWORKS_S3_MULTIPART_THRESHOLD_MB", "8")
    settings = load_settings()
    store = store_from_settings(settings)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint_url) == (
        "my-bucket",
        "some/prefix",
        "http://127.0.0.1:9000",
    )
    assert store.region == "us-east-1"
    assert store._transfer_config.multipart_threshold == 8 * MIB
    assert store.client.meta.config.s3["addressing_style"] == "path"
    assert store.client.meta.config.retries["total_max_attempts"] == 5
    for text in (repr(settings), str(settings), repr(store), str(settings.model_dump())):
        assert SECRET_ACCESS_KEY not in text
        assert ACCESS_KEY_ID not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STACWORKS_STORE": "gs://bucket/x"}, "unsupported scheme 'gs'"),
        ({"STACWORKS_STORE": "s3://Bad_Bucket/x"}, "invalid S3 bucket name"),
        ({"STACWORKS_STORE": "s3://bucket/a/../b"}, "segment '..'"),
        ({"STACWORKS_S3_ENDPOINT": "127.0.0.1:9000"}, "http:// or https://"),
        ({"STACWORKS_S3_ENDPOINT": f"http://u:{SECRET_ACCESS_KEY}@h:1"}, "credentials"),
        ({"STACWORKS_S3_ENDPOINT": "http://h:1/path"}, "host[:port] only"),
        ({"STACWORKS_S3_ACCESS_KEY_ID": ACCESS_KEY_ID}, "set both"),
        ({"STACWORKS_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}, "set both"),
        ({"STACWORKS_S3_MULTIPART_THRESHOLD_MB": "0"}, "s3_multipart_threshold_mb"),
        ({"STACWORKS_S3_RETRY_MODE": "legacy"}, "s3_retry_mode"),
    ],
)
def test_bad_settings_fail_at_start_up_without_echoing_values(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StoreConfigError, match="invalid store settings") as info:
        store_from_settings()
    text = str(info.value)
    assert message in text
    assert SECRET_ACCESS_KEY not in text
    assert ACCESS_KEY_ID not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def s3_settings(**extra: object) -> StoreSettings:
    values: dict[str, object] = {
        "store": "s3://bucket/prefix",
        "s3_endpoint": "http://127.0.0.1:9000",
        "s3_access_key_id": ACCESS_KEY_ID,
        "s3_secret_access_key": SECRET_ACCESS_KEY,
    }
    values.update(extra)
    return StoreSettings(**values)  # type: ignore[arg-type]


SAFETY = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "CPL_VSIL_CURL_AUTHORIZATION_HEADER_ALLOWED_IF_REDIRECT": "IF_SAME_HOST",
}


def test_gdal_env_for_an_s3_compatible_endpoint() -> None:
    env = gdal_env(s3_settings())
    assert env.items() >= SAFETY.items()
    assert env["AWS_S3_ENDPOINT"] == "127.0.0.1:9000"
    assert env["AWS_HTTPS"] == "NO"
    assert env["AWS_VIRTUAL_HOSTING"] == "FALSE"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == ACCESS_KEY_ID
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET_ACCESS_KEY
    assert ".tif" in env["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"].split(",")
    assert "GDAL_SKIP" not in env
    assert "AWS_ACCESS_KEY_ID" not in gdal_env(s3_settings(), include_credentials=False)


def test_gdal_env_variants() -> None:
    https = gdal_env(s3_settings(s3_endpoint="https://minio.example:9443", s3_region="eu-1"))
    assert (https["AWS_HTTPS"], https["AWS_S3_ENDPOINT"], https["AWS_REGION"]) == (
        "YES",
        "minio.example:9443",
        "eu-1",
    )
    aws = gdal_env(StoreSettings(store="s3://bucket", s3_region="eu-west-1"))
    assert "AWS_S3_ENDPOINT" not in aws and "AWS_ACCESS_KEY_ID" not in aws  # GDAL's own chain
    assert aws["AWS_VIRTUAL_HOSTING"] == "TRUE"
    local = gdal_env(StoreSettings())
    assert local.items() >= SAFETY.items()
    assert not [k for k in local if k.startswith("AWS_")]
    assert gdal_env(StoreSettings(gdal_skip_vrt=True))["GDAL_SKIP"] == "VRT"
    assert gdal_env(StoreSettings(gdal_http_timeout=5))["GDAL_HTTP_TIMEOUT"] == "5"


def test_gdal_environment_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "stale-token")
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "99")
    with gdal_environment(s3_settings()) as env:
        assert os.environ["AWS_S3_ENDPOINT"] == "127.0.0.1:9000"
        assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET_ACCESS_KEY
        assert os.environ["GDAL_HTTP_TIMEOUT"] == env["GDAL_HTTP_TIMEOUT"] == "30"
        assert "AWS_SESSION_TOKEN" not in os.environ  # would break the explicit key
    assert "AWS_S3_ENDPOINT" not in os.environ
    assert "AWS_SECRET_ACCESS_KEY" not in os.environ
    assert os.environ["AWS_SESSION_TOKEN"] == "stale-token"
    assert os.environ["GDAL_HTTP_TIMEOUT"] == "99"


def test_apply_gdal_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACWORKS_STORE", "s3://bucket")
    monkeypatch.setenv("STACWORKS_S3_ENDPOINT", "https://s3.example")
    for name in ("AWS_S3_ENDPOINT", "AWS_HTTPS", "AWS_VIRTUAL_HOSTING", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name in gdal_env():  # let monkeypatch restore whatever apply_gdal_env sets
        monkeypatch.setenv(name, "placeholder")
    previous = apply_gdal_env()
    assert previous["AWS_S3_ENDPOINT"] == "placeholder"
    assert os.environ["AWS_S3_ENDPOINT"] == "s3.example"
    assert os.environ["AWS_HTTPS"] == "YES"
