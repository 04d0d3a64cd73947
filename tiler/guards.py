"""Request limits checked before any data is read: output sizes, expressions, z/x/y ranges.

One dependency attached to every route (after titiler has created them, the way auth is
attached), reading the raw query and path parameters, so a new titiler endpoint or parameter
alias cannot bypass it by having its own dependency class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from morecantile.defaults import TileMatrixSets
from starlette.requests import Request

from .errors import InvalidParameter, TileNotInMatrix
from .settings import TilerSettings

__all__ = ["check_expression", "request_limits"]

#: Names an expression may use besides band references (b1, b2, ...): numexpr's functions.
EXPRESSION_FUNCTIONS = frozenset({
    "where", "abs", "sqrt", "exp", "expm1", "log", "log10", "log1p", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "real", "imag", "conj", "floor", "ceil", "fmod", "contains", "minimum",
    "maximum", "isnan", "isinf", "isfinite", "inf", "nan",
})  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<op>\*\*|<=|>=|==|!=|<<|>>|[-+*/%<>&|~^(),;]))"
)
_BAND = re.compile(r"[bB]\d{1,3}")
_SIZE_PARAMS = ("max_size", "width", "height")


def check_expression(
    expr: str, *, max_length: int, max_terms: int, max_depth: int, max_bands: int,
    name: str = "expression",
) -> None:
    """Refuse expressions that are too long, too complex or use unknown names.

    Raises:
        InvalidParameter: naming ``name`` and the limit broken.
    """
    if len(expr) > max_length:
        raise InvalidParameter(name, f"longer than {max_length} characters")
    pos, terms, depth, bands = 0, 0, 0, 1
    stripped = expr.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m:
            raise InvalidParameter(name, f"unexpected character at position {pos}")
        pos = m.end()
        terms += 1
        word, op = m.group("name"), m.group("op")
        if (
            word is not None
            and not _BAND.fullmatch(word)
            and word.lower() not in EXPRESSION_FUNCTIONS
        ):
            raise InvalidParameter(name, f"unknown name {word[:32]!r} (use b1, b2, ... )")
        if op == "(":
            depth += 1
            if depth > max_depth:
                raise InvalidParameter(name, f"nested deeper than {max_depth} parentheses")
        elif op == ")":
            depth -= 1
        elif op == ";":
            bands += 1
    if terms > max_terms:
        raise InvalidParameter(name, f"more than {max_terms} terms")
    if bands > max_bands:
        raise InvalidParameter(name, f"more than {max_bands} output bands")
    if depth != 0:
        raise InvalidParameter(name, "unbalanced parentheses")


def _int(name: str, value: str) -> int | None:
    try:
        return int(float(value))
    except ValueError:
        return None  # left to the endpoint's own validation (400 naming it)


def _check_max(name: str, values: Iterable[str], limit: int) -> None:
    for value in values:
        n = _int(name, value)
        if n is not None and n > limit:
            raise InvalidParameter(name, f"must be at most {limit}")


def _check_tile(request: Request, supported: TileMatrixSets) -> None:
    params = request.path_params
    tms_id = params.get("tileMatrixSetId")
    if tms_id is None or not {"z", "x", "y"} <= params.keys():
        return
    if tms_id not in supported.list():
        return  # the route answers 422 for an unknown TileMatrixSet
    z, x, y = (_int(k, str(params[k])) for k in ("z", "x", "y"))
    if z is None or x is None or y is None:
        return  # not integers: 422 from the route
    tms = supported.get(tms_id)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise TileNotInMatrix(f"zoom {z} outside {tms.minzoom}..{tms.maxzoom} of {tms_id}")
    matrix = tms.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise TileNotInMatrix(f"tile {z}/{x}/{y} outside the {tms_id} matrix")


def request_limits(settings: TilerSettings, supported: TileMatrixSets) -> Callable[..., None]:
    """The dependency enforcing ``settings``' limits on one request."""

    def limits(request: Request) -> None:
        q = request.query_params
        p = request.path_params
        _check_max("tilesize", q.getlist("tilesize"), settings.max_tile_size)
        for name in _SIZE_PARAMS:
            values = q.getlist(name) + ([str(p[name])] if name in p else [])
            _check_max(name, values, settings.max_image_size)
        for name in ("buffer", "padding"):
            _check_max(name, q.getlist(name), settings.max_tile_buffer)
        assets = q.getlist("assets")
        if len(assets) > settings.max_assets:
            raise InvalidParameter("assets", f"more than {settings.max_assets} assets")
        expressions = [("expression", e) for e in q.getlist("expression")]
        for asset in assets:
            for option in asset.split("|")[1:]:
                if option.startswith("expression="):
                    expressions.append(("assets", option.removeprefix("expression=")))
        for name, expr in expressions:
            check_expression(
                expr, name=name,
                max_length=settings.max_expression_length,
                max_terms=settings.max_expression_terms,
                max_depth=settings.max_expression_depth,
                max_bands=settings.max_expression_bands,
            )
        for cmap in q.getlist("colormap"):
            if len(cmap) > settings.max_colormap_length:
                raise InvalidParameter("colormap", "too long")
        for formula in q.getlist("color_formula"):
            if len(formula) > settings.max_color_formula_length:
                raise InvalidParameter("color_formula", "too long")
        if len(q.getlist("rescale")) > settings.max_expression_bands:
            raise InvalidParameter("rescale", f"more than {settings.max_expression_bands} ranges")
        _check_tile(request, supported)

    return limits
