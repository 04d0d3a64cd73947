"""A moto server standing in for AWS (Step Functions executing, ECS, Logs, EC2, S3), with the
documented runTask.sync fix and the harness playing Fargate (see moto_server_patched.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from processing.algorithms import load_algorithm_file, local_argv
from tests.harness import free_port, stop, wait_moto

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REGION = "us-east-1"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}
ROLE = "arn:aws:iam::123456789012:role/"
LOG_GROUP = "/stacworks/tasks-test"
#: The NDVI algorithm registered under this name by the end-to-end test (its own family).
NDVI_AWS = "ndvi-aws"


@dataclass(frozen=True)
class MotoAws:
    """The endpoint and the network, cluster and bucket made in it."""

    endpoint: str
    subnet: str
    security_group: str
    bucket: str
    log: Path

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,  # type: ignore[call-overload]
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def settings_env(self) -> dict[str, str]:
        """STACWORKS_PROCESSING_AWS_* for this stand-in."""
        p = "STACWORKS_PROCESSING_AWS_"
        return {
            f"{p}ENDPOINT_URL": self.endpoint, f"{p}REGION": REGION, f"{p}CLUSTER": "stacworks",
            f"{p}SUBNETS": self.subnet, f"{p}SECURITY_GROUPS": self.security_group,
            f"{p}EXECUTION_ROLE_ARN": ROLE + "ecs-execution",
            f"{p}TASK_ROLE_ARN": ROLE + "ecs-task",
            f"{p}STATE_MACHINE_ROLE_ARN": ROLE + "states", f"{p}LOG_GROUP": LOG_GROUP,
            f"{p}POLL_MIN_SECONDS": "0.1", f"{p}POLL_MAX_SECONDS": "0.5",
        }


def fargate_commands() -> dict[str, list[str]]:
    """What the harness runs for a RunTask of each family: the algorithm's own command under
    the container entry point, which uploads the outputs to the task's S3 prefix."""
    entry = [sys.executable, "-m", "processing.aws.task_entry", "--"]
    ndvi = load_algorithm_file(ROOT / "algorithms/ndvi.yaml")
    return {f"stacworks-{NDVI_AWS}": [*entry, *local_argv(ndvi)],
            # The platform task of `stacworks ingest --backend aws` (ingest/fargate.py).
            "stacworks-ingest-product": [sys.executable, "-m", "ingest.fargate"]}


@pytest.fixture(scope="session")
def moto_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoAws]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {
        **os.environ, **KEYS, "MOTO_PORT": str(port), "PYTHONPATH": str(ROOT),
        "STACWORKS_TEST_FARGATE": json.dumps(fargate_commands()),
        # The played tasks reach S3 through boto3 (entry point) and GDAL (/vsis3/).
        "AWS_ENDPOINT_URL_S3": endpoint, "AWS_S3_ENDPOINT": f"127.0.0.1:{port}",
        "AWS_VIRTUAL_HOSTING": "FALSE", "AWS_HTTPS": "NO", "AWS_REGION": REGION,
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "moto_server_patched.py"),
                                 "-H", "127.0.0.1", "-p", str(port)],
                                env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_moto(endpoint, proc, timeout=60, log=log)
        httpx.post(f"{endpoint}/moto-api/config",
                   json={"stepfunctions": {"execute_state_machine": True}}).raise_for_status()
        aws = MotoAws(endpoint, "", "", f"aws-{uuid.uuid4().hex[:12]}", log)
        ec2 = aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # moto's awsvpc tasks need DNS hostnames in the VPC (it answers 500 otherwise).
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="tasks", Description="tasks",
                                          VpcId=vpc)["GroupId"]
        aws.client("ecs").create_cluster(clusterName="stacworks")
        aws.client("logs").create_log_group(logGroupName=LOG_GROUP)
        aws.client("s3").create_bucket(Bucket=aws.bucket)
        yield MotoAws(endpoint, subnet, group, aws.bucket, log)
    finally:
        stop(proc, timeout=10)
