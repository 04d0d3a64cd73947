"""Outputs back into the catalog: validate each file a task wrote, store it, describe it as a STAC
item with provenance, and register it in the workflow's output collection through pgstac.

A task may describe its outputs in ``outputs.json`` (which file is which asset of which item,
derived from which inputs); without it every file becomes an asset of one item per task.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from catalog.renders import normalize_renders
from objectstore import ObjectStore, asset_key
from processing.algorithms import AlgorithmSpec
from processing.contract import OUTPUTS_FILE, InputItem
from processing.errors import TaskSetupError

__all__ = [
    "COG_TYPE",
    "OutputFile",
    "OutputPublisher",
    "Provenance",
    "collect_outputs",
]

log = logging.getLogger(__name__)

COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PROCESSING_EXT = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
RASTER_EXT = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
PROJECTION_EXT = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
RENDER_EXT = "https://stac-extensions.github.io/render/v2.0.0/schema.json"
_RASTER_SUFFIXES = {".tif", ".tiff"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._~+=,@:-]+")


def _slug(value: str, *, keep_dots: bool = True) -> str:
    slug = _UNSAFE.sub("-", value).strip("-.") or "output"
    return slug if keep_dots else slug.replace(".", "-")


@dataclass(frozen=True, slots=True)
class Provenance:
    """What an output item says about how it was made (processing extension and ours)."""

    algorithm: AlgorithmSpec
    parameters: Any
    workflow_id: str
    workflow_version: int | None
    execution_id: str
    collection: str
    state_name: str
    renders: Mapping[str, Any] = field(default_factory=dict)
    stac_url: str | None = None

    @property
    def short_id(self) -> str:
        return re.sub(r"[^0-9a-f]", "", self.execution_id.lower())[-8:] or "run"


@dataclass(slots=True)
class OutputFile:
    """One file of a task, as ``outputs.json`` (or the default) describes it."""

    path: Path
    asset: str
    item_id: str
    inputs: list[int]
    title: str | None = None
    roles: list[str] = field(default_factory=lambda: ["data"])
    media_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def _inside(root: Path, relative: str, where: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise TaskSetupError(f"{where}: {relative!r} is not a file inside the output folder")
    return path


def _default_item_id(inputs: Sequence[InputItem], indices: list[int], prov: Provenance) -> str:
    state = _slug(prov.state_name.lower(), keep_dots=False)
    if len(indices) == 1:
        base = str(inputs[indices[0]].item["id"])
        return _slug(f"{base}-{state}-{prov.short_id}")
    return _slug(f"{prov.collection}-{state}-{prov.short_id}")


def collect_outputs(
    out_dir: Path, inputs: Sequence[InputItem], prov: Provenance
) -> list[OutputFile]:
    """Read ``outputs.json`` (or list the folder) into :class:`OutputFile` records."""
    everything = list(range(len(inputs)))
    described = out_dir / OUTPUTS_FILE
    files: list[OutputFile] = []
    if described.is_file():
        try:
            doc = json.loads(described.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskSetupError(f"{OUTPUTS_FILE} is not valid JSON: {exc}") from None
        entries = doc.get("outputs") if isinstance(doc, Mapping) else doc
        if not isinstance(entries, list):
            raise TaskSetupError(f"{OUTPUTS_FILE}: expected a list of outputs")
        for n, entry in enumerate(entries):
            where = f"{OUTPUTS_FILE}[{n}]"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
                raise TaskSetupError(f"{where}: each output needs a 'path'")
            path = _inside(out_dir, entry["path"], where)
            indices = entry.get("inputs", [entry["input"]] if "input" in entry else everything)
            if not all(isinstance(i, int) and 0 <= i < len(inputs) for i in indices):
                raise TaskSetupError(f"{where}.inputs: indices must name input items")
            asset = _slug(str(entry.get("asset") or path.name.split(".")[0]), keep_dots=False)
            item_id = entry.get("item_id")
            files.append(OutputFile(
                path=path,
                asset=asset,
                item_id=_slug(str(item_id)) if item_id else _default_item_id(inputs, indices, prov),
                inputs=list(indices),
                title=entry.get("title"),
                roles=list(entry.get("roles") or ["data"]),
                media_type=entry.get("type"),
                properties=dict(entry.get("properties") or {}),
            ))
    else:
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
            files.append(OutputFile(
                path=path,
                asset=_slug(path.name.split(".")[0], keep_dots=False),
                item_id=_default_item_id(inputs, everything, prov),
                inputs=everything,
            ))
    seen: set[tuple[str, str]] = set()
    for out in files:
        if (out.item_id, out.asset) in seen:
            raise TaskSetupError(f"two outputs are asset {out.asset!r} of item {out.item_id!r}")
        seen.add((out.item_id, out.asset))
    return files


def _ensure_cog(path: Path) -> tuple[Path, list[str]]:
    """A valid COG at ``path`` (a plain GeoTIFF is converted beside it), or a setup error."""
    from ingest.convert import ConversionError, to_cog
    from ingest.validate import validate_cog

    valid, errors, warnings = validate_cog(path)
    if valid:
        return path, list(warnings)
    converted = path.with_name(f"{path.stem}.cog.tif")
    try:
        result = to_cog(path, converted)
    except ConversionError as exc:
        raise TaskSetupError(f"output {path.name} is no valid raster: {exc}") from None
    log.info("output %s was not a COG (%s); converted", path.name, "; ".join(errors))
    return result.path, [f"{path.name} converted to COG", *result.warnings]


def _raster_fields(path: Path) -> tuple[dict[str, Any], list[float]]:
    """Asset fields (raster:bands, proj:*) and the footprint bbox in WGS84."""
    import numpy as np
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bands = []
        for index, dtype in enumerate(src.dtypes, start=1):
            band: dict[str, Any] = {"data_type": dtype}
            if src.nodata is not None:
                band["nodata"] = "nan" if np.isnan(src.nodata) else src.nodata
            scale, offset = src.scales[index - 1], src.offsets[index - 1]
            if scale != 1 or offset != 0:
                band.update(scale=scale, offset=offset)
            bands.append(band)
        fields: dict[str, Any] = {
            "raster:bands": bands,
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
        }
        epsg = src.crs.to_epsg() if src.crs else None
        if epsg:
            fields["proj:epsg"] = epsg
        elif src.crs:
            fields["proj:wkt2"] = src.crs.to_wkt()
        bbox = list(transform_bounds(src.crs, "EPSG:4326", *src.bounds)) if src.crs else []
    return fields, bbox


def _union_bbox(boxes: Sequence[Sequence[float]]) -> list[float] | None:
    boxes = [b for b in boxes if b and len(b) >= 4]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[-2] for b in boxes), max(b[-1] for b in boxes)]


def _polygon(bbox: Sequence[float]) -> dict[str, Any]:
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _times(inputs: Sequence[InputItem]) -> dict[str, Any]:
    """One input: its datetime; several: the range they span (pgstac needs one or the other)."""
    stamps: list[str] = []
    for item in inputs:
        props = item.item.get("properties") or {}
        stamps += [props[k] for k in ("datetime", "start_datetime", "end_datetime") if props.get(k)]
    if not stamps:
        return {"datetime": datetime.now(UTC).isoformat()}
    if len(inputs) == 1 and (inputs[0].item.get("properties") or {}).get("datetime"):
        return {"datetime": inputs[0].item["properties"]["datetime"]}
    ordered = sorted(stamps)
    return {"datetime": None, "start_datetime": ordered[0], "end_datetime": ordered[-1]}


class OutputPublisher:
    """Stores a task's outputs and registers them as items; the collection is created on first
    use with the workflow's render presets, so results show as tiles at once."""

    def __init__(self, store: ObjectStore, dsn: str) -> None:
        self.store = store
        self.dsn = dsn

    def publish(
        self, out_dir: Path, inputs: Sequence[InputItem], prov: Provenance
    ) -> list[dict[str, Any]]:
        """Validate, store and register every output; return the registered items."""
        files = collect_outputs(out_dir, inputs, prov)
        groups: dict[str, list[OutputFile]] = {}
        for out in files:
            groups.setdefault(out.item_id, []).append(out)
        items = [self._item(item_id, outs, inputs, prov) for item_id, outs in groups.items()]
        if items:
            self._register(prov, items)
        return items

    def _item(
        self, item_id: str, outs: list[OutputFile], inputs: Sequence[InputItem], prov: Provenance
    ) -> dict[str, Any]:
        used = sorted({i for out in outs for i in out.inputs})
        sources = [inputs[i] for i in used]
        assets: dict[str, Any] = {}
        boxes: list[list[float]] = []
        warnings: list[str] = []
        properties: dict[str, Any] = {}
        for out in outs:
            path, media = out.path, out.media_type
            asset: dict[str, Any] = {"roles": out.roles}
            if path.suffix.lower() in _RASTER_SUFFIXES:
                path, notes = _ensure_cog(path)
                warnings += notes
                fields, bbox = _raster_fields(path)
                asset.update(fields)
                boxes.append(bbox)
                media = COG_TYPE
            ext = "".join(out.path.suffixes).lstrip(".").lower() or "bin"
            if path.suffix.lower() in _RASTER_SUFFIXES:
                ext = "tif"
            key = asset_key(prov.collection, item_id, out.asset, ext)
            self.store.put_file(key, path)
            asset["href"] = self.store.href(key)
            guessed = mimetypes.guess_type(path.name)[0]
            asset["type"] = media or guessed or "application/octet-stream"
            if out.title:
                asset["title"] = out.title
            assets[out.asset] = asset
            properties.update(out.properties)
        footprint = _union_bbox(boxes) or _union_bbox([s.item.get("bbox") or [] for s in sources])
        if footprint is None:
            raise TaskSetupError(f"output item {item_id!r} has no footprint (no raster, no input)")
        spec = prov.algorithm
        now = datetime.now(UTC).isoformat()
        properties.update(_times(sources))
        properties.update({
            "created": now,
            "processing:datetime": now,
            "processing:facility": "stacworks local executor",
            "processing:level": "L3",
            "processing:software": {spec.name: spec.software},
            "processing:lineage": (
                f"{spec.name} {spec.version} run by workflow {prov.workflow_id}"
                + (f" version {prov.workflow_version}" if prov.workflow_version else "")
                + f", execution {prov.execution_id}, state {prov.state_name}, on "
                + ", ".join(f"{s.key[0]}/{s.key[1]}" for s in sources)
            ),
            "stacworks:workflow": {"id": prov.workflow_id, "version": prov.workflow_version},
            "stacworks:execution": prov.execution_id,
            "stacworks:algorithm": {
                "name": spec.name, "version": spec.version, "image": spec.image,
                "image_digest": spec.image_digest,
                "command": spec.command or spec.local_command,
            },
            "stacworks:parameters": prov.parameters,
        })
        if warnings:
            properties["stacworks:warnings"] = warnings
        links = [
            {"rel": "derived_from", "href": self._source_href(s, prov),
             "type": "application/geo+json", "title": f"{s.key[0]}/{s.key[1]}"}
            for s in sources
        ]
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": [PROCESSING_EXT, RASTER_EXT, PROJECTION_EXT],
            "id": item_id,
            "collection": prov.collection,
            "bbox": footprint,
            "geometry": _polygon(footprint),
            "properties": properties,
            "links": links,
            "assets": assets,
        }

    @staticmethod
    def _source_href(source: InputItem, prov: Provenance) -> str:
        if source.ref.startswith(("http://", "https://", "s3://")):
            return source.ref
        collection, item_id = source.key
        if prov.stac_url and collection:
            return f"{prov.stac_url.rstrip('/')}/collections/{collection}/items/{item_id}"
        return source.ref

    def _register(self, prov: Provenance, items: list[dict[str, Any]]) -> None:
        """Upsert the items (a resumed or retried task re-registers the same ids harmlessly).

        pypgstac's loader keeps pgstac's partitions and their constraints right; tasks of one
        execution register concurrently, so each collection is locked for the few ms it takes.
        """
        from pypgstac.db import PgstacDB
        from pypgstac.load import Loader, Methods

        from catalog.access import AccessRecords
        from catalog.queryables import json_type, register_terms

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET search_path TO pgstac, public")  # pgstac's functions expect it
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"publish:{prov.collection}",))
            try:
                exists = conn.execute(
                    "SELECT 1 FROM pgstac.collections WHERE id = %s", (prov.collection,)
                ).fetchone()
                if not exists:
                    # A new output collection is private to the job's owner (access model),
                    # whatever rights a deleted collection of the same id once had.
                    row = conn.execute(
                        "SELECT principal FROM stacworks.processing_executions WHERE id = %s",
                        (prov.execution_id,),
                    ).fetchone()
                    AccessRecords(self.dsn, pooled=False).claim_new_collection(
                        prov.collection, row[0] if row else None)
                    conn.execute("SELECT pgstac.upsert_collection(%s)",
                                 (Jsonb(self._collection(prov, items)),))
                with PgstacDB(dsn=self.dsn) as db:
                    Loader(db=db).load_items(iter(items), insert_mode=Methods.upsert)
                conn.execute(
                    "UPDATE pgstac.collections SET content = jsonb_set_lax(content, '{extent}', "
                    "pgstac.collection_extent(id, true), true, 'return_target') WHERE id = %s",
                    (prov.collection,),
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                             (f"publish:{prov.collection}",))
        terms = {name: json_type(value) for item in items
                 for name, value in item["properties"].items() if value is not None}
        register_terms(self.dsn, {prov.collection: terms})

    @staticmethod
    def _collection(prov: Provenance, items: list[dict[str, Any]]) -> dict[str, Any]:
        sample = items[0]
        item_assets = {
            key: {k: v for k, v in asset.items() if k not in ("href", "proj:shape",
                                                                "proj:transform")}
            for key, asset in sample["assets"].items()
        }
        collection: dict[str, Any] = {
            "type": "Collection",
            "stac_version": "1.0.0",
            "stac_extensions": [RENDER_EXT, PROCESSING_EXT],
            "id": prov.collection,
            "title": f"{prov.workflow_id} outputs",
            "description": f"Outputs of the stacworks workflow {prov.workflow_id}.",
            "license": "other",
            "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}},
            "item_assets": item_assets,
        }
        # Stored in the render extension's own shape (an algorithm file may say rescale: 0,1).
        renders = normalize_renders(dict(prov.renders) or dict(prov.algorithm.renders))
        if renders:
            collection["renders"] = renders
        return collection


def discard(out_dir: Path) -> None:
    """Remove a task's staging folder (outputs are in the store once registered)."""
    shutil.rmtree(out_dir, ignore_errors=True)
