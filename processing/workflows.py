"""Workflows: versioned ASL documents with the metadata the platform needs around them (title,
output collection, render presets), and the ECS task shape that names an algorithm.

A Task state runs an algorithm through the Step Functions ECS integration, exactly as it would
on AWS::

    {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
     "Parameters": {"TaskDefinition": "stacworks-ndvi", "Overrides": {"ContainerOverrides": [
        {"Name": "ndvi", "Environment": [
            {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": "States.JsonToString($.items)"},
            {"Name": "STACWORKS_PARAMETERS", "Value.$": "States.JsonToString($.parameters)"}]}]}}}

The task definition family (``stacworks-`` prefix optional) is the algorithm's name; an
``STACWORKS_ALGORITHM_VERSION`` variable in the overrides pins a version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from processing.algorithms import AlgorithmSpec, pydantic_to_invalid
from processing.asl import validate
from processing.db import Database
from processing.errors import Conflict, InvalidInput, WorkflowNotFound

__all__ = [
    "ECS_RESOURCES",
    "TASK_FAMILY_PREFIX",
    "WorkflowSpec",
    "WorkflowStore",
    "algorithm_workflow",
    "check_definition",
    "ecs_task",
    "task_algorithm_ref",
    "task_states",
    "workflow_from_document",
]

ECS_RESOURCES = ("arn:aws:states:::ecs:runTask.sync", "arn:aws:states:::ecs:runTask")
TASK_FAMILY_PREFIX = "stacworks-"
_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TASK_DEF = re.compile(r"^(?:arn:[^:]*:ecs:[^:]*:[^:]*:task-definition/)?([^:/]+)(?::(\d+))?$")


class WorkflowSpec(BaseModel):
    """A workflow as stored: the ASL ``definition`` plus what the platform adds around it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID)
    version: int = 0
    title: str | None = None
    description: str = ""
    definition: dict[str, Any]
    output_collection: str | None = Field(
        default=None, pattern=_ID, description="Where outputs are registered (default: the id)."
    )
    renders: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Render presets of the output collection."
    )
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    @field_validator("definition")
    @classmethod
    def _asl(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "StartAt" not in value or "States" not in value:
            raise ValueError("not an ASL document (it needs StartAt and States)")
        return value

    @property
    def collection(self) -> str:
        return self.output_collection or self.id


def check_definition(definition: Any, *, field: str = "definition") -> None:
    """Validate an ASL document; the first error names its state and field."""
    result = validate(definition)
    if not result.valid:
        issue = result.errors[0]
        where = field
        if issue.state:
            where += f".States.{issue.state}"
        if issue.field:
            where += f".{issue.field}"
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        raise InvalidInput(where, f"{issue.message} [{issue.code}]{more}")


def workflow_from_document(doc: Any, *, workflow_id: str | None = None) -> WorkflowSpec:
    """Accept our workflow document or a bare ASL document (imported under ``workflow_id``)."""
    if not isinstance(doc, Mapping):
        raise InvalidInput("document", "a workflow is a JSON/YAML object")
    data = dict(doc)
    if "StartAt" in data and "States" in data:  # plain ASL: import it
        data = {"definition": data, "title": data.get("Comment")}
    if workflow_id is not None:
        data["id"] = workflow_id
    if "id" not in data:
        raise InvalidInput("id", "a workflow needs an id (pass one when importing plain ASL)")
    data.pop("version", None)
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_to_invalid(exc) from None
    check_definition(spec.definition)
    return spec


def task_states(definition: Mapping[str, Any], *, in_map: bool = False) -> Iterator[
    tuple[str, dict[str, Any], bool]
]:
    """Every Task state, nested ones included, with whether it runs once per Map item."""
    for name, state in (definition.get("States") or {}).items():
        kind = state.get("Type")
        if kind == "Task":
            yield name, state, in_map
        elif kind == "Parallel":
            for branch in state.get("Branches") or []:
                yield from task_states(branch, in_map=in_map)
        elif kind == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from task_states(inner, in_map=True)


def _override(parameters: Mapping[str, Any]) -> Mapping[str, Any]:
    overrides = parameters.get("Overrides") or {}
    containers = overrides.get("ContainerOverrides") or [{}]
    return containers[0] if isinstance(containers, list) and containers else {}


def task_environment(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The container override's Environment as a dict (ECS's list or a plain object)."""
    env = _override(parameters).get("Environment") or {}
    if isinstance(env, Mapping):
        return dict(env)
    if isinstance(env, list):
        return {str(e.get("Name")): e.get("Value", "") for e in env if isinstance(e, Mapping)}
    raise InvalidInput("Overrides.ContainerOverrides[0].Environment", "expected a list")


def task_algorithm_ref(parameters: Any) -> tuple[str, str | None]:
    """The (algorithm name, pinned version or None) an ECS task's parameters name.

    Raises:
        InvalidInput: no TaskDefinition, or one that names no family.
    """
    if not isinstance(parameters, Mapping):
        raise InvalidInput("Parameters", "an ECS task needs an object of parameters")
    task_def = parameters.get("TaskDefinition")
    if not isinstance(task_def, str):
        raise InvalidInput("Parameters.TaskDefinition", "missing: it names the algorithm")
    match = _TASK_DEF.match(task_def)
    if not match:
        raise InvalidInput("Parameters.TaskDefinition", f"cannot read {task_def!r}")
    family = match.group(1).removeprefix(TASK_FAMILY_PREFIX)
    version = task_environment(parameters).get("STACWORKS_ALGORITHM_VERSION")
    return family, (str(version) if version else None)


def ecs_task(spec: AlgorithmSpec, items_path: str) -> dict[str, Any]:
    """A Task state running ``spec`` on the item URLs at ``items_path`` (deployable as is)."""
    env = [
        {"Name": "STACWORKS_INPUT_ITEMS", "Value.$": f"States.JsonToString({items_path})"},
        {"Name": "STACWORKS_PARAMETERS", "Value.$": "States.JsonToString($.parameters)"},
        {"Name": "STACWORKS_ALGORITHM_VERSION", "Value": spec.version},
    ]
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": ECS_RESOURCES[0],
        "Parameters": {
            "Cluster": "stacworks",
            "LaunchType": "FARGATE",
            "TaskDefinition": f"{TASK_FAMILY_PREFIX}{spec.name}",
            "Overrides": {"ContainerOverrides": [{"Name": spec.name, "Environment": env}]},
        },
        "ResultPath": None,
    }
    if spec.timeout_seconds:
        state["TimeoutSeconds"] = int(spec.timeout_seconds)
    state["End"] = True
    return state


def algorithm_workflow(spec: AlgorithmSpec) -> WorkflowSpec:
    """The workflow that runs one algorithm as a process: a Map over items, or one task."""
    if spec.inputs == "all":
        definition = {
            "Comment": f"Run {spec.name} {spec.version} on all input items",
            "StartAt": spec.name,
            "States": {spec.name: ecs_task(spec, "$.items")},
        }
    else:
        definition = {
            "Comment": f"Run {spec.name} {spec.version} on each input item",
            "StartAt": "EachItem",
            "States": {
                "EachItem": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemSelector": {
                        "items.$": "States.Array($$.Map.Item.Value)",
                        "parameters.$": "$.parameters",
                    },
                    "MaxConcurrency": 0,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": spec.name,
                        "States": {spec.name: ecs_task(spec, "$.items")},
                    },
                    "ResultPath": None,
                    "End": True,
                }
            },
        }
    return WorkflowSpec(
        id=spec.name,
        title=spec.title or spec.name,
        description=spec.description,
        definition=definition,
        output_collection=spec.name,
        renders=spec.renders,
        parameters=spec.parameters,
    )


def _spec_from_row(row: Mapping[str, Any]) -> WorkflowSpec:
    return WorkflowSpec.model_validate({**row["spec"], "version": row["version"]})


class WorkflowStore:
    """Workflow versions in the catalog database. Deleting hides every version but keeps them,
    so executions and output items can still say exactly what ran."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _latest_version(self, conn: Any, workflow_id: str) -> tuple[int, bool]:
        row = conn.execute(
            "SELECT version, deleted_at IS NOT NULL AS deleted FROM "
            "stacworks.processing_workflows WHERE id = %s ORDER BY version DESC LIMIT 1",
            (workflow_id,),
        ).fetchone()
        return (row["version"], row["deleted"]) if row else (0, True)

    def _insert(self, conn: Any, spec: WorkflowSpec, version: int,
                owner: str | None) -> WorkflowSpec:
        stored = spec.model_copy(update={"version": version})
        doc = stored.model_dump(mode="json", exclude={"version"})
        conn.execute(
            "INSERT INTO stacworks.processing_workflows (id, version, spec, owner) "
            "VALUES (%s, %s, %s, %s)",
            (spec.id, version, json.dumps(doc), owner),
        )
        return stored

    def create(self, spec: WorkflowSpec, owner: str | None = None) -> WorkflowSpec:
        """Add a new workflow (version 1, or the next version after a deleted one), owned by
        ``owner`` (None: admins only may change it)."""
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"workflow:{spec.id}",))
            latest, deleted = self._latest_version(conn, spec.id)
            if latest and not deleted:
                raise Conflict(f"workflow {spec.id!r} exists; update it to add a version")
            stored = self._insert(conn, spec, latest + 1, owner)
            self._stored(stored)
            return stored

    def _stored(self, spec: WorkflowSpec) -> None:
        """Called before a new version commits; raising stores nothing (the aws back end
        deploys the version's state machine here)."""

    def owner(self, workflow_id: str) -> str | None:
        """The owner of the workflow's live versions (raises when it does not exist)."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT owner FROM stacworks.processing_workflows WHERE id = %s "
                "AND deleted_at IS NULL ORDER BY version DESC LIMIT 1",
                (workflow_id,),
            ).fetchone()
        if row is None:
            raise WorkflowNotFound(f"workflow {workflow_id!r} does not exist")
        return row["owner"]

    def update(self, workflow_id: str, spec: WorkflowSpec) -> WorkflowSpec:
        """Store ``spec`` as the next version of ``workflow_id`` (same owner)."""
        spec = spec.model_copy(update={"id": workflow_id})
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"workflow:{workflow_id}",))
            latest, deleted = self._latest_version(conn, workflow_id)
            if not latest or deleted:
                raise WorkflowNotFound(f"workflow {workflow_id!r} does not exist")
            row = conn.execute(
                "SELECT owner FROM stacworks.processing_workflows WHERE id = %s AND version = %s",
                (workflow_id, latest),
            ).fetchone()
            stored = self._insert(conn, spec, latest + 1, row["owner"] if row else None)
            self._stored(stored)
            return stored

    def get(self, workflow_id: str, version: int | None = None) -> WorkflowSpec:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT version, spec FROM stacworks.processing_workflows WHERE id = %s "
                "AND deleted_at IS NULL AND (%s::int IS NULL OR version = %s) "
                "ORDER BY version DESC LIMIT 1",
                (workflow_id, version, version),
            ).fetchone()
        if row is None:
            what = f"{workflow_id!r} version {version}" if version else repr(workflow_id)
            raise WorkflowNotFound(f"workflow {what} does not exist")
        return _spec_from_row(row)

    def latest(self) -> list[WorkflowSpec]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (id) id, version, spec FROM stacworks.processing_workflows "
                "WHERE deleted_at IS NULL ORDER BY id, version DESC"
            ).fetchall()
        return [_spec_from_row(r) for r in rows]

    def versions(self, workflow_id: str) -> list[WorkflowSpec]:
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT version, spec FROM stacworks.processing_workflows WHERE id = %s "
                "AND deleted_at IS NULL ORDER BY version",
                (workflow_id,),
            ).fetchall()
        if not rows:
            raise WorkflowNotFound(f"workflow {workflow_id!r} does not exist")
        return [_spec_from_row(r) for r in rows]

    def duplicate(self, workflow_id: str, new_id: str, version: int | None = None,
                  owner: str | None = None) -> WorkflowSpec:
        source = self.get(workflow_id, version)
        try:
            copy = WorkflowSpec.model_validate(
                {**source.model_dump(), "id": new_id, "output_collection": None}
            )
        except ValidationError as exc:
            raise pydantic_to_invalid(exc) from None
        return self.create(copy, owner)

    def delete(self, workflow_id: str) -> None:
        with self.db.connection() as conn:
            cur = conn.execute(
                "UPDATE stacworks.processing_workflows SET deleted_at = now() "
                "WHERE id = %s AND deleted_at IS NULL",
                (workflow_id,),
            )
        if not cur.rowcount:
            raise WorkflowNotFound(f"workflow {workflow_id!r} does not exist")
