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


def test_published_items_are_checked_against_the_run(
        env: dict[str, str], moto_aws: MotoAws, dsn: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What an ingest task wrote to S3 (moto over HTTP) is registered only as its own product
    of the run in the database: not as the product its (rewritable) S3 snapshot names, not in
    another collection, no asset outside its output folder, no oversized or malformed JSON.
    The last case is one that is registered, so the refusals are each check's own."""
    import uuid

    from catalog.settings import CatalogSettings
    from ingest.aws import AwsIngest
    from ingest.pipeline import Services
    from ingest.runs import add_product, create_run
    from ingest.settings import IngestSettings
    from ingest.sources import Product
    from objectstore import store_from_settings
    from objectstore.settings import StoreSettings
    from processing.aws.history import EcsTask
    from processing.aws.manager import AwsExecutionManager
    from processing.db import Database
    from processing.errors import ProcessingError
    from processing.settings import ProcessingSettings

    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    stores = StoreSettings(home=Path(env["STACWORKS_HOME"]), store=env["STACWORKS_STORE"],
                           s3_endpoint=moto_aws.endpoint, s3_access_key_id="testing",
                           s3_secret_access_key="testing", s3_region="us-east-1")
    store = store_from_settings(stores)
    aws = AwsProcessingSettings.model_validate(
        {k.removeprefix("STACWORKS_PROCESSING_AWS_").lower(): v
         for k, v in moto_aws.settings_env().items()} | {"ingest_max_json_bytes": 4096})
    manager = AwsExecutionManager(
        db=Database(dsn), settings=ProcessingSettings(), dsn=dsn, home=stores.home,
        object_store=store, store_settings=stores, aws_settings=aws)
    catalog = CatalogSettings(home=env["STACWORKS_HOME"], db_port=int(env["STACWORKS_DB_PORT"]))
    ingest = AwsIngest(manager, Services(catalog, IngestSettings(validate_items="off"), store))
    collection, victim = f"{COLLECTION}-checked", f"{COLLECTION}-victim"
    source_href = "https://example.test/scene.tif"
    product = Product(source="urls", collection=collection, item_id="scene", kind="raster",
                      item={"assets": {"data": {"href": source_href}}})
    run_id = create_run(dsn, "urls", {})
    pid = add_product(dsn, run_id, product, "queued")
    secret = f"{victim}/private/data.tif"  # an object of the catalog the task must not name
    store.put_bytes(secret, b"private")

    def item(**changes: object) -> dict[str, object]:
        return {"type": "Feature", "stac_version": "1.0.0", "id": "scene",
                "collection": collection, "bbox": [0, 0, 1, 1], "geometry": {
                    "type": "Point", "coordinates": [0.5, 0.5]}, "properties": {
                    "datetime": "2026-01-01T00:00:00Z"}, "links": [],
                "assets": {"data": {"href": "assets/data.tif"}}, **changes}

    def publish(outputs: object, items: dict[str, object], snapshot: object = None,
                ) -> dict[str, object]:
        job = uuid.uuid4().hex
        row = {"id": job, "input": {"products": [pid]}, "context": {"ingest_run": run_id}}
        store.put_bytes(f"_processing/{job}/inputs/000.json", json.dumps(
            snapshot or {"product": product.to_json(), "product_id": pid}).encode())
        prefix = f"_processing/{job}/out/"
        store.put_bytes(prefix + "scene/assets/data.tif", b"converted")
        for path, doc in items.items():
            store.put_bytes(prefix + path, json.dumps(doc).encode())
        store.put_bytes(prefix + "outputs.json", outputs if isinstance(outputs, bytes)
                        else json.dumps(outputs).encode())
        task = EcsTask(scheduled_id=1, state_name="ingest-product", map_index=0, parameters={},
                       environment={"STACWORKS_INPUT_ITEMS": json.dumps(
                           [f"{manager.output_root}/{job}/inputs/000.json"])},
                       scheduled_at=None, task_arn="arn:aws:ecs:us-east-1:1:task/x/1")
        return ingest.publish(row, task, prefix, {})

    listed = {"stac_items": [{"item": "scene/item.json"}]}
    tampered = {"product": {**product.to_json(), "collection": victim}, "product_id": pid}
    refused = {
        "snapshot rewritten": (listed, {"scene/item.json": item(collection=victim)}, tampered),
        "other collection": (listed, {"scene/item.json": item(collection=victim)}, None),
        "store object": (listed, {"scene/item.json": item(assets={"data": {
            "href": store.href(secret)}})}, None),
        "traversal": ({"stac_items": [{"item": "../out/scene/item.json"}]},
                      {"scene/item.json": item()}, None),
        "asset traversal": (listed, {"scene/item.json": item(assets={"data": {
            "href": "../../../" + secret}})}, None),
        "asset key": (listed, {"scene/item.json": item(assets={"../x": {
            "href": "assets/data.tif"}})}, None),
        "huge outputs": (json.dumps({"stac_items": [{"item": "scene/item.json",
                                                     "warnings": ["w" * 5000]}]}).encode(),
                         {"scene/item.json": item()}, None),
        "entries": ({"stac_items": ["scene/item.json"]}, {"scene/item.json": item()}, None),
        "too many": ({"stac_items": [{"item": "scene/item.json"}] * 2},
                     {"scene/item.json": item()}, None),
    }
    for case, (outputs, items, snapshot) in refused.items():
        with pytest.raises(ProcessingError):
            publish(outputs, items, snapshot)
            pytest.fail(f"{case}: registered")
        assert not list(store.list(f"{collection}/")), case
        assert [o.key for o in store.list(f"{victim}/")] == [secret], case
    with psycopg.connect(dsn) as conn:
        found = conn.execute("SELECT count(*) FROM pgstac.items WHERE collection IN (%s, %s)",
                             (collection, victim)).fetchone()
    assert found == (0,)
    # The control: the product's own item, a converted asset and a source asset, registered.
    good = item(assets={"data": {"href": "assets/data.tif"}, "orig": {"href": source_href}})
    done = publish(listed, {"scene/item.json": good})
    assert done["Items"] == [f"{collection}/scene"]
    assert store.get(f"{collection}/scene/data.tif") == b"converted"
