"""Input and output processing: InputPath, Parameters/ItemSelector, ResultSelector, ResultPath
and OutputPath, with payload templates compiled once per state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from processing.asl._json import to_json
from processing.asl.errors import ParameterPathFailure, ResultPathMatchFailure, RuntimeFailure
from processing.asl.intrinsics import (
    IntrinsicSyntaxError,
    evaluate_intrinsic,
    is_intrinsic,
    parse_intrinsic,
)
from processing.asl.paths import (
    PathNotFound,
    PathSyntaxError,
    parse_path,
    parse_reference_path,
    set_reference,
)

__all__ = [
    "PayloadTemplate",
    "apply_result_path",
    "select_path",
]

_Evaluator = Callable[[Any, Any], Any]


def _preview(value: Any, limit: int = 200) -> str:
    text = to_json(value)
    return text if len(text) <= limit else text[:limit] + "..."


def select_path(path: str | None, data: Any, context: Any = None, *, field: str) -> Any:
    """Apply an InputPath/OutputPath: ``None`` discards the data (``{}``), ``$`` keeps it.

    Raises:
        RuntimeFailure: the path is invalid or names a node the data does not contain; the spec
            makes this a runtime error, which Retry/Catch cannot intercept.
    """
    if path == "$":
        return data
    if path is None:
        return {}
    try:
        return parse_path(path).get(data, context)
    except (PathSyntaxError, PathNotFound) as exc:
        raise RuntimeFailure(
            f"Invalid path {path!r} for {field}: {exc}; input: {_preview(data)}"
        ) from None


def apply_result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """Combine a result with the state's raw input as ResultPath says.

    ``$`` (the default) replaces the input, ``None`` discards the result, a Reference Path places
    the result inside a copy of the input.

    Raises:
        ResultPathMatchFailure: the input has no room for the path (e.g. a field of a string).
    """
    if path == "$":
        return result
    if path is None:
        return state_input
    try:
        return set_reference(state_input, parse_reference_path(path, allow_context=False), result)
    except (PathSyntaxError, PathNotFound) as exc:
        raise ResultPathMatchFailure(
            f"Unable to apply ResultPath {path!r} to input {_preview(state_input)}: {exc}"
        ) from None


class PayloadTemplate:
    """A compiled Parameters/ItemSelector/ResultSelector template.

    Fields whose name ends in ``.$`` take the value of a Path (``$...`` over the data, ``$$...``
    over the context object) or of an intrinsic function, and lose the suffix; the rest is copied.
    Compiling once matters for Map, which evaluates its ItemSelector once per item.

    Raises (constructor):
        ValueError: a ``.$`` field holds something other than a valid path or invocation.
    """

    __slots__ = ("_evaluate", "constant", "field", "template")

    def __init__(self, template: Any, *, field: str = "Parameters") -> None:
        self.template = template
        self.field = field
        dynamic, evaluate = self._compile(template, field)
        self.constant = not dynamic
        self._evaluate = evaluate

    def evaluate(self, data: Any, context: Any = None) -> Any:
        """Build the payload from the state's data and the context object."""
        if self.constant:
            return self.template
        return self._evaluate(data, context)

    def _compile(self, node: Any, where: str) -> tuple[bool, _Evaluator]:
        if isinstance(node, dict):
            parts: list[tuple[str, _Evaluator]] = []
            any_dynamic = False
            for key, value in node.items():
                if key.endswith(".$"):
                    parts.append((key[:-2], self._compile_dynamic(key, value, where)))
                    any_dynamic = True
                else:
                    dynamic, evaluate = self._compile(value, f"{where}.{key}")
                    any_dynamic = any_dynamic or dynamic
                    parts.append((key, evaluate))
            if not any_dynamic:
                return False, _constant(node)
            return True, lambda data, ctx: {key: ev(data, ctx) for key, ev in parts}
        if isinstance(node, list):
            compiled = [self._compile(item, f"{where}[{i}]") for i, item in enumerate(node)]
            if not any(dynamic for dynamic, _ in compiled):
                return False, _constant(node)
            evaluators = [evaluate for _, evaluate in compiled]
            return True, lambda data, ctx: [ev(data, ctx) for ev in evaluators]
        return False, _constant(node)

    @staticmethod
    def _compile_dynamic(key: str, value: Any, where: str) -> _Evaluator:
        label = f"{where}.{key}"
        if not isinstance(value, str):
            raise ValueError(f"{label}: the value of a '.$' field must be a string")
        if is_intrinsic(value):
            try:
                call = parse_intrinsic(value)
            except IntrinsicSyntaxError as exc:
                raise ValueError(f"{label}: {exc}") from None
            return lambda data, ctx: evaluate_intrinsic(call, data, ctx)
        try:
            path = parse_path(value)
        except PathSyntaxError as exc:
            raise ValueError(f"{label}: {exc}") from None

        def select(data: Any, ctx: Any) -> Any:
            try:
                return path.get(data, ctx)
            except PathNotFound:
                source = "context object" if path.context else "input"
                raise ParameterPathFailure(
                    f"The JSONPath {value!r} specified for the field {key!r} could not be found "
                    f"in the {source} {_preview(ctx if path.context else data)}"
                ) from None

        return select


def _constant(value: Any) -> _Evaluator:
    return lambda data, ctx: value
