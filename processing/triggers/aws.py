"""Schedules on AWS: an EventBridge Scheduler schedule per schedule, targeting the workflow's
Step Functions state machine (``STACWORKS_PROCESSING_BACKEND=aws``).

EventBridge fires them, so the trigger loop skips schedules that have one; it adopts the
executions they start instead (:meth:`AwsSchedules.started_runs`, the manager's ``adopt``): each
becomes a job of the schedule's owner, checked by the budgets and followed like any other. The
target input is the schedule's fixed inputs as the state machine reads them (item references,
parameters), marked with the schedule's id.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from processing.aws.manager import AwsBackendError
from processing.errors import InvalidInput
from processing.triggers.cron import aws_cron

__all__ = ["AwsSchedules"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _refusals(action: str) -> Iterator[None]:
    """AWS's refusal as our error: the code in the message, the rest in the log."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        log.warning("EventBridge Scheduler: %s refused: %s", action, exc)
        raise AwsBackendError(f"EventBridge Scheduler refused to {action} the schedule "
                              f"({code})") from None
    except BotoCoreError as exc:
        log.warning("EventBridge Scheduler unreachable: %s", exc)
        raise AwsBackendError("EventBridge Scheduler could not be reached") from None


class AwsSchedules:
    """Create, pause and delete the EventBridge schedules of our schedules."""

    def __init__(self, manager: Any, role_arn: str | None, group: str = "default",
                 client: Any = None) -> None:
        self.manager = manager  # processing.aws.manager.AwsExecutionManager
        self.role_arn = role_arn
        self.group = group
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client(
                "scheduler", **self.manager.aws.client_kwargs())
        return self._client

    def name(self, schedule_id: str) -> str:
        return f"{self.manager.aws.name_prefix}-{schedule_id}"[:64]

    def _request(self, row: dict[str, Any], state: str) -> dict[str, Any]:
        if not self.role_arn:
            raise InvalidInput("schedule", "STACWORKS_TRIGGERS_AWS_SCHEDULER_ROLE_ARN is not set "
                                           "(the role EventBridge Scheduler starts executions as)")
        workflow = self.manager.workflows.get(row["workflow_id"])
        machine = self.manager.deploy(row["workflow_id"], workflow.definition)
        inputs = dict(row["inputs"])
        target_input = {"items": inputs.get("items") or [], "parameters":
                        inputs.get("parameters") or {},
                        "stacworks": {"schedule": row["id"], "inputs": inputs}}
        return {
            "Name": self.name(row["id"]), "GroupName": self.group,
            "ScheduleExpression": aws_cron(row["cron"]),
            "ScheduleExpressionTimezone": row["timezone"],
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": state,
            "Description": f"stacworks schedule {row['id']} of workflow {row['workflow_id']}",
            "Target": {"Arn": machine, "RoleArn": self.role_arn,
                       "Input": json.dumps(target_input, sort_keys=True)},
        }

    def put(self, row: dict[str, Any]) -> str:
        request = self._request(row, "DISABLED" if row.get("paused") else "ENABLED")
        with _refusals("create"):
            self.client.create_schedule(**request)
        return str(request["Name"])

    def set_paused(self, row: dict[str, Any], paused: bool) -> None:
        request = self._request(row, "DISABLED" if paused else "ENABLED")
        with _refusals("update"):
            self.client.update_schedule(**request)

    def started_runs(self, row: dict[str, Any], limit: int = 50
                     ) -> list[tuple[str, dict[str, Any], datetime]]:
        """Executions EventBridge Scheduler started for the schedule ``row`` that are no job
        yet, newest first (at most ``limit`` a pass): (ARN, input, start). Ours are named by
        their job id; the scheduler's carry the schedule's id in their input."""
        machine = self.manager.state_machine_of(row["workflow_id"])
        if machine is None:
            return []
        sfn = self.manager.clients.sfn
        listed = sfn.list_executions(stateMachineArn=machine, maxResults=limit)["executions"]
        with self.manager.db.connection() as conn:
            known = {r["id"] for r in conn.execute(
                "SELECT id FROM stacworks.processing_executions WHERE id = ANY(%s)",
                ([e["name"] for e in listed],)).fetchall()}
        found = []
        for execution in listed:
            if execution["name"] in known or execution["startDate"] < row["created_at"]:
                continue
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            try:
                doc = json.loads(described.get("input") or "{}")
            except ValueError:
                continue
            mark = doc.get("stacworks") if isinstance(doc, dict) else None
            if isinstance(mark, dict) and mark.get("schedule") == row["id"]:
                found.append((str(execution["executionArn"]), doc, execution["startDate"]))
        return found

    def delete(self, row: dict[str, Any]) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_schedule(Name=self.name(row["id"]), GroupName=self.group)
