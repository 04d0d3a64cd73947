"""lidar-dtm reads its point cloud from an S3 store (moto over HTTP), as the platform hands it over.

The task gets ``/vsis3/bucket/key`` and the store's GDAL environment (``objectstore.gdal_env``:
endpoint, HTTPS, addressing, credentials), exactly what a job on an S3 deployment gets; its
DTM and DSM must equal those computed from the same file on local disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
import rasterio
from botocore.config import Config

from objectstore import StoreSettings, gdal_env
from tests.harness import ROOT, moto_server
from tests.processing.jobs_fixtures import COPC

ACCESS_KEY_ID = "AKIASTACWORKSDTM0001"
SECRET_ACCESS_KEY = "dtm-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def s3_copc() -> Iterator[tuple[StoreSettings, str, str]]:
    """(store settings, bucket, key) of the Autzen clip COPC in a moto bucket."""
    with moto_server() as endpoint:
        bucket, key = "lidar-in", "proc-lidar/autzen-clip/data.copc.laz"
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip
        client.create_bucket(Bucket=bucket)
        client.upload_file(str(COPC), bucket, key)
        settings = StoreSettings(
            store=f"s3://{bucket}/objects", s3_endpoint=endpoint, s3_region="us-east-1",
            s3_access_key_id=ACCESS_KEY_ID, s3_secret_access_key=SECRET_ACCESS_KEY,
        )  # type: ignore[arg-type]  # fmt: skip
        yield settings, bucket, key


def run_dtm(tmp: Path, asset_path: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "autzen-clip", "properties": {},
            "assets": {"data": {"href": asset_path, "type": "application/vnd.laszip+copc"}}}
    (tmp / "item.json").write_text(json.dumps(item))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACWORKS_"))}
    task_env = {
        **base,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
        "STACWORKS_INPUT_ITEMS": json.dumps([(tmp / "item.json").as_uri()]),
        "STACWORKS_INPUT_ASSETS": json.dumps([{"data": asset_path}]),
        "STACWORKS_PARAMETERS": json.dumps({"resolution": 2}),
        "STACWORKS_OUTPUT_DIR": str(tmp / "out"),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "algorithms" / "lidar_dtm.py")],
        env=task_env, capture_output=True, text=True, timeout=60, cwd=tmp,
    )


def read(path: Path) -> tuple[np.ndarray, object]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform


def test_lidar_dtm_reads_its_input_from_s3(
    s3_copc: tuple[StoreSettings, str, str], tmp_path: Path
) -> None:
    settings, bucket, key = s3_copc
    (tmp_path / "s3").mkdir()
    (tmp_path / "local").mkdir()
    remote = run_dtm(tmp_path / "s3", f"/vsis3/{bucket}/{key}", gdal_env(settings))
    assert remote.returncode == 0, remote.stderr
    local = run_dtm(tmp_path / "local", str(COPC), {})
    assert local.returncode == 0, local.stderr
    outputs = json.loads((tmp_path / "s3" / "out" / "outputs.json").read_text())["outputs"]
    assert {o["asset"] for o in outputs} == {"dtm", "dsm"}
    for name in ("dtm", "dsm"):
        got, got_transform = read(tmp_path / "s3" / "out" / f"autzen-clip_{name}.tif")
        want, want_transform = read(tmp_path / "local" / "out" / f"autzen-clip_{name}.tif")
        assert got_transform == want_transform
        np.testing.assert_array_equal(got, want)
    assert not list(Path(tempfile.gettempdir()).glob("stacworks-input-*"))  # copy removed


def test_a_missing_object_or_a_gdal_only_path_fails_cleanly(
    s3_copc: tuple[StoreSettings, str, str], tmp_path: Path
) -> None:
    settings, bucket, key = s3_copc
    missing = run_dtm(tmp_path, f"/vsis3/{bucket}/{key}.gone", gdal_env(settings))
    assert missing.returncode == 2
    assert "error: item autzen-clip: /vsis3/" in missing.stderr and "404" in missing.stderr
    assert "Traceback" not in missing.stderr
    curl = run_dtm(tmp_path, "/vsicurl/http://127.0.0.1:9/x.copc.laz", {})
    assert curl.returncode == 2 and "only local files and S3 objects" in curl.stderr
