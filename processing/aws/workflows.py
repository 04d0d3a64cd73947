"""Workflows on the aws back end: storing a version also deploys it, so the Step Functions
console shows every workflow as its state machine as soon as it exists, not only after a first
job; deleting a workflow deletes its state machine. A job start still deploys (idempotent), so
a state machine made stale by a newer task definition revision is brought up to date then."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from processing.db import Database
from processing.errors import ProcessingError
from processing.workflows import WorkflowSpec, WorkflowStore

if TYPE_CHECKING:
    from processing.aws.manager import AwsExecutionManager

__all__ = ["AwsWorkflowStore", "DeployFailed"]

log = logging.getLogger(__name__)


class DeployFailed(ProcessingError):
    """Step Functions refused a state machine call (the cause is in the server log)."""

    status_code = 502


class AwsWorkflowStore(WorkflowStore):
    """The workflow store, with each stored version deployed as the workflow's STANDARD
    state machine (the document of :func:`processing.aws.asl.to_aws`)."""

    def __init__(self, db: Database, manager: AwsExecutionManager) -> None:
        super().__init__(db)
        self.manager = manager

    def _check(self, spec: WorkflowSpec) -> None:
        """Every task resolves to a registered task definition (4xx otherwise), before
        anything is stored."""
        try:
            self.manager.export(spec.definition)
        except (BotoCoreError, ClientError) as exc:
            log.warning("checking workflow %s against ECS failed: %s", spec.id, exc)
            raise DeployFailed(f"workflow {spec.id!r} is not stored: ECS did not answer "
                               f"({type(exc).__name__})") from None

    def _stored(self, spec: WorkflowSpec) -> None:
        """Deploy the version before it commits: a version Step Functions refuses is not
        stored (a 502, nothing half-stored; the last stored version stays deployed)."""
        try:
            self.manager.deploy(spec.id, spec.definition)
        except (BotoCoreError, ClientError) as exc:
            log.warning("deploying workflow %s failed: %s", spec.id, exc)
            raise DeployFailed(
                f"workflow {spec.id!r} version {spec.version} is not stored: Step Functions "
                f"refused its state machine ({type(exc).__name__})") from None

    def create(self, spec: WorkflowSpec, owner: str | None = None) -> WorkflowSpec:
        """Check that every task resolves to a task definition (a 4xx, nothing stored), then
        store and deploy (a refused deployment stores nothing)."""
        self._check(spec)
        return super().create(spec, owner)

    def update(self, workflow_id: str, spec: WorkflowSpec) -> WorkflowSpec:
        self._check(spec)
        return super().update(workflow_id, spec)

    def delete(self, workflow_id: str) -> None:
        """Hide the versions, then delete the state machine (running executions finish:
        Step Functions deletes a machine only once its executions have ended)."""
        super().delete(workflow_id)
        try:
            self.manager.delete_state_machine(workflow_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning("deleting the state machine of %s failed: %s", workflow_id, exc)
            raise DeployFailed(f"workflow {workflow_id!r} is deleted, but Step Functions "
                               f"refused to delete its state machine ({type(exc).__name__})"
                               ) from None
