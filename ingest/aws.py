"""A whole ingest as one Step Functions execution, for bursty loads: a Map over the products,
one Fargate task ``stacworks-ingest-product`` per product (``stacworks ingest ... --backend
aws``).

Tasks on Fargate never receive database credentials. So the platform searches the source,
records the run and its products, writes a snapshot of each product to S3 and starts the
execution; each task downloads, converts and describes its product (``ingest/fargate.py``)
and writes the files and STAC item under its own S3 output prefix; as each task ends, the
platform (the execution manager following the execution) checks that the item is the task's
own product, copies the assets to their catalog keys, validates and registers the item, and
records the product as done or failed, as a local worker would.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ingest.errors import IngestError
from ingest.fargate import OUTPUTS_KEY
from ingest.pipeline import Services, check_item, collection_doc
from ingest.register import register_item
from ingest.runs import (
    load_product,
    mark_run_finished,
    update_product,
)
from ingest.service import record_search
from ingest.sources import Product, SearchQuery
from objectstore import InvalidKey, ObjectNotFound, asset_key
from processing.algorithms import AlgorithmSpec
from processing.aws.history import EcsTask
from processing.aws.manager import AwsExecutionManager
from processing.aws.settings import AwsProcessingSettings
from processing.contract import ENV_INPUT_ITEMS
from processing.errors import InvalidInput, ProcessingError
from processing.journal import FINISHED
from processing.workflows import ecs_task

__all__ = ["PROCESS_ID", "TASK_NAME", "AwsIngest", "AwsRunStart", "ingest_definition",
           "ingest_task_spec"]

#: The process id of ingest jobs: no workflow or algorithm id can contain a colon.
PROCESS_ID = "platform:ingest"
TASK_NAME = "ingest-product"
TASK_VERSION = "1.0.0"


def ingest_task_spec(aws: AwsProcessingSettings) -> AlgorithmSpec:
    """The platform task: the platform image running ``python -m ingest.fargate``."""
    return AlgorithmSpec(
        name=TASK_NAME, version=TASK_VERSION, title="Ingest one product",
        description="Download, convert (COG/COPC) and describe one product; registered by "
                    "the platform.",
        image=aws.ingest_image, command=["python", "-m", "ingest.fargate"],
        cpu=aws.ingest_cpu, memory=aws.ingest_memory,
        ephemeral_storage_gib=aws.ingest_ephemeral_storage_gib,
    )


def ingest_definition(spec: AlgorithmSpec, max_concurrency: int) -> dict[str, Any]:
    """The ASL of an ingest run (pure): a Map over the product snapshots, one task each. A
    failed product is caught (the others go on; the platform records it as failed); ECS
    refusing a RunTask (throttling, capacity under a burst) is retried."""
    task = ecs_task(spec, "$.items")
    task["Retry"] = [{"ErrorEquals": ["ECS.AmazonECSException"], "IntervalSeconds": 10,
                      "MaxAttempts": 3, "BackoffRate": 2.0}]
    task["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                      "Next": "ProductFailed"}]
    return {
        "Comment": "Ingest each product on Fargate (stacworks ingest --backend aws)",
        "StartAt": "EachProduct",
        "States": {"EachProduct": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"items.$": "States.Array($$.Map.Item.Value)",
                             "parameters.$": "$.parameters"},
            "MaxConcurrency": max_concurrency,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": TASK_NAME,
                "States": {TASK_NAME: task,
                           "ProductFailed": {"Type": "Succeed",
                                             "Comment": "recorded as failed by the platform"}},
            },
            "ResultPath": None,
            "End": True,
        }},
    }


@dataclass(frozen=True)
class AwsRunStart:
    """An ingest run started on AWS: its record, counts and the job (None: nothing to do)."""

    run_id: int
    found: int
    queued: int
    skipped: int
    job_id: str | None

    def summary(self) -> str:
        if self.found == 0:
            return f"run {self.run_id}: the search found no product"
        if self.job_id is None:
            return f"run {self.run_id}: {self.skipped} already ingested, nothing to do"
        extra = f", {self.skipped} already ingested" if self.skipped else ""
        return (f"run {self.run_id}: {self.found} found, {self.queued} on Fargate as job "
                f"{self.job_id}{extra}")


def _relative(path: Any, field: str) -> str:
    """A path inside the task's output folder (never absolute, never ``..``)."""
    text = str(path)
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or "\\" in text:
        raise ProcessingError(f"outputs.json: {field} {text!r} is not inside the output folder")
    return text


class AwsIngest:
    """Ingest jobs on the aws back end (a :class:`processing.aws.manager.PlatformJobs`)."""

    process_id = PROCESS_ID

    def __init__(self, manager: AwsExecutionManager, svc: Services) -> None:
        self.manager = manager
        self.svc = svc

    @classmethod
    def install(cls, manager: AwsExecutionManager, svc: Services) -> AwsIngest:
        """Make ``manager`` able to run, follow and stop ingest jobs."""
        found = cls(manager, svc)
        manager.platform_jobs[PROCESS_ID] = found
        return found

    @property
    def spec(self) -> AlgorithmSpec:
        return ingest_task_spec(self.manager.aws)

    def task_role_arn(self) -> str | None:
        return self.manager.aws.ingest_task_role_arn or self.manager.aws.task_role_arn

    def execution_role_arn(self) -> str | None:
        return self.manager.aws.ingest_execution_role_arn or self.manager.aws.execution_role_arn

    # -- starting ------------------------------------------------------------------------------

    def _snapshot_key(self, job_id: str, index: int) -> str:
        return f"{self.manager.aws.work_prefix.strip('/')}/{job_id}/inputs/{index:03d}.json"

    def start(self, source_name: str, query: SearchQuery,
              principal: str | None = None) -> AwsRunStart:
        """Search, record the run and its products (already ingested ones as skipped), and
        start one execution for the rest. Callers check that the caller is an admin."""
        svc = self.svc
        found = record_search(svc, source_name, query)
        run_id, todo, skipped = found.run_id, found.queued, found.skipped
        if not todo:
            mark_run_finished(svc.dsn, run_id)
            return AwsRunStart(run_id, found.found, 0, skipped, None)
        limit = self.manager.settings.max_items
        if len(todo) > limit:
            self._fail_products(run_id, [pid for pid, _ in todo],
                                f"more than {limit} products in one run on AWS "
                                "(STACWORKS_PROCESSING_MAX_ITEMS); narrow the search")
            mark_run_finished(svc.dsn, run_id)
            raise InvalidInput("limit", f"{len(todo)} products to ingest, more than {limit} "
                                        "in one run (STACWORKS_PROCESSING_MAX_ITEMS)")
        self.manager.platform_task(self)  # registered before the state machine names it
        job_id = uuid.uuid4().hex
        urls = []
        for index, (pid, product) in enumerate(todo):
            snapshot = {"product": product.to_json(), "product_id": pid}
            self.manager.object_store.put_bytes(self._snapshot_key(job_id, index),
                                                json.dumps(snapshot).encode())
            urls.append(f"{self.manager.output_root}/{job_id}/inputs/{index:03d}.json")
        self.manager.submit_platform(self, {
            "id": job_id,
            "output_collection": query.collection or todo[0][1].collection,
            "definition": ingest_definition(self.spec, self.manager.aws.ingest_max_concurrency),
            "context": {"ingest_run": run_id, "stac_url": None, "renders": {}},
            "input": {"items": urls, "parameters": {}, "products": [pid for pid, _ in todo]},
            "principal": principal,
        })
        return AwsRunStart(run_id, found.found, len(todo), skipped, job_id)

    def wait(self, job_id: str, poll_seconds: float = 1.0) -> str:
        """Block until the job ends (the CLI follows its own job); return its status."""
        while True:
            status = str(self.manager.executions.get(job_id)["status"])
            if status in FINISHED:
                return status
            time.sleep(poll_seconds)

    # -- following (called by the execution manager) --------------------------------------------

    def _task_products(self, row: Mapping[str, Any], task: EcsTask
                       ) -> list[tuple[int, int, str]]:
        """(index, product row id, snapshot key) of each product the task was given; only
        snapshots of this job count."""
        urls = json.loads(task.environment.get(ENV_INPUT_ITEMS) or "[]")
        pids = list((row["input"] or {}).get("products") or [])
        found = []
        for url in urls if isinstance(urls, list) else []:
            prefix = f"{self.manager.output_root}/{row['id']}/inputs/"
            name = str(url).removeprefix(prefix).removesuffix(".json")
            if not str(url).startswith(prefix) or not name.isdigit() or int(name) >= len(pids):
                raise ProcessingError(f"{url!r} is not a product snapshot of job {row['id']}")
            found.append((int(name), int(pids[int(name)]), self._snapshot_key(row["id"],
                                                                              int(name))))
        return found

    def _read_json(self, key: str, what: str) -> Any:
        """A JSON file the task wrote, bounded (``INGEST_MAX_JSON_BYTES``); ObjectNotFound
        passes through."""
        store, limit = self.manager.object_store, self.manager.aws.ingest_max_json_bytes
        size = store.stat(key).size
        if size > limit:
            raise ProcessingError(f"{what} is {size} bytes, more than {limit} "
                                  "(STACWORKS_PROCESSING_AWS_INGEST_MAX_JSON_BYTES)")
        try:
            return json.loads(store.get(key))
        except ValueError as exc:
            raise ProcessingError(f"{what} is not JSON ({exc})") from None

    def publish(self, row: Mapping[str, Any], task: EcsTask, key_prefix: str,
                provenance: Mapping[str, Any]) -> dict[str, Any]:
        """Register the items a task built, each only as its own product's item. What the
        product is comes from the run's records in the database, never from S3 (a task may
        write anywhere under the work prefix, its snapshot included)."""
        store = self.manager.object_store
        products = self._task_products(row, task)
        try:
            listed = self._read_json(key_prefix + "outputs.json", "outputs.json")
        except ObjectNotFound:  # it exited non-zero: Step Functions says so on AWS (not moto)
            raise ProcessingError(f"the ingest task wrote no outputs.json: it failed (its "
                                  f"log is the job's: /jobs/{row['id']}/logs)") from None
        entries = listed.get(OUTPUTS_KEY) if isinstance(listed, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ProcessingError(f"outputs.json of an ingest task is unreadable: "
                                  f"{OUTPUTS_KEY} is not a list of objects")
        if len(entries) > len(products):
            raise ProcessingError(f"outputs.json lists {len(entries)} items; the task was "
                                  f"given {len(products)} product(s)")
        run_id = int(row["context"]["ingest_run"])
        by_item: dict[tuple[str, str], tuple[int, Product]] = {}
        for _, pid, _ in products:
            product, recorded = load_product(self.svc.dsn, pid)
            if int(recorded["run_id"]) != run_id:
                raise ProcessingError(f"product {pid} is not of ingest run {run_id}")
            by_item[(product.collection, product.item_id)] = (pid, product)
        published = []
        for entry in entries:
            path = _relative(entry.get("item"), "item")
            try:
                item = self._read_json(key_prefix + path, path)
            except ObjectNotFound:
                raise ProcessingError(f"outputs.json: {path} does not exist") from None
            assets = item.get("assets") if isinstance(item, dict) else None
            if not isinstance(assets, dict) or not all(isinstance(a, dict)
                                                       for a in assets.values()):
                raise ProcessingError(f"{path} is not a STAC item with assets")
            mine = by_item.get((str(item.get("collection")), str(item.get("id"))))
            if mine is None:
                raise ProcessingError(f"outputs.json: {path} is not the item of a product "
                                      "this task was given")
            pid, product = mine
            folder = str(PurePosixPath(path).parent)
            copies: list[tuple[str, str]] = []
            sources = {str(a.get("href")) for a in (product.item.get("assets") or {}).values()
                       if isinstance(a, dict)}
            for name, asset in assets.items():
                href = str(asset.get("href", ""))
                if "://" in href or href.startswith("/"):
                    if href not in sources:  # never another object the platform can read
                        raise ProcessingError(f"{path}: assets.{name}.href {href!r} is neither "
                                              "in the output folder nor a source asset")
                    continue  # not converted here: kept as the source describes it
                src = key_prefix + (f"{folder}/" if folder != "." else "") + _relative(
                    href, f"assets.{name}.href")
                ext = href.rsplit(".", 1)[-1] if "." in href else "bin"
                try:
                    dst = asset_key(product.collection, product.item_id, name, ext)
                except InvalidKey as exc:
                    raise ProcessingError(f"{path}: assets.{name}: {exc}") from None
                copies.append((src, dst))
                asset["href"] = store.href(dst)
            item.setdefault("properties", {}).update(provenance_for_item(provenance))
            warnings = [str(w) for w in entry.get("warnings") or []][:50]
            try:  # before any object is copied: a refused item leaves nothing behind
                warnings += check_item(self.svc, item, product)
            except IngestError as exc:
                raise ProcessingError(f"{product.collection}/{product.item_id}: {exc}"
                                      ) from None
            for src, dst in copies:
                with store.open(src) as stream:
                    store.put_stream(dst, stream)
            if (register_item(self.svc.dsn, item, collection_doc(self.svc, product))
                    and self.svc.on_new_collection):
                self.svc.on_new_collection(self.svc.dsn, product.collection)
            update_product(self.svc.dsn, pid, status="done", stage=None, error=None,
                           warnings=warnings[:50], finished_at="now()",
                           timings={"total_s": task.duration_seconds or 0.0})
            published.append(item)
        missing = [pid for _, pid, _ in products
                   if pid not in {by_item[(i["collection"], i["id"])][0] for i in published}]
        if missing:
            self._fail_products(row["context"]["ingest_run"], missing,
                                "the task ended without this product's item")
        return {"ExitCode": 0, "TaskArn": task.task_arn,
                "Items": [f"{i['collection']}/{i['id']}" for i in published],
                "Outputs": [{"collection": i["collection"], "id": i["id"],
                             "assets": sorted(i["assets"])} for i in published]}

    def task_failed(self, row: Mapping[str, Any], task: EcsTask, cause: str) -> None:
        try:
            pids = [pid for _, pid, _ in self._task_products(row, task)]
        except ProcessingError:
            return
        self._fail_products(row["context"]["ingest_run"], pids, cause)

    def _fail_products(self, run_id: int, pids: list[int], cause: str) -> None:
        for pid in pids:
            update_product(self.svc.dsn, pid, status="failed", stage=None,
                           error=cause[:2000], finished_at="now()")

    def job_finished(self, row: Mapping[str, Any], status: str) -> None:
        """Products no task ended for (a stopped or failed execution) fail; the run ends."""
        from ingest.runs import run_status

        run_id = int(row["context"]["ingest_run"])
        pending = [p["id"] for p in run_status(self.svc.dsn, run_id)["products"]
                   if p["status"] in ("queued", "running", "retrying")]
        if pending:
            self._fail_products(run_id, pending, f"the ingest job {row['id']} ended {status} "
                                                 "before this product was done")
        mark_run_finished(self.svc.dsn, run_id)


def provenance_for_item(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Which Fargate task built an ingested item (``stacworks:aws``), as for outputs."""
    return {key: value for key, value in provenance.items() if key == "stacworks:aws"}
