"""Choice Rules: comparison operators (and their ``*Path`` variants), type tests, And/Or/Not."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from processing.asl._json import is_number, to_json
from processing.asl.errors import NoChoiceMatched, RuntimeFailure
from processing.asl.paths import JsonPath, PathNotFound, PathSyntaxError, parse_path
from processing.asl.timestamps import is_timestamp, parse_timestamp

__all__ = [
    "COMPARISON_OPERATORS",
    "TYPE_TESTS",
    "ChoiceState",
    "compile_rule",
    "string_matches",
]

_Predicate = Callable[[Any, Any], bool]

_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


def _as_string(value: Any) -> str | None:
    return value if type(value) is str else None


def _as_number(value: Any) -> Any:
    return value if is_number(value) else None


def _as_boolean(value: Any) -> bool | None:
    return value if type(value) is bool else None


def _as_timestamp(value: Any) -> datetime | None:
    return parse_timestamp(value)


# operator family -> (coerce a value of that type or None, order relations available)
_FAMILIES: Final[dict[str, Callable[[Any], Any]]] = {
    "String": _as_string,
    "Numeric": _as_number,
    "Boolean": _as_boolean,
    "Timestamp": _as_timestamp,
}

#: Every comparison operator name, including the ``*Path`` variants, mapped to its family.
COMPARISON_OPERATORS: Final[dict[str, tuple[str, str, bool]]] = {}
for _family in _FAMILIES:
    for _relation in _ORDER if _family != "Boolean" else ("Equals",):
        COMPARISON_OPERATORS[f"{_family}{_relation}"] = (_family, _relation, False)
        COMPARISON_OPERATORS[f"{_family}{_relation}Path"] = (_family, _relation, True)
COMPARISON_OPERATORS["StringMatches"] = ("String", "Matches", False)

#: The type-test operators; their value is a boolean (``"IsNull": false`` tests for non-null).
TYPE_TESTS: Final[dict[str, Callable[[Any], bool]]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": is_number,
    "IsString": lambda v: type(v) is str,
    "IsBoolean": lambda v: type(v) is bool,
    "IsTimestamp": is_timestamp,
}


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literal."""
    return _wildcard_regex(pattern).fullmatch(value) is not None


def _variable(rule: dict[str, Any]) -> JsonPath:
    try:
        return parse_path(rule["Variable"])
    except (KeyError, PathSyntaxError, TypeError) as exc:
        raise ValueError(f"invalid Variable in choice rule {to_json(rule)}: {exc}") from None


def _read(path: JsonPath, data: Any, context: Any, what: str) -> Any:
    try:
        return path.get(data, context)
    except PathNotFound:
        raise RuntimeFailure(
            f"Invalid path {path.text!r}: the choice state's {what} references a value that is "
            "not present in the input"
        ) from None


def compile_rule(rule: dict[str, Any]) -> _Predicate:
    """Compile one Choice Rule (without its ``Next``) into ``predicate(data, context)``.

    The predicate raises :class:`RuntimeFailure` when ``Variable`` (or a ``*Path`` operand)
    names an absent node; only ``IsPresent`` treats absence as an answer. A value of the wrong
    type makes a comparison false, as the spec requires.

    Raises:
        ValueError: the rule is malformed (the validator reports these before a run).
    """
    if "And" in rule or "Or" in rule:
        key = "And" if "And" in rule else "Or"
        children = [compile_rule(child) for child in rule[key]]
        if not children:
            raise ValueError(f"{key} needs at least one rule")
        if key == "And":
            return lambda data, ctx: all(child(data, ctx) for child in children)
        return lambda data, ctx: any(child(data, ctx) for child in children)
    if "Not" in rule:
        inner = compile_rule(rule["Not"])
        return lambda data, ctx: not inner(data, ctx)

    operators = [
        k for k in rule if k in COMPARISON_OPERATORS or k in TYPE_TESTS or k == "IsPresent"
    ]
    if len(operators) != 1:
        raise ValueError(
            f"a choice rule needs exactly one comparison operator, found {operators or 'none'}"
        )
    operator = operators[0]
    expected = rule[operator]
    variable = _variable(rule)

    if operator == "IsPresent":
        return lambda data, ctx: variable.exists(data, ctx) is bool(expected)
    if operator in TYPE_TESTS:
        test = TYPE_TESTS[operator]
        return lambda data, ctx: test(_read(variable, data, ctx, "Variable")) is bool(expected)

    family, relation, by_path = COMPARISON_OPERATORS[operator]
    coerce = _FAMILIES[family]
    if relation == "Matches":
        if not isinstance(expected, str):
            raise ValueError("StringMatches needs a string pattern")
        regex = _wildcard_regex(expected)

        def matches(data: Any, ctx: Any) -> bool:
            value = _read(variable, data, ctx, "Variable")
            return type(value) is str and regex.fullmatch(value) is not None

        return matches
    compare = _ORDER[relation]
    if by_path:
        try:
            other = parse_path(expected)
        except (PathSyntaxError, TypeError) as exc:
            raise ValueError(f"{operator}: {exc}") from None

        def compare_path(data: Any, ctx: Any) -> bool:
            left = coerce(_read(variable, data, ctx, "Variable"))
            right = coerce(_read(other, data, ctx, operator))
            return left is not None and right is not None and bool(compare(left, right))

        return compare_path
    right = coerce(expected)
    if right is None:
        raise ValueError(f"{operator} needs a {family.lower()} value, got {to_json(expected)}")

    def compare_value(data: Any, ctx: Any) -> bool:
        left = coerce(_read(variable, data, ctx, "Variable"))
        return left is not None and bool(compare(left, right))

    return compare_value


@dataclass(frozen=True, slots=True)
class ChoiceState:
    """A compiled Choice state: the first rule that matches names the next state."""

    rules: tuple[tuple[_Predicate, str], ...]
    default: str | None

    @classmethod
    def compile(cls, state: dict[str, Any]) -> ChoiceState:
        """Compile a Choice state's ``Choices`` and ``Default``."""
        rules = tuple((compile_rule(rule), rule["Next"]) for rule in state["Choices"])
        return cls(rules, state.get("Default"))

    def choose(self, data: Any, context: Any = None) -> str:
        """Return the name of the next state.

        Raises:
            NoChoiceMatched: no rule matched and there is no Default.
            RuntimeFailure: a rule's Variable is absent from the input.
        """
        for predicate, next_state in self.rules:
            if predicate(data, context):
                return next_state
        if self.default is not None:
            return self.default
        raise NoChoiceMatched("No Choice Rule matched and the state has no Default")
