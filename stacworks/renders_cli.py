"""`stacworks renders add|list|remove COLLECTION`: how tiles, WMTS and WMS draw a collection."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any

import typer
from rich.console import Console

from catalog.errors import CatalogError, InvalidInput
from catalog.settings import CatalogSettings

__all__ = ["renders_app"]

renders_app = typer.Typer(
    help="Render presets of a collection: a collection with one is a map, WMTS and WMS layer.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


def _one_line(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Our errors as one line (exit 1), as every stacworks command shows them."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CatalogError as e:
            err.print(f"[bold red]error:[/] {e}", markup=True, highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def _dsn() -> str:
    from catalog.cluster import wait_for

    s = CatalogSettings()
    wait_for(s.dsn, timeout=10)
    return s.dsn


def _number(field: str, value: str) -> float | str:
    if value.strip().lower() in ("nan", "inf", "-inf"):
        return value.strip().lower()
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(field, f"expected a number, got {value[:32]!r}") from None


@renders_app.command("list")
@_one_line
def renders_list(
    collection: Annotated[str, typer.Argument(help="Collection id.")],
    as_json: Annotated[bool, typer.Option("--json", help="The presets as JSON.")] = False,
) -> None:
    """The collection's presets (the default, drawn when a request names none, first)."""
    from tiler.presets import list_renders
    from tiler.render import default_render_name

    renders = list_renders(_dsn(), collection)
    if as_json:
        out.print_json(json.dumps(renders))
        return
    if not renders:
        out.print(f"{collection}: no render presets (`stacworks renders add {collection} --auto`)")
        return
    default = default_render_name(renders)
    for name in sorted(renders, key=lambda n: (n != default, n)):
        r = renders[name]
        extra = ", ".join(f"{k}={json.dumps(v)}" for k, v in r.items()
                          if k not in ("title", "assets"))
        mark = " (default)" if name == default else ""
        out.print(f"{name}{mark}: {r.get('title') or name} — assets {','.join(r['assets'])}"
                  + (f"; {extra}" if extra else ""), soft_wrap=True, markup=False)


@renders_app.command("add")
@_one_line
def renders_add(
    collection: Annotated[str, typer.Argument(help="Collection id.")],
    name: Annotated[str | None, typer.Argument(help="Preset name (not with --auto).")] = None,
    auto: Annotated[bool, typer.Option(
        "--auto", help="Derive presets from item_assets / the items' bands.")] = False,
    assets: Annotated[str | None, typer.Option(help="Comma-separated asset keys.")] = None,
    rescale: Annotated[list[str] | None, typer.Option(
        help="lo,hi (repeat once per band).")] = None,
    expression: Annotated[str | None, typer.Option(help="Band math, e.g. (b1-b2)/(b1+b2).")] = None,
    colormap_name: Annotated[str | None, typer.Option(help="e.g. viridis, terrain.")] = None,
    color_formula: Annotated[str | None, typer.Option(help="e.g. 'gamma rgb 1.3'.")] = None,
    nodata: Annotated[str | None, typer.Option(help="Nodata value (or nan).")] = None,
    title: Annotated[str | None, typer.Option(help="Title shown in clients.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a preset.")] = False,
) -> None:
    """Add one preset (NAME with --assets ...), or derived presets (--auto)."""
    from tiler.presets import add_derived, put_render

    dsn = _dsn()
    if auto:
        if name is not None or assets:
            raise InvalidInput("--auto", "derives every preset: give no NAME or --assets")
        added = add_derived(dsn, collection, replace=replace)
        if added:
            out.print(f"{collection}: added presets {', '.join(added)}")
        else:
            out.print(f"{collection}: nothing derived (no band it recognises, or presets of "
                      "those names exist: --replace): add one with --assets")
        return
    if name is None or not assets:
        raise InvalidInput("NAME", "give a preset name and --assets (or use --auto)")
    render: dict[str, Any] = {"assets": [a.strip() for a in assets.split(",") if a.strip()]}
    if rescale:
        render["rescale"] = [r.split(",") for r in rescale]
    for key, value in (("expression", expression), ("colormap_name", colormap_name),
                       ("color_formula", color_formula), ("title", title)):
        if value:
            render[key] = value
    if nodata is not None:
        render["nodata"] = _number("nodata", nodata)
    stored = put_render(dsn, collection, name, render, replace=replace)
    out.print(f"{collection}: preset {name} = {json.dumps(stored)}", soft_wrap=True, markup=False)


@renders_app.command("remove")
@_one_line
def renders_remove(
    collection: Annotated[str, typer.Argument(help="Collection id.")],
    name: Annotated[str, typer.Argument(help="Preset name.")],
) -> None:
    """Remove one preset."""
    from tiler.presets import remove_render

    remove_render(_dsn(), collection, name)
    out.print(f"{collection}: preset {name} removed")
