"""Structural checks of an ASL document: transitions, reachability, terminals, paths,
templates, Retry/Catch, and the nested machines of Parallel and Map states."""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from processing.asl._issues import ValidationIssue, escape_pointer
from processing.asl._json import is_integer, is_number
from processing.asl._state_checks import STATE_CHECKS
from processing.asl.errors import ALL
from processing.asl.intrinsics import IntrinsicSyntaxError, parse_intrinsic
from processing.asl.io import PayloadTemplate
from processing.asl.paths import PathSyntaxError, parse_path, parse_reference_path

_STATE_TYPES: Final = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
_IO: Final = ("InputPath", "OutputPath")
_RESULT: Final = ("ResultPath", "ResultSelector")
_FLOW: Final = ("Next", "End")
_ERRORS: Final = ("Retry", "Catch")
_FIELDS: Final[dict[str, frozenset[str]]] = {
    kind: frozenset(("Type", "Comment", "QueryLanguage", *extra))
    for kind, extra in {
        "Pass": (*_FLOW, *_IO, "ResultPath", "Parameters", "Result"),
        "Task": (
            *_FLOW,
            *_IO,
            *_RESULT,
            *_ERRORS,
            "Parameters",
            "Resource",
            "Credentials",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
        ),
        "Choice": (*_IO, "Choices", "Default"),
        "Wait": (*_FLOW, *_IO, "Seconds", "SecondsPath", "Timestamp", "TimestampPath"),
        "Succeed": _IO,
        "Fail": ("Error", "ErrorPath", "Cause", "CausePath"),
        "Parallel": (*_FLOW, *_IO, *_RESULT, *_ERRORS, "Parameters", "Branches"),
        "Map": (
            *_FLOW,
            *_IO,
            *_RESULT,
            *_ERRORS,
            "Parameters",
            "ItemsPath",
            "ItemSelector",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ItemReader",
            "ItemBatcher",
            "ResultWriter",
            "Label",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
        ),
    }.items()
}
_UNSUPPORTED: Final = frozenset(("Assign", "Output", "Arguments", "Items", "Condition"))
_RETRIER_FIELDS: Final = frozenset(
    (
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    )
)
_CATCHER_FIELDS: Final = frozenset(("ErrorEquals", "Next", "ResultPath", "Comment"))
_REFERENCE_FIELDS: Final = (
    "ItemsPath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
)
_EXCLUSIVE: Final = (
    ("TimeoutSeconds", "TimeoutSecondsPath"),
    ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ("ItemSelector", "Parameters"),
    ("MaxConcurrency", "MaxConcurrencyPath"),
    ("ToleratedFailureCount", "ToleratedFailureCountPath"),
    ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
    ("Error", "ErrorPath"),
    ("Cause", "CausePath"),
)


@dataclass
class _Checker:
    """Walks a document once, collecting issues; the per-type checks live in _state_checks."""

    errors: list[ValidationIssue] = field(default_factory=list)
    warnings: list[ValidationIssue] = field(default_factory=list)
    names: Counter[str] = field(default_factory=Counter)
    #: The pointer of the state being checked: an issue raised without one of its own (deep
    #: in a Choice rule or a Retry entry) points at its field there, not at the document.
    at: str = ""

    def error(
        self,
        code: str,
        message: str,
        state: str | None = None,
        field_name: str | None = None,
        pointer: str = "",
    ) -> None:
        self.errors.append(ValidationIssue(code, message, state, field_name,
                                           pointer or self._pointer(state, field_name)))

    def warn(
        self,
        code: str,
        message: str,
        state: str | None = None,
        field_name: str | None = None,
        pointer: str = "",
    ) -> None:
        self.warnings.append(ValidationIssue(code, message, state, field_name,
                                             pointer or self._pointer(state, field_name)))

    def _pointer(self, state: str | None, field_name: str | None) -> str:
        """``Choices[0].Not`` of the current state as ``/States/A/Choices/0/Not``."""
        if state is None or not self.at:
            return ""
        if not field_name:
            return self.at
        parts = re.sub(r"\[(\d+)\]", r".\1", field_name).split(".")
        return self.at + "".join(f"/{escape_pointer(p)}" for p in parts if p)

    def document(self, definition: Any) -> None:
        if not isinstance(definition, dict):
            self.error("INVALID_STRUCTURE", "a state machine must be a JSON object")
            return
        allowed = {"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"}
        for key in definition:
            if key not in allowed:
                self.error(
                    "UNKNOWN_FIELD", f"unknown top-level field {key!r}", None, key, f"/{key}"
                )
        if "TimeoutSeconds" in definition and not _positive_int(definition["TimeoutSeconds"]):
            self.error(
                "INVALID_VALUE",
                "TimeoutSeconds must be a positive integer",
                None,
                "TimeoutSeconds",
                "/TimeoutSeconds",
            )
        if "Version" in definition and not isinstance(definition["Version"], str):
            self.error("INVALID_VALUE", "Version must be a string", None, "Version", "/Version")
        self.query_language(definition, None, "")
        self.machine(definition, "", None)
        for name, count in self.names.items():
            if count > 1:
                self.error(
                    "DUPLICATE_STATE_NAMES",
                    f"{count} states are named {name!r}; names must be unique",
                    name,
                )

    def query_language(self, node: dict[str, Any], state: str | None, pointer: str) -> None:
        language = node.get("QueryLanguage")
        if language is None or language == "JSONPath":
            return
        if language == "JSONata":
            self.error(
                "UNSUPPORTED",
                "QueryLanguage JSONata is not supported by this interpreter; use JSONPath",
                state,
                "QueryLanguage",
                pointer,
            )
        else:
            self.error(
                "INVALID_VALUE",
                f"unknown QueryLanguage {language!r}",
                state,
                "QueryLanguage",
                pointer,
            )

    def machine(self, machine: dict[str, Any], pointer: str, owner: str | None) -> None:
        """Check one StartAt/States container: the top level, a branch or an item processor."""
        where = owner  # errors about a nested container are reported on the owning state
        start = machine.get("StartAt")
        states = machine.get("States")
        if not isinstance(start, str):
            self.error(
                "MISSING_FIELD",
                "StartAt must name the first state",
                where,
                "StartAt",
                f"{pointer}/StartAt",
            )
        if not isinstance(states, dict) or not states:
            self.error(
                "MISSING_FIELD",
                "States must be a non-empty object",
                where,
                "States",
                f"{pointer}/States",
            )
            return
        edges: dict[str, list[str]] = {}
        for name, state in states.items():
            self.names[name] += 1
            state_pointer = f"{pointer}/States/{escape_pointer(name)}"
            if len(name) > 80:
                self.error(
                    "INVALID_NAME",
                    "a state name has at most 80 characters",
                    name,
                    None,
                    state_pointer,
                )
            if not isinstance(state, dict):
                self.error(
                    "INVALID_STRUCTURE", "a state must be a JSON object", name, None, state_pointer
                )
                continue
            outer, self.at = self.at, state_pointer
            edges[name] = self.state(name, state, state_pointer, states)
            self.at = outer
        if isinstance(start, str):
            if start not in states:
                self.error(
                    "MISSING_TRANSITION_TARGET",
                    f"StartAt names no state: {start!r}",
                    where,
                    "StartAt",
                    f"{pointer}/StartAt",
                )
            else:
                reachable = _reachable(start, edges)
                for name in states:
                    if name not in reachable:
                        self.error(
                            "UNREACHABLE_STATE",
                            f"state {name!r} cannot be reached from StartAt {start!r}",
                            name,
                            None,
                            f"{pointer}/States/{escape_pointer(name)}",
                        )
        if not any(
            isinstance(s, dict) and (s.get("End") is True or s.get("Type") in ("Succeed", "Fail"))
            for s in states.values()
        ):
            self.error(
                "MISSING_TERMINAL_STATE",
                "no state ends the machine (End: true, Succeed or Fail)",
                where,
                "States",
                f"{pointer}/States",
            )

    def state(
        self, name: str, state: dict[str, Any], pointer: str, siblings: dict[str, Any]
    ) -> list[str]:
        """Check one state; return the names it can transition to."""
        kind = state.get("Type")
        if kind not in _STATE_TYPES:
            self.error(
                "INVALID_TYPE",
                f"Type must be one of {', '.join(_STATE_TYPES)}, got {kind!r}",
                name,
                "Type",
                f"{pointer}/Type",
            )
            return []
        self.query_language(state, name, f"{pointer}/QueryLanguage")
        for key in state:
            if key in _UNSUPPORTED:
                self.error(
                    "UNSUPPORTED",
                    f"{key} (variables/JSONata) is not supported by this interpreter",
                    name,
                    key,
                    f"{pointer}/{key}",
                )
            elif key not in _FIELDS[kind]:
                self.error(
                    "UNKNOWN_FIELD",
                    f"{kind} states have no field {key!r}",
                    name,
                    key,
                    f"{pointer}/{key}",
                )
        for first, second in _EXCLUSIVE:
            if first in state and second in state:
                self.error(
                    "MUTUALLY_EXCLUSIVE",
                    f"use either {first} or {second}, not both",
                    name,
                    second,
                    f"{pointer}/{second}",
                )

        targets: list[tuple[str, str]] = []  # (field, target)
        if kind in ("Pass", "Task", "Wait", "Parallel", "Map"):
            has_next, has_end = "Next" in state, "End" in state
            if has_next == has_end:
                self.error(
                    "TERMINAL_STATE_WITH_NEXT" if has_next else "MISSING_TRANSITION",
                    "exactly one of Next or End is required",
                    name,
                    "Next" if has_next else "End",
                    pointer,
                )
            if has_end and state["End"] is not True:
                self.error("INVALID_VALUE", "End must be true", name, "End", f"{pointer}/End")
            if has_next:
                if isinstance(state["Next"], str):
                    targets.append(("Next", state["Next"]))
                else:
                    self.error(
                        "INVALID_VALUE",
                        "Next must be a state name",
                        name,
                        "Next",
                        f"{pointer}/Next",
                    )

        for key in _IO:
            if key in state and state[key] is not None:
                self.path(state[key], name, key, pointer)
        if "ResultPath" in state and state["ResultPath"] is not None:
            self.reference(state["ResultPath"], name, "ResultPath", pointer, allow_context=False)
        for key in _REFERENCE_FIELDS:
            if key in state:
                self.reference(state[key], name, key, pointer)
        for key in ("Parameters", "ResultSelector", "ItemSelector"):
            if key in state:
                self.template(state[key], name, key, pointer)

        targets.extend(STATE_CHECKS[kind](self, name, state, pointer))
        if kind in ("Task", "Parallel", "Map"):
            targets.extend(self.retry_catch(name, state, pointer))
        for field_name, target in targets:
            if target not in siblings:
                self.error(
                    "MISSING_TRANSITION_TARGET",
                    f"{field_name} names no state in this scope: {target!r}",
                    name,
                    field_name,
                    pointer,
                )
        return [target for _, target in targets]

    # ----------------------------------------------------------- per type

    def retry_catch(self, name: str, state: dict[str, Any], pointer: str) -> list[tuple[str, str]]:
        targets: list[tuple[str, str]] = []
        for key, allowed in (("Retry", _RETRIER_FIELDS), ("Catch", _CATCHER_FIELDS)):
            handlers = state.get(key)
            if handlers is None:
                continue
            if not isinstance(handlers, list):
                self.error("INVALID_VALUE", f"{key} must be an array", name, key)
                continue
            for index, handler in enumerate(handlers):
                label = f"{key}[{index}]"
                if not isinstance(handler, dict):
                    self.error("INVALID_VALUE", "must be an object", name, label)
                    continue
                for field_name in handler:
                    if field_name not in allowed:
                        self.error(
                            "UNKNOWN_FIELD",
                            f"unknown field {field_name!r}",
                            name,
                            f"{label}.{field_name}",
                        )
                self.error_equals(handler, name, label, last=index == len(handlers) - 1)
                if key == "Retry":
                    self.retrier(handler, name, label)
                else:
                    nxt = handler.get("Next")
                    if not isinstance(nxt, str):
                        self.error("MISSING_FIELD", "a catcher needs Next", name, f"{label}.Next")
                    else:
                        targets.append((f"{label}.Next", nxt))
                    if handler.get("ResultPath") is not None:
                        self.reference(
                            handler["ResultPath"],
                            name,
                            f"{label}.ResultPath",
                            pointer,
                            allow_context=False,
                        )
        return targets

    def error_equals(self, handler: dict[str, Any], name: str, label: str, *, last: bool) -> None:
        errors = handler.get("ErrorEquals")
        where = f"{label}.ErrorEquals"
        if not isinstance(errors, list) or not errors:
            self.error(
                "MISSING_FIELD", "ErrorEquals must be a non-empty array of error names", name, where
            )
            return
        if not all(isinstance(e, str) for e in errors):
            self.error("INVALID_VALUE", "error names must be strings", name, where)
        if ALL in errors:
            if len(errors) != 1:
                self.error(
                    "INVALID_VALUE", "States.ALL must appear alone in ErrorEquals", name, where
                )
            if not last:
                self.error(
                    "INVALID_VALUE", "States.ALL must be in the last retrier/catcher", name, where
                )

    def retrier(self, handler: dict[str, Any], name: str, label: str) -> None:
        checks = (
            ("IntervalSeconds", _positive_int, "a positive integer"),
            ("MaxAttempts", _non_negative_int, "a non-negative integer"),
            ("BackoffRate", lambda v: is_number(v) and v >= 1.0, "a number >= 1.0"),
            ("MaxDelaySeconds", _positive_int, "a positive integer"),
            ("JitterStrategy", lambda v: v in ("FULL", "NONE"), "FULL or NONE"),
        )
        for key, ok, expected in checks:
            if key in handler and not ok(handler[key]):
                self.error("INVALID_VALUE", f"{key} must be {expected}", name, f"{label}.{key}")

    # ----------------------------------------------------------- paths and templates

    def path(self, value: Any, name: str, field_name: str, pointer: str) -> None:
        try:
            if not isinstance(value, str):
                raise PathSyntaxError("a path must be a string")
            parse_path(value)
        except PathSyntaxError as exc:
            self.error("INVALID_PATH", str(exc), name, field_name, pointer)

    def reference(
        self, value: Any, name: str, field_name: str, pointer: str, *, allow_context: bool = True
    ) -> None:
        try:
            if not isinstance(value, str):
                raise PathSyntaxError("a reference path must be a string")
            parse_reference_path(value, allow_context=allow_context)
        except PathSyntaxError as exc:
            self.error("INVALID_PATH", str(exc), name, field_name, pointer)

    def intrinsic(self, value: str, name: str, field_name: str, pointer: str) -> None:
        try:
            parse_intrinsic(value)
        except IntrinsicSyntaxError as exc:
            self.error("INVALID_INTRINSIC", str(exc), name, field_name, pointer)

    def template(self, value: Any, name: str, field_name: str, pointer: str) -> None:
        for duplicate in _duplicate_fields(value):
            self.error(
                "DUPLICATE_FIELD_NAME",
                f"fields {duplicate!r} and {duplicate + '.$'!r} collide once '.$' is stripped",
                name,
                field_name,
                pointer,
            )
        try:
            PayloadTemplate(value, field=field_name)
        except ValueError as exc:
            code = "INVALID_INTRINSIC" if "intrinsic" in str(exc) else "INVALID_PATH"
            self.error(code, str(exc), name, field_name, pointer)


def _duplicate_fields(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        seen: set[str] = set()
        for key, value in node.items():
            stripped = key[:-2] if key.endswith(".$") else key
            if stripped in seen:
                yield stripped
            seen.add(stripped)
            yield from _duplicate_fields(value)
    elif isinstance(node, list):
        for item in node:
            yield from _duplicate_fields(item)


def _positive_int(value: Any) -> bool:
    return is_integer(value) and value > 0


def _non_negative_int(value: Any) -> bool:
    return is_integer(value) and value >= 0


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def structure_issues(definition: Any) -> tuple[list[ValidationIssue], list[ValidationIssue]]:
    """Errors and warnings of the structural checks."""
    checker = _Checker()
    checker.document(definition)
    return checker.errors, checker.warnings
