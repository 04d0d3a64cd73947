"""The AWS execution manager against moto over HTTP: what each RunTask received, the history
in order, one task per Map item, StopExecution on dismiss; and a recorded failing history
(moto cannot fail a task) mapped to the job's status, task run, logs and cost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from objectstore import store_from_settings
from objectstore.settings import StoreSettings
from processing.algorithms import AlgorithmSpec
from processing.aws.manager import AwsBackendError, AwsExecutionManager
from processing.aws.settings import AwsProcessingSettings
from processing.costs import task_cost
from processing.db import Database
from processing.errors import AlgorithmNotFound, WorkflowNotFound
from processing.journal import FINISHED
from processing.settings import ProcessingSettings
from processing.workflows import WorkflowSpec
from tests.harness import stacworks
from tests.samples import bbox_item

from .conftest import KEYS, LOG_GROUP, MotoAws

PROBE = AlgorithmSpec(name="probe", version="2.0.0", image="registry.example/probe:2",
                      image_digest="sha256:" + "cd" * 32, command=["probe"], cpu=512,
                      memory=1024)


def probe_task() -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": {"TaskDefinition": "stacworks-probe", "Overrides": {
                "ContainerOverrides": [{"Name": "probe", "Environment": [
                    {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": "States.JsonToString($.items)"},
                    {"Name": "STACWORKS_PARAMETERS",
                     "Value.$": "States.JsonToString($.parameters)"},
                    {"Name": "EXTRA", "Value": "kept"}]}]}},
            "ResultPath": None, "End": True}


EACH = WorkflowSpec(id="aws-each", definition={
    "StartAt": "EachItem",
    "States": {"EachItem": {
        "Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"items.$": "States.Array($$.Map.Item.Value)",
                         "parameters.$": "$.parameters"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Probe",
                          "States": {"Probe": probe_task()}},
        "ResultPath": None, "End": True}}})
LIVE = WorkflowSpec(id="aws-live", definition={"StartAt": "Probe",
                                               "States": {"Probe": probe_task()}})
SLOW = WorkflowSpec(id="aws-slow", definition={
    "StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 60, "Next": "Probe"},
                                   "Probe": probe_task()}})


@pytest.fixture(scope="module")
def store_settings(moto_aws: MotoAws, tmp_path_factory: pytest.TempPathFactory) -> StoreSettings:
    return StoreSettings(home=tmp_path_factory.mktemp("aws-home"),
                         store=f"s3://{moto_aws.bucket}/cat", s3_endpoint=moto_aws.endpoint,
                         s3_access_key_id="testing", s3_secret_access_key="testing",
                         s3_region="us-east-1")


def make_manager(dsn: str, store_settings: StoreSettings, aws: AwsProcessingSettings,
                 clients: Any = None) -> AwsExecutionManager:
    return AwsExecutionManager(
        db=Database(dsn), settings=ProcessingSettings(), dsn=dsn, home=store_settings.home,
        object_store=store_from_settings(store_settings), store_settings=store_settings,
        aws_settings=aws, clients=clients)


ITEMS = "aws-probe-items"


@pytest.fixture(scope="module")
def manager(dsn: str, moto_aws: MotoAws, store_settings: StoreSettings,
            stacworks_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[AwsExecutionManager]:
    records: list[dict[str, Any]] = [
        {"type": "Collection", "stac_version": "1.0.0", "id": ITEMS, "description": "probes",
         "license": "proprietary", "links": [],
         "extent": {"spatial": {"bbox": [[0, 0, 3, 1]]}, "temporal": {"interval": [[None, None]]}}},
        *(bbox_item(ITEMS, f"p{n}", [n, 0, n + 1, 1], "2026-01-01T00:00:00Z",
                    {"data": {"href": f"s3://{moto_aws.bucket}/cat/{ITEMS}/p{n}/data.tif"}})
          for n in range(3)),
    ]
    path = tmp_path_factory.mktemp("aws-items") / "items.json"
    path.write_text(json.dumps(records))
    stacworks("load", "--mode", "upsert", str(path), env=stacworks_env)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in KEYS.items():
            mp.setenv(key, value)
        aws = AwsProcessingSettings.model_validate(
            {k.removeprefix("STACWORKS_PROCESSING_AWS_").lower(): v
             for k, v in moto_aws.settings_env().items()})
        found = make_manager(dsn, store_settings, aws)
        found.algorithms.register(PROBE, replace=True)
        for spec in (EACH, SLOW, LIVE):
            try:
                found.workflows.create(spec)
            except Exception:  # noqa: BLE001 - a rerun on the same catalog
                found.workflows.update(spec.id, spec)
        yield found
        found.shutdown()


def wait(manager: AwsExecutionManager, job: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = manager.executions.get(job)
        if row["status"] in FINISHED:
            return row
        time.sleep(0.1)
    raise AssertionError(f"job {job} still {row['status']}")


def test_local_store_is_refused(dsn: str, tmp_path: Path) -> None:
    local = StoreSettings(home=tmp_path)
    with pytest.raises(AwsBackendError, match="needs an S3 object store"):
        make_manager(dsn, local, AwsProcessingSettings())


def test_registering_an_algorithm_registers_its_task_definition(
    manager: AwsExecutionManager, moto_aws: MotoAws
) -> None:
    ref = manager.aws_algorithms.resolve("probe")
    found = moto_aws.client("ecs").describe_task_definition(taskDefinition=ref.arn,
                                                            include=["TAGS"])
    definition = found["taskDefinition"]
    assert definition["family"] == "stacworks-probe"
    assert (definition["cpu"], definition["memory"]) == ("512", "1024")
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["executionRoleArn"].endswith("role/ecs-execution")
    container = definition["containerDefinitions"][0]
    assert container["image"] == f"registry.example/probe@{PROBE.image_digest}"
    assert container["logConfiguration"]["options"]["awslogs-stream-prefix"] == "probe"
    assert {"key": "stacworks:version", "value": "2.0.0"} in found["tags"]
    # A new version is a new revision; deleting a version deregisters only its revision.
    newer = PROBE.model_copy(update={"version": "2.1.0"})
    manager.algorithms.register(newer, replace=True)
    assert manager.aws_algorithms.resolve("probe", "2.1.0").revision > ref.revision
    manager.algorithms.delete("probe", "2.1.0")
    assert manager.aws_algorithms.resolve("probe").arn == ref.arn
    active = moto_aws.client("ecs").list_task_definitions(familyPrefix="stacworks-probe",
                                                          status="ACTIVE")
    assert ref.arn in active["taskDefinitionArns"]
    assert len([a for a in active["taskDefinitionArns"] if "probe" in a]) == 1


def test_storing_a_workflow_deploys_it(manager: AwsExecutionManager,
                                      moto_aws: MotoAws) -> None:
    sfn = moto_aws.client("stepfunctions")
    name = manager.state_machine_name("aws-each")
    (machine,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                  if m["name"] == name]  # created with the workflow, before any job
    deployed = json.loads(sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    assert deployed == manager.export(EACH.definition)
    # A task naming no registered algorithm: refused before anything is stored or deployed.
    unknown = probe_task()
    unknown["Parameters"]["TaskDefinition"] = "stacworks-nothing-here"
    bad = WorkflowSpec(id="aws-unknown", definition={"StartAt": "T", "States": {"T": unknown}})
    with pytest.raises(AlgorithmNotFound):
        manager.workflows.create(bad)
    with pytest.raises(WorkflowNotFound):
        manager.workflows.get("aws-unknown")
    assert manager.delete_state_machine("aws-unknown") is None


def test_a_refused_deployment_stores_nothing(manager: AwsExecutionManager,
                                             moto_aws: MotoAws) -> None:
    """Step Functions (moto over HTTP) refusing the state machine (a role ARN it does not
    take): the create or update is a 502 and no version is stored."""
    from processing.aws.workflows import DeployFailed

    spec = WorkflowSpec(id="aws-refused", definition=LIVE.definition)
    try:
        manager.workflows.create(spec)
    except Exception:  # noqa: BLE001 - a rerun on the same catalog
        manager.workflows.update(spec.id, spec)
    stored = manager.workflows.get(spec.id).version
    assert manager.delete_state_machine(spec.id)  # gone from the console: made again
    saved = manager.aws.state_machine_role_arn
    manager.aws.state_machine_role_arn = "arn:aws:iam::123:role/states"
    try:
        with pytest.raises(DeployFailed, match="is not stored") as refused:
            manager.workflows.update(spec.id, spec)
        assert refused.value.status_code == 502
        with pytest.raises(DeployFailed):
            manager.workflows.create(spec.model_copy(update={"id": "aws-refused-new"}))
    finally:
        manager.aws.state_machine_role_arn = saved
    assert manager.workflows.get(spec.id).version == stored
    with pytest.raises(WorkflowNotFound):
        manager.workflows.get("aws-refused-new")
    manager.workflows.delete(spec.id)


def test_map_runs_one_fargate_task_per_item(manager: AwsExecutionManager,
                                            moto_aws: MotoAws) -> None:
    items = [f"{ITEMS}/p{n}" for n in range(3)]
    row = manager.submit("aws-each", {"items": items, "parameters": {"k": 1}}, stac_url=None)
    job = wait(manager, row["id"])
    assert job["status"] == "successful", (job["error"], job["cause"])
    ecs = moto_aws.client("ecs")
    arns = ecs.list_tasks(cluster="stacworks", startedBy="AWS Step Functions")["taskArns"]
    tasks = [t for t in ecs.describe_tasks(cluster="stacworks", tasks=arns)["tasks"]
             if any(e["name"] == "STACWORKS_EXECUTION_ID" and e["value"] == row["id"]
                    for e in t["overrides"]["containerOverrides"][0]["environment"])]
    assert len(tasks) == 3
    revision = manager.aws_algorithms.resolve("probe").arn
    by_index = {}
    for task in tasks:
        assert task["taskDefinitionArn"] == revision
        assert task["launchType"] == "FARGATE"
        details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
        assert details["subnetId"] == moto_aws.subnet
        override = task["overrides"]["containerOverrides"][0]
        assert override["name"] == "probe"
        env = {e["name"]: e["value"] for e in override["environment"]}
        by_index[int(env["STACWORKS_MAP_INDEX"])] = env
        assert env["STACWORKS_STATE_NAME"] == "Probe"
        assert env["STACWORKS_ALGORITHM"] == "probe:2.0.0"
        assert env["STACWORKS_PARAMETERS"] == '{"k":1}'
        assert env["EXTRA"] == "kept"
        assert env["STACWORKS_OUTPUT_PREFIX"].startswith(
            f"s3://{moto_aws.bucket}/cat/_processing/{row['id']}/Probe/")
    assert sorted(by_index) == [0, 1, 2]
    s3 = moto_aws.client("s3")
    for index, env in by_index.items():  # each task gets its item's snapshot, in S3
        (url,) = json.loads(env["STACWORKS_INPUT_ITEMS"])
        assert url == (f"s3://{moto_aws.bucket}/cat/_processing/{row['id']}/inputs/"
                       f"{index:03d}.json")
        snapshot = s3.get_object(Bucket=moto_aws.bucket, Key=url.split("/", 3)[3])
        assert json.loads(snapshot["Body"].read())["id"] == f"p{index}"
    assert len({env["STACWORKS_OUTPUT_PREFIX"] for env in by_index.values()}) == 3

    events = manager.executions.events(row["id"])
    types = [e["type"] for e in events]
    assert types[:3] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted"]
    assert types[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert types.count("TaskScheduled") == types.count("TaskSucceeded") == 3
    for scheduled in (e for e in events if e["type"] == "TaskScheduled"):
        chain = [e["type"] for e in events if e["id"] > scheduled["id"]
                 and e["state_path"] == scheduled["state_path"]
                 and e["type"].startswith("Task")]
        assert chain[:3] == ["TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    runs = manager.executions.task_runs(row["id"])
    assert sorted(r["map_index"] for r in runs) == [0, 1, 2]
    assert {(r["status"], r["algorithm"], r["cpu"], r["memory"]) for r in runs} == {
        ("succeeded", "probe", 512, 1024)}
    progress = manager.executions.state_progress(row["id"])
    assert progress["Probe"]["entered"] == progress["Probe"]["succeeded"] == 3

    # Starting again (a retried request) follows the same execution: name = job id.
    machine = manager.deploy("aws-each", job["definition"])
    assert manager._start(job) == manager.execution_arn(machine, row["id"])
    executions = moto_aws.client("stepfunctions").list_executions(stateMachineArn=machine)
    assert [e["name"] for e in executions["executions"]].count(row["id"]) == 1


def test_dismiss_stops_the_execution(manager: AwsExecutionManager, moto_aws: MotoAws) -> None:
    row = manager.submit("aws-slow", {"items": [f"{ITEMS}/p0"]}, stac_url=None)
    machine = manager.deploy("aws-slow", row["definition"])
    arn = manager.execution_arn(machine, row["id"])
    sfn = moto_aws.client("stepfunctions")
    deadline = time.monotonic() + 30
    while manager.executions.get(row["id"])["status"] != "running" or not any(
        e["executionArn"] == arn for e in sfn.list_executions(stateMachineArn=machine)[
            "executions"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    dismissed = manager.cancel(row["id"])
    assert dismissed["status"] == "dismissed"
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert manager.executions.events(row["id"])[-1]["type"] == "ExecutionAborted"


def test_logs_of_a_running_task_are_live(manager: AwsExecutionManager, moto_aws: MotoAws,
                                         dsn: str) -> None:
    """While the task runs (moto keeps it RUNNING), lines put into its awslogs stream show in
    ``/jobs/{id}/logs``, page by page, each once, up to the per-task bound."""
    from starlette.testclient import TestClient

    from catalog.access import Access, AccessSettings
    from processing.jobs_api import ProcessesFactory

    moto_api = f"{moto_aws.endpoint}/moto-api/state-manager"
    httpx.post(f"{moto_api}/set-transition", json={
        "model_name": "ecs::task", "transition": {"progression": "time", "seconds": 600}},
    ).raise_for_status()
    saved = manager.aws.model_copy()
    manager.aws.log_page_lines, manager.aws.log_max_lines_per_task = 2, 5
    row: dict[str, Any] = {}
    try:
        row = manager.submit("aws-live", {"items": [f"{ITEMS}/p0"]}, stac_url=None)
        stream, put = task_log(moto_aws, running_task(moto_aws, row["id"]))

        api = TestClient(ProcessesFactory(
            manager=manager, access=Access(dsn, AccessSettings(enabled=False))).create_app())

        def lines(expected: int) -> list[str]:
            until = time.monotonic() + 20
            while True:
                (shown,) = api.get(f"/jobs/{row['id']}/logs").json()["tasks"]
                got = [line["message"] for line in shown["lines"]]
                if len(got) >= expected or time.monotonic() > until:
                    assert shown["status"] == "running"
                    return got
                time.sleep(0.1)

        put("reading input", "band B04", "band B08")  # two GetLogEvents pages of 2
        assert lines(3) == ["reading input", "band B04", "band B08"]
        assert manager.executions.get(row["id"])["status"] == "running"
        put("writing", "uploading", "past the bound")
        got = lines(6)
        assert got[:5] == ["reading input", "band B04", "band B08", "writing", "uploading"]
        assert len(got) == 6 and got[5].startswith("[stacworks: log truncated after 5 lines")
        assert stream in got[5]
        # The API pages too: ?limit= lines, then ?after= the answer's next_after.
        paged: list[str] = []
        after: int | None = 0
        while after is not None:
            answer = api.get(f"/jobs/{row['id']}/logs", params={"after": after, "limit": 4})
            paged += [line["message"] for line in answer.json()["tasks"][0]["lines"]]
            after = answer.json()["next_after"]
            assert len(paged) <= 6
        assert paged == got
    finally:
        for key in ("log_page_lines", "log_max_lines_per_task"):
            setattr(manager.aws, key, getattr(saved, key))
        httpx.post(f"{moto_api}/unset-transition", json={"model_name": "ecs::task"})
        if row:
            manager.cancel(row["id"])


def running_task(moto_aws: MotoAws, job: str) -> dict[str, Any]:
    """The ECS task Step Functions started for ``job`` (waited for)."""
    ecs = moto_aws.client("ecs")
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, "no ECS task started"
        arns = ecs.list_tasks(cluster="stacworks", startedBy="AWS Step Functions")
        found = (ecs.describe_tasks(cluster="stacworks", tasks=arns["taskArns"])["tasks"]
                 if arns["taskArns"] else [])
        task = next((t for t in found if {"name": "STACWORKS_EXECUTION_ID", "value": job}
                     in t["overrides"]["containerOverrides"][0]["environment"]), None)
        if task is not None:
            return task
        time.sleep(0.1)


def task_log(moto_aws: MotoAws, task: dict[str, Any]) -> tuple[str, Any]:
    """Create the task's awslogs stream; return it and a function appending lines to it."""
    logs = moto_aws.client("logs")
    stream = f"probe/probe/{task['taskArn'].rsplit('/', 1)[1]}"
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)

    def put(*messages: str) -> None:
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[
            {"timestamp": now + i, "message": m} for i, m in enumerate(messages)])
    return stream, put


def until(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return found


def test_a_restarted_server_follows_the_execution_again(
    manager: AwsExecutionManager, moto_aws: MotoAws, dsn: str, store_settings: StoreSettings
) -> None:
    """A server stopping while its job's Fargate task runs loses nothing on AWS: the next
    server follows the same execution under the same run, keeps the task run it finds (no
    abandoned run, no crash counted, no second cost or publication), copies only the new log
    lines, and records the end once. A dismiss asked while no server follows stops it on AWS."""
    moto_api = f"{moto_aws.endpoint}/moto-api/state-manager"
    httpx.post(f"{moto_api}/set-transition", json={
        "model_name": "ecs::task", "transition": {"progression": "time", "seconds": 600}},
    ).raise_for_status()
    first = make_manager(dsn, store_settings, manager.aws)
    second: AwsExecutionManager | None = None
    try:
        row = first.submit("aws-live", {"items": [f"{ITEMS}/p0"]}, stac_url=None)
        job = row["id"]
        _, put = task_log(moto_aws, running_task(moto_aws, job))
        put("reading input", "band B04")

        def lines() -> list[str]:
            return [line["message"] for line in manager.executions.logs(job)]
        until(lambda: len(lines()) == 2)
        (before,) = first.executions.task_runs(job)
        run = first.executions.get(job)["run"]
        first.shutdown()  # the follower lets go; the execution runs on in Step Functions
        assert first.executions.get(job)["owner"] is None

        second = make_manager(dsn, store_settings, manager.aws)
        assert job in second.recover()
        put("band B08")
        until(lambda: len(lines()) == 3)
        httpx.post(f"{moto_api}/unset-transition", json={"model_name": "ecs::task"})
        done = wait(second, job)
        assert done["status"] == "successful", (done["error"], done["cause"])
        assert done["run"] == run
        (after,) = second.executions.task_runs(job)  # the same row, not a second one
        assert after["id"] == before["id"] and after["status"] == "succeeded"
        assert second.executions.crashed_runs(job) == 0
        assert lines() == ["reading input", "band B04", "band B08"]
        types = [e["type"] for e in second.executions.events(job)]
        assert types.count("ExecutionStarted") == types.count("TaskScheduled") == 1
        assert types[-1] == "ExecutionSucceeded"

        # Dismissed while no server follows: StopExecution at once, the abort recorded by
        # the next server, and the job's older definition never redeployed over the machine.
        httpx.post(f"{moto_api}/set-transition", json={
            "model_name": "ecs::task", "transition": {"progression": "time", "seconds": 600}},
        ).raise_for_status()
        row = second.submit("aws-live", {"items": [f"{ITEMS}/p1"]}, stac_url=None)
        running_task(moto_aws, row["id"])
        until(lambda: second.executions.task_runs(row["id"]))
        second.shutdown()
        second = make_manager(dsn, store_settings, manager.aws)
        assert second.cancel(row["id"], wait=0)["cancel_requested"]
        sfn = moto_aws.client("stepfunctions")
        arn = second._execution_arn_of(second.executions.get(row["id"]))
        assert arn is not None
        until(lambda: sfn.describe_execution(executionArn=arn)["status"] == "ABORTED")
        assert row["id"] in second.recover()
        dismissed = wait(second, row["id"])
        assert dismissed["status"] == "dismissed"
        assert len(second.executions.task_runs(row["id"])) == 1
        assert second.executions.events(row["id"])[-1]["type"] == "ExecutionAborted"
    finally:
        httpx.post(f"{moto_api}/unset-transition", json={"model_name": "ecs::task"})
        for found in (first, second):
            if found is not None:
                found.shutdown()


# -- a recorded history: a task that exits 3 (moto cannot make a task fail) -------------------

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/stacworks/0f1e2d3c4b5a"


def recorded_failure(job: str, revision: str) -> list[dict[str, Any]]:
    """GetExecutionHistory of a one-task execution whose container exited 3 (as Step Functions
    reports it: TaskFailed with the stopped task's description as the cause)."""
    env = [{"Name": "STACWORKS_ALGORITHM", "Value": "probe:2.0.0"},
           {"Name": "STACWORKS_EXECUTION_ID", "Value": job},
           {"Name": "STACWORKS_OUTPUT_PREFIX", "Value": "s3://b/cat/_processing/x"}]
    params = {"Cluster": "stacworks", "TaskDefinition": revision, "LaunchType": "FARGATE",
              "Overrides": {"ContainerOverrides": [{"Name": "probe", "Environment": env}]}}
    stopped = {"TaskArn": TASK_ARN, "TaskDefinitionArn": revision, "Cpu": "512",
               "Memory": "1024", "StartedAt": (T0 + timedelta(seconds=20)).timestamp(),
               "StoppedAt": (T0 + timedelta(seconds=200)).timestamp(),
               "StoppedReason": "Essential container in task exited",
               "Containers": [{"Name": "probe", "ExitCode": 3,
                               "ImageDigest": PROBE.image_digest}]}
    at = [T0 + timedelta(seconds=s) for s in range(0, 300, 10)]
    return [
        {"id": 1, "previousEventId": 0, "timestamp": at[0], "type": "ExecutionStarted",
         "executionStartedEventDetails": {"input": "{}"}},
        {"id": 2, "previousEventId": 1, "timestamp": at[1], "type": "TaskStateEntered",
         "stateEnteredEventDetails": {"name": "Probe", "input": "{}"}},
        {"id": 3, "previousEventId": 2, "timestamp": at[1], "type": "TaskScheduled",
         "taskScheduledEventDetails": {"resourceType": "ecs", "resource": "runTask.sync",
                                       "region": "us-east-1",
                                       "parameters": json.dumps(params)}},
        {"id": 4, "previousEventId": 3, "timestamp": at[2], "type": "TaskStarted",
         "taskStartedEventDetails": {"resourceType": "ecs", "resource": "runTask.sync"}},
        {"id": 5, "previousEventId": 4, "timestamp": at[2], "type": "TaskSubmitted",
         "taskSubmittedEventDetails": {"resourceType": "ecs", "resource": "runTask.sync",
                                       "output": json.dumps({"Tasks": [{"TaskArn": TASK_ARN}]})}},
        {"id": 6, "previousEventId": 5, "timestamp": at[21], "type": "TaskFailed",
         "taskFailedEventDetails": {"resourceType": "ecs", "resource": "runTask.sync",
                                    "error": "States.TaskFailed",
                                    "cause": json.dumps(stopped)}},
        {"id": 7, "previousEventId": 6, "timestamp": at[21], "type": "ExecutionFailed",
         "executionFailedEventDetails": {"error": "States.TaskFailed",
                                         "cause": json.dumps(stopped)}},
    ]


class Recorded:
    """Step Functions and Logs clients answering from a recorded execution."""

    def __init__(self, events: list[dict[str, Any]], lines: list[str],
                 settings: AwsProcessingSettings) -> None:
        self.events, self.lines, self.settings = events, lines, settings
        self.stopped: list[str] = []
        self.polls = 0
        self.streams: list[str] = []

    @property
    def sfn(self) -> Recorded:
        return self

    @property
    def logs(self) -> Recorded:
        return self

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803
        self.polls += 1
        if self.polls == 1:  # the first poll is throttled: the follower retries
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                              "DescribeExecution")
        return {"status": "FAILED", "error": "States.TaskFailed",
                "cause": self.events[-1]["executionFailedEventDetails"]["cause"]}

    def get_paginator(self, name: str) -> Recorded:
        assert name == "get_execution_history"
        return self

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{"events": self.events[:4]}, {"events": self.events[4:]}]

    def get_log_events(self, logGroupName: str, logStreamName: str,  # noqa: N803
                       **kwargs: Any) -> dict[str, Any]:
        self.streams.append(f"{logGroupName}:{logStreamName}")
        if kwargs.get("nextToken"):
            return {"events": [], "nextForwardToken": kwargs["nextToken"]}
        stamp = int((T0 + timedelta(seconds=30)).timestamp() * 1000)
        return {"events": [{"timestamp": stamp, "message": m} for m in self.lines],
                "nextForwardToken": "f/1"}


def test_recorded_failure_maps_to_the_job(manager: AwsExecutionManager,
                                          store_settings: StoreSettings, dsn: str) -> None:
    row = manager.submit("aws-each", {"items": [f"{ITEMS}/p1"]}, stac_url=None)
    wait(manager, row["id"])  # the live run on moto (successful); now replay a failure
    revision = manager.aws_algorithms.resolve("probe").arn
    recorded = Recorded(recorded_failure(row["id"], revision),
                        ["reading input", "error: band B08 missing"], manager.aws)
    replay = make_manager(dsn, store_settings, manager.aws, clients=recorded)
    job = manager.executions.get(row["id"])
    from processing.executions import _Handle

    run = manager.executions.claim(row["id"], replay.owner)
    replay._follow(job, run, "arn:recorded", _Handle())
    failed = manager.executions.get(row["id"])
    assert (failed["status"], failed["error"]) == ("failed", "States.TaskFailed")
    runs = [r for r in manager.executions.task_runs(row["id"]) if r["run"] == run]
    assert len(runs) == 1
    task = runs[0]
    assert (task["status"], task["exit_code"], task["error"]) == ("failed", 3,
                                                                  "States.TaskFailed")
    assert task["cause"] == "Essential container in task exited"
    assert task["duration_seconds"] == 180.0  # StartedAt -> StoppedAt of the task
    expected = task_cost(512, 1024, 180.0, manager.settings).usd
    assert task["cost_usd"] == pytest.approx(expected)
    assert recorded.polls == 2
    assert set(recorded.streams) == {"/stacworks/tasks-test:probe/probe/0f1e2d3c4b5a"}
    lines = manager.executions.logs(row["id"], task_run_id=task["id"])
    assert [line["message"] for line in lines] == ["reading input", "error: band B08 missing"]
    types = [e["type"] for e in manager.executions.events(row["id"]) if e["details"]["run"] == run]
    assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                     "TaskSubmitted", "TaskFailed", "ExecutionFailed"]
