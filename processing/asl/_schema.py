"""Validation against the official ASL JSON schemas (asl-validator's), with ``jsonschema``.

The schemas lean on ``oneOf`` everywhere, so a raw error says little ("not valid under any of
the given schemas"); we drill down to the alternative that was meant and report its errors.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from processing.asl._issues import ValidationIssue, escape_pointer
from processing.asl.intrinsics import IntrinsicSyntaxError, is_intrinsic, parse_intrinsic
from processing.asl.paths import PathSyntaxError, parse_path, parse_reference_path
from processing.asl.timestamps import is_timestamp

_ARN: Final = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):([^:\n]+):([^:\n]*):(\d*):([^:/*]+([:/].*[^:/]+)?)$",
    re.IGNORECASE,
)


def schema_issues(definition: Any, directory: str) -> list[ValidationIssue]:
    from jsonschema.exceptions import ValidationError

    validator = _schema_validator(directory)
    document = _with_query_language(definition)
    issues: list[ValidationIssue] = []
    seen: set[tuple[str, str]] = set()
    for top in validator.iter_errors(document):
        for error in _leaves(top):
            assert isinstance(error, ValidationError)
            pointer = "/" + "/".join(escape_pointer(str(p)) for p in error.absolute_path)
            key = (pointer, error.message)
            if key in seen:
                continue
            seen.add(key)
            state, field_name = _locate(list(error.absolute_path))
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                extra = _unexpected(error)
                if extra:
                    field_name = f"{field_name}.{extra}" if field_name else extra
            issues.append(
                ValidationIssue(
                    "SCHEMA_VALIDATION_FAILED",
                    f"{pointer or '/'}: {error.message}",
                    state,
                    field_name,
                    pointer,
                )
            )
    return issues


def _with_query_language(definition: Any) -> Any:
    """A copy where every state names its query language, as the schemas require.

    asl-validator does the same before validating: a state inherits the machine's
    ``QueryLanguage``, which defaults to JSONPath.
    """
    document = json.loads(json.dumps(definition))
    if not isinstance(document, dict):
        return document
    default = document.get("QueryLanguage", "JSONPath")

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            states = node.get("States")
            if isinstance(states, dict):
                for state in states.values():
                    if isinstance(state, dict) and "QueryLanguage" not in state:
                        state["QueryLanguage"] = default
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return document


def _locate(path: list[Any]) -> tuple[str | None, str | None]:
    """The innermost state an instance path points into, and the field within it."""
    state: str | None = None
    rest: list[Any] = []
    for i in range(len(path) - 1):
        if path[i] == "States" and isinstance(path[i + 1], str):
            state = path[i + 1]
            rest = path[i + 2 :]
    if state is None:
        return None, ".".join(str(p) for p in path) or None
    label = ""
    for part in rest:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else str(part))
    return state, label or None


def _unexpected(error: Any) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    for key in error.instance:
        if key not in known and not any(p.search(key) for p in patterns):
            return str(key)
    return None


_DISCRIMINATORS: Final = frozenset(("Type", "QueryLanguage"))


def _alternatives(error: Any) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = defaultdict(list)
    for sub in error.context or ():
        groups[sub.relative_schema_path[0]].append(sub)
    return groups


def _nonviable(errors: Iterable[Any]) -> bool:
    """Whether an alternative failed on a discriminator (it describes another kind of thing)."""
    for error in errors:
        if (
            error.validator in ("enum", "const")
            and error.path
            and error.path[-1] in _DISCRIMINATORS
        ):
            return True
        if (
            error.validator in ("oneOf", "anyOf")
            and error.context
            and all(_nonviable(group) for group in _alternatives(error).values())
        ):
            return True
    return False


def _leaves(error: Any) -> list[Any]:
    """Drill through oneOf/anyOf to the errors of the alternative that was meant."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    viable = [group for group in _alternatives(error).values() if not _nonviable(group)]
    if not viable:
        return [error]
    candidates = [[leaf for sub in group for leaf in _leaves(sub)] for group in viable]
    # The alternative that was meant fails on something other than a missing required field
    # (a wrong type, a bad format); among those, the one with the fewest complaints.
    return min(
        candidates, key=lambda leaves: (all(e.validator == "required" for e in leaves), len(leaves))
    )


@lru_cache(maxsize=4)
def _schema_validator(directory: str) -> Any:
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    resources = []
    root: dict[str, Any] | None = None
    for path in sorted(Path(directory).glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        uri = str(contents.get("$id", f"http://asl-validator.cloud/{path.name}")).rstrip("#")
        resources.append((uri, Resource.from_contents(contents, default_specification=DRAFT7)))
        if path.name == "state-machine.json":
            root = contents
    if root is None:
        raise FileNotFoundError(f"state-machine.json not found in {directory}")
    registry: Registry[Any] = Registry().with_resources(resources)
    return Draft7Validator(root, registry=registry, format_checker=_format_checker(FormatChecker))


def _format_checker(factory: Any) -> Any:
    checker = factory(formats=())

    def string_format(name: str) -> Any:
        def register(fn: Any) -> Any:
            checker.checks(name)(lambda value: not isinstance(value, str) or fn(value))
            return fn

        return register

    def _ok(fn: Any, *exceptions: type[Exception]) -> Any:
        def check(value: str) -> bool:
            try:
                fn(value)
            except exceptions:
                return False
            return True

        return check

    string_format("asl_path")(_ok(parse_path, PathSyntaxError))
    string_format("asl_ref_path")(_ok(parse_reference_path, PathSyntaxError))
    string_format("asl_result_path")(_ok(parse_reference_path, PathSyntaxError))
    string_format("asl_payload_template")(
        lambda v: (
            _ok(parse_intrinsic, IntrinsicSyntaxError)(v)
            if is_intrinsic(v)
            else _ok(parse_path, PathSyntaxError)(v)
        )
    )
    string_format("asl_arn")(lambda v: bool(_ARN.match(v)))
    string_format("date-time")(is_timestamp)
    # JSONata is rejected by the structural checks; its syntax is not ours to judge here.
    string_format("jsonata_string")(lambda v: True)
    string_format("maybe_jsonata_string")(lambda v: True)
    return checker
