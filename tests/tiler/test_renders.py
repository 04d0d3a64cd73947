"""Render presets for the real demo collections, and the small pure helpers."""

from __future__ import annotations

import json
from pathlib import Path

import morecantile
import pytest

from tiler.errors import InvalidParameter
from tiler.guards import check_expression
from tiler.render import default_render_name, default_renders, render_params
from tiler.wmts import tile_limits

STAC = Path(__file__).resolve().parents[3] / "shared" / "data" / "stac"


def _coll(path: str) -> dict:
    return json.loads((STAC / path).read_text())


def test_sentinel2_true_colour() -> None:
    r = default_renders(_coll("earth-search-v1/collections/sentinel-2-l2a.json"))
    assert r["true-color"]["assets"] == ["red", "green", "blue"]
    assert r["true-color"]["rescale"] == [[0.0, 3000.0]] * 3
    assert r["ndvi"]["expression"] == "(b1-b2)/(b1+b2)"
    pc = default_renders(_coll("planetary-computer/collections/sentinel-2-l2a.json"))
    assert pc["true-color"]["assets"] == ["B04", "B03", "B02"]


def test_landsat_uses_scale_and_offset() -> None:
    r = default_renders(_coll("earth-search-v1/collections/landsat-c2-l2.json"))
    # reflectance 0..0.3 is DN (0+0.2)/2.75e-5 .. (0.3+0.2)/2.75e-5
    assert r["true-color"]["rescale"][0] == [7272.7, 18181.8]
    assert r["ndvi"]["expression"] == "(b1-b2)/(b1+b2-14545.5)"
    assert r["ndvi"]["assets"] == ["nir08", "red"]


def test_single_band_products_get_a_colormap() -> None:
    dem = default_renders(_coll("earth-search-v1/collections/cop-dem-glo-30.json"))
    assert dem == {"data": {"title": "Elevation", "assets": ["data"], "rescale": [[0, 4000]],
                            "colormap_name": "terrain"}}
    # A COPC collection is drawn by the tiler's point-cloud reader (band 2: the DTM).
    copc = default_renders(_coll("planetary-computer/collections/3dep-lidar-copc.json"))
    assert copc["dtm"]["assets"] == ["data|bidx=2"] and "classification" in copc
    assert default_render_name(render_params(copc)) == "dtm"


def test_render_params_and_default_choice() -> None:
    params = render_params(default_renders(_coll("earth-search-v1/collections/landsat-c2-l2.json")))
    assert default_render_name(params) == "true-color"
    assert params["true-color"]["rescale"] == ["7272.7,18181.8"] * 3
    assert "title" not in params["ndvi"]
    assert default_render_name({"b": {}, "a": {}}) == "a"
    assert render_params({"bad": "not a render"}) == {}


@pytest.mark.parametrize("expr", ["b1", "(b1-b2)/(b1+b2)", "where(b1>0,b1,0);b2*2.5e-3",
                                  "sqrt(B1**2+B2**2)", "b1 - 14545.5"])
def test_expressions_accepted(expr: str) -> None:
    check_expression(expr, max_length=512, max_terms=128, max_depth=8, max_bands=8)


@pytest.mark.parametrize("expr", ["b1)", "b1.real", "os", "b1 # x", "((b1)"])
def test_expressions_refused(expr: str) -> None:
    with pytest.raises(InvalidParameter, match="'expression'"):
        check_expression(expr, max_length=512, max_terms=128, max_depth=8, max_bands=8)


def test_tile_limits_stay_in_the_matrix() -> None:
    tms = morecantile.tms.get("WebMercatorQuad")
    limits = tile_limits(tms, (-180, -90, 180, 90), (0, 3))
    assert limits[3] == {"tileMatrix": "3", "minTileRow": 0, "maxTileRow": 7,
                         "minTileCol": 0, "maxTileCol": 7}
    assert tile_limits(tms, (0, 86, 1, 89), (0, 2)) == []


def test_add_default_renders_in_the_catalog(
    stacworks_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    """What `stacworks demo` runs after loading: collections without renders get presets."""
    import psycopg

    from tests.harness import stacworks
    from tiler.render import RENDER_EXTENSION, add_default_renders

    coll = {**_coll("earth-search-v1/collections/landsat-c2-l2.json"), "id": "tiles-renders"}
    (tmp_path / "c.json").write_text(json.dumps(coll))
    stacworks("load", "--mode", "upsert", str(tmp_path / "c.json"), env=stacworks_env)
    assert add_default_renders(dsn, only=["tiles-renders"]) == ["tiles-renders"]
    assert add_default_renders(dsn, only=["tiles-renders"]) == []  # already has renders
    with psycopg.connect(dsn) as conn:
        (content,) = conn.execute(
            "SELECT content FROM pgstac.collections WHERE id = 'tiles-renders'").fetchone()
        conn.execute("DELETE FROM pgstac.collections WHERE id = 'tiles-renders'")
    assert content["renders"]["true-color"]["assets"] == ["red", "green", "blue"]
    assert RENDER_EXTENSION in content["stac_extensions"]
