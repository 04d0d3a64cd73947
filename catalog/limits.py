"""Request limits (env prefix ``STACWORKS_LIMIT_``) and the cheap checks that enforce them.

The CQL2 checks are linear scans that run *before* any recursive parser sees the input: the
``cql2`` package overflows its stack (a segfault, the whole server process) on a few thousand
nested parentheses, ``NOT``s or chained operators, and our own walkers raise RecursionError.
A scan cannot recurse, so a stranger's filter is measured before it is parsed.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from catalog.errors import InvalidInput

__all__ = [
    "LimitSettings",
    "check_filter",
    "check_filter_json",
    "check_filter_text",
    "check_nesting",
    "pool_wait_s",
]

MiB = 1024 * 1024


class LimitSettings(BaseSettings):
    """What one request may carry; every refusal names the setting that set the bound."""

    model_config = SettingsConfigDict(env_prefix="STACWORKS_LIMIT_", extra="ignore")

    body_bytes: int = Field(default=16 * MiB, ge=1024, description="Largest request body.")
    bulk_body_bytes: int = Field(
        default=64 * MiB, ge=1024,
        description="Largest body of POST /stac/collections/{id}/bulk_items (bulk loads).")
    query_bytes: int = Field(default=16 * 1024, ge=256, description="Largest query string.")
    json_depth: int = Field(default=64, ge=8,
                            description="Deepest nesting of a JSON parameter or body.")
    cql2_length: int = Field(default=100_000, ge=64, description="Longest CQL2 filter (chars).")
    cql2_depth: int = Field(default=32, ge=2, description="Deepest CQL2 nesting.")
    cql2_not_chain: int = Field(
        default=16, ge=1, description="Longest run of NOT / unary minus (each one a nesting).")
    cql2_operators: int = Field(
        default=1000, ge=8, description="Most operators (AND, OR, NOT, arithmetic) in a filter.")


@lru_cache(maxsize=1)
def pool_wait_s() -> float:
    """``STACWORKS_DB_POOL_WAIT_S``: how long a request waits for a database connection before
    the service answers 503 (a pool's own default, 30 s, holds every request through an outage)."""
    from catalog.settings import CatalogSettings

    return CatalogSettings().db_pool_wait_s


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<str>'(?:[^']|'')*'?)
      | (?P<qid>"(?:[^"]|"")*"?)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_:.]*)
      | (?P<open>[(\[])
      | (?P<close>[)\]])
      | (?P<comma>,)
      | (?P<op><>|<=|>=|[-+*/%^=<>])
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_BINARY_WORDS = frozenset({"AND", "OR", "DIV"})
_ARITHMETIC = frozenset("+-*/%^")


def _over(what: str, value: int, limit: int, setting: str) -> InvalidInput:
    return InvalidInput(
        "filter", f"{what} {value} is over the limit of {limit} (STACWORKS_LIMIT_{setting})")


def check_filter_text(text: str, limits: LimitSettings) -> None:
    """Length, nesting, NOT/unary chains and operator count of a CQL2 text, in one pass.

    Nesting bounds the depth of the expression the parser builds: each bracket, NOT, unary
    sign and arithmetic operator (``1+1+1`` nests, ``AND``/``OR``/``,`` make siblings) adds a
    level on top of the levels still open around it.

    Raises:
        InvalidInput: naming ``filter`` and the limit it broke.
    """
    if len(text) > limits.cql2_length:
        raise _over("length", len(text), limits.cql2_length, "CQL2_LENGTH")
    base = run = chain = operators = 0  # run: nesting operators since the last sibling break
    opened: list[tuple[int, int]] = []  # (base, run) of each enclosing bracket level
    operand = False  # the previous token ends an operand (so + and - are binary)
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "open":
            opened.append((base, run))
            base, run, operand = base + run + 1, 0, False
        elif kind == "close":
            base, run = opened.pop() if opened else (0, 0)
            chain, operand = 0, True
        elif kind == "word":
            word = m.group().upper()
            if word == "NOT":
                chain, run, operators, operand = chain + 1, run + 1, operators + 1, False
            elif word in _BINARY_WORDS:
                run = run + 1 if word == "DIV" else 0
                operators += 1
                chain, operand = 0, False
            else:
                chain, operand = 0, True
        elif kind == "op":
            sym = m.group()
            if sym in "+-" and not operand:
                chain += 1  # a unary sign: one more level, like NOT (-105.2 is a number)
                run += 1
            elif sym in _ARITHMETIC:
                operators += 1
                run, chain = run + 1, 0
            else:
                chain = 0
            operand = False
        elif kind == "comma":
            run, chain, operand = 0, 0, False
        elif kind in ("str", "qid", "num"):
            chain, operand = 0, True
        else:
            chain, operand = 0, False
        if base + run > limits.cql2_depth:
            raise _over("nesting depth", base + run, limits.cql2_depth, "CQL2_DEPTH")
        if chain > limits.cql2_not_chain:
            raise _over("a run of NOT / unary signs of", chain, limits.cql2_not_chain,
                        "CQL2_NOT_CHAIN")
        if operators > limits.cql2_operators:
            raise _over("operator count", operators, limits.cql2_operators, "CQL2_OPERATORS")


def check_filter_json(doc: Any, limits: LimitSettings) -> None:
    """Nesting of CQL2 JSON (operator nodes, and containers: two per operator, plus room for
    a GeoJSON literal) and its operator count, walked without recursion."""
    max_containers = 2 * limits.cql2_depth + 8
    operators = 0
    stack: list[tuple[Any, int, int]] = [(doc, 1, 0)]
    while stack:
        node, containers, ops = stack.pop()
        if containers > max_containers:
            raise _over("JSON nesting depth", containers, max_containers, "CQL2_DEPTH")
        if isinstance(node, dict):
            if "op" in node:
                ops += 1
                operators += 1
                if ops > limits.cql2_depth:
                    raise _over("nesting depth", ops, limits.cql2_depth, "CQL2_DEPTH")
                if operators > limits.cql2_operators:
                    raise _over("operator count", operators, limits.cql2_operators,
                                "CQL2_OPERATORS")
            stack.extend((v, containers + 1, ops) for v in node.values()
                         if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, containers + 1, ops) for v in node if isinstance(v, (dict, list)))


def check_filter(value: Any, lang: str | None, limits: LimitSettings) -> None:
    """A ``filter`` as sent (query parameter or body member): text unless it is JSON."""
    if isinstance(value, str):
        if lang == "cql2-json" or value.lstrip().startswith("{"):
            if len(value) > limits.cql2_length:
                raise _over("length", len(value), limits.cql2_length, "CQL2_LENGTH")
            check_nesting("filter", value, 2 * limits.cql2_depth + 8, "CQL2_DEPTH")
            try:
                doc = json.loads(value)
            except (ValueError, RecursionError):
                return  # not JSON: the service's own parser names the error
            check_filter_json(doc, limits)
        else:
            check_filter_text(value, limits)
    elif isinstance(value, (dict, list)):
        check_filter_json(value, limits)


_BRACKETS = re.compile(r"[\[\]{}()]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"', re.DOTALL)


def check_nesting(name: str, text: str, limit: int, setting: str = "JSON_DEPTH") -> None:
    """Bracket depth of a JSON-ish text (strings left out), before ``json.loads`` and friends
    see it (a deep enough document is a RecursionError, a 500 where only ValueError is caught)."""
    depth = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        if m.group() in "[{(":
            depth += 1
            if depth > limit:
                raise InvalidInput(name, f"nesting depth {depth} is over the limit of {limit} "
                                   f"(STACWORKS_LIMIT_{setting})")
        else:
            depth -= 1
