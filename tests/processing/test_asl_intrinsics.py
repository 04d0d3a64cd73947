"""Intrinsic functions, with the examples and outputs given by the spec and the AWS guide."""

from __future__ import annotations

import hashlib
import re

import pytest

from processing.asl import IntrinsicFailure, ParameterPathFailure, evaluate_intrinsic
from processing.asl.intrinsics import IntrinsicSyntaxError, parse_intrinsic


def ev(text: str, data: object = None, context: object = None) -> object:
    return evaluate_intrinsic(text, {} if data is None else data, context)


def test_format_examples() -> None:
    data = {"name": "Arnav", "template": "Hello, my name is {}."}
    assert ev("States.Format('Hello, my name is {}.', $.name)", data) == "Hello, my name is Arnav."
    assert ev("States.Format($.template, $.name)", data) == "Hello, my name is Arnav."


def test_format_with_context_and_scalars() -> None:
    # The spec's Parameters example: States.Format('Today is {}', $$.DayOfWeek).
    assert ev("States.Format('Today is {}', $$.DayOfWeek)", {}, {"DayOfWeek": "TUESDAY"}) == (
        "Today is TUESDAY"
    )
    assert ev("States.Format('{} {} {} {}', 1, 2.5, true, null)") == "1 2.5 true null"


def test_format_escapes() -> None:
    assert ev(r"States.Format('\{\} is literal, {} is not; it\'s \\ ok', 'x')") == (
        "{} is literal, x is not; it's \\ ok"
    )


def test_format_argument_count_must_match() -> None:
    with pytest.raises(IntrinsicFailure):
        ev("States.Format('{} {}', 'only one')")
    with pytest.raises(IntrinsicFailure):
        ev("States.Format('{}', $.obj)", {"obj": {"a": 1}})


def test_string_to_json_and_json_to_string() -> None:
    assert ev("States.StringToJson($.s)", {"s": '{"foo": "bar"}'}) == {"foo": "bar"}
    assert ev("States.JsonToString($.u)", {"u": {"foo": "bar"}}) == '{"foo":"bar"}'
    with pytest.raises(IntrinsicFailure):
        ev("States.StringToJson('not json')")


def test_array() -> None:
    assert ev("States.Array('Foo', 2020, $.Id, null)", {"Id": 123456}) == [
        "Foo",
        2020,
        123456,
        None,
    ]
    assert ev("States.Array()") == []


def test_array_partition() -> None:
    assert ev("States.ArrayPartition(States.Array(1,2,3,4,5,6,7,8,9), 4)") == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9],
    ]
    assert ev("States.ArrayPartition($.a, 4)", {"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}) == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9],
    ]
    with pytest.raises(IntrinsicFailure):
        ev("States.ArrayPartition($.a, 0)", {"a": [1]})


def test_array_contains_range_get_length_unique() -> None:
    data = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "index": 5}
    assert ev("States.ArrayContains($.inputArray, $.lookingFor)", data) is True
    assert ev("States.ArrayContains($.inputArray, 'x')", data) is False
    assert ev("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert ev("States.ArrayRange(10, 0, -5)") == [10, 5, 0]
    assert ev("States.ArrayGetItem($.inputArray, $.index)", data) == 6
    assert ev("States.ArrayLength($.inputArray)", data) == 9
    assert ev("States.ArrayUnique($.a)", {"a": [1, 2, 3, 3, 3, 3, 3, 3, 4]}) == [1, 2, 3, 4]
    assert ev("States.ArrayUnique($.a)", {"a": [1, True, 1.0, {"a": 1}, {"a": 1}]}) == [
        1,
        True,
        {"a": 1},
    ]


def test_array_range_limits() -> None:
    with pytest.raises(IntrinsicFailure):
        ev("States.ArrayRange(1, 2000, 1)")
    with pytest.raises(IntrinsicFailure):
        ev("States.ArrayRange(1, 5, 0)")
    with pytest.raises(IntrinsicFailure):
        ev("States.ArrayGetItem(States.Array(1), 3)")


def test_base64() -> None:
    assert ev("States.Base64Encode($.input)", {"input": "Data to encode"}) == "RGF0YSB0byBlbmNvZGU="
    assert ev("States.Base64Decode($.b)", {"b": "RGF0YSB0byBlbmNvZGU="}) == "Data to encode"
    with pytest.raises(IntrinsicFailure):
        ev("States.Base64Decode('***')")


def test_hash_example_and_all_algorithms() -> None:
    data = {"Data": "input data", "Algorithm": "SHA-1"}
    assert (
        ev("States.Hash($.Data, $.Algorithm)", data) == "aaff4a450a104cd177d28d18d74485e8cae074b7"
    )
    assert ev("States.Hash('input data', 'SHA-1')") == "aaff4a450a104cd177d28d18d74485e8cae074b7"
    for name, algo in [
        ("MD5", "md5"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ]:
        expected = hashlib.new(algo, b"input data").hexdigest()
        assert ev(f"States.Hash('input data', '{name}')") == expected
    with pytest.raises(IntrinsicFailure):
        ev("States.Hash('input data', 'SHA-3')")


def test_json_merge() -> None:
    data = {"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}
    assert ev("States.JsonMerge($.json1, $.json2, false)", data) == {
        "a": {"a3": 1, "a4": 2},
        "b": 2,
        "c": 3,
    }
    assert ev("States.JsonMerge($.json1, $.json2, true)", data) == {
        "a": {"a1": 1, "a2": 2, "a3": 1, "a4": 2},
        "b": 2,
        "c": 3,
    }


def test_math_random_and_add() -> None:
    for _ in range(50):
        value = ev("States.MathRandom($.start, $.end)", {"start": 1, "end": 999})
        assert isinstance(value, int) and 1 <= value < 999
    assert ev("States.MathRandom(1, 999, 1234)") == ev("States.MathRandom(1, 999, 1234)")
    assert ev("States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}) == 110
    assert ev("States.MathAdd(111, -1)") == 110
    with pytest.raises(IntrinsicFailure):
        ev("States.MathAdd('1', 2)")


def test_string_split() -> None:
    assert ev("States.StringSplit($.s, $.d)", {"s": "1,2,3,4,5", "d": ","}) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert ev("States.StringSplit('This.is+a,test=string', '.+,=')") == [
        "This",
        "is",
        "a",
        "test",
        "string",
    ]


def test_uuid() -> None:
    value = ev("States.UUID()")
    assert isinstance(value, str)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )


def test_nested_calls_and_whitespace() -> None:
    text = "States.Format( 'n={}' , States.ArrayLength( States.Array( 1 , 2 , $.x ) ) )"
    assert ev(text, {"x": 3}) == "n=3"
    assert ev("States.JsonToString(States.StringToJson('{\"a\": [1, 2]}'))") == '{"a":[1,2]}'


def test_path_arguments_with_brackets_and_commas() -> None:
    data = {"a,b": [10, 20], "xs": [{"v": 1}, {"v": 2}]}
    assert ev("States.Array($['a,b'][1], $.xs[?(@.v > 1)])", data) == [20, [{"v": 2}]]


def test_missing_path_argument() -> None:
    with pytest.raises(ParameterPathFailure):
        ev("States.Array($.missing)")


@pytest.mark.parametrize(
    "text",
    [
        "States.Nope(1)",
        "States.Array(1",
        "States.Array(1,)",
        "States.Format()",
        "States.UUID(1)",
        "States.Hash('a')",
        "States.Array('unterminated)",
        "States.Array(1) trailing",
        "Format('x')",
        "States.Array(foo)",
    ],
)
def test_malformed_invocations(text: str) -> None:
    with pytest.raises(IntrinsicSyntaxError):
        parse_intrinsic(text)
    with pytest.raises(IntrinsicFailure):
        evaluate_intrinsic(text, {})
