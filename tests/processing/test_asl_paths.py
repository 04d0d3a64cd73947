"""ASL Paths: selection, reference paths, the context object, and invalid syntax."""

from __future__ import annotations

import pytest

from processing.asl import (
    PathNotFound,
    PathSyntaxError,
    parse_path,
    parse_reference_path,
    set_reference,
)

STORE = {
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
            {
                "category": "fiction",
                "author": "J. R. R. Tolkien",
                "title": "LOTR",
                "price": 22.99,
                "isbn": "0-395-19395-8",
            },
        ],
        "bicycle": {"color": "red", "price": 19.95},
    },
    "ledgers": {"branch": [{"pending": {"count": 4}}]},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", STORE),
        ("$.store.bicycle.color", "red"),
        ("$.store.book[0].author", "Nigel Rees"),
        ("$.store.book[-1].title", "LOTR"),
        ("$['store']['bicycle']['price']", 19.95),
        ('$["store"].bicycle', {"color": "red", "price": 19.95}),
        ("$.ledgers.branch[0].pending.count", 4),
        ("$.store.book[(@.length-1)].title", "LOTR"),
    ],
)
def test_definite_paths_select_one_node(path: str, expected: object) -> None:
    assert parse_path(path).get(STORE) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "J. R. R. Tolkien"]),
        ("$.store.*.color", ["red"]),
        ("$..price", [8.95, 12.99, 22.99, 19.95]),
        ("$.store.book[0:2].title", ["Sayings", "Sword"]),
        ("$.store.book[-2:].title", ["Sword", "LOTR"]),
        ("$.store.book[0,2].title", ["Sayings", "LOTR"]),
        ("$.store.book[?(@.price < 10)].title", ["Sayings"]),
        ("$.store.book[?(@.isbn)].title", ["LOTR"]),
        ("$.store.book[?(@.category == 'fiction' && @.price > 20)].title", ["LOTR"]),
        ("$.store.book[?(@.price > 20 || @.price < 9)].title", ["Sayings", "LOTR"]),
        ("$.store.book[?(@.price > $.store.bicycle.price)].title", ["LOTR"]),
        ("$.missing[*]", []),
    ],
)
def test_indefinite_paths_select_a_list(path: str, expected: list[object]) -> None:
    parsed = parse_path(path)
    assert not parsed.definite
    assert parsed.get(STORE) == expected


def test_spec_slice_example_last_three() -> None:
    # From the spec's Parameters example: "last3.$": "$.vals[-3:]".
    assert parse_path("$.vals[-3:]").get({"vals": [0, 10, 20, 30, 40, 50]}) == [30, 40, 50]


def test_field_names_with_special_characters() -> None:
    data = {"ship-date": 1, "a.b": 2, "delivery-partner": "UQS", "x y": 3}
    assert parse_path("$.ship-date").get(data) == 1
    assert parse_path("$.a\\.b").get(data) == 2
    assert parse_path("$['x y']").get(data) == 3
    assert parse_path("$.delivery-partner").get(data) == "UQS"


def test_context_object_paths_read_the_context() -> None:
    path = parse_path("$$.Execution.Id")
    assert path.context and path.reference
    assert path.get({"Execution": "input"}, {"Execution": {"Id": "exec-1"}}) == "exec-1"
    assert parse_path("$$").get(1, {"k": 2}) == {"k": 2}


def test_missing_node_raises_path_not_found() -> None:
    with pytest.raises(PathNotFound):
        parse_path("$.store.car").get(STORE)
    with pytest.raises(PathNotFound):
        parse_path("$.store.book[7]").get(STORE)
    with pytest.raises(PathNotFound):
        parse_path("$.store.bicycle.color.x").get(STORE)
    assert not parse_path("$.store.car").exists(STORE)
    assert parse_path("$.store.bicycle").exists(STORE)


def test_booleans_are_not_numbers_in_filters() -> None:
    data = {"xs": [{"v": True}, {"v": 1}]}
    assert parse_path("$.xs[?(@.v == 1)]").get(data) == [{"v": 1}]
    assert parse_path("$.xs[?(@.v == true)]").get(data) == [{"v": True}]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a.b",
        "$.",
        "$a",
        "$foo.bar",
        "$.a[",
        "$.a]",
        "$.a[x]",
        "$.a['b'",
        "$[?(@.a ==)]",
        "$.a..",
        "$.a[1:2:0]",
        "$.a b",
        3,
    ],
)
def test_invalid_paths_raise(text: object) -> None:
    with pytest.raises(PathSyntaxError):
        parse_path(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["$.a[*]", "$..a", "$.a[-1]", "$.a[0:1]", "$.a[0,1]", "$.a[?(@.b)]", "$.*"]
)
def test_reference_paths_must_be_singular(text: str) -> None:
    assert parse_path(text)  # a valid Path ...
    with pytest.raises(PathSyntaxError):
        parse_reference_path(text)  # ... but not a Reference Path


def test_reference_path_may_forbid_the_context_object() -> None:
    assert parse_reference_path("$$.State.Name").context
    with pytest.raises(PathSyntaxError):
        parse_reference_path("$$.State.Name", allow_context=False)


def test_set_reference_copies_along_the_path_only() -> None:
    original = {"a": {"b": 1, "keep": {"deep": True}}, "other": [1, 2]}
    updated = set_reference(original, parse_reference_path("$.a.c.d"), 5)
    assert updated == {"a": {"b": 1, "keep": {"deep": True}, "c": {"d": 5}}, "other": [1, 2]}
    assert original == {"a": {"b": 1, "keep": {"deep": True}}, "other": [1, 2]}
    assert updated["other"] is original["other"]  # untouched branches are shared
    assert set_reference(original, parse_reference_path("$.other[1]"), 9)["other"] == [1, 9]
    assert set_reference(original, parse_reference_path("$"), "x") == "x"


def test_set_reference_fails_on_non_objects_and_missing_indices() -> None:
    with pytest.raises(PathNotFound):
        set_reference("a string", parse_reference_path("$.x"), 1)
    with pytest.raises(PathNotFound):
        set_reference({"a": [1]}, parse_reference_path("$.a[3]"), 1)
    with pytest.raises(PathNotFound):
        set_reference({"a": 1}, parse_reference_path("$.a.b"), 1)
