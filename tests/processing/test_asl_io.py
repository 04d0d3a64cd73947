"""Input and output processing, with the spec's examples and the outputs it gives."""

from __future__ import annotations

import pytest

from processing.asl import (
    ParameterPathFailure,
    PayloadTemplate,
    ResultPathMatchFailure,
    RuntimeFailure,
    apply_result_path,
    execute,
    select_path,
)

from .asl_helpers import arn, machine, task


def test_spec_parameters_example() -> None:
    template = PayloadTemplate(
        {
            "flagged": True,
            "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
            "weekday.$": "$$.DayOfWeek",
            "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)",
        }
    )
    state_input = {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    assert template.evaluate(state_input, {"DayOfWeek": "TUESDAY"}) == {
        "flagged": True,
        "parts": {"first": 0, "last3": [30, 40, 50]},
        "weekday": "TUESDAY",
        "formattedOutput": "Today is TUESDAY",
    }


def test_spec_result_selector_example() -> None:
    result = {
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {
            "SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112"}, "HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
            "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        },
    }
    definition = machine(
        "X",
        X=task(
            "emr",
            ResultSelector={
                "ClusterId.$": "$.output.ClusterId",
                "ResourceType.$": "$.resourceType",
            },
            ResultPath="$.EMROutput",
        ),
    )
    out = execute(definition, {"OtherDataFromInput": {}}, runners={arn("emr"): lambda p: result})
    assert out.output == {
        "OtherDataFromInput": {},
        "EMROutput": {"ResourceType": "elasticmapreduce", "ClusterId": "AKIAIOSFODNN7EXAMPLE"},
    }


def test_spec_input_result_output_path_example() -> None:
    # InputPath selects the numbers; the task adds them; ResultPath puts the sum into the
    # *raw* input; OutputPath keeps everything.
    definition = machine(
        "X", X=task("add", InputPath="$.numbers", ResultPath="$.sum", OutputPath="$")
    )
    state_input = {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}}
    out = execute(definition, state_input, runners={arn("add"): lambda p: p["val1"] + p["val2"]})
    assert out.output == {"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7}


COMMENT_INPUT = {
    "comment": "This is a test of the input and output of a Task state.",
    "details": "Default example",
    "who": "AWS Step Functions",
}


@pytest.mark.parametrize(
    ("result_path", "expected"),
    [
        ("$", "Hello, AWS Step Functions!"),
        ("$.taskresult", {**COMMENT_INPUT, "taskresult": "Hello, AWS Step Functions!"}),
        (
            "$.strings.lambdaresult",
            {**COMMENT_INPUT, "strings": {"lambdaresult": "Hello, AWS Step Functions!"}},
        ),
        (None, COMMENT_INPUT),
    ],
)
def test_result_path_comment_examples(result_path: str | None, expected: object) -> None:
    definition = machine("X", X=task("hello", ResultPath=result_path))
    runners = {arn("hello"): lambda p: f"Hello, {p['who']}!"}
    assert execute(definition, COMMENT_INPUT, runners=runners).output == expected


def test_parameters_comment_example_with_output_path() -> None:
    state_input = {
        "comment": "Example for Parameters.",
        "product": {
            "details": {"color": "blue", "size": "small", "material": "cotton"},
            "availability": "in stock",
            "sku": "2317",
            "cost": "$23",
        },
    }
    definition = machine(
        "X",
        X=task(
            "echo",
            Parameters={
                "comment": "Selecting what I care about.",
                "MyDetails": {
                    "size.$": "$.product.details.size",
                    "exists.$": "$.product.availability",
                    "StaticValue": "foo",
                },
            },
            ResultPath="$.echo",
            OutputPath="$.echo",
        ),
    )
    out = execute(definition, state_input, runners={arn("echo"): lambda p: p})
    assert out.output == {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
    }


def test_spec_pass_state_example() -> None:
    definition = machine(
        "No-op",
        **{
            "No-op": {
                "Type": "Pass",
                "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
                "ResultPath": "$.coords",
                "End": True,
            }
        },
    )
    assert execute(definition, {"georefOf": "Home"}).output == {
        "georefOf": "Home",
        "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
    }


def test_input_and_output_path_null_and_missing() -> None:
    assert select_path(None, {"a": 1}, field="InputPath") == {}
    assert select_path("$", {"a": 1}, field="InputPath") == {"a": 1}
    with pytest.raises(RuntimeFailure, match=r"\$\.b"):
        select_path("$.b", {"a": 1}, field="InputPath")


def test_result_path_failures() -> None:
    with pytest.raises(ResultPathMatchFailure):
        apply_result_path("$.x", "a string input", 1)
    with pytest.raises(ResultPathMatchFailure):
        apply_result_path("$.a[2]", {"a": [1]}, 1)
    assert apply_result_path(None, {"a": 1}, 2) == {"a": 1}


def test_parameter_path_failure_names_the_field() -> None:
    template = PayloadTemplate({"x": {"wanted.$": "$.nope"}})
    with pytest.raises(ParameterPathFailure, match="wanted.\\$"):
        template.evaluate({"a": 1})


def test_templates_recurse_through_arrays_and_stay_constant_when_static() -> None:
    dynamic = PayloadTemplate({"list": [{"v.$": "$.a"}, 2, ["x", {"w.$": "$$.k"}]]})
    assert dynamic.evaluate({"a": 1}, {"k": "c"}) == {"list": [{"v": 1}, 2, ["x", {"w": "c"}]]}
    static = PayloadTemplate({"a": [1, {"b": 2}]})
    assert static.constant and static.evaluate({"ignored": True}) == {"a": [1, {"b": 2}]}


def test_invalid_templates_are_rejected_when_compiled() -> None:
    with pytest.raises(ValueError):
        PayloadTemplate({"a.$": 3})
    with pytest.raises(ValueError):
        PayloadTemplate({"a.$": "not a path"})
    with pytest.raises(ValueError):
        PayloadTemplate({"a.$": "States.Nope()"})


def test_interpreter_never_mutates_its_input() -> None:
    state_input = {"a": {"b": 1}}
    definition = machine(
        "P1",
        P1={"Type": "Pass", "Result": 2, "ResultPath": "$.a.c", "Next": "P2"},
        P2={"Type": "Pass", "Result": 3, "ResultPath": "$.a.b", "End": True},
    )
    assert execute(definition, state_input).output == {"a": {"b": 3, "c": 2}}
    assert state_input == {"a": {"b": 1}}
