"""End to end with ``STACWORKS_PROCESSING_BACKEND=aws``: NDVI on the sample Sentinel-2 item
launched through the jobs API runs as a Step Functions execution on moto; the harness plays
Fargate (the algorithm's own command, with the environment the RunTask carried, through the
container entry point that uploads to S3); the output item lands in the catalog with its AWS
provenance and renders as tiles."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from objectstore import S3Store
from processing.algorithms import load_algorithm_file
from processing.costs import task_cost
from processing.settings import ProcessingSettings
from tests.harness import serve, stacworks
from tests.processing.jobs_fixtures import start_job, wait_job
from tests.samples import stored_s2_item

from .conftest import KEYS, NDVI_AWS, ROOT, MotoAws

COLLECTION = "aws-s2"
ITEM = "S2A_29RKH_20200219_0_L2A-aws"
Z, X, Y = 10, 479, 439


@pytest.fixture(scope="module")
def aws_server(stacworks_env: dict[str, str], moto_aws: MotoAws,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample S2 item in the S3 store, and `stacworks serve` with the aws back end."""
    store = S3Store(moto_aws.bucket, "cat", endpoint_url=moto_aws.endpoint,
                    access_key_id="testing", secret_access_key="testing")
    item = stored_s2_item(store, COLLECTION, ITEM, keys=["red", "nir", "scl"])
    coll = {"type": "Collection", "stac_version": "1.0.0", "id": COLLECTION,
            "description": "Sentinel-2 on S3 (aws back end test)", "license": "proprietary",
            "links": [], "extent": {"spatial": {"bbox": [item["bbox"]]},
                                    "temporal": {"interval": [[None, None]]}}}
    tmp = tmp_path_factory.mktemp("aws-e2e")
    (tmp / "records.json").write_text(json.dumps([coll, item]))
    stacworks("load", "--mode", "upsert", str(tmp / "records.json"), env=stacworks_env)
    env = {
        **stacworks_env, **KEYS, **moto_aws.settings_env(),
        "STACWORKS_PROCESSING_BACKEND": "aws",
        "STACWORKS_STORE": f"s3://{moto_aws.bucket}/cat",
        "STACWORKS_S3_ENDPOINT": moto_aws.endpoint,
        "STACWORKS_S3_ACCESS_KEY_ID": "testing", "STACWORKS_S3_SECRET_ACCESS_KEY": "testing",
    }
    with serve(env, log=tmp / "serve.log") as base:
        yield base
    store.close()


def test_ndvi_job_on_step_functions(aws_server: str, moto_aws: MotoAws) -> None:
    ndvi = load_algorithm_file(ROOT / "algorithms/ndvi.yaml")
    doc = {**ndvi.model_dump(mode="json"), "name": NDVI_AWS}
    with httpx.Client(base_url=aws_server, timeout=120) as api:
        registered = api.post("/algorithms", params={"replace": "true"}, json=doc)
        assert registered.status_code == 201, registered.text
        families = moto_aws.client("ecs").list_task_definitions(
            familyPrefix=f"stacworks-{NDVI_AWS}", status="ACTIVE")["taskDefinitionArns"]
        assert families, "registering did not register a task definition"

        bad = api.post("/algorithms", json={**doc, "name": "too-small", "memory": 1024})
        assert bad.status_code == 400
        assert "2048, 3072" in bad.json()["detail"]

        job = start_job(api, f"algorithm:{NDVI_AWS}",
                        {"items": [{"collection": COLLECTION, "id": ITEM}]})
        info = wait_job(api, job, timeout=180)
        assert info["status"] == "successful", info
        assert info["progress"] == 100
        assert info["cost"]["task_runs"] == 1
        # Per-state progress and Map counts, read from the Step Functions history.
        assert info["states"]["EachItem"]["succeeded"] == 1
        assert info["states"][NDVI_AWS] == {"entered": 1, "succeeded": 1, "failed": 0,
                                            "running": 0}
        history = [e["type"] for e in api.get(f"/jobs/{job}/history").json()["events"]]
        assert history[0] == "ExecutionStarted" and history[-1] == "ExecutionSucceeded"
        assert history.count("MapIterationSucceeded") == 1

        logs = api.get(f"/jobs/{job}/logs").json()
        (task,) = logs["tasks"]
        assert (task["status"], task["algorithm"], task["map_index"]) == (
            "succeeded", NDVI_AWS, 0)
        # The task's CloudWatch Logs stream (written by the played awslogs driver).
        assert any(line["message"].startswith("uploaded ") for line in task["lines"]), task
        assert task["cost_usd"] == pytest.approx(task_cost(
            1024, 2048, task["duration_seconds"], ProcessingSettings()).usd)
        assert info["cost"]["usd"] == pytest.approx(task["cost_usd"], abs=1e-6)

        results = api.get(f"/jobs/{job}/results").json()
        (out,) = results["items"]["features"]
        assert out["collection"] == NDVI_AWS
        props = out["properties"]
        assert props["processing:facility"] == "AWS Step Functions + ECS Fargate"
        aws = props["stacworks:aws"]
        assert aws["task_arn"].startswith("arn:aws:ecs:us-east-1:")
        assert aws["task_definition"] in families
        assert aws["task_definition_revision"] == int(aws["task_definition"].rsplit(":", 1)[1])
        assert (aws["cpu"], aws["memory"]) == (1024, 2048)
        assert props["stacworks:execution"] == job
        assert [link["rel"] for link in out["links"] if link["rel"] == "derived_from"]
        assert out["assets"]["ndvi"]["href"].endswith(f"/assets/{NDVI_AWS}/{out['id']}/ndvi")
        stored = moto_aws.client("s3").list_objects_v2(
            Bucket=moto_aws.bucket, Prefix=f"cat/{NDVI_AWS}/{out['id']}/")
        assert [o["Key"].rsplit("/", 1)[1] for o in stored["Contents"]] == ["ndvi.tif"]

        found = api.get(f"/stac/collections/{NDVI_AWS}/items/{out['id']}")
        assert found.status_code == 200
        tile = api.get(f"/tiles/collections/{NDVI_AWS}/items/{out['id']}/tiles/WebMercatorQuad/"
                       f"{Z}/{X}/{Y}.png", params={"assets": "ndvi", "rescale": "-1,1",
                                                   "colormap_name": "rdylgn"})
        assert tile.status_code == 200, tile.text
        pixels = np.asarray(Image.open(io.BytesIO(tile.content)))
        assert pixels[..., 3].any()  # something rendered, not an empty tile

    # What the RunTask of this job carried: the contract, for this job and item.
    ecs = moto_aws.client("ecs")
    arns = ecs.list_tasks(cluster="stacworks", startedBy="AWS Step Functions")["taskArns"]
    envs = [{e["name"]: e["value"] for e in t["overrides"]["containerOverrides"][0]["environment"]}
            for t in ecs.describe_tasks(cluster="stacworks", tasks=arns)["tasks"]]
    (env,) = [e for e in envs if e.get("STACWORKS_EXECUTION_ID") == job]
    assert json.loads(env["STACWORKS_INPUT_ITEMS"]) == [
        f"s3://{moto_aws.bucket}/cat/_processing/{job}/inputs/000.json"]
    assert env["STACWORKS_ALGORITHM"] == f"{NDVI_AWS}:1.0.0"
