"""``/renders`` and ``/renders/{id}`` of an item: its render presets, with links to draw them.

titiler's ``stacRenderExtension`` validates the presets it is given against the render
extension's shape (``rescale: [[lo, hi]]``) while its WMTS and TileJSON want query parameters
(``rescale=lo,hi``); fed one, the other breaks (a 500 on every item with a ``rescale``). Here
the presets are read normalised (:func:`tiler.render.normalize_renders`) and only the links
get query parameters.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from attrs import define
from fastapi import Depends, HTTPException, Path, Request
from pydantic import BaseModel
from titiler.core.factory import FactoryExtension
from titiler.core.models.OGC import Link
from titiler.core.utils import check_query_params
from titiler.extensions.render import RenderItem

from .render import REQUEST_CREDENTIAL, RenderCatalog, render_params

__all__ = ["RendersExtension"]


class RenderPreset(RenderItem):
    """A render preset (STAC render extension); ``nodata`` may be ``"nan"``/``"inf"``."""

    nodata: float | str | None = None  # type: ignore[assignment]


class RenderWithLinks(BaseModel):
    valid: bool
    params: RenderPreset
    links: list[Link]


class RenderList(BaseModel):
    renders: dict[str, RenderWithLinks]
    links: list[Link]


@define
class RendersExtension(FactoryExtension):
    """Add ``/renders`` and ``/renders/{render_id}`` to the item factory."""

    catalog: RenderCatalog

    def register(self, factory: Any) -> None:
        catalog = self.catalog
        checks = [factory.tile_dependency, factory.layer_dependency, factory.dataset_dependency,
                  factory.process_dependency, factory.colormap_dependency,
                  factory.render_dependency]

        def prepare(request: Request, render_id: str, preset: dict[str, Any]) -> dict[str, Any]:
            params = render_params({render_id: preset}).get(render_id, {})
            valid = bool(params) and check_query_params(checks, params)
            credential = list(REQUEST_CREDENTIAL.get())
            self_href = factory.url_for(request, "getRender", render_id=render_id)
            links: list[dict[str, Any]] = [{
                "href": self_href + (f"?{urlencode(credential)}" if credential else ""),
                "rel": "self", "type": "application/json",
                "title": f"Render preset {render_id}",
            }]
            if valid:
                query = urlencode([*params.items(), *credential], doseq=True)
                links.append({
                    "href": factory.url_for(request, "tilejson",
                                            tileMatrixSetId="{tileMatrixSetId}") + "?" + query,
                    "rel": "tilesets-map", "type": "application/json", "templated": True,
                    "title": f"TileJSON for {render_id}",
                })
                wmts_query = urlencode([("render", render_id), *credential])
                links.append({
                    "href": factory.url_for(request, "wmts") + "?" + wmts_query,
                    "rel": "tilesets-map", "type": "application/xml",
                    "title": f"WMTS capabilities for {render_id}",
                })
            return {"valid": valid, "params": preset, "links": links}

        def presets(src_path: Any) -> dict[str, dict[str, Any]]:
            return catalog.item_renders(src_path)

        @factory.router.get(
            "/renders",
            response_model=RenderList,
            response_model_exclude_none=True,
            name="getRenderList",
            operation_id=f"{factory.operation_prefix}getRenderList",
            summary="The item's render presets (its own, else its collection's).",
        )
        def render_list(
            request: Request, src_path: Any = Depends(factory.path_dependency)  # noqa: B008
        ) -> dict[str, Any]:
            return {
                "renders": {rid: prepare(request, rid, preset)
                            for rid, preset in presets(src_path).items()},
                "links": [{"href": str(request.url), "rel": "self", "type": "application/json",
                           "title": "Render presets"}],
            }

        @factory.router.get(
            "/renders/{render_id}",
            response_model=RenderWithLinks,
            response_model_exclude_none=True,
            name="getRender",
            operation_id=f"{factory.operation_prefix}getRender",
            summary="One render preset of the item, with links to draw it.",
        )
        def render(
            request: Request,
            render_id: Annotated[str, Path(description="Render preset id.")],
            src_path: Any = Depends(factory.path_dependency),  # noqa: B008
        ) -> dict[str, Any]:
            found = presets(src_path)
            if render_id not in found:
                raise HTTPException(status_code=404, detail="Render not found")
            return prepare(request, render_id, found[render_id])
