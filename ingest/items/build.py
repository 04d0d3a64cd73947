"""Build our item for a product, per kind, with the field's libraries doing the describing.

- ``stac``: the source item as it is (eo/raster/projection/view/sat fields kept); each asset
  converted to COG / COPC or copied.
- ``safe``: stactools-sentinel2 on the unpacked SAFE product; JPEG2000 bands -> COG.
- ``mtl``: stactools-landsat on the MTL; bands -> COG.
- ``pointcloud``: COPC via ``to_copc``; pc/proj fields from ``pointcloud_metadata``.
- ``raster``: a bare raster file: COG via ``to_cog``, described by rio-stac.

Each builder returns the item (assets without hrefs yet) and the local outputs to upload.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.convert import CogProfile, ConversionError, pointcloud_metadata
from ingest.errors import ProductError
from ingest.items.assets import COG_TYPE, Output, action_for, asset_key_for, convert, href_ext
from ingest.items.versions import to_current_stac
from ingest.limits import InputLimits, extract_zip
from ingest.sources.base import Product

#: fetch(href, dest) downloads one source file; the pipeline supplies it (auth, progress).
Fetch = Callable[[str, Path], None]
#: progress(done, total) after each asset.
Progress = Callable[[int, int], None]


_EODAG_PREFIXES = ("eodag:", "federation:", "order:")


@dataclass
class Built:
    item: dict[str, Any]
    outputs: list[Output]
    warnings: list[str] = field(default_factory=list)


@dataclass
class Context:
    product: Product
    work: Path
    fetch: Fetch
    progress: Progress
    cog_profile: CogProfile = "deflate"
    limits: InputLimits = field(default_factory=InputLimits)

    @property
    def downloads(self) -> Path:
        return self.work / "download"

    @property
    def outputs(self) -> Path:
        return self.work / "out"


def build(ctx: Context) -> Built:
    """Dispatch on the product's kind."""
    ctx.downloads.mkdir(parents=True, exist_ok=True)
    ctx.outputs.mkdir(parents=True, exist_ok=True)
    builder = {
        "stac": _build_stac,
        "pointcloud": _build_pointcloud,
        "raster": _build_raster,
        "safe": _build_safe,
        "mtl": _build_mtl,
    }[ctx.product.kind]
    try:
        built = builder(ctx)
    except ConversionError as e:
        raise ProductError(str(e)) from e
    built.item = json.loads(json.dumps(built.item))  # libraries' shapely mappings hold tuples
    return built


def _wanted(ctx: Context, key: str, asset: dict[str, Any]) -> bool:
    chosen = ctx.product.assets
    return not chosen or key in chosen or "thumbnail" in (asset.get("roles") or [])


def _skeleton(product: Product) -> dict[str, Any]:
    item = to_current_stac(copy.deepcopy(product.item))  # a no-op for STAC 1.x items
    item["id"] = product.item_id
    item["collection"] = product.collection
    item.setdefault("type", "Feature")
    item.setdefault("stac_version", "1.0.0")
    item.setdefault("stac_extensions", [])
    item["assets"] = {}
    # eodag's own bookkeeping (search intersection, provider, order status) is not the data's.
    props = item.setdefault("properties", {})
    for name in [n for n in props if n.startswith(_EODAG_PREFIXES)]:
        del props[name]
    item["stac_extensions"] = [u for u in item["stac_extensions"] if "/order/" not in u]
    return item


def _convert_assets(
    ctx: Context,
    assets: dict[str, dict[str, Any]],
    local: Callable[[str, dict[str, Any]], Path | None],
    stac_version: str = "1.0.0",
) -> Built:
    """Convert each asset whose source file ``local`` yields (downloading when needed)."""
    plan = [
        (k, a, act)
        for k, a in assets.items()
        if _wanted(ctx, k, a) and (act := action_for(a)) is not None
    ]
    if not plan:
        raise ProductError("no asset to ingest (no raster, point cloud or metadata file)")
    outputs: list[Output] = []
    warnings: list[str] = []
    ctx.progress(0, len(plan))
    for n, (key, asset, act) in enumerate(plan, 1):
        src = local(key, asset)
        if src is None:
            warnings.append(f"{key}: source file absent from the product; asset dropped")
        else:
            try:
                out = convert(
                    act,
                    src,
                    ctx.outputs,
                    key,
                    profile=ctx.cog_profile,
                    source_fields=asset,
                    stac_version=stac_version,
                    limits=ctx.limits,
                )
            except ConversionError as e:
                raise ProductError(f"asset {key!r}: {_short(e, src)}") from e
            outputs.append(out)
            warnings += [f"{key}: {w}" for w in out.warnings]
            src.unlink(missing_ok=True)  # keep scratch space to one product's worth
        ctx.progress(n, len(plan))
    if not any(o.media_type == COG_TYPE or o.ext == "copc.laz" for o in outputs):
        raise ProductError("no data asset could be ingested")
    return Built(item={}, outputs=outputs, warnings=warnings)


def _short(e: ConversionError, src: Path) -> str:
    """The converter's message names our scratch path; the user knows the asset by its key."""
    return str(e).replace(f"{src}: ", "").replace(str(src), src.name)


def _downloader(ctx: Context) -> Callable[[str, dict[str, Any]], Path | None]:
    def local(key: str, asset: dict[str, Any]) -> Path | None:
        href = str(asset["href"])
        dest = ctx.downloads / f"{asset_key_for(key)}{href_ext(href) or '.bin'}"
        ctx.fetch(href, dest)
        return dest

    return local


def _build_stac(ctx: Context) -> Built:
    item = _skeleton(ctx.product)
    built = _convert_assets(
        ctx, ctx.product.item.get("assets", {}), _downloader(ctx), str(item["stac_version"])
    )
    built.item = item
    return built


def _build_pointcloud(ctx: Context) -> Built:
    item = _skeleton(ctx.product)
    assets = {
        k: a
        for k, a in ctx.product.item.get("assets", {}).items()
        if action_for(a) == "copc" or ctx.product.kind == "pointcloud" and k == "data"
    }
    thumbs = {
        k: a
        for k, a in ctx.product.item.get("assets", {}).items()
        if "thumbnail" in (a.get("roles") or [])
    }
    built = _convert_assets(
        ctx,
        {
            **{k: {**a, "type": a.get("type") or "application/vnd.las"} for k, a in assets.items()},
            **thumbs,
        },
        _downloader(ctx),
    )
    cloud = next(o for o in built.outputs if o.ext == "copc.laz")
    try:
        meta = pointcloud_metadata(cloud.path)
    except ConversionError as e:
        raise ProductError(f"point cloud: {_short(e, cloud.path)}") from e
    if meta.geometry is None:
        raise ProductError("point cloud has no CRS: it cannot be placed on the map")
    props = item.setdefault("properties", {})
    props.pop("proj:epsg", None)
    props.pop("proj:projjson", None)
    props.update(meta.properties)
    props.setdefault("datetime", _las_datetime(cloud.path))
    item["geometry"], item["bbox"] = meta.geometry, meta.bbox
    item["stac_extensions"] = sorted(
        {u for u in item["stac_extensions"] if "/pointcloud/" not in u and "/projection/" not in u}
        | set(meta.stac_extensions)
    )
    built.item = item
    return built


def _las_datetime(path: Path) -> str:
    """The LAS header's creation date (day precision) when set, else the ingest time."""
    import laspy

    with laspy.open(path) as f:
        day = f.header.creation_date
    when = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _build_raster(ctx: Context) -> Built:
    from rio_stac.stac import create_stac_item

    built = _convert_assets(
        ctx,
        {"data": {**ctx.product.item["assets"]["data"], "type": "image/tiff", "roles": ["data"]}},
        _downloader(ctx),
    )
    cog = built.outputs[0]
    described = create_stac_item(
        str(cog.path),
        id=ctx.product.item_id,
        collection=ctx.product.collection,
        input_datetime=_tiff_datetime(cog.path),
        asset_name="data",
        asset_roles=["data"],
        asset_media_type=COG_TYPE,
        with_proj=True,
        with_raster=True,
        with_eo=True,
        raster_max_size=256,
    ).to_dict(include_self_link=False)
    cog.fields.update(
        {k: v for k, v in described["assets"]["data"].items() if k not in ("href", "type", "roles")}
    )
    described["assets"] = {}
    described["links"] = []
    built.item = described
    return built


def _tiff_datetime(path: Path) -> datetime:
    import rasterio

    with rasterio.open(path) as src:
        tag = src.tags().get("TIFFTAG_DATETIME")
    try:
        return datetime.strptime(tag or "", "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _local_files(root: Path) -> Callable[[str, dict[str, Any]], Path | None]:
    """Assets of a stactools item point into the unpacked product; absent files yield None."""

    def local(key: str, asset: dict[str, Any]) -> Path | None:
        path = Path(str(asset["href"]))
        return path if path.is_file() and root in path.parents else None

    return local


def _build_safe(ctx: Context) -> Built:
    from stactools.sentinel2.stac import create_item

    archive = next(
        (
            a
            for a in ctx.product.item["assets"].values()
            if str(a.get("type", "")).startswith("application/zip")
            or str(a["href"]).lower().endswith(".zip")
        ),
        None,
    )
    if archive is None:
        raise ProductError("SAFE product: no zip archive among the assets")
    zpath = ctx.downloads / "product.zip"
    ctx.fetch(str(archive["href"]), zpath)
    unpacked = ctx.downloads / "safe"
    try:
        extract_zip(zpath, unpacked, ctx.limits, what="SAFE product")
    except zipfile.BadZipFile:
        raise ProductError("SAFE product: the archive is not a valid zip file") from None
    zpath.unlink()
    safe_dir = next(unpacked.glob("*.SAFE"), None)
    if safe_dir is None:
        raise ProductError("SAFE product: the archive holds no *.SAFE folder")
    try:
        described = create_item(str(safe_dir)).to_dict(include_self_link=False)
    except Exception as e:  # noqa: BLE001 - stactools raises many kinds for bad metadata
        raise ProductError(
            f"SAFE product: metadata unreadable ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    return _from_stactools(ctx, described, unpacked)


def _build_mtl(ctx: Context) -> Built:
    from stactools.landsat.stac import create_item

    src_assets = ctx.product.item.get("assets", {})
    mtl = next((a for a in src_assets.values() if str(a["href"]).endswith("_MTL.xml")), None)
    if mtl is None:
        raise ProductError("Landsat product: no MTL.xml asset")
    folder = ctx.downloads / "product"
    wanted = [
        a
        for a in src_assets.values()
        if action_for(a) in ("cog", "copy") or str(a["href"]).endswith("_MTL.xml")
    ]
    for a in wanted:  # files keep their names: stactools finds bands beside the MTL
        name = Path(str(a["href"]).split("?")[0]).name
        ctx.fetch(str(a["href"]), folder / name)
    mtl_path = folder / Path(str(mtl["href"]).split("?")[0]).name
    # stactools-landsat takes the scene geometry from the USGS STAC item beside the MTL
    # (else it asks landsatlook.usgs.gov, or needs the ANG file): the source item is that item.
    stem = mtl_path.name.removesuffix("_MTL.xml")
    (folder / f"{stem}_SR_stac.json").write_text(
        json.dumps({**ctx.product.item, "links": [], "stac_extensions": []})
    )
    try:
        described = create_item(str(mtl_path)).to_dict(include_self_link=False)
    except Exception as e:  # noqa: BLE001 - stactools raises many kinds for bad metadata
        raise ProductError(
            f"Landsat product: MTL unreadable ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    return _from_stactools(ctx, described, ctx.downloads)


def _from_stactools(ctx: Context, described: dict[str, Any], root: Path) -> Built:
    described = json.loads(json.dumps(described))  # shapely mappings hold tuples
    assets = described.pop("assets")
    described["assets"] = {}
    described["id"] = ctx.product.item_id
    described["collection"] = ctx.product.collection
    described["links"] = []
    built = _convert_assets(
        ctx, assets, _local_files(root.resolve()), str(described.get("stac_version", "1.0.0"))
    )
    built.item = described
    return built
