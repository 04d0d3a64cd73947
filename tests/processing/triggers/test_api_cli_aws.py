"""/triggers over HTTP on the composed server, the `schedule` and `subscribe` commands, and
EventBridge Scheduler schedules on moto (created with the right target and input)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from processing.db import Database
from tests.harness import stacworks
from tests.processing.triggers.test_budgets_webhooks import PASS_ASL, _past_run

AOI = {"type": "Polygon", "coordinates": [[[5.0, 45.0], [5.2, 45.0], [5.2, 45.2], [5.0, 45.2],
                                           [5.0, 45.0]]]}


def test_triggers_over_http(server: str, dsn: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    wf = f"trig-api-{suffix}"
    with httpx.Client(base_url=server, timeout=30) as api:
        assert api.post("/workflows", params={"id": wf}, json=PASS_ASL).status_code == 201
        inputs = {"items": ["joplin/none"]}

        bad = api.post("/triggers/schedules", json={"workflow_id": wf, "cron": "61 * * * *",
                                                    "inputs": inputs})
        assert bad.status_code == 400 and bad.json()["detail"].startswith("cron:"), bad.text
        missing = api.post("/triggers/schedules", json={"workflow_id": "nope-" + suffix,
                                                        "cron": "0 6 * * *", "inputs": inputs})
        assert missing.status_code == 404
        made = api.post("/triggers/schedules", json={
            "workflow_id": wf, "cron": "0 6 * * *", "timezone": "Europe/Paris",
            "catch_up": "run-once", "inputs": inputs})
        assert made.status_code == 201, made.text
        schedule = made.json()
        assert schedule["id"].startswith("sch_") and schedule["timezone"] == "Europe/Paris"
        listed = api.get("/triggers", params={"kind": "schedule"}).json()["triggers"]
        assert schedule["id"] in {t["id"] for t in listed}
        assert api.post(f"/triggers/{schedule['id']}/pause").json()["paused"] is True
        assert api.post(f"/triggers/{schedule['id']}/resume").json()["paused"] is False
        assert api.get(f"/triggers/{schedule['id']}/firings").json() == {"firings": []}

        sub = api.post("/triggers/subscriptions", json={
            "collection": "joplin", "cron": "*/30 * * * *", "workflow_id": wf,
            "search": {"intersects": AOI, "window": "P2D", "filter": "eo:cloud_cover < 20"}})
        assert sub.status_code == 201, sub.text
        assert api.get(f"/triggers/{sub.json()['id']}/products").json() == {"products": []}
        bad_filter = api.post("/triggers/subscriptions", json={
            "collection": "joplin", "cron": "*/30 * * * *",
            "search": {"filter": "eo:cloud_cover <<< 20"}})
        assert bad_filter.status_code == 400 and "search.filter" in bad_filter.json()["detail"]
        loop = api.post("/triggers/watches", json={"collection": wf, "workflow_id": wf})
        assert loop.status_code == 400 and "its own outputs" in loop.json()["detail"]

        hook = api.post("/triggers/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                    "events": ["job.failed"]})
        assert hook.status_code == 201 and len(hook.json()["secret"]) >= 32
        hooks = api.get("/triggers/webhooks").json()["webhooks"]
        assert hook.json()["id"] in {h["id"] for h in hooks}
        assert all("secret" not in h for h in hooks)

        db = Database(dsn, max_size=2)
        try:
            _past_run(db, wf, None, [(1024, 2048, 120.0)])
        finally:
            db.close()
        budget = api.put(f"/triggers/budgets/{wf}", json={"soft_usd": 0.0001,
                                                           "hard_usd": 0.0002})
        assert budget.status_code == 200 and budget.json()["spent_usd"] > 0.0002, budget.text
        refused = api.post(f"/processes/{wf}/execution", json={"inputs": inputs})
        assert refused.status_code == 403, refused.text
        assert refused.json()["title"] == "budget exceeded"
        assert f"budget of workflow {wf!r}" in refused.json()["detail"]
        assert api.delete(f"/triggers/budgets/{wf}").status_code == 204
        assert api.get(f"/triggers/budgets/nope-{suffix}").status_code == 404

        for trigger in (schedule["id"], sub.json()["id"]):
            assert api.delete(f"/triggers/{trigger}").status_code == 204
        assert api.get(f"/triggers/{schedule['id']}").status_code == 404
        assert api.delete(f"/triggers/webhooks/{hook.json()['id']}").status_code == 204


def test_schedule_and_subscribe_commands(server: str, dsn: str, stacworks_env: dict[str, str],
                                         tmp_path: Path) -> None:
    wf = f"trig-cli-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=server, timeout=30) as api:
        assert api.post("/workflows", params={"id": wf}, json=PASS_ASL).status_code == 201
    made = stacworks("schedule", "add", wf, "--cron", "30 6 * * 1-5", "--tz", "Europe/Paris",
                     "--inputs", json.dumps({"items": ["joplin/none"]}), env=stacworks_env)
    schedule = made.stdout.strip()
    assert schedule.startswith("sch_")
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": AOI}))
    sub = stacworks("subscribe", "add", "joplin", "--aoi", str(aoi), "--filter",
                    "eo:cloud_cover < 20", "--workflow", wf, "--per", "item",
                    env=stacworks_env).stdout.strip()
    assert sub.startswith("sub_")
    listed = stacworks("schedule", "list", env=stacworks_env).stdout
    assert f"{schedule}\tschedule\tactive\t30 6 * * 1-5\t{wf}" in listed
    assert sub not in listed  # subscriptions are listed by `subscribe list`
    db = Database(dsn, max_size=2)
    try:
        from processing.triggers.settings import TriggerSettings
        from processing.triggers.store import TriggerStore

        store = TriggerStore(db, TriggerSettings())
        shown = store.get(sub)
        assert shown["search"]["intersects"] == AOI and shown["per"] == "item"
        assert shown["search"]["filter"] == "eo:cloud_cover < 20"
        assert store.get(schedule)["timezone"] == "Europe/Paris"
        for trigger in (schedule, sub):
            store.delete(trigger)
    finally:
        db.close()


ROLE = "arn:aws:iam::123456789012:role/"


def _aws_manager(db: Database, dsn: str, tmp_path: Path) -> Any:
    """The aws back end's execution manager, on moto (inside ``mock_aws``)."""
    from objectstore import LocalStore, load_settings
    from processing.aws.manager import AwsExecutionManager
    from processing.aws.settings import AwsProcessingSettings
    from processing.settings import ProcessingSettings

    return AwsExecutionManager(
        db=db, settings=ProcessingSettings(), dsn=dsn, home=tmp_path,
        object_store=LocalStore(tmp_path / "objects"),
        store_settings=load_settings(store="s3://trig-bucket/catalog"),
        aws_settings=AwsProcessingSettings(region="us-east-1",
                                           state_machine_role_arn=ROLE + "states"))


def test_aws_schedule_targets_the_state_machine(dsn: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """moto stores the schedule (it never fires): its target, role, input and expression."""
    from moto import mock_aws

    from processing.triggers.aws import AwsSchedules
    from processing.triggers.settings import TriggerSettings
    from processing.triggers.store import ScheduleDoc, TriggerStore
    from processing.workflows import WorkflowStore, workflow_from_document

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    wf = f"trig-aws-{uuid.uuid4().hex[:6]}"
    db = Database(dsn, max_size=2)
    with mock_aws():
        manager = _aws_manager(db, dsn, tmp_path)
        WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=wf))
        store = TriggerStore(db, TriggerSettings())
        inputs: dict[str, Any] = {"items": ["sentinel-2-l2a/S2B_1"], "parameters": {"k": 1}}
        row = store.create_schedule(ScheduleDoc(workflow_id=wf, cron="30 6 * * 1-5",
                                                timezone="Europe/Paris", inputs=inputs), None)
        schedules = AwsSchedules(manager, ROLE + "scheduler")
        name = schedules.put(row)
        store.set_aws_schedule(row["id"], name)
        got = schedules.client.get_schedule(Name=name, GroupName="default")
        assert got["ScheduleExpression"] == "cron(30 6 ? * 2-6 *)"
        assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
        assert got["State"] == "ENABLED" and got["FlexibleTimeWindow"] == {"Mode": "OFF"}
        machine = manager.clients.sfn.describe_state_machine(
            stateMachineArn=got["Target"]["Arn"])
        assert machine["name"] == manager.state_machine_name(wf)
        assert got["Target"]["RoleArn"] == ROLE + "scheduler"
        target_input = json.loads(got["Target"]["Input"])
        assert target_input["items"] == inputs["items"]
        assert target_input["parameters"] == {"k": 1}
        assert target_input["stacworks"]["schedule"] == row["id"]
        schedules.set_paused(store.get(row["id"]), True)
        assert schedules.client.get_schedule(Name=name)["State"] == "DISABLED"
        schedules.delete(row)
        assert schedules.client.list_schedules()["Schedules"] == []
    store.delete(row["id"])
    db.close()


def test_runs_eventbridge_starts_become_the_owners_jobs(dsn: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """EventBridge fires an aws schedule itself (moto never does: its start is done here with
    the schedule's own target and input). The trigger loop adopts the execution: a job of the
    schedule's owner, followed, a firing in the schedule's history; once only. Over the hard
    budget the execution is stopped on AWS and its job recorded as refused."""
    from moto import mock_aws

    from processing.triggers.service import Triggers
    from processing.triggers.settings import TriggerSettings
    from processing.triggers.store import ScheduleDoc
    from processing.workflows import WorkflowStore, workflow_from_document

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    wf, owner = f"trig-adopt-{uuid.uuid4().hex[:6]}", f"sched-owner-{uuid.uuid4().hex[:6]}"
    db = Database(dsn, max_size=4)
    with mock_aws():
        manager = _aws_manager(db, dsn, tmp_path)
        triggers = Triggers.for_manager(manager, TriggerSettings(
            enabled=False, aws_scheduler_role_arn=ROLE + "scheduler"))
        WorkflowStore(db).create(workflow_from_document(PASS_ASL, workflow_id=wf))
        row = triggers.store.create_schedule(ScheduleDoc(
            workflow_id=wf, cron="0 6 * * *", inputs={"items": ["c/a"]}), owner)
        triggers.store.set_aws_schedule(row["id"], triggers.aws.put(row))
        target = triggers.aws.client.get_schedule(Name=triggers.aws.name(row["id"]))["Target"]
        sfn = manager.clients.sfn

        def fire() -> str:  # what EventBridge Scheduler does at each slot
            return str(sfn.start_execution(stateMachineArn=target["Arn"],
                                           input=target["Input"])["executionArn"])

        fired = fire()
        sfn.start_execution(stateMachineArn=target["Arn"], input="{}")  # not the schedule's
        assert triggers.engine.adopt_aws_runs() == 1
        job = manager.executions.get(fired.rsplit(":", 1)[-1])
        assert job["principal"] == owner and job["context"]["schedule"] == row["id"]
        assert job["input"]["items"] == ["c/a"] and job["status"] != "failed"
        assert triggers.engine.adopt_aws_runs() == 0  # once
        (firing,) = triggers.store.firings(row["id"])
        assert firing["status"] == "started" and firing["execution_ids"] == [job["id"]]

        _past_run(db, wf, owner, [(4096, 8192, 3600.0)])  # this month's spending, over $0.10
        triggers.budgets.set(wf, owner, soft_usd=None, hard_usd=0.1)
        refused = fire()
        assert triggers.engine.adopt_aws_runs() == 1
        job = manager.executions.get(refused.rsplit(":", 1)[-1])
        assert job["status"] == "failed" and job["error"] == "Stacworks.BudgetExceeded"
        assert sfn.describe_execution(executionArn=refused)["status"] == "ABORTED"
        assert {f["status"] for f in triggers.store.firings(row["id"])} == {"started", "refused"}
        manager.shutdown()
        triggers.aws.delete(row)
    triggers.store.delete(row["id"])
    triggers.budgets.delete(wf)
    db.close()
