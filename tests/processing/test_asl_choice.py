"""Choice Rules: the spec's example, every operator family, type tests and failures."""

from __future__ import annotations

import pytest

from processing.asl import ChoiceState, NoChoiceMatched, RuntimeFailure, execute, string_matches
from processing.asl.choice import compile_rule

SPEC_CHOICE = {
    "Type": "Choice",
    "Choices": [
        {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
        {
            "And": [
                {"Variable": "$.value", "IsPresent": True},
                {"Variable": "$.value", "IsNumeric": True},
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30},
            ],
            "Next": "ValueInTwenties",
        },
        {
            "Or": [
                {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold"},
                {"Variable": "$.force", "BooleanEquals": True},
            ],
            "Next": "StartAudit",
        },
    ],
    "Default": "RecordEvent",
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "Private", "value": 22}, "ValueInTwenties"),  # the spec's own example
        ({"type": "Public", "value": 22}, "Public"),
        ({"type": "Private", "value": 35, "rating": 9, "auditThreshold": 5}, "StartAudit"),
        (
            {"type": "Private", "value": 35, "rating": 1, "auditThreshold": 5, "force": True},
            "StartAudit",
        ),
        (
            {"type": "Private", "value": "22", "rating": 1, "auditThreshold": 5, "force": False},
            "RecordEvent",
        ),
    ],
)
def test_spec_choice_example(data: dict[str, object], expected: str) -> None:
    assert ChoiceState.compile(SPEC_CHOICE).choose(data) == expected


def test_choice_state_runs_in_a_machine() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {**SPEC_CHOICE},
            **{
                name: {"Type": "Pass", "Result": name, "End": True}
                for name in ("Public", "ValueInTwenties", "StartAudit", "RecordEvent")
            },
        },
    }
    assert execute(definition, {"type": "Private", "value": 22}).output == "ValueInTwenties"


def rule(**fields: object) -> object:
    return compile_rule({"Variable": "$.v", **fields})


@pytest.mark.parametrize(
    ("fields", "value", "expected"),
    [
        ({"StringEquals": "a"}, "a", True),
        ({"StringEquals": "a"}, 1, False),  # wrong type: false, not an error
        ({"StringLessThan": "b"}, "a", True),
        ({"StringGreaterThan": "b"}, "a", False),
        ({"StringLessThanEquals": "a"}, "a", True),
        ({"StringGreaterThanEquals": "b"}, "c", True),
        ({"NumericEquals": 1}, 1.0, True),
        ({"NumericEquals": 1}, True, False),  # a boolean is not a number
        ({"NumericLessThan": 1}, 0.5, True),
        ({"NumericGreaterThan": 1}, 2, True),
        ({"NumericLessThanEquals": 1}, 1, True),
        ({"NumericGreaterThanEquals": 1}, 0, False),
        ({"BooleanEquals": False}, False, True),
        ({"BooleanEquals": False}, 0, False),
        ({"TimestampEquals": "2016-03-14T01:59:00Z"}, "2016-03-14T02:59:00+01:00", True),
        ({"TimestampLessThan": "2016-03-14T01:59:00Z"}, "2016-03-14T01:58:59.999Z", True),
        ({"TimestampGreaterThan": "2016-03-14T01:59:00Z"}, "2016-03-14T01:59:00Z", False),
        ({"TimestampGreaterThanEquals": "2016-03-14T01:59:00Z"}, "2016-03-14T01:59:00Z", True),
        ({"TimestampLessThanEquals": "2016-03-14T01:59:00Z"}, "not a timestamp", False),
        ({"IsNull": True}, None, True),
        ({"IsNull": False}, None, False),
        ({"IsNumeric": True}, 3, True),
        ({"IsNumeric": True}, "3", False),
        ({"IsString": True}, "3", True),
        ({"IsBoolean": True}, False, True),
        ({"IsBoolean": False}, 0, True),
        ({"IsTimestamp": True}, "2016-03-14T01:59:00Z", True),
        ({"IsTimestamp": True}, "2016-03-14 01:59:00", False),
        ({"IsTimestamp": True}, "2016-03-14t01:59:00z", False),
    ],
)
def test_operators(fields: dict[str, object], value: object, expected: bool) -> None:
    assert rule(**fields)({"v": value}, None) is expected  # type: ignore[operator]


@pytest.mark.parametrize(
    ("operator", "left", "right", "expected"),
    [
        ("StringEqualsPath", "a", "a", True),
        ("StringGreaterThanEqualsPath", "a", "b", False),
        ("NumericEqualsPath", 3, 3.0, True),
        ("NumericLessThanPath", 3, "4", False),
        ("BooleanEqualsPath", True, True, True),
        ("TimestampLessThanPath", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", True),
    ],
)
def test_path_operators(operator: str, left: object, right: object, expected: bool) -> None:
    predicate = compile_rule({"Variable": "$.l", operator: "$.r"})
    assert predicate({"l": left, "r": right}, None) is expected


def test_string_matches_wildcards_and_escapes() -> None:
    assert string_matches("log-2020.txt", "log-*.txt")
    assert string_matches("a*b", r"a\*b")
    assert not string_matches("axb", r"a\*b")
    assert string_matches("back\\slash", r"back\\*")
    assert string_matches("", "*")
    assert string_matches("multi\nline", "multi*")
    assert not string_matches("abc", "ab")
    assert rule(StringMatches="*.tif")({"v": "scene.tif"}, None)  # type: ignore[operator]


def test_is_present_treats_absence_as_an_answer() -> None:
    assert rule(IsPresent=False)({}, None) is True  # type: ignore[operator]
    assert rule(IsPresent=True)({"v": None}, None) is True  # type: ignore[operator]


def test_missing_variable_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeFailure):
        rule(StringEquals="x")({}, None)  # type: ignore[operator]
    with pytest.raises(RuntimeFailure):
        rule(IsNull=True)({}, None)  # type: ignore[operator]
    with pytest.raises(RuntimeFailure):
        compile_rule({"Variable": "$.v", "NumericEqualsPath": "$.other"})({"v": 1}, None)


def test_context_variables() -> None:
    predicate = compile_rule({"Variable": "$$.State.Name", "StringEquals": "C"})
    assert predicate({}, {"State": {"Name": "C"}})


def test_no_choice_matched_without_default() -> None:
    state = ChoiceState.compile(
        {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "X"}]}
    )
    with pytest.raises(NoChoiceMatched):
        state.choose({"v": 2})


@pytest.mark.parametrize(
    "bad",
    [
        {"Variable": "$.v"},
        {"Variable": "$.v", "StringEquals": "a", "NumericEquals": 1},
        {"Variable": "$.v", "NumericEquals": "1"},
        {"Variable": "v", "NumericEquals": 1},
        {"And": []},
    ],
)
def test_malformed_rules(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        compile_rule(bad)
