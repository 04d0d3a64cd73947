"""Our validator agrees with the npm ``asl-validator`` on valid and invalid documents.

asl-validator comes from tests/node (installed by deploy/scripts/setup.sh); the test fails when
Node.js or the package is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from processing.asl import validate
from tests.node_tools import node_module

from .asl_helpers import arn, machine, task

SCRIPT = """
const validator = require(process.argv[1]);
const docs = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(docs.map((d) => validator(d).isValid)));
"""


@pytest.fixture(scope="module")
def asl_validator() -> Path:
    return node_module("asl-validator")


def their_verdicts(module: Path, documents: list[Any]) -> list[bool]:
    done = subprocess.run(
        ["node", "-e", SCRIPT, str(module)],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


VALID: dict[str, Any] = {
    "hello world": machine("Hello World", **{"Hello World": task("HelloWorld")}),
    "choice": machine(
        "C",
        C={
            "Type": "Choice",
            "Default": "D",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "D"},
                {
                    "And": [
                        {"Variable": "$.value", "IsPresent": True},
                        {"Variable": "$.value", "NumericLessThan": 30},
                    ],
                    "Next": "D",
                },
                {"Variable": "$.ts", "TimestampGreaterThanPath": "$.other", "Next": "D"},
                {"Variable": "$.name", "StringMatches": "log-*.txt", "Next": "D"},
            ],
        },
        D={"Type": "Succeed"},
    ),
    "map": machine(
        "M",
        M={
            "Type": "Map",
            "InputPath": "$.detail",
            "ItemsPath": "$.shipped",
            "MaxConcurrency": 0,
            "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"},
            "ItemProcessor": machine("V", V=task("ship-val")),
            "ResultPath": "$.detail.shipped",
            "End": True,
        },
    ),
    "parallel, retry, catch, wait": machine(
        "P",
        P={
            "Type": "Parallel",
            "Next": "W",
            "Branches": [
                machine(
                    "A",
                    A=task(
                        "a",
                        Retry=[
                            {
                                "ErrorEquals": ["States.Timeout"],
                                "IntervalSeconds": 3,
                                "MaxAttempts": 2,
                                "BackoffRate": 1.5,
                            }
                        ],
                    ),
                ),
                machine(
                    "B", B={"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.b", "End": True}
                ),
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}],
        },
        W={"Type": "Wait", "Seconds": 10, "Next": "S"},
        S={"Type": "Succeed"},
        F={"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"},
    ),
    "intrinsics": machine(
        "T",
        T=task(
            "t",
            Parameters={
                "greeting.$": "States.Format('Hello, my name is {}.', $.name)",
                "parts.$": "States.ArrayPartition($.list, 4)",
                "static": [1, 2, {"nested.$": "$.x"}],
            },
        ),
    ),
}

INVALID: dict[str, Any] = {
    "missing Next target": machine("A", A=task("a", Next="Nowhere")),
    "End and Next": machine("A", A={"Type": "Pass", "End": True, "Next": "A"}),
    "ResultPath with a wildcard": machine("A", A=task("a", ResultPath="$.a[*]")),
    "InputPath without $": machine("A", A=task("a", InputPath="a.b")),
    "not an ARN": machine("A", A={"Type": "Task", "Resource": "run-it", "End": True}),
    "unknown field": machine("A", A=task("a", Foo=1)),
    "two wait durations": machine(
        "W", W={"Type": "Wait", "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z", "End": True}
    ),
    "duplicate names": machine(
        "M",
        M={"Type": "Map", "Next": "A", "ItemProcessor": machine("A", A=task("a"))},
        A={"Type": "Succeed"},
    ),
    "branch leaves its scope": machine(
        "P",
        P={
            "Type": "Parallel",
            "Next": "S",
            "Branches": [machine("B", B={"Type": "Pass", "Next": "S"})],
        },
        S={"Type": "Succeed"},
    ),
    "no terminal state": machine(
        "A", A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}
    ),
    "map without processor": machine("M", M={"Type": "Map", "End": True}),
    "negative MaxAttempts": machine(
        "A", A=task("a", Retry=[{"ErrorEquals": ["E"], "MaxAttempts": -1}])
    ),
    "bad parameter path": machine("A", A=task("a", Parameters={"x.$": "$.a["})),
    "choice operand type": machine(
        "C",
        C={"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": "one", "Next": "D"}]},
        D={"Type": "Succeed"},
    ),
    "state never referenced": machine("A", A=task("a"), Orphan={"Type": "Succeed"}),
}


def test_agreement_with_asl_validator(asl_validator: Path) -> None:
    names = [*VALID, *INVALID]
    documents = [*VALID.values(), *INVALID.values()]
    theirs = their_verdicts(asl_validator, documents)
    ours = [validate(document).valid for document in documents]
    expected = [True] * len(VALID) + [False] * len(INVALID)
    assert dict(zip(names, theirs, strict=True)) == dict(zip(names, expected, strict=True))
    assert dict(zip(names, ours, strict=True)) == dict(zip(names, theirs, strict=True))
    assert arn("x")
