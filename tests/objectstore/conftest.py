"""Fixtures: a real moto S3 server over loopback HTTP, and each store built on it or tmp_path."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from objectstore import LocalStore, ObjectStore
from tests.harness import moto_server

from .helpers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, make_s3_store


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No STACWORKS_/AWS_ settings from the developer's shell, no ~/.aws files."""
    for name in list(os.environ):
        if name.startswith(("STACWORKS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``moto_server`` in its own process on a free loopback port, killed at the end."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_admin(moto_endpoint: str) -> object:
    """A plain boto3 client for set-up and inspection behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(s3_admin: object) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each behaviour test runs against both implementations."""
    if request.param == "local":
        yield LocalStore(tmp_path / "objects")
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    with make_s3_store(endpoint, request.getfixturevalue("bucket")) as s3:
        yield s3
