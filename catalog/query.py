"""The STAC Query extension translated to CQL2 JSON in our layer.

Stock stac-fastapi-pgstac accepts only eq/ne/lt/lte/gt/gte and pgstac refuses `query` together
with `filter`. The spec also has startsWith, endsWith, contains and in; translating every query
operator to CQL2 ourselves gives all of them and lets `query` and `filter` combine with AND.
"""

from __future__ import annotations

from typing import Any

import cql2

from catalog.errors import InvalidInput

COMPARISONS = {"eq": "=", "neq": "<>", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
TEXT_OPS = {"startsWith", "endsWith", "contains"}
OPERATORS = sorted({*COMPARISONS, *TEXT_OPS, "in"})


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _translate_one(prop: str, op: str, value: Any) -> dict[str, Any]:
    field = f"query.{prop}.{op}"
    ref = {"property": prop}
    if op in COMPARISONS:
        if isinstance(value, (dict, list)):
            raise InvalidInput(field, "expects a single value")
        return {"op": COMPARISONS[op], "args": [ref, value]}
    if op in TEXT_OPS:
        if not isinstance(value, str):
            raise InvalidInput(field, "expects a string")
        escaped = _like_escape(value)
        pattern = {
            "startsWith": f"{escaped}%",
            "endsWith": f"%{escaped}",
            "contains": f"%{escaped}%",
        }[op]
        return {"op": "like", "args": [ref, pattern]}
    if op == "in":
        if not isinstance(value, list) or not value:
            raise InvalidInput(field, "expects a non-empty array")
        return {"op": "in", "args": [ref, value]}
    raise InvalidInput(f"query.{prop}", f"unknown operator {op!r}; use one of {OPERATORS}")


def query_to_cql2(query: Any) -> dict[str, Any] | None:
    """Translate a Query-extension object into one CQL2 JSON expression (None when empty)."""
    if query is None:
        return None
    if not isinstance(query, dict):
        raise InvalidInput("query", "must be an object of property -> {operator: value}")
    args: list[dict[str, Any]] = []
    for prop, ops in query.items():
        if not isinstance(ops, dict):
            args.append(_translate_one(prop, "eq", ops))
            continue
        if not ops:
            raise InvalidInput(f"query.{prop}", "has no operator")
        for op, value in ops.items():
            args.append(_translate_one(prop, op, value))
    if not args:
        return None
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


def and_filters(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [f for f in filters if f]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"op": "and", "args": present}


# CQL2 operators (basic, advanced comparison, spatial, temporal, array, functions pgstac knows).
CQL2_OPS = frozenset(
    {
        "and",
        "or",
        "not",
        "=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "like",
        "between",
        "in",
        "isnull",
        "casei",
        "accenti",
        "upper",
        "lower",
        "s_intersects",
        "s_equals",
        "s_disjoint",
        "s_touches",
        "s_within",
        "s_overlaps",
        "s_crosses",
        "s_contains",
        "intersects",
        "t_after",
        "t_before",
        "t_contains",
        "t_disjoint",
        "t_during",
        "t_equals",
        "t_finishedby",
        "t_finishes",
        "t_intersects",
        "t_meets",
        "t_metby",
        "t_overlappedby",
        "t_overlaps",
        "t_startedby",
        "t_starts",
        "anyinteracts",
        "a_equals",
        "a_contains",
        "a_containedby",
        "a_contained_by",
        "a_overlaps",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "div",
    }
)


def check_cql2(expr: Any) -> None:
    """Reject malformed CQL2 JSON cheaply, before it reaches pgstac.

    ``cql2.Expr.validate()`` runs a full JSON-Schema validation that costs ~18 ms a call (most
    of a search's time); building the text form checks structure and operator arity in ~10 µs,
    and the operator names are checked here. pgstac's own errors still map to 400 afterwards.
    """
    if not isinstance(expr, dict):
        raise InvalidInput("filter", "must be a CQL2 JSON object")
    try:
        cql2.Expr(expr).to_text()
    except Exception as e:  # cql2 raises bare exceptions
        raise InvalidInput("filter", f"invalid CQL2 JSON ({e})") from None

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            op = node.get("op")
            if isinstance(op, str) and op.lower() not in CQL2_OPS:
                raise InvalidInput("filter", f"unknown CQL2 operator {op!r}")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(expr)
