"""ASL Paths: the JSONPath dialect of the States language, parsed once and evaluated many times.

A *Path* (``InputPath``, ``OutputPath``, ``Variable``) may select many nodes (``[*]``, ``..``,
slices, unions, filters); a *Reference Path* (``ResultPath``, ``ItemsPath``, ``*Path`` fields) must
name exactly one node through fields and non-negative indices. A path starting with ``$$`` reads
the context object instead of the state's input.

Why not a JSONPath library (jsonpath-ng, jsonpath-rw): ASL's Paths are a dialect, and what
matters is accepting exactly the documents Step Functions accepts (the parity tests compare us
with the npm ``asl-validator``) and evaluating them as it does. A generic library cannot tell a
Reference Path (one node: no wildcards, filters or slices) from a Path, knows no ``$$`` context
object, parses bare field names by its own grammar rather than asl-path-validator's, and
compares filter operands with Python equality (``True == 1``), where ASL compares JSON values
(``_json.json_equal``). A wrapper would have to re-check each of these, so the dialect is
parsed here, once per path (cached), into a small evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from processing.asl._json import is_number, json_equal

__all__ = [
    "JsonPath",
    "PathNotFound",
    "PathSyntaxError",
    "parse_path",
    "parse_reference_path",
    "set_reference",
]


class PathSyntaxError(ValueError):
    """The text is not a valid ASL Path (or not a Reference Path where one is required)."""


class PathNotFound(LookupError):
    """A definite path names a node that the data does not contain."""


_MISSING: Final = object()

# Characters that end a bare (dot-notation) field name, per the asl-path-validator grammar.
_NAME_STOP = frozenset(")(,'\"\\.[] ><!=\t\n")
_FILTER_NAME_STOP = _NAME_STOP | {"&", "|"}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    index: int


@dataclass(frozen=True, slots=True)
class _Wildcard:
    pass


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True, slots=True)
class _Union:
    keys: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class _LengthIndex:
    """``[(@.length-N)]``: an index counted from the end, kept for Jayway compatibility."""

    offset: int


@dataclass(frozen=True, slots=True)
class _Filter:
    predicate: Callable[[Any, Any], bool]
    text: str


@dataclass(frozen=True, slots=True)
class _Descend:
    step: _Step


_Step = _Field | _Index | _Wildcard | _Slice | _Union | _LengthIndex | _Filter | _Descend


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed ASL path; evaluate it with :meth:`get` (one value) or :meth:`find` (all matches)."""

    text: str
    context: bool
    steps: tuple[_Step, ...]
    definite: bool
    reference: bool

    def get(self, data: Any, context: Any = None) -> Any:
        """Return the node a definite path names, or the list of matches of an indefinite one.

        Raises:
            PathNotFound: a definite path names a node that is not there.
        """
        root = context if self.context else data
        if not self.definite:
            return self.find(data, context)
        node = root
        for step in self.steps:
            node = _step_definite(step, node, self.text)
        return node

    def find(self, data: Any, context: Any = None) -> list[Any]:
        """Return every node the path selects (empty when nothing matches)."""
        root = context if self.context else data
        nodes = [root]
        for step in self.steps:
            nodes = _step_all(step, nodes, root)
            if not nodes:
                break
        return nodes

    def exists(self, data: Any, context: Any = None) -> bool:
        """Whether the path selects at least one node (``IsPresent``)."""
        if self.definite:
            try:
                self.get(data, context)
            except PathNotFound:
                return False
            return True
        return bool(self.find(data, context))

    def __str__(self) -> str:
        return self.text


def _step_definite(step: _Step, node: Any, text: str) -> Any:
    if type(step) is _Field:
        if type(node) is dict:
            value = node.get(step.name, _MISSING)
            if value is not _MISSING:
                return value
        raise PathNotFound(f"path {text!r}: field {step.name!r} not found")
    if type(step) is _Index:
        if type(node) is list and -len(node) <= step.index < len(node):
            return node[step.index]
        raise PathNotFound(f"path {text!r}: index {step.index} not found")
    if type(step) is _LengthIndex:
        if type(node) is list and 0 < step.offset <= len(node):
            return node[len(node) - step.offset]
        raise PathNotFound(f"path {text!r}: index (@.length-{step.offset}) not found")
    raise AssertionError(f"indefinite step in a definite path: {step!r}")  # pragma: no cover


def _children(node: Any) -> list[Any]:
    if type(node) is dict:
        return list(node.values())
    if type(node) is list:
        return list(node)
    return []


def _descendants(node: Any) -> list[Any]:
    """The node and every node below it, in document (pre-)order."""
    out: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(_children(current)))
    return out


def _step_all(step: _Step, nodes: list[Any], root: Any = None) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if type(step) is _Descend:
            out.extend(_step_all(step.step, _descendants(node), root))
        elif type(step) is _Field:
            if type(node) is dict and step.name in node:
                out.append(node[step.name])
        elif type(step) is _Index:
            if type(node) is list and -len(node) <= step.index < len(node):
                out.append(node[step.index])
        elif type(step) is _LengthIndex:
            if type(node) is list and 0 < step.offset <= len(node):
                out.append(node[len(node) - step.offset])
        elif type(step) is _Wildcard:
            out.extend(_children(node))
        elif type(step) is _Slice:
            if type(node) is list:
                out.extend(node[step.start : step.stop : step.step])
        elif type(step) is _Union:
            for key in step.keys:
                if isinstance(key, str):
                    if type(node) is dict and key in node:
                        out.append(node[key])
                elif type(node) is list and -len(node) <= key < len(node):
                    out.append(node[key])
        elif type(step) is _Filter:
            candidates = node if type(node) is list else [node] if type(node) is dict else []
            out.extend(item for item in candidates if step.predicate(item, root))
    return out


# --------------------------------------------------------------------------------------------
# Parsing


class _Parser:
    """A cursor over a path's text; filters re-enter it for their ``@``/``$`` operands."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> PathSyntaxError:
        return PathSyntaxError(f"invalid path {self.text!r} at offset {self.pos}: {message}")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while not self.at_end() and self.text[self.pos] in " \t\n":
            self.pos += 1

    def steps(self, *, in_filter: bool = False) -> list[_Step]:
        """Parse subscripts until the text (or, in a filter, the operand) ends."""
        steps: list[_Step] = []
        stop = _FILTER_NAME_STOP if in_filter else _NAME_STOP
        while not self.at_end():
            if self.peek(2) == "..":
                self.pos += 2
                if self.peek() == "[":
                    steps.append(_Descend(self.bracket()))
                elif self.peek() == "*":
                    self.pos += 1
                    steps.append(_Descend(_Wildcard()))
                else:
                    steps.append(_Descend(_Field(self.name(stop))))
            elif self.peek() == ".":
                self.pos += 1
                if self.peek() == "*":
                    self.pos += 1
                    steps.append(_Wildcard())
                else:
                    steps.append(_Field(self.name(stop)))
            elif self.peek() == "[":
                steps.append(self.bracket())
            else:
                break
        return steps

    def name(self, stop: frozenset[str]) -> str:
        chars: list[str] = []
        while not self.at_end():
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.error("dangling escape")
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch in stop:
                break
            chars.append(ch)
            self.pos += 1
        if not chars:
            raise self.error("expected a field name")
        return "".join(chars)

    def quoted(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        chars: list[str] = []
        while True:
            if self.at_end():
                raise self.error("unterminated string")
            ch = self.text[self.pos]
            if ch == "\\":
                if self.pos + 1 >= len(self.text):
                    raise self.error("dangling escape")
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if ch == quote:
                return "".join(chars)
            chars.append(ch)

    def integer(self, *, optional: bool = False) -> int | None:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        while not self.at_end() and self.text[self.pos].isdigit():
            self.pos += 1
        digits = self.text[start : self.pos]
        if digits in ("", "-"):
            self.pos = start
            if optional:
                return None
            raise self.error("expected an integer")
        return int(digits)

    def expect(self, token: str) -> None:
        self.skip_ws()
        if not self.text.startswith(token, self.pos):
            raise self.error(f"expected {token!r}")
        self.pos += len(token)

    def bracket(self) -> _Step:
        self.expect("[")
        self.skip_ws()
        ch = self.peek()
        step: _Step
        if ch in ("'", '"'):
            names: list[str | int] = [self.quoted()]
            self.skip_ws()
            while self.peek() == ",":
                self.pos += 1
                self.skip_ws()
                if self.peek() not in ("'", '"'):
                    raise self.error("expected a quoted name")
                names.append(self.quoted())
                self.skip_ws()
            step = _Field(str(names[0])) if len(names) == 1 else _Union(tuple(names))
        elif ch == "*":
            self.pos += 1
            step = _Wildcard()
        elif self.peek(2) == "?(":
            self.pos += 2
            start = self.pos
            predicate = _FilterParser(self).expression()
            text = self.text[start : self.pos]
            self.expect(")")
            step = _Filter(predicate, text)
        elif ch == "(":
            self.pos += 1
            self.skip_ws()
            if not self.text.startswith("@.length", self.pos):
                raise self.error("only (@.length-N) scripts are supported")
            self.pos += len("@.length")
            self.expect("-")
            self.skip_ws()
            offset = self.integer()
            assert offset is not None
            self.expect(")")
            step = _LengthIndex(offset)
        else:
            step = self.numeric_subscript()
        self.expect("]")
        return step

    def numeric_subscript(self) -> _Step:
        first = self.integer(optional=True)
        self.skip_ws()
        if self.peek() == ":":
            parts: list[int | None] = [first]
            while self.peek() == ":" and len(parts) < 3:
                self.pos += 1
                self.skip_ws()
                parts.append(self.integer(optional=True))
                self.skip_ws()
            while len(parts) < 3:
                parts.append(None)
            if parts[2] == 0:
                raise self.error("slice step cannot be zero")
            return _Slice(parts[0], parts[1], parts[2])
        if first is None:
            raise self.error("expected an index, a slice, a quoted name, '*' or a filter")
        indices: list[str | int] = [first]
        while self.peek() == ",":
            self.pos += 1
            self.skip_ws()
            value = self.integer()
            assert value is not None
            indices.append(value)
            self.skip_ws()
        return _Index(first) if len(indices) == 1 else _Union(tuple(indices))


_Predicate = Callable[[Any, Any], bool]
_Operand = Callable[[Any, Any], Any]


class _FilterParser:
    """Filter expressions: ``@.a``, ``@.a > 1``, ``@.b == 'x'``, ``&&``, ``||``, ``!``, parens."""

    _OPS: Final = ("==", "!=", "<=", ">=", "<", ">")

    def __init__(self, parser: _Parser) -> None:
        self.p = parser

    def expression(self) -> _Predicate:
        left = self.conjunction()
        self.p.skip_ws()
        while self.p.peek(2) == "||":
            self.p.pos += 2
            right = self.conjunction()
            left = _or(left, right)
            self.p.skip_ws()
        return left

    def conjunction(self) -> _Predicate:
        left = self.unary()
        self.p.skip_ws()
        while self.p.peek(2) == "&&":
            self.p.pos += 2
            right = self.unary()
            left = _and(left, right)
            self.p.skip_ws()
        return left

    def unary(self) -> _Predicate:
        self.p.skip_ws()
        if self.p.peek() == "!" and self.p.peek(2) != "!=":
            self.p.pos += 1
            inner = self.unary()
            return lambda item, root: not inner(item, root)
        if self.p.peek() == "(":
            self.p.pos += 1
            inner = self.expression()
            self.p.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> _Predicate:
        left, is_path = self.operand()
        self.p.skip_ws()
        for op in self._OPS:
            if self.p.text.startswith(op, self.p.pos):
                self.p.pos += len(op)
                right, _ = self.operand()
                return _compare(op, left, right)
        if not is_path:
            raise self.p.error("a filter literal needs a comparison")
        return lambda item, root: left(item, root) is not _MISSING

    def operand(self) -> tuple[_Operand, bool]:
        p = self.p
        p.skip_ws()
        ch = p.peek()
        if ch in ("@", "$"):
            p.pos += 1
            steps = tuple(p.steps(in_filter=True))
            relative = ch == "@"
            definite = all(type(s) in (_Field, _Index, _LengthIndex) for s in steps)

            def resolve(item: Any, root: Any) -> Any:
                node = item if relative else root
                if definite:
                    for step in steps:
                        try:
                            node = _step_definite(step, node, p.text)
                        except PathNotFound:
                            return _MISSING
                    return node
                nodes = [node]
                for step in steps:
                    nodes = _step_all(step, nodes, root)
                return nodes

            return resolve, True
        if ch in ("'", '"'):
            literal: Any = p.quoted()
        elif p.text.startswith("true", p.pos):
            p.pos += 4
            literal = True
        elif p.text.startswith("false", p.pos):
            p.pos += 5
            literal = False
        elif p.text.startswith("null", p.pos):
            p.pos += 4
            literal = None
        else:
            literal = self.number()
        return (lambda item, root: literal), False

    def number(self) -> int | float:
        p = self.p
        start = p.pos
        while not p.at_end() and (p.text[p.pos].isdigit() or p.text[p.pos] in "-+.eE"):
            p.pos += 1
        token = p.text[start : p.pos]
        try:
            return int(token)
        except ValueError:
            try:
                value = float(token)
            except ValueError:
                p.pos = start
                raise p.error("expected a filter operand") from None
            if not math.isfinite(value):
                raise p.error("non-finite number") from None
            return value


def _compare(op: str, left: _Operand, right: _Operand) -> _Predicate:
    def predicate(item: Any, root: Any) -> bool:
        a, b = left(item, root), right(item, root)
        if a is _MISSING or b is _MISSING:
            return False
        if op == "==":
            return json_equal(a, b)
        if op == "!=":
            return not json_equal(a, b)
        if not ((is_number(a) and is_number(b)) or (type(a) is str and type(b) is str)):
            return False
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)

    return predicate


def _and(left: _Predicate, right: _Predicate) -> _Predicate:
    return lambda item, root: left(item, root) and right(item, root)


def _or(left: _Predicate, right: _Predicate) -> _Predicate:
    return lambda item, root: left(item, root) or right(item, root)


@lru_cache(maxsize=4096)
def parse_path(text: str) -> JsonPath:
    """Parse an ASL Path (``$``, ``$$``, ``$.a.b``, ``$.a[0]``, ``$.a[*]``, ``$..a``, filters).

    Raises:
        PathSyntaxError: the text is not a valid path.
    """
    if not isinstance(text, str):
        raise PathSyntaxError(f"a path must be a string, not {type(text).__name__}")
    stripped = text.rstrip(" \t\n")
    parser = _Parser(stripped)
    if stripped.startswith("$$"):
        parser.pos = 2
        context = True
    elif stripped.startswith("$"):
        parser.pos = 1
        context = False
    else:
        raise PathSyntaxError(f"invalid path {text!r}: a path starts with '$'")
    if not parser.at_end() and parser.peek() not in ".[":
        raise PathSyntaxError(
            f"invalid path {text!r}: expected '.' or '[' after '$' (variables are not supported)"
        )
    steps = tuple(parser.steps())
    if not parser.at_end():
        raise parser.error(f"unexpected {parser.peek()!r}")
    definite = all(type(s) in (_Field, _Index, _LengthIndex) for s in steps)
    reference = all(type(s) is _Field or (type(s) is _Index and s.index >= 0) for s in steps)
    return JsonPath(text, context, steps, definite, reference)


def parse_reference_path(text: str, *, allow_context: bool = True) -> JsonPath:
    """Parse a Reference Path: fields and non-negative indices only, one node at most.

    Raises:
        PathSyntaxError: not a path, or a path that may select several nodes.
    """
    path = parse_path(text)
    if not path.reference:
        raise PathSyntaxError(
            f"invalid reference path {text!r}: only fields and non-negative indices are allowed"
        )
    if path.context and not allow_context:
        raise PathSyntaxError(f"invalid reference path {text!r}: the context object is read-only")
    return path


def set_reference(data: Any, path: JsonPath, value: Any) -> Any:
    """Return a copy of ``data`` with ``value`` placed at ``path``, creating missing objects.

    Only the objects along the path are copied: values are treated as immutable everywhere in
    the interpreter, so the untouched branches are shared.

    Raises:
        PathNotFound: the path crosses a non-object, or indexes past the end of an array.
    """
    if not path.steps:
        return value
    return _set(data, path.steps, 0, value, path.text)


def _set(node: Any, steps: tuple[_Step, ...], i: int, value: Any, text: str) -> Any:
    step = steps[i]
    last = i == len(steps) - 1
    if type(step) is _Field:
        if type(node) is not dict:
            raise PathNotFound(f"path {text!r}: cannot set field {step.name!r} on a non-object")
        copy = dict(node)
        if last:
            copy[step.name] = value
        else:
            child = node.get(step.name, _MISSING)
            copy[step.name] = _set({} if child is _MISSING else child, steps, i + 1, value, text)
        return copy
    if type(step) is _Index:
        if type(node) is not list or not 0 <= step.index < len(node):
            raise PathNotFound(f"path {text!r}: index {step.index} is not in an array")
        items = list(node)
        items[step.index] = value if last else _set(node[step.index], steps, i + 1, value, text)
        return items
    raise PathNotFound(f"path {text!r} is not a reference path")  # pragma: no cover
