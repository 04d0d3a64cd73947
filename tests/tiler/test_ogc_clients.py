"""Stock OGC clients against the tiles, as QGIS uses them: OWSLib's WMTS and WMS 1.3.0.

A server with access control on, over the session catalog: a public Sentinel-2 collection, a
private one read with a viewer's key, one of remote items (never a layer: nothing of it is in
the store), one loaded with ``stacworks load --renders auto`` and one whose stored preset has a
pre-v2 ``rescale`` string. Every advertised layer, in every tile matrix set, must give a PNG
with real pixels through OWSLib's own ``gettile``/``getmap``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import requests
from owslib.util import ServiceException
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService

from objectstore import LocalStore
from tests.harness import serve, stacworks
from tests.samples import stored_s2_item

from .conftest import collection, png, visual_item

PUBLIC, PRIVATE, REMOTE = "ogc-s2", "ogc-private", "ogc-remote"
LOADED, LEGACY, CLI = "ogc-loaded", "ogc-legacy", "ogc-cli"
#: The layers this module made; other suites share the session catalog and publish their own.
OWN = {PUBLIC, PRIVATE, REMOTE, LOADED, LEGACY, CLI}
RGB = ("red", "green", "blue")


@dataclass(frozen=True)
class Ogc:
    base: str
    key: str  # a viewer's key, granted read on PRIVATE


def _load(env: dict[str, str], path: Path, records: list[dict[str, Any]],
          *extra: str) -> str:
    path.write_text(json.dumps(records))
    return stacworks("load", "--mode", "upsert", *extra, str(path), env=env).stdout


@pytest.fixture(scope="module")
def ogc(
    stacworks_env: dict[str, str], dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ogc]:
    from catalog.access import AccessRecords

    tmp = tmp_path_factory.mktemp("ogc")
    store = LocalStore(Path(stacworks_env["STACWORKS_HOME"]) / "objects", fsync=False)
    s2 = stored_s2_item(store, PUBLIC, f"{PUBLIC}-item", keys=(*RGB, "nir"))
    private = visual_item(store, PRIVATE, f"{PRIVATE}-item")
    remote = copy.deepcopy(s2)
    remote.update(id=f"{REMOTE}-item", collection=REMOTE)
    for key, asset in remote["assets"].items():
        asset["href"] = f"https://sentinel-cogs.example.invalid/29/R/KH/{key}.tif"
    legacy = stored_s2_item(store, LEGACY, f"{LEGACY}-item", keys=RGB)
    legacy_coll = collection(LEGACY, legacy, "Legacy presets (test)")
    legacy_coll["renders"] = {"true-color": {"title": "True colour", "assets": list(RGB),
                                             "rescale": "0.0,3000.0"}}
    _load(stacworks_env, tmp / "ogc.json", [
        collection(PUBLIC, s2, "Sentinel-2 L2A (OGC test)"),
        collection(PRIVATE, private, "TCI, private (OGC test)"),
        collection(REMOTE, remote, "Remote only (OGC test)"),
        legacy_coll, s2, private, remote, legacy,
    ])
    # As a user loads a catalog: a collection with no item_assets and no presets.
    loaded = stored_s2_item(store, LOADED, f"{LOADED}-item", keys=RGB)
    bare = {k: v for k, v in collection(LOADED, loaded, "Loaded (OGC test)").items()
            if k not in ("renders", "item_assets")}
    said = _load(stacworks_env, tmp / "loaded.json", [bare, loaded], "--renders", "auto")
    assert f"render presets derived for 1 collection(s): {LOADED}" in said, said

    access = AccessRecords(dsn, pooled=False)
    for cid in (PUBLIC, REMOTE, LOADED, LEGACY):
        access.set_visibility(cid, "public")
    viewer = access.create_key("ogc viewer", "viewer")
    access.grant(viewer["principal"], PRIVATE, "read")
    env = {**stacworks_env, "STACWORKS_AUTH_ENABLED": "true"}
    with serve(env, "tiles", log=tmp / "serve.log") as base:
        yield Ogc(base=base, key=viewer["token"])


def real_pixels(content: bytes, media: str = "image/png", sparse: bool = False) -> np.ndarray:
    """A decoded image that is not blank: opaque pixels, and more than one colour. ``sparse``:
    a small or thin point cloud, of which a low-zoom tile holds a few drawn pixels at most."""
    assert content[:4] == b"\x89PNG" if media == "image/png" else content[:2] == b"\xff\xd8"
    arr = png(content)
    opaque = arr[:, :, -1] > 0 if arr.shape[2] in (2, 4) else np.ones(arr.shape[:2], bool)
    if sparse:
        assert opaque.any(), "nothing drawn"
        return arr
    assert opaque.mean() > 0.25, "mostly transparent"
    assert np.unique(arr[:, :, 0][opaque]).size > 1, "one flat colour"
    return arr


def _tile_at_centre(
    wmts: WebMapTileService, layer_id: str, tms_id: str
) -> tuple[str, int, int]:
    """The tile under the layer's centre at zoom <= 10, checked to lie inside the advertised
    TileMatrixLimits (the set's own indices, not another set's)."""
    layer = wmts.contents[layer_id]
    limits = layer.tilematrixsetlinks[tms_id].tilematrixlimits
    z = max(int(k) for k in limits if int(k) <= 10)
    w, s, e, n = layer.boundingBoxWGS84
    tile = morecantile.tms.get(tms_id).tile((w + e) / 2, (s + n) / 2, z)
    lim = limits[str(z)]
    assert lim.mintilecol <= tile.x <= lim.maxtilecol, (layer_id, tms_id, z, tile)
    assert lim.mintilerow <= tile.y <= lim.maxtilerow, (layer_id, tms_id, z, tile)
    return str(z), tile.y, tile.x


def _every_tile(wmts: WebMapTileService, own: Collection[str] | None = OWN,
                sparse: Collection[str] = ()) -> list[str]:
    """OWSLib's gettile for every layer, set and style; returns the layers seen. Layers in
    ``own`` (every layer when None) must draw real pixels; others only answer cleanly."""
    assert set(wmts.tilematrixsets) == {"WebMercatorQuad", "WorldCRS84Quad"}
    for layer_id, layer in wmts.contents.items():
        assert len(layer.resourceURLs) == 1, layer.resourceURLs
        assert "{TileMatrixSet}" in layer.resourceURLs[0]["template"]
        assert set(layer.tilematrixsetlinks) == {"WebMercatorQuad", "WorldCRS84Quad"}
        for tms_id in layer.tilematrixsetlinks:
            z, row, col = _tile_at_centre(wmts, layer_id, tms_id)
            styles = list(layer.styles) if tms_id == "WebMercatorQuad" else [None]
            for style in styles:
                if own is not None and layer_id not in own:
                    _foreign_answers(partial(
                        wmts.gettile, layer=layer_id, tilematrixset=tms_id, tilematrix=z,
                        row=row, column=col, style=style), layer_id)
                    continue
                tile = wmts.gettile(layer=layer_id, tilematrixset=tms_id, tilematrix=z,
                                    row=row, column=col, style=style)
                assert tile.info()["Content-Type"] == "image/png", (layer_id, tms_id, style)
                arr = real_pixels(tile.read(), sparse=layer_id in sparse)
                assert arr.shape[:2] == (256, 256), (layer_id, tms_id, style)
    return list(wmts.contents)


def _foreign_answers(fetch: Callable[[], Any], layer_id: str) -> None:
    """A layer another suite made public in the shared session catalog: its data is not ours to
    know (its centre may fall between its items, or its raster be refused by the pixel limit), so
    it must only answer cleanly: an image, an empty tile, or a 4xx — never a server error."""
    try:
        answer = fetch()
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else 0
        assert 400 <= status < 500, (layer_id, status)
        return
    except ServiceException as err:  # OWSLib's own wrapping of a 400/401
        assert "Traceback" not in str(err), layer_id
        return
    kind = answer.info().get("Content-Type")
    assert kind is None or kind.startswith("image/"), (layer_id, kind)


def test_wmts_anonymous_every_public_layer_and_set(ogc: Ogc) -> None:
    wmts = WebMapTileService(f"{ogc.base}/tiles/WMTSCapabilities.xml")
    seen = _every_tile(wmts)
    assert {PUBLIC, LOADED, LEGACY} <= set(seen), seen
    assert PRIVATE not in seen, "a private collection is no anonymous layer"
    assert REMOTE not in seen, "remote items never draw: not a layer"
    assert list(wmts.contents[PUBLIC].styles) == ["true-color", "ndvi"]
    assert list(wmts.contents[LOADED].styles) == ["true-color"]  # --renders auto


def test_wmts_with_a_key_private_layer(ogc: Ogc) -> None:
    wmts = WebMapTileService(f"{ogc.base}/tiles/WMTSCapabilities.xml?key={ogc.key}")
    assert PRIVATE in _every_tile(wmts)
    assert f"key={ogc.key}" in wmts.contents[PRIVATE].resourceURLs[0]["template"]


@pytest.mark.parametrize("kind", ["item", "collection"])
def test_wmts_of_one_resource_with_a_key(ogc: Ogc, kind: str) -> None:
    path = f"/tiles/collections/{PRIVATE}" + (f"/items/{PRIVATE}-item" if kind == "item" else "")
    wmts = WebMapTileService(f"{ogc.base}{path}/WMTSCapabilities.xml?key={ogc.key}")
    assert list(wmts.contents) == ["true-color"]
    _every_tile(wmts)
    r = httpx.get(f"{ogc.base}{path}/WMTSCapabilities.xml", timeout=30)
    assert r.status_code == 404  # anonymous: the private collection is not there


def _wms_layers(wms: WebMapService) -> dict[str, Any]:
    return {k: v for k, v in wms.contents.items() if v.name}


def _centre_box(bbox: tuple[float, ...], frac: float = 0.3) -> tuple[float, float, float, float]:
    w, s, e, n = bbox[:4]
    cx, cy, dx, dy = (w + e) / 2, (s + n) / 2, (e - w) * frac / 2, (n - s) * frac / 2
    return (cx - dx, cy - dy, cx + dx, cy + dy)


def test_wms_getmap_every_layer_anonymous(ogc: Ogc) -> None:
    wms = WebMapService(f"{ogc.base}/tiles/wms", version="1.3.0")
    layers = _wms_layers(wms)
    assert {PUBLIC, LOADED, LEGACY} <= set(layers), list(layers)
    assert not {PRIVATE, REMOTE} & set(layers)
    assert "EPSG:4326" in layers[PUBLIC].crsOptions and "EPSG:3857" in layers[PUBLIC].crsOptions
    assert list(layers[PUBLIC].styles) == ["true-color", "ndvi"]
    for name, layer in layers.items():
        box = _centre_box(layer.boundingBoxWGS84)
        # OWSLib takes x/y and sends EPSG:4326 latitude first, as WMS 1.3.0 wants.
        def getmap(name: str = name, box: tuple[float, ...] = box) -> Any:
            return wms.getmap(layers=[name], styles=[""], srs="EPSG:4326", bbox=box,
                              size=(200, 150), format="image/png", transparent=True)
        if name not in OWN:
            _foreign_answers(getmap, name)
            continue
        arr = real_pixels(getmap().read())
        assert arr.shape[:2] == (150, 200)
    from pyproj import Transformer

    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    w, s, e, n = _centre_box(layers[PUBLIC].boundingBoxWGS84)
    x0, y0 = to_3857.transform(w, s)
    x1, y1 = to_3857.transform(e, n)
    for style in ("true-color", "ndvi"):
        img = wms.getmap(layers=[PUBLIC], styles=[style], srs="EPSG:3857",
                         bbox=(x0, y0, x1, y1), size=(128, 128), format="image/jpeg")
        real_pixels(img.read(), "image/jpeg")


def test_wms_getfeatureinfo_reads_the_values_under_a_pixel(ogc: Ogc) -> None:
    """QGIS's Identify: OWSLib's getfeatureinfo at a map's centre pixel, as JSON, text and
    HTML, gives the style's bands at that point, as the tile service's point route reads them;
    a private layer answers only to its key; a pixel outside the map is an exception."""
    wms = WebMapService(f"{ogc.base}/tiles/wms", version="1.3.0")
    layers = _wms_layers(wms)
    assert layers[PUBLIC].queryable == 1
    box = _centre_box(layers[PUBLIC].boundingBoxWGS84)

    def identify(service: WebMapService, layer: str, fmt: str, style: str = "",
                 xy: tuple[int, int] = (50, 50)) -> bytes:
        return service.getfeatureinfo(
            layers=[layer], styles=[style], srs="EPSG:4326", bbox=box, size=(101, 101),
            format="image/png", query_layers=[layer], info_format=fmt, xy=xy).read()

    for style in ("true-color", "ndvi"):
        (feature,) = json.loads(identify(wms, PUBLIC, "application/json", style))["features"]
        lon, lat = feature["geometry"]["coordinates"]
        assert abs(lon - (box[0] + box[2]) / 2) < 1e-9 and abs(lat - (box[1] + box[3]) / 2) < 1e-9
        point = httpx.get(f"{ogc.base}/tiles/collections/{PUBLIC}/point/{lon},{lat}",
                          params={"render": style}, timeout=30).json()["assets"][0]
        props = feature["properties"]
        assert props["style"] == style and props["item"] == point["name"]
        assert list(props["values"].values()) == point["values"]
    assert len(json.loads(identify(wms, PUBLIC, "application/json"))["features"][0][
        "properties"]["values"]) == 3  # true colour: red, green, blue
    text = identify(wms, PUBLIC, "text/plain").decode()
    assert f"{PUBLIC} {point['name']}: " in text
    assert b"<td>" in identify(wms, PUBLIC, "text/html")
    with pytest.raises(ServiceException, match="no layer"):
        identify(wms, PRIVATE, "application/json")
    keyed = WebMapService(f"{ogc.base}/tiles/wms?key={ogc.key}", version="1.3.0")
    box = _centre_box(_wms_layers(keyed)[PRIVATE].boundingBoxWGS84)
    assert json.loads(identify(keyed, PRIVATE, "application/json"))["features"]
    with pytest.raises(ServiceException, match="'I'"):
        identify(wms, PUBLIC, "text/plain", xy=(101, 5))
    old = WebMapService(f"{ogc.base}/tiles/wms", version="1.1.1")  # X/Y, longitude first
    box = _centre_box(layers[PUBLIC].boundingBoxWGS84)
    (feature,) = json.loads(identify(old, PUBLIC, "application/json"))["features"]
    assert feature["geometry"]["coordinates"] == [lon, lat]


def test_wms_axis_order(ogc: Ogc) -> None:
    """EPSG:4326 is latitude first in WMS 1.3.0, CRS:84 longitude first: the same map."""
    wms = WebMapService(f"{ogc.base}/tiles/wms", version="1.3.0")
    w, s, e, n = _centre_box(_wms_layers(wms)[PUBLIC].boundingBoxWGS84)
    common = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": PUBLIC,
              "STYLES": "", "WIDTH": "64", "HEIGHT": "64", "FORMAT": "image/png"}
    lat_first = httpx.get(f"{ogc.base}/tiles/wms", timeout=60, params={
        **common, "CRS": "EPSG:4326", "BBOX": f"{s},{w},{n},{e}"})
    lon_first = httpx.get(f"{ogc.base}/tiles/wms", timeout=60, params={
        **common, "CRS": "CRS:84", "BBOX": f"{w},{s},{e},{n}"})
    assert lat_first.status_code == lon_first.status_code == 200, lat_first.text[:300]
    assert np.array_equal(real_pixels(lat_first.content), real_pixels(lon_first.content))


def test_wms_with_a_key_private_layer(ogc: Ogc) -> None:
    wms = WebMapService(f"{ogc.base}/tiles/wms?key={ogc.key}", version="1.3.0")
    layers = _wms_layers(wms)
    assert PRIVATE in layers
    img = wms.getmap(layers=[PRIVATE], styles=[""], srs="EPSG:4326",
                     bbox=_centre_box(layers[PRIVATE].boundingBoxWGS84), size=(128, 128),
                     format="image/png")
    real_pixels(img.read())
    # Two layers in one map, the first at the bottom.
    img = wms.getmap(layers=[PUBLIC, PRIVATE], styles=["", ""], srs="EPSG:4326",
                     bbox=_centre_box(layers[PRIVATE].boundingBoxWGS84), size=(64, 64),
                     format="image/png", transparent=True)
    real_pixels(img.read())


def test_wms_111_for_older_clients(ogc: Ogc) -> None:
    """WMS 1.1.1 (SRS, EPSG:4326 longitude first): the same layers and the same pixels."""
    wms = WebMapService(f"{ogc.base}/tiles/wms", version="1.1.1")
    layers = _wms_layers(wms)
    assert PUBLIC in layers and PRIVATE not in layers and REMOTE not in layers
    w, s, e, n = _centre_box(layers[PUBLIC].boundingBoxWGS84)
    old = wms.getmap(layers=[PUBLIC], styles=[""], srs="EPSG:4326", bbox=(w, s, e, n),
                     size=(64, 64), format="image/png", transparent=True)
    new = httpx.get(f"{ogc.base}/tiles/wms", timeout=60, params={
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": PUBLIC,
        "STYLES": "", "CRS": "CRS:84", "BBOX": f"{w},{s},{e},{n}", "WIDTH": "64",
        "HEIGHT": "64", "FORMAT": "image/png", "TRANSPARENT": "TRUE"})
    assert np.array_equal(real_pixels(old.read()), real_pixels(new.content))
    r = httpx.get(f"{ogc.base}/tiles/wms", timeout=30, params={
        "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.1.1", "LAYERS": PUBLIC,
        "SRS": "EPSG:32629", "BBOX": f"{w},{s},{e},{n}", "WIDTH": "64", "HEIGHT": "64",
        "FORMAT": "image/png"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/vnd.ogc.se_xml")
    assert '<ServiceException code="InvalidSRS">' in r.text


GETMAP = {"SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "LAYERS": PUBLIC,
          "STYLES": "", "CRS": "EPSG:4326", "BBOX": "28.9,-10.1,29.0,-10.0", "WIDTH": "64",
          "HEIGHT": "64", "FORMAT": "image/png"}


@pytest.mark.parametrize(("change", "code"), [
    ({"REQUEST": None}, "MissingParameterValue"),
    ({"REQUEST": "GetLegendGraphic"}, "OperationNotSupported"),
    ({"REQUEST": "GetFeatureInfo"}, "MissingParameterValue"),  # no QUERY_LAYERS
    ({"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": LOADED, "I": "1", "J": "1"},
     "LayerNotQueryable"),  # not among LAYERS
    ({"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": PUBLIC, "I": "-1", "J": "1"},
     "InvalidPoint"),
    ({"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": PUBLIC, "I": "1", "J": "x"}, "InvalidPoint"),
    ({"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": PUBLIC, "I": "1", "J": "1",
      "INFO_FORMAT": "text/xml"}, "InvalidFormat"),
    ({"REQUEST": "GetFeatureInfo", "QUERY_LAYERS": PUBLIC, "I": "1", "J": "1",
      "FEATURE_COUNT": "many"}, "InvalidParameterValue"),
    ({"VERSION": "2.0.0"}, "InvalidParameterValue"),
    ({"LAYERS": "no-such-layer"}, "LayerNotDefined"),
    ({"LAYERS": PRIVATE}, "LayerNotDefined"),  # anonymous: hidden is unknown
    ({"LAYERS": REMOTE}, "LayerNotDefined"),
    ({"LAYERS": ",".join([PUBLIC] * 5)}, "InvalidParameterValue"),
    ({"STYLES": "nope"}, "StyleNotDefined"),
    ({"STYLES": ",,"}, "InvalidParameterValue"),
    ({"CRS": "EPSG:32629"}, "InvalidCRS"),
    ({"BBOX": "a,b,c,d"}, "InvalidParameterValue"),
    ({"BBOX": "1,2,3"}, "InvalidParameterValue"),
    ({"BBOX": "29,-10,28,-9"}, "InvalidParameterValue"),
    ({"BBOX": "100,10,101,11"}, "InvalidParameterValue"),  # lon/lat given: "lat" 100
    ({"BBOX": "nan,1,2,3"}, "InvalidParameterValue"),
    ({"CRS": "EPSG:3857", "BBOX": "0,0,1e300,1"}, "InvalidParameterValue"),
    ({"CRS": "CRS:84", "BBOX": "-500,0,0,1"}, "InvalidParameterValue"),
    ({"WIDTH": "4096"}, "InvalidParameterValue"),
    ({"WIDTH": "0"}, "InvalidParameterValue"),
    ({"HEIGHT": "1.5"}, "InvalidParameterValue"),
    ({"WIDTH": None, "width": "99999"}, "InvalidParameterValue"),  # the app-wide size limit
    ({"FORMAT": "image/gif"}, "InvalidFormat"),
    ({"TRANSPARENT": "maybe"}, "InvalidParameterValue"),
    ({"BGCOLOR": "white"}, "InvalidParameterValue"),
])
def test_wms_bad_requests_are_service_exceptions(
    ogc: Ogc, change: dict[str, str | None], code: str
) -> None:
    params = {k: v for k, v in {**GETMAP, **change}.items() if v is not None}
    r = httpx.get(f"{ogc.base}/tiles/wms", params=params, timeout=60)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("text/xml")
    assert re.search(rf'<ServiceException code="{code}">[^<]+</ServiceException>', r.text), r.text


def test_wms_capabilities_needs_the_service(ogc: Ogc) -> None:
    r = httpx.get(f"{ogc.base}/tiles/wms", params={"REQUEST": "GetCapabilities"}, timeout=30)
    assert r.status_code == 400 and "MissingParameterValue" in r.text
    r = httpx.get(f"{ogc.base}/tiles/wms", timeout=30,
                  params={"service": "wms", "request": "getcapabilities", "key": ogc.key})
    assert r.status_code == 200 and "<WMS_Capabilities" in r.text
    assert f"wms?key={ogc.key}&amp;" in r.text  # clients append to the OnlineResource


@pytest.mark.parametrize("cid", [PUBLIC, LEGACY])
def test_item_renders_answer_json(ogc: Ogc, cid: str) -> None:
    base = f"{ogc.base}/tiles/collections/{cid}/items/{cid}-item"
    r = httpx.get(f"{base}/renders", timeout=30)
    assert r.status_code == 200, r.text
    renders = r.json()["renders"]
    true = renders["true-color"]
    assert true["valid"] is True
    assert true["params"]["rescale"][0] == [0.0, 3000.0]  # the string form, normalised
    wmts = next(link["href"] for link in true["links"] if "WMTSCapabilities" in link["href"])
    assert httpx.get(wmts, timeout=30).status_code == 200
    one = httpx.get(f"{base}/renders/true-color", timeout=30)
    assert one.status_code == 200 and one.json()["params"] == true["params"]
    assert httpx.get(f"{base}/renders/nope", timeout=30).status_code == 404


def test_renders_command(stacworks_env: dict[str, str], dsn: str, ogc: Ogc) -> None:
    """`stacworks renders add|list|remove`: presets checked before they are stored."""
    import psycopg

    from catalog.errors import InvalidInput, NotFound
    from tiler.presets import list_renders, put_render, remove_render

    env = stacworks_env
    coll = {k: v for k, v in collection(CLI, {
        "bbox": [-10.1, 28.9, -10.0, 29.0], "properties": {"datetime": "2020-02-19T00:00:00Z"},
        "assets": {c: {"href": "x", "type": "image/tiff", "eo:bands": [{"common_name": c}]}
                   for c in RGB}}, "CLI").items() if k != "renders"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pgstac.upsert_collection(%s::jsonb)", (json.dumps(coll),))
    for render, field in (({"assets": ["nir"]}, "assets"), ({"assets": []}, "assets"),
                          ({"assets": ["red"], "colormap_name": "nope"}, "colormap_name"),
                          ({"assets": ["red"], "rescale": "lo,hi"}, "rescale"),
                          ({"assets": ["red"], "expression": "b1.real"}, "expression")):
        with pytest.raises(InvalidInput, match=field):
            put_render(dsn, CLI, "bad", render)
    with pytest.raises(InvalidInput, match="name"):
        put_render(dsn, CLI, "a b", {"assets": ["red"]})
    with pytest.raises(NotFound):
        put_render(dsn, "no-such-collection", "x", {"assets": ["red"]})

    bad = stacworks("renders", "add", CLI, "grey", "--assets", "nir", env=env, check=False)
    assert bad.returncode == 1 and "item_assets" in bad.stderr and "Traceback" not in bad.stderr
    stacworks("renders", "add", CLI, "grey", "--assets", "red", "--rescale", "0,3000",
              "--colormap-name", "greys", env=env)
    with pytest.raises(InvalidInput, match="--replace"):
        put_render(dsn, CLI, "grey", {"assets": ["red"]})
    assert "true-color" in stacworks("renders", "add", CLI, "--auto", env=env).stdout
    renders = json.loads(stacworks("renders", "list", CLI, "--json", env=env).stdout)
    assert renders["grey"] == {"assets": ["red"], "rescale": [[0.0, 3000.0]],
                               "colormap_name": "greys"}
    assert renders["true-color"]["assets"] == list(RGB)
    stacworks("renders", "remove", CLI, "grey", env=env)
    assert set(list_renders(dsn, CLI)) == {"true-color"}
    with pytest.raises(NotFound, match="no preset 'grey'"):
        remove_render(dsn, CLI, "grey")
