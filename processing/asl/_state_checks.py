"""Checks specific to each state type (Task, Wait, Choice rules, Parallel, Map...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from processing.asl._json import is_integer, is_number
from processing.asl.choice import COMPARISON_OPERATORS, TYPE_TESTS
from processing.asl.intrinsics import is_intrinsic
from processing.asl.timestamps import is_timestamp

if TYPE_CHECKING:
    from processing.asl._structure import _Checker

Targets = list[tuple[str, str]]
"""(field, target state) pairs: the transitions a state declares."""


def _positive_int(value: Any) -> bool:
    return is_integer(value) and value > 0


def _non_negative_int(value: Any) -> bool:
    return is_integer(value) and value >= 0


def check_pass(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    return []


def check_succeed(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    return []


def check_fail(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    for key in ("Error", "Cause"):
        if key in state and not isinstance(state[key], str):
            c.error("INVALID_VALUE", f"{key} must be a string", name, key, f"{pointer}/{key}")
        path_key = f"{key}Path"
        if path_key in state:
            value = state[path_key]
            if not isinstance(value, str):
                c.error("INVALID_PATH", f"{path_key} must be a string", name, path_key)
            elif is_intrinsic(value):
                c.intrinsic(value, name, path_key, pointer)
            else:
                c.reference(value, name, path_key, pointer)
    return []


def check_task(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    resource = state.get("Resource")
    if not isinstance(resource, str) or not resource:
        c.error(
            "MISSING_FIELD",
            "a Task needs a Resource URI",
            name,
            "Resource",
            f"{pointer}/Resource",
        )
    for key in ("TimeoutSeconds", "HeartbeatSeconds"):
        if key in state and not _positive_int(state[key]):
            c.error(
                "INVALID_VALUE",
                f"{key} must be a positive integer",
                name,
                key,
                f"{pointer}/{key}",
            )
    timeout: Any = state.get("TimeoutSeconds")
    heartbeat: Any = state.get("HeartbeatSeconds")
    if _positive_int(timeout) and _positive_int(heartbeat) and heartbeat >= timeout:
        c.error(
            "INVALID_VALUE",
            "HeartbeatSeconds must be smaller than TimeoutSeconds",
            name,
            "HeartbeatSeconds",
            f"{pointer}/HeartbeatSeconds",
        )
    return []


def check_wait(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in state]
    if len(given) != 1:
        c.error(
            "WAIT_DURATION",
            "exactly one of Seconds, SecondsPath, Timestamp, TimestampPath is required",
            name,
            given[1] if len(given) > 1 else "Seconds",
            pointer,
        )
    if "Seconds" in state and not (is_number(state["Seconds"]) and state["Seconds"] >= 0):
        c.error(
            "INVALID_VALUE",
            "Seconds must be a non-negative number",
            name,
            "Seconds",
            f"{pointer}/Seconds",
        )
    if "Timestamp" in state and not is_timestamp(state["Timestamp"]):
        c.error(
            "INVALID_VALUE",
            "Timestamp must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z",
            name,
            "Timestamp",
            f"{pointer}/Timestamp",
        )
    return []


def check_choice(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    targets: list[tuple[str, str]] = []
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        c.error(
            "MISSING_FIELD",
            "Choices must be a non-empty array",
            name,
            "Choices",
            f"{pointer}/Choices",
        )
        choices = []
    for index, rule in enumerate(choices):
        label = f"Choices[{index}]"
        if not isinstance(rule, dict):
            c.error("INVALID_CHOICE_RULE", "a choice rule must be an object", name, label)
            continue
        nxt = rule.get("Next")
        if not isinstance(nxt, str):
            c.error(
                "MISSING_FIELD",
                "a top-level choice rule needs Next",
                name,
                f"{label}.Next",
                f"{pointer}/Choices/{index}",
            )
        else:
            targets.append((f"{label}.Next", nxt))
        check_rule(c, rule, name, label, pointer, top=True)
    if "Default" in state:
        if isinstance(state["Default"], str):
            targets.append(("Default", state["Default"]))
        else:
            c.error("INVALID_VALUE", "Default must be a state name", name, "Default")
    return targets


def check_rule(c: _Checker, rule: Any, name: str, label: str, pointer: str, *, top: bool) -> None:
    if not isinstance(rule, dict):
        c.error("INVALID_CHOICE_RULE", "a choice rule must be an object", name, label)
        return
    if not top and "Next" in rule:
        c.error(
            "INVALID_CHOICE_RULE",
            "a nested choice rule must not have Next",
            name,
            f"{label}.Next",
        )
    allowed = {"Next", "Comment"} if top else {"Comment"}
    combinators = [k for k in ("And", "Or", "Not") if k in rule]
    operators = [
        k for k in rule if k in COMPARISON_OPERATORS or k in TYPE_TESTS or k == "IsPresent"
    ]
    if len(combinators) + len(operators) != 1:
        c.error(
            "INVALID_CHOICE_RULE",
            "a choice rule needs exactly one of And, Or, Not or a comparison operator",
            name,
            label,
        )
        return
    if combinators:
        key = combinators[0]
        allowed.add(key)
        value = rule[key]
        if key == "Not":
            check_rule(c, value, name, f"{label}.Not", pointer, top=False)
        elif not isinstance(value, list) or not value:
            c.error(
                "INVALID_CHOICE_RULE",
                f"{key} must be a non-empty array of rules",
                name,
                f"{label}.{key}",
            )
        else:
            for i, child in enumerate(value):
                check_rule(c, child, name, f"{label}.{key}[{i}]", pointer, top=False)
    else:
        operator = operators[0]
        allowed.update(("Variable", operator))
        if "Variable" not in rule:
            c.error(
                "INVALID_CHOICE_RULE",
                "a comparison needs a Variable",
                name,
                f"{label}.Variable",
            )
        else:
            c.path(rule["Variable"], name, f"{label}.Variable", pointer)
        operand(c, operator, rule[operator], name, f"{label}.{operator}", pointer)
    for key in rule:
        if key not in allowed:
            c.error(
                "INVALID_CHOICE_RULE",
                f"unexpected field {key!r} in a choice rule",
                name,
                f"{label}.{key}",
            )


def operand(c: _Checker, operator: str, value: Any, name: str, label: str, pointer: str) -> None:
    if operator in TYPE_TESTS or operator == "IsPresent":
        if not isinstance(value, bool):
            c.error("INVALID_CHOICE_RULE", f"{operator} takes true or false", name, label)
        return
    family, _, by_path = COMPARISON_OPERATORS[operator]
    if by_path:
        c.path(value, name, label, pointer)
        return
    valid = {
        "String": isinstance(value, str),
        "Numeric": is_number(value),
        "Boolean": isinstance(value, bool),
        "Timestamp": is_timestamp(value),
    }[family]
    if not valid:
        expected = {
            "String": "a string",
            "Numeric": "a number",
            "Boolean": "a boolean",
            "Timestamp": "an RFC 3339 timestamp",
        }[family]
        c.error("INVALID_CHOICE_RULE", f"{operator} takes {expected}", name, label)


def check_parallel(
    c: _Checker, name: str, state: dict[str, Any], pointer: str
) -> list[tuple[str, str]]:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        c.error(
            "MISSING_FIELD",
            "Branches must be a non-empty array of state machines",
            name,
            "Branches",
            f"{pointer}/Branches",
        )
        return []
    for index, branch in enumerate(branches):
        sub = f"{pointer}/Branches/{index}"
        if not isinstance(branch, dict):
            c.error(
                "INVALID_STRUCTURE",
                "a branch must be an object",
                name,
                f"Branches[{index}]",
                sub,
            )
            continue
        for key in branch:
            if key not in ("StartAt", "States", "Comment", "QueryLanguage"):
                c.error(
                    "UNKNOWN_FIELD",
                    f"branches have no field {key!r}",
                    name,
                    f"Branches[{index}].{key}",
                    sub,
                )
        c.machine(branch, sub, name)
    return []


def check_map(c: _Checker, name: str, state: dict[str, Any], pointer: str) -> list[tuple[str, str]]:
    processors = [k for k in ("ItemProcessor", "Iterator") if k in state]
    if len(processors) != 1:
        c.error(
            "MAP_ITEM_PROCESSOR",
            "exactly one of ItemProcessor or Iterator is required",
            name,
            processors[1] if processors else "ItemProcessor",
            pointer,
        )
    distributed = False
    for key in processors:
        processor = state[key]
        sub = f"{pointer}/{key}"
        if not isinstance(processor, dict):
            c.error("INVALID_STRUCTURE", f"{key} must be an object", name, key, sub)
            continue
        allowed = {"StartAt", "States", "Comment", "QueryLanguage"}
        if key == "ItemProcessor":
            allowed.add("ProcessorConfig")
            config = processor.get("ProcessorConfig", {})
            mode = config.get("Mode", "INLINE") if isinstance(config, dict) else None
            if mode not in ("INLINE", "DISTRIBUTED"):
                c.error(
                    "INVALID_VALUE",
                    "ProcessorConfig.Mode must be INLINE or DISTRIBUTED",
                    name,
                    f"{key}.ProcessorConfig",
                    sub,
                )
            distributed = mode == "DISTRIBUTED"
        for field_name in processor:
            if field_name not in allowed:
                c.error(
                    "UNKNOWN_FIELD",
                    f"{key} has no field {field_name!r}",
                    name,
                    f"{key}.{field_name}",
                    sub,
                )
        c.machine(processor, sub, name)
    if "MaxConcurrency" in state and not _non_negative_int(state["MaxConcurrency"]):
        c.error(
            "INVALID_VALUE",
            "MaxConcurrency must be a non-negative integer",
            name,
            "MaxConcurrency",
            f"{pointer}/MaxConcurrency",
        )
    if "ToleratedFailureCount" in state and not _non_negative_int(state["ToleratedFailureCount"]):
        c.error(
            "INVALID_VALUE",
            "ToleratedFailureCount must be a non-negative integer",
            name,
            "ToleratedFailureCount",
        )
    pct = state.get("ToleratedFailurePercentage")
    if pct is not None and not (is_number(pct) and 0 <= pct <= 100):
        c.error(
            "INVALID_VALUE",
            "ToleratedFailurePercentage must be between 0 and 100",
            name,
            "ToleratedFailurePercentage",
        )
    tolerance = [k for k in state if k.startswith("ToleratedFailure")]
    if tolerance and not distributed:
        c.warn(
            "IGNORED_FIELD",
            "tolerated failures only apply to DISTRIBUTED maps",
            name,
            tolerance[0],
        )
    for ignored in ("ItemReader", "ResultWriter"):
        if ignored in state:
            c.warn(
                "IGNORED_FIELD", f"{ignored} is not supported by the local executor", name, ignored
            )
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        if not isinstance(batcher, dict):
            c.error("INVALID_VALUE", "ItemBatcher must be an object", name, "ItemBatcher")
        else:
            if "BatchInput" in batcher:
                c.template(batcher["BatchInput"], name, "ItemBatcher.BatchInput", pointer)
            if "MaxItemsPerBatchPath" in batcher:
                c.reference(
                    batcher["MaxItemsPerBatchPath"],
                    name,
                    "ItemBatcher.MaxItemsPerBatchPath",
                    pointer,
                )
    return []


STATE_CHECKS: dict[str, Callable[[_Checker, str, dict[str, Any], str], Targets]] = {
    "Pass": check_pass,
    "Succeed": check_succeed,
    "Fail": check_fail,
    "Task": check_task,
    "Wait": check_wait,
    "Choice": check_choice,
    "Parallel": check_parallel,
    "Map": check_map,
}
