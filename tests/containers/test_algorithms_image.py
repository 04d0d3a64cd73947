"""The shipped algorithms' image as Fargate runs it: its ENTRYPOINT (the task entry) stages the
``s3://`` item snapshot, runs the algorithm and uploads its outputs to the task's prefix, here
against a moto S3 on loopback. (The Docker runner's tests run the same image without an
output prefix, where the entry point execs the command unchanged.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
S2_DIR = ROOT.parent / "shared/data/raster/sentinel2-l2a-cog/S2A_29RKH_20200219_0_L2A"
ENTRY = ["python", "-m", "processing.aws.task_entry", "--"]


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """A plain moto S3 server on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_entrypoint_is_the_task_entry(algorithms_image: str) -> None:
    config = json.loads(subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config}}", algorithms_image],
        capture_output=True, text=True, check=True).stdout)
    assert config["Entrypoint"] == ENTRY
    spec = yaml.safe_load((ROOT / "algorithms" / "ndvi.yaml").read_text())
    assert config["Cmd"] == spec["command"]  # what a task definition's command replaces


def test_ndvi_on_fargate_terms_stages_and_uploads(algorithms_image: str, s3_url: str,
                                                  tmp_path: Path) -> None:
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3_url}
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket="work")
    item = json.loads((S2_DIR / "S2A_29RKH_20200219_0_L2A.json").read_text())
    item["assets"] = {k: {**item["assets"][k], "href": str(S2_DIR / Path(
        item["assets"][k]["href"]).name)} for k in ("red", "nir", "scl")}
    s3.put_object(Bucket="work", Key="job/inputs/000.json", Body=json.dumps(item).encode())
    task_env = {**env, "STACWORKS_INPUT_ITEMS": json.dumps(["s3://work/job/inputs/000.json"]),
                "STACWORKS_OUTPUT_PREFIX": "s3://work/job/NDVI/task-1",
                "STACWORKS_PARAMETERS": "{}", "STACWORKS_EXECUTION_ID": "job",
                "STACWORKS_STATE_NAME": "NDVI"}
    argv = ["docker", "run", "--rm", "--network", "host", "--volume", f"{S2_DIR}:{S2_DIR}:ro",
            "--tmpfs", "/tmp"]  # noqa: S108 - the container's own scratch
    for key in sorted(task_env):
        argv += ["--env", key]
    argv += [algorithms_image, "python", "/app/ndvi.py"]  # the task definition's command
    done = subprocess.run(argv, env={**os.environ, **task_env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "uploaded 2 output file(s) to s3://work/job/NDVI/task-1" in done.stdout
    keys = sorted(o["Key"] for o in s3.list_objects_v2(
        Bucket="work", Prefix="job/NDVI/task-1/")["Contents"])
    assert keys == ["job/NDVI/task-1/S2A_29RKH_20200219_0_L2A_ndvi.tif",
                    "job/NDVI/task-1/outputs.json"]
    outputs = json.loads(s3.get_object(Bucket="work", Key=keys[1])["Body"].read())
    assert outputs["outputs"][0]["asset"] == "ndvi"
    tif = s3.get_object(Bucket="work", Key=keys[0])["Body"].read()
    assert tif[:4] in (b"II*\x00", b"MM\x00*") and len(tif) > 10_000


def test_a_failing_command_uploads_nothing(algorithms_image: str, s3_url: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3_url,
           "STACWORKS_OUTPUT_PREFIX": "s3://work/job/Fail/task-1"}
    argv = ["docker", "run", "--rm", "--network", "host", "--tmpfs", "/tmp"]  # noqa: S108
    for key in sorted(env):
        argv += ["--env", key]
    argv += [algorithms_image, "python", "-c",
             "import os, sys; open(os.environ['STACWORKS_OUTPUT_DIR'] + '/x', 'w'); sys.exit(3)"]
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3
    assert "uploaded" not in done.stdout
