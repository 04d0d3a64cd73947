"""The same ASL on Step Functions: complete each ECS task so that it runs on Fargate.

:func:`to_aws` is pure: given the workflow's document, the registered task definitions and the
settings, it returns exactly the document deployed (``stacworks workflow export --target aws``
prints it). Only ``arn:aws:states:::ecs:runTask(.sync)`` Task parameters change, plus one key
added to an enclosing Map's ItemSelector to carry the iteration index (Step Functions offers
``$$.Map.Item.Index`` only there); every other state and field passes through untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Protocol

from processing.aws.settings import AwsProcessingSettings
from processing.aws.taskdefs import TaskDefinitionRef
from processing.contract import (
    ENV_ALGORITHM,
    ENV_EXECUTION_ID,
    ENV_INPUT_ITEMS,
    ENV_MAP_INDEX,
    ENV_OUTPUT_DIR,
    ENV_PARAMETERS,
    ENV_STATE_NAME,
)
from processing.errors import InvalidInput
from processing.workflows import ECS_RESOURCES, task_algorithm_ref

__all__ = [
    "CONTAINER_OUTPUT_DIR",
    "ENV_OUTPUT_PREFIX",
    "MAP_INDEX_KEY",
    "TaskDefinitionResolver",
    "to_aws",
]

#: Where a Fargate task writes its files; the task entry point uploads them to the prefix.
CONTAINER_OUTPUT_DIR = "/tmp/stacworks/out"  # noqa: S108 - the container's own scratch space
ENV_OUTPUT_PREFIX = "STACWORKS_OUTPUT_PREFIX"
#: The key a Map's ItemSelector gains so the first task of each iteration knows its index.
MAP_INDEX_KEY = "stacworks_map_index"
#: Variables the platform sets; a workflow's own values for them are replaced.
_PLATFORM = {ENV_OUTPUT_DIR, ENV_OUTPUT_PREFIX, ENV_EXECUTION_ID, ENV_STATE_NAME,
             ENV_MAP_INDEX, ENV_ALGORITHM}


class TaskDefinitionResolver(Protocol):
    """Finds the registered revision of an algorithm (the aws registry, or a fixed table)."""

    def resolve(self, name: str, version: str | None = None) -> TaskDefinitionRef: ...


def _environment(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    env = container.get("Environment") or []
    if isinstance(env, Mapping):  # a plain object is accepted locally; ECS wants the list
        return [{"Name": str(k), "Value": v if isinstance(v, str) else str(v)}
                for k, v in env.items()]
    if not isinstance(env, list):
        raise InvalidInput("Overrides.ContainerOverrides[0].Environment", "expected a list")
    return [dict(e) for e in env if isinstance(e, Mapping)]


def _ecs_parameters(parameters: Mapping[str, Any], ref: TaskDefinitionRef,
                    settings: AwsProcessingSettings, output_root: str,
                    map_index_path: str | None) -> dict[str, Any]:
    params = copy.deepcopy(dict(parameters))
    overrides = dict(params.get("Overrides") or {})
    containers = [dict(c) for c in overrides.get("ContainerOverrides") or [{}]]
    main = next((c for c in containers if c.get("Name") == ref.container), containers[0])
    env = [e for e in _environment(main) if e.get("Name") not in _PLATFORM]
    names = {e.get("Name") for e in env}
    if ENV_INPUT_ITEMS not in names:
        env.append({"Name": ENV_INPUT_ITEMS, "Value.$": "States.JsonToString($.items)"})
    if ENV_PARAMETERS not in names:
        env.append({"Name": ENV_PARAMETERS, "Value.$": "States.JsonToString($.parameters)"})
    env += [
        {"Name": ENV_OUTPUT_DIR, "Value": CONTAINER_OUTPUT_DIR},
        {"Name": ENV_OUTPUT_PREFIX,
         "Value.$": f"States.Format('{output_root.rstrip('/')}/{{}}/{{}}/{{}}', "
                    "$$.Execution.Name, $$.State.Name, States.UUID())"},
        {"Name": ENV_EXECUTION_ID, "Value.$": "$$.Execution.Name"},
        {"Name": ENV_STATE_NAME, "Value.$": "$$.State.Name"},
        {"Name": ENV_ALGORITHM, "Value": f"{ref.spec.name}:{ref.spec.version}"},
    ]
    if map_index_path:
        env.append({"Name": ENV_MAP_INDEX, "Value.$": f"States.Format('{{}}', {map_index_path})"})
    main["Name"] = ref.container
    main["Environment"] = env
    overrides["ContainerOverrides"] = [main] + [c for c in containers if c is not main]
    params.update({
        "Cluster": settings.cluster,
        "TaskDefinition": ref.arn,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": {"AwsvpcConfiguration": {
            "Subnets": list(settings.subnets),
            "SecurityGroups": list(settings.security_groups),
            "AssignPublicIp": "ENABLED" if settings.assign_public_ip else "DISABLED",
        }},
        "Overrides": overrides,
    })
    return params


def _states(machine: dict[str, Any], registry: TaskDefinitionResolver,
            settings: AwsProcessingSettings, output_root: str,
            index_at_start: bool) -> None:
    """Rewrite the ECS tasks of one state machine (a document, branch or item processor)."""
    start = machine.get("StartAt")
    for name, state in (machine.get("States") or {}).items():
        kind = state.get("Type")
        if kind == "Task" and state.get("Resource") in ECS_RESOURCES:
            algorithm, version = task_algorithm_ref(state.get("Parameters"))
            ref = registry.resolve(algorithm, version)
            # The iteration's input carries the index only until a state reshapes it.
            indexed = index_at_start and name == start and "InputPath" not in state
            state["Parameters"] = _ecs_parameters(
                state["Parameters"], ref, settings, output_root,
                f"$.{MAP_INDEX_KEY}" if indexed else None)
        elif kind == "Parallel":
            for branch in state.get("Branches") or []:
                _states(branch, registry, settings, output_root, False)
        elif kind == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator") or {}
            selector_key = "ItemSelector" if "ItemSelector" in state else (
                "Parameters" if "Parameters" in state else None)
            has_task = any(s.get("Type") == "Task" and s.get("Resource") in ECS_RESOURCES
                           for s in (inner.get("States") or {}).values())
            selector = state.get(selector_key) if selector_key else None
            indexed = isinstance(selector, dict) and has_task
            if indexed:
                assert isinstance(selector, dict)
                selector[f"{MAP_INDEX_KEY}.$"] = "$$.Map.Item.Index"
            _states(inner, registry, settings, output_root, indexed)


def to_aws(asl: Mapping[str, Any], registry: TaskDefinitionResolver,
           settings: AwsProcessingSettings, *, output_root: str) -> dict[str, Any]:
    """The state machine definition Step Functions runs for ``asl``.

    Args:
        asl: the workflow's document, as stored (it is not modified).
        registry: resolves each task's algorithm to its registered task definition revision.
        settings: cluster, network of the tasks.
        output_root: ``s3://bucket/prefix`` under which each task run gets its own prefix
            (``{root}/{execution}/{state}/{uuid}``).

    Raises:
        InvalidInput: a task names no algorithm; AlgorithmNotFound: one is not registered.
    """
    document = copy.deepcopy(dict(asl))
    _states(document, registry, settings, output_root, False)
    return document
