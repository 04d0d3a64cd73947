"""Validation: a result object listing each problem with its state and field; never raising."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from processing.asl import InvalidDefinition, StateMachine, validate
from processing.asl.validate import SCHEMAS_ENV, default_schema_dir

from .asl_helpers import arn, machine, task


def ok(**extra: Any) -> dict[str, Any]:
    return machine("A", A=task("a", **extra))


def test_valid_machine_has_no_errors() -> None:
    result = validate(ok(Retry=[{"ErrorEquals": ["States.ALL"]}]))
    assert result.valid and bool(result) and result.errors == ()


def test_schemas_are_found_beside_the_repository() -> None:
    assert (default_schema_dir() / "state-machine.json").is_file()


@pytest.mark.parametrize(
    ("definition", "state", "field", "code"),
    [
        (machine("A", A=task("a", Next="Nowhere")), "A", "Next", "MISSING_TRANSITION_TARGET"),
        (machine("Z", A=task("a")), None, "StartAt", "MISSING_TRANSITION_TARGET"),
        ({"States": {"A": task("a")}}, None, "StartAt", "MISSING_FIELD"),
        ({"StartAt": "A", "States": {}}, None, "States", "MISSING_FIELD"),
        (machine("A", A=task("a"), B={"Type": "Succeed"}), "B", None, "UNREACHABLE_STATE"),
        (
            machine("A", A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}),
            None,
            "States",
            "MISSING_TERMINAL_STATE",
        ),
        (
            machine("A", A={"Type": "Pass", "End": True, "Next": "A"}),
            "A",
            "Next",
            "TERMINAL_STATE_WITH_NEXT",
        ),
        (machine("A", A={"Type": "Pass"}), "A", "End", "MISSING_TRANSITION"),
        (machine("A", A={"Type": "Bogus", "End": True}), "A", "Type", "INVALID_TYPE"),
        (ok(Foo=1), "A", "Foo", "UNKNOWN_FIELD"),
        (ok(InputPath="$.a["), "A", "InputPath", "INVALID_PATH"),
        (ok(OutputPath="a.b"), "A", "OutputPath", "INVALID_PATH"),
        (ok(ResultPath="$.a[*]"), "A", "ResultPath", "INVALID_PATH"),
        (ok(ResultPath="$$.State"), "A", "ResultPath", "INVALID_PATH"),
        (ok(TimeoutSecondsPath="$.t[*]"), "A", "TimeoutSecondsPath", "INVALID_PATH"),
        (ok(Parameters={"a.$": "$.x", "a": 1}), "A", "Parameters", "DUPLICATE_FIELD_NAME"),
        (ok(Parameters={"a.$": "nope"}), "A", "Parameters", "INVALID_PATH"),
        (ok(ResultSelector={"a.$": "States.Nope(1)"}), "A", "ResultSelector", "INVALID_INTRINSIC"),
        (ok(TimeoutSeconds=0), "A", "TimeoutSeconds", "INVALID_VALUE"),
        (ok(TimeoutSeconds=5, HeartbeatSeconds=5), "A", "HeartbeatSeconds", "INVALID_VALUE"),
        (
            ok(TimeoutSeconds=5, TimeoutSecondsPath="$.t"),
            "A",
            "TimeoutSecondsPath",
            "MUTUALLY_EXCLUSIVE",
        ),
        (ok(Retry=[{"ErrorEquals": []}]), "A", "Retry[0].ErrorEquals", "MISSING_FIELD"),
        (
            ok(Retry=[{"ErrorEquals": ["X"], "BackoffRate": 0.5}]),
            "A",
            "Retry[0].BackoffRate",
            "INVALID_VALUE",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["X"], "MaxAttempts": -1}]),
            "A",
            "Retry[0].MaxAttempts",
            "INVALID_VALUE",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 0}]),
            "A",
            "Retry[0].IntervalSeconds",
            "INVALID_VALUE",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]),
            "A",
            "Retry[0].JitterStrategy",
            "INVALID_VALUE",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["X"], "Interval": 1}]),
            "A",
            "Retry[0].Interval",
            "UNKNOWN_FIELD",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["States.ALL", "X"]}]),
            "A",
            "Retry[0].ErrorEquals",
            "INVALID_VALUE",
        ),
        (
            ok(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]),
            "A",
            "Retry[0].ErrorEquals",
            "INVALID_VALUE",
        ),
        (ok(Catch=[{"ErrorEquals": ["X"]}]), "A", "Catch[0].Next", "MISSING_FIELD"),
        (
            ok(Catch=[{"ErrorEquals": ["X"], "Next": "Gone"}]),
            "A",
            "Catch[0].Next",
            "MISSING_TRANSITION_TARGET",
        ),
        (
            ok(Catch=[{"ErrorEquals": ["X"], "Next": "A", "ResultPath": "$.e[0:1]"}]),
            "A",
            "Catch[0].ResultPath",
            "INVALID_PATH",
        ),
        (
            machine(
                "W",
                W={"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "End": True},
            ),
            "W",
            "Timestamp",
            "WAIT_DURATION",
        ),
        (
            machine("W", W={"Type": "Wait", "Timestamp": "2016-03-14 01:59", "End": True}),
            "W",
            "Timestamp",
            "INVALID_VALUE",
        ),
        (
            machine("F", F={"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
            "F",
            "ErrorPath",
            "MUTUALLY_EXCLUSIVE",
        ),
        (machine("C", C={"Type": "Choice", "Choices": []}), "C", "Choices", "MISSING_FIELD"),
        (
            machine(
                "C",
                C={
                    "Type": "Choice",
                    "Default": "Gone",
                    "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "S"}],
                },
                S={"Type": "Succeed"},
            ),
            "C",
            "Default",
            "MISSING_TRANSITION_TARGET",
        ),
        (
            machine(
                "C",
                C={
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.v", "NumericEquals": "1", "Next": "S"}],
                },
                S={"Type": "Succeed"},
            ),
            "C",
            "Choices[0].NumericEquals",
            "INVALID_CHOICE_RULE",
        ),
        (
            machine(
                "C",
                C={
                    "Type": "Choice",
                    "Choices": [
                        {"Not": {"Variable": "$.v", "IsNull": True, "Next": "S"}, "Next": "S"}
                    ],
                },
                S={"Type": "Succeed"},
            ),
            "C",
            "Choices[0].Not.Next",
            "INVALID_CHOICE_RULE",
        ),
        (
            machine(
                "C",
                C={"Type": "Choice", "Choices": [{"Variable": "$.v", "IsNull": True}]},
                S={"Type": "Succeed"},
            ),
            "C",
            "Choices[0].Next",
            "MISSING_FIELD",
        ),
        (
            machine(
                "C",
                C={
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.v[", "IsNull": True, "Next": "S"}],
                },
                S={"Type": "Succeed"},
            ),
            "C",
            "Choices[0].Variable",
            "INVALID_PATH",
        ),
        (
            {**machine("A", A={"Type": "Pass", "End": True}), "QueryLanguage": "JSONata"},
            None,
            "QueryLanguage",
            "UNSUPPORTED",
        ),
        (
            machine("A", A={"Type": "Pass", "End": True, "QueryLanguage": "JSONata"}),
            "A",
            "QueryLanguage",
            "UNSUPPORTED",
        ),
        (ok(Assign={"x.$": "$.y"}), "A", "Assign", "UNSUPPORTED"),
    ],
)
def test_each_error_names_its_state_and_field(
    definition: dict[str, Any], state: str | None, field: str | None, code: str
) -> None:
    result = validate(definition)
    assert not result.valid
    matching = [e for e in result.errors if e.state == state and e.field == field]
    assert matching, f"no error for {state}.{field}; got {[str(e) for e in result.errors]}"
    assert code in {e.code for e in matching}
    assert all(str(e) for e in result.errors)


def test_nested_parallel_branches_are_validated() -> None:
    definition = machine(
        "P",
        P={
            "Type": "Parallel",
            "End": True,
            "Branches": [
                machine("B1", B1=task("b1")),
                machine("B2", B2={"Type": "Pass", "Next": "P"}),  # leaves its branch
                {"StartAt": "B3", "States": {"B3": task("b3", InputPath="$.[")}},
            ],
        },
    )
    result = validate(definition)
    assert result.find(state="B2", field="Next")[0].code == "MISSING_TRANSITION_TARGET"
    assert result.find(state="B3", field="InputPath")[0].code == "INVALID_PATH"
    assert result.find(state="P", field="States")[0].code == "MISSING_TERMINAL_STATE"


def test_map_processors_are_validated() -> None:
    both = machine(
        "M",
        M={
            "Type": "Map",
            "End": True,
            "Iterator": machine("I", I=task("i")),
            "ItemProcessor": machine("J", J=task("j")),
        },
    )
    assert validate(both).find(state="M", field="Iterator")[0].code == "MAP_ITEM_PROCESSOR"
    inner = machine(
        "M",
        M={
            "Type": "Map",
            "End": True,
            "MaxConcurrency": -1,
            "ItemProcessor": {
                "StartAt": "I",
                "States": {"I": task("i", Next="Out")},
                "ProcessorConfig": {"Mode": "SIDEWAYS"},
            },
        },
        Out={"Type": "Succeed"},
    )
    result = validate(inner)
    assert result.find(state="I", field="Next")
    assert result.find(state="M", field="MaxConcurrency")
    assert result.find(state="M", field="ItemProcessor")
    assert result.find(state="Out")  # unreachable: nothing at the top level leads there


def test_duplicate_state_names_across_nested_machines() -> None:
    definition = machine(
        "M",
        M={
            "Type": "Map",
            "Next": "A",
            "ItemProcessor": machine("A", A=task("a")),
        },
        A={"Type": "Succeed"},
    )
    assert validate(definition).find(state="A")[0].code == "DUPLICATE_STATE_NAMES"


def test_schema_errors_are_reported_for_what_structure_checks_miss() -> None:
    result = validate(machine("A", A={"Type": "Task", "Resource": "not-an-arn", "End": True}))
    (error,) = result.errors
    assert (error.state, error.field, error.code) == ("A", "Resource", "SCHEMA_VALIDATION_FAILED")
    assert validate(
        machine("A", A={"Type": "Task", "Resource": "x", "End": True}), schema=False
    ).valid


def test_schema_errors_name_nested_states() -> None:
    definition = machine(
        "P",
        P={
            "Type": "Parallel",
            "End": True,
            "Branches": [machine("B", B={"Type": "Task", "Resource": "not-an-arn", "End": True})],
        },
    )
    (error,) = validate(definition).errors
    assert (error.state, error.field) == ("B", "Resource")
    assert error.pointer == "/States/P/Branches/0/States/B/Resource"


def test_schema_directory_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path))
    result = validate(machine("A", A={"Type": "Task", "Resource": "not-an-arn", "End": True}))
    assert result.valid
    assert [w.code for w in result.warnings] == ["SCHEMAS_UNAVAILABLE"]


@pytest.mark.parametrize("document", [None, [], "text", {"StartAt": 3, "States": []}])
def test_garbage_is_reported_not_raised(document: Any) -> None:
    result = validate(document)
    assert not result.valid


def test_warnings_do_not_invalidate() -> None:
    definition = machine(
        "M",
        M={
            "Type": "Map",
            "End": True,
            "ToleratedFailureCount": 1,
            "ItemProcessor": machine("I", I=task("i")),
        },
    )
    result = validate(definition)
    assert result.valid
    assert result.warnings[0].state == "M"


def test_state_machine_refuses_invalid_definitions() -> None:
    with pytest.raises(InvalidDefinition) as info:
        StateMachine(machine("A", A=task("a", Next="Gone")))
    assert info.value.result.find(state="A", field="Next")
    assert "A.Next" in str(info.value)


def test_full_validation_in_the_state_machine() -> None:
    bad_arn = machine("A", A={"Type": "Task", "Resource": "x", "End": True})
    StateMachine(bad_arn, runners={"x": lambda p: p})  # structure only by default
    with pytest.raises(InvalidDefinition):
        StateMachine(bad_arn, validation="full")
    assert arn("a").startswith("arn:aws:lambda:")


def test_a_machine_past_the_state_limit_is_refused_before_the_schemas() -> None:
    """The schema layer costs ~1 ms a state: 100000 states were a minute and a half of one
    core for a single /workflows/validate. Nested states count; the limit itself passes."""
    from processing.asl.validate import MAX_STATES

    def chain(n: int, prefix: str = "s") -> dict[str, Any]:
        states: dict[str, Any] = {f"{prefix}{i}": {"Type": "Pass", "Next": f"{prefix}{i + 1}"}
                                  for i in range(n - 1)}
        states[f"{prefix}{n - 1}"] = {"Type": "Succeed"}
        return {"StartAt": f"{prefix}0", "States": states}

    (issue,) = validate(chain(100_000)).errors
    assert issue.code == "TOO_MANY_STATES" and issue.field == "States"
    assert "100000 states" in issue.message and str(MAX_STATES) in issue.message
    half = MAX_STATES // 2
    nested = {"StartAt": "P", "States": {"P": {
        "Type": "Parallel", "End": True, "Branches": [chain(half, "a"), chain(half, "b")]}}}
    assert validate(nested).errors[0].code == "TOO_MANY_STATES"  # 1 + 2 × half
    assert validate(chain(MAX_STATES), schema=False).valid


def test_issues_deep_in_a_state_point_at_their_field() -> None:
    """What the builder highlights: a bad Choice rule or Retry entry inside a Parallel branch
    points at that rule, not at the document root."""
    inner = machine("C", C={"Type": "Choice", "Choices": [5, {"Not": 7, "Next": "D"}],
                            "Default": "D"},
                    D={"Type": "Pass", "End": True, "Retry": [3]})
    doc = machine("P", P={"Type": "Parallel", "End": True, "Branches": [inner]})
    pointers = {(i.field, i.pointer) for i in validate(doc, schema=False).errors}
    base = "/States/P/Branches/0/States"
    assert ("Choices[0]", f"{base}/C/Choices/0") in pointers
    assert ("Choices[1].Not", f"{base}/C/Choices/1/Not") in pointers
    assert all(p.startswith("/States") for _, p in pointers), pointers
