"""A whole ingest as one Step Functions execution (``stacworks ingest --backend aws``) on moto:
a Map over the products, one ``stacworks-ingest-product`` task each, played by the harness
(``python -m ingest.fargate`` with the RunTask's environment, writing to the moto S3); the
platform registers the item from the task's outputs; the task never sees the database URL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest

from ingest.aws import PROCESS_ID, ingest_definition, ingest_task_spec
from processing.asl import validate
from processing.aws.backend import INGEST_PROCESS_ID
from processing.aws.settings import AwsProcessingSettings
from tests.harness import stacworks
from tests.ingest.fixtures import Loopback

from .conftest import KEYS, MotoAws

COLLECTION = "aws-ingest"
COLLECTION_API = "aws-ingest-api"


def test_ingest_definition_is_a_map_over_products() -> None:
    settings = AwsProcessingSettings()
    definition = ingest_definition(ingest_task_spec(settings), 7)
    assert validate(definition).valid
    each = definition["States"]["EachProduct"]
    assert (each["Type"], each["ItemsPath"], each["MaxConcurrency"]) == ("Map", "$.items", 7)
    task = each["ItemProcessor"]["States"]["ingest-product"]
    assert task["Parameters"]["TaskDefinition"] == "stacworks-ingest-product"
    assert task["Catch"][0]["Next"] == "ProductFailed"  # one bad product fails only itself
    assert INGEST_PROCESS_ID == PROCESS_ID  # the server follows ingest jobs under this id


@pytest.fixture(scope="module")
def env(stacworks_env: dict[str, str], moto_aws: MotoAws, shared_data: Path) -> dict[str, str]:
    return {**stacworks_env, **KEYS, **moto_aws.settings_env(),
           "STACWORKS_PROCESSING_BACKEND": "aws",
           "STACWORKS_PROCESSING_AWS_INGEST_TASK_ROLE_ARN":
               "arn:aws:iam::123456789012:role/ingest-task",
           "STACWORKS_PROCESSING_AWS_INGEST_EXECUTION_ROLE_ARN":
               "arn:aws:iam::123456789012:role/ingest-execution",
           "STACWORKS_STORE": f"s3://{moto_aws.bucket}/cat",
           "STACWORKS_S3_ENDPOINT": moto_aws.endpoint,
           "STACWORKS_S3_ACCESS_KEY_ID": "testing", "STACWORKS_S3_SECRET_ACCESS_KEY": "testing",
           "STACWORKS_INGEST_SCHEMA_MIRROR": str(shared_data / "stac-schemas")}


def test_ingest_run_on_fargate(env: dict[str, str], moto_aws: MotoAws, loopback: Loopback,
                               dsn: str) -> None:
    missing = f"{loopback.base}/files/no-such-scene.tif"  # its task fails; the other goes on
    args = ["ingest", "--source", "urls", "--collection", COLLECTION,
            "--url", loopback.published["rgb"], "--url", missing, "--backend", "aws", "--json"]
    done = stacworks(*args, env=env, check=False)
    assert done.returncode == 1  # a product failed
    status = json.loads(done.stdout)
    assert (status["counts"]["done"], status["counts"]["failed"]) == (1, 1), done.stdout
    assert "on Fargate as job" in done.stderr
    (failed,) = [p for p in status["products"] if p["status"] == "failed"]
    assert failed["item_id"] == "no-such-scene" and "outputs.json" in failed["error"]

    with psycopg.connect(dsn) as conn:
        (item,) = conn.execute("SELECT pgstac.get_item('RGB.byte', %s)",
                               (COLLECTION,)).fetchone() or (None,)
        (job, job_status), *_ = conn.execute(
            "SELECT id, status FROM stacworks.processing_executions WHERE process_id = %s "
            "ORDER BY created_at DESC", (PROCESS_ID,)).fetchall()
    assert job_status == "successful"
    # The asset was copied from the task's prefix to its catalog key by the platform.
    href = item["assets"]["data"]["href"]
    assert href == f"s3://{moto_aws.bucket}/cat/{COLLECTION}/RGB.byte/data.tif"
    s3 = moto_aws.client("s3")
    stored = s3.head_object(Bucket=moto_aws.bucket, Key=f"cat/{COLLECTION}/RGB.byte/data.tif")
    assert stored["ContentLength"] == item["assets"]["data"]["file:size"]
    assert item["properties"]["proj:code"] == "EPSG:32618"
    assert item["properties"]["stacworks:aws"]["task_arn"].startswith("arn:aws:ecs:")

    # What the RunTask carried: the product snapshot and the contract, never the database.
    ecs = moto_aws.client("ecs")
    arns = ecs.list_tasks(cluster="stacworks", startedBy="AWS Step Functions")["taskArns"]
    tasks = ecs.describe_tasks(cluster="stacworks", tasks=arns)["tasks"]
    ours = [t for t in tasks if {"name": "STACWORKS_EXECUTION_ID", "value": job}
            in t["overrides"]["containerOverrides"][0]["environment"]]
    assert len(ours) == 2  # one per product (the Map)
    carried = {e["name"]: e["value"] for t in ours
               for e in t["overrides"]["containerOverrides"][0]["environment"]
               if e["name"] != "STACWORKS_INPUT_ITEMS"}
    snapshots = sorted(json.loads(e["value"])[0] for t in ours
                       for e in t["overrides"]["containerOverrides"][0]["environment"]
                       if e["name"] == "STACWORKS_INPUT_ITEMS")
    assert snapshots == [f"s3://{moto_aws.bucket}/cat/_processing/{job}/inputs/{i:03d}.json"
                         for i in range(2)]
    task = ours[0]
    assert not [name for name in carried if "DATABASE" in name or "DSN" in name]
    assert "postgresql://" not in json.dumps(carried)
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])[
        "taskDefinition"]
    assert definition["family"] == "stacworks-ingest-product"
    assert definition["taskRoleArn"].endswith("role/ingest-task")
    assert definition["executionRoleArn"].endswith("role/ingest-execution")
    assert definition["containerDefinitions"][0]["command"] == ["python", "-m", "ingest.fargate"]
    assert "postgresql://" not in json.dumps(definition)



def test_ingest_api_runs_on_fargate(env: dict[str, str], loopback: Loopback, dsn: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``POST /ingest/runs`` with ``"backend": "aws"`` (admins only, as every run): the same
    execution, followed by the server; a repeated request finds the product ingested."""
    for key, value in env.items():
        if key.startswith(("STACWORKS_PROCESSING", "STACWORKS_S3_", "STACWORKS_STORE",
                           "AWS_")):
            monkeypatch.setenv(key, value)
    from starlette.testclient import TestClient

    from catalog.access import Access, AccessSettings
    from catalog.settings import CatalogSettings
    from ingest.api import create_ingest_app
    from ingest.settings import IngestSettings

    app = create_ingest_app(
        CatalogSettings(home=env["STACWORKS_HOME"], db_port=int(env["STACWORKS_DB_PORT"])),
        IngestSettings(schema_mirror=env["STACWORKS_INGEST_SCHEMA_MIRROR"]),
        access=Access(dsn, AccessSettings(enabled=False)))
    body = {"source": "urls", "collection": COLLECTION_API, "backend": "aws",
            "urls": [loopback.published["rgb"]]}
    with TestClient(app) as api:
        started = api.post("/runs", json=body)
        assert started.status_code == 201, started.text
        assert started.json()["job"]
        deadline = time.monotonic() + 60
        while (run := api.get(f"/runs/{started.json()['id']}").json())["finished_at"] is None:
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        assert run["counts"]["done"] == 1, run
        again = api.post("/runs", json=body).json()
        assert (again["counts"]["skipped"], again["job"]) == (1, None)
    with psycopg.connect(dsn) as conn:
        (item,) = conn.execute("SELECT pgstac.get_item('RGB.byte', %s)",
                               (COLLECTION_API,)).fetchone() or (None,)
    assert item["assets"]["data"]["href"].endswith(f"/cat/{COLLECTION_API}/RGB.byte/data.tif")
