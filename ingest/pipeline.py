"""One product, start to end: download -> convert -> validate -> upload -> item -> register.

Idempotent by product: object keys and the item id depend only on the product, the item is
upserted, and a product already in the catalog with all its objects is skipped. A killed
attempt leaves at most complete objects under the product's prefix (the store's put is atomic);
the next attempt overwrites them and removes any it no longer produces, so no orphans remain.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from catalog.settings import CatalogSettings
from ingest.convert import CogProfile
from ingest.download import DownloadLimits, fetch
from ingest.errors import IngestError, ProductError, is_retryable
from ingest.items.build import Built, Context, build
from ingest.items.files import FILE_EXTENSION, file_fields
from ingest.items.schemas import schema_errors, validate_stac
from ingest.limits import InputLimits
from ingest.register import catalog_item, collection_from_source, register_item
from ingest.runs import FINAL, load_product, previously_done, update_product
from ingest.settings import IngestSettings
from ingest.sources import Product, get_source
from objectstore import ObjectStore, StoreError, asset_key, store_from_settings

log = logging.getLogger(__name__)
PROJECTION_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER_V11 = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"


@dataclass
class Services:
    """What a worker needs, built once per process (the seams tests swap).

    ``on_new_collection(dsn, collection_id)`` runs after ingest creates a collection: the
    composition root plugs in the tiler's default render presets there (ingest must not
    import the tiler).
    """

    catalog: CatalogSettings
    settings: IngestSettings
    store: ObjectStore
    on_new_collection: Callable[[str, str], object] | None = None

    @classmethod
    def from_env(cls) -> Services:
        return cls(CatalogSettings(), IngestSettings(), store_from_settings())

    @property
    def dsn(self) -> str:
        return self.catalog.dsn


def already_ingested(svc: Services, product: Product) -> bool:
    """In the catalog, recorded as done, and every stored asset still in the store."""
    if not previously_done(svc.dsn, product.collection, product.item_id):
        return False
    item = catalog_item(svc.dsn, product.collection, product.item_id)
    if item is None:
        return False
    for asset in item.get("assets", {}).values():
        key = svc.store.key_for_href(str(asset.get("href", "")))
        if key is None or not svc.store.exists(key):
            return False
    return True


def process_product(
    svc: Services, product_id: int, *, attempt: int = 1, final_attempt: bool = True
) -> str:
    """Ingest one product and record the outcome; returns its final or retry status.

    Raises the error after recording it, so the queue retries it (transient) or marks the
    job failed (bad input).
    """
    product, row = load_product(svc.dsn, product_id)
    if row["status"] in FINAL:
        return str(row["status"])  # a duplicate delivery of a finished job
    if already_ingested(svc, product):
        update_product(
            svc.dsn, product_id, status="skipped", stage=None, error=None, finished_at="now()"
        )
        return "skipped"
    update_product(
        svc.dsn,
        product_id,
        status="running",
        stage="downloading",
        error=None,
        attempts=attempt,
        started_at="now()",
        assets_done=0,
    )
    work = work_folder(svc, product)
    shutil.rmtree(work, ignore_errors=True)  # a killed attempt's leftovers
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        built = _build(svc, product, product_id, work, timings)
        update_product(svc.dsn, product_id, stage="uploading")
        t = time.monotonic()
        item = _store_outputs(svc, product, built)
        timings["upload_s"] = round(time.monotonic() - t, 3)
        update_product(svc.dsn, product_id, stage="registering")
        t = time.monotonic()
        warnings = built.warnings + _check_item(svc, item, product)
        collection = _collection_doc(svc, product)
        if register_item(svc.dsn, item, collection) and svc.on_new_collection:
            svc.on_new_collection(svc.dsn, product.collection)
        _remove_orphans(svc, product, item)
        timings["register_s"] = round(time.monotonic() - t, 3)
        timings["total_s"] = round(time.monotonic() - started, 3)
        update_product(
            svc.dsn,
            product_id,
            status="done",
            stage=None,
            timings=timings,
            warnings=warnings[:50],
            finished_at="now()",
        )
        return "done"
    except BaseException as e:
        retry = is_retryable(e) and not final_attempt
        message = _message(e)
        timings["total_s"] = round(time.monotonic() - started, 3)
        if retry:
            update_product(svc.dsn, product_id, status="retrying", error=message, timings=timings)
        elif isinstance(e, Exception):
            _discard(svc, product)
            update_product(
                svc.dsn,
                product_id,
                status="failed",
                stage=None,
                error=message,
                timings=timings,
                finished_at="now()",
            )
        if not isinstance(e, IngestError | StoreError):
            log.exception("product %s/%s failed", product.collection, product.item_id)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def work_folder(svc: Services, product: Product) -> Path:
    """The product's scratch folder (downloads, conversions), removed when it ends."""
    return svc.settings.work_root(svc.catalog.home) / product.collection / product.item_id


def discard_product(svc: Services, product: Product) -> None:
    """What a product that failed for good leaves in the store is removed (see _discard)."""
    _discard(svc, product)


def _message(e: BaseException) -> str:
    if isinstance(e, IngestError | StoreError):
        return str(e)
    return f"internal error ({type(e).__name__}); see the worker log"


def _build(
    svc: Services, product: Product, product_id: int, work: Path, timings: dict[str, float]
) -> Built:
    source = get_source(product.source, svc.settings)
    auth = source.auth_for(product)
    spent = {"download": 0.0}
    limits = DownloadLimits.from_settings(svc.settings)

    def fetch_one(href: str, dest: Path) -> None:
        t = time.monotonic()
        fetch(href, dest, auth=auth, timeout=svc.settings.http_timeout_s, limits=limits)
        spent["download"] += time.monotonic() - t

    def progress(done: int, total: int) -> None:
        stage = "converting" if done < total else "uploading"
        update_product(svc.dsn, product_id, assets_done=done, assets_total=total, stage=stage)

    t = time.monotonic()
    profile = cast(CogProfile, svc.settings.cog_profile)  # checked by IngestSettings
    built = build(Context(
        product, work, fetch_one, progress, profile,
        limits=InputLimits.from_settings(svc.settings),
    ))
    timings["download_s"] = round(spent["download"], 3)
    timings["convert_s"] = round(time.monotonic() - t - spent["download"], 3)
    return built


def _store_outputs(svc: Services, product: Product, built: Built) -> dict[str, Any]:
    """Upload each validated output under its layout key and point the item's assets at it."""
    item = built.item
    source_assets = product.item.get("assets", {})
    for out in built.outputs:
        key = asset_key(product.collection, product.item_id, out.key, out.ext)
        svc.store.put_file(key, out.path)
        asset = {
            **out.fields,
            "href": svc.store.href(key),
            "type": out.media_type,
            **file_fields(out.path),
        }
        asset.setdefault("roles", (source_assets.get(out.key) or {}).get("roles") or ["data"])
        item["assets"][out.key] = asset
    _finish_item(item, product)
    return item


def _finish_item(item: dict[str, Any], product: Product) -> None:
    """Links back to the source and the extension list matching the fields present."""
    links = [
        lk
        for lk in product.item.get("links", [])
        if lk.get("rel") in ("license", "derived_from", "cite-as")
    ]
    if product.source_href:
        links.append(
            {
                "rel": "derived_from",
                "href": product.source_href,
                "type": "application/geo+json"
                if product.kind != "pointcloud" or product.source_href.endswith(".json")
                else None,
                "title": f"source item ({product.source})",
            }
        )
        links.append({"rel": "via", "href": product.source_href})
    item["links"] = [{k: v for k, v in lk.items() if v is not None} for lk in links]
    exts = set(item.get("stac_extensions", []))
    props = item.setdefault("properties", {})
    # proj:code (projection v2) replaces proj:epsg; the stored assets carry proj:code.
    if "proj:epsg" in props:
        epsg = props.pop("proj:epsg")
        if epsg:
            props.setdefault("proj:code", f"EPSG:{epsg}")
    for asset in item["assets"].values():
        epsg = asset.pop("proj:epsg", None)
        if epsg:
            asset.setdefault("proj:code", f"EPSG:{epsg}")
    uses_proj = any(k.startswith("proj:") for k in props) or any(
        k.startswith("proj:") for a in item["assets"].values() for k in a
    )
    exts = {u for u in exts if "/projection/" not in u}
    if uses_proj:
        exts.add(PROJECTION_V2)
    if any("raster:bands" in a for a in item["assets"].values()) and not any(
        "/raster/" in u for u in exts
    ):
        exts.add(RASTER_V11)
    exts.add(FILE_EXTENSION)
    item["stac_extensions"] = sorted(exts)
    item.setdefault("stac_version", "1.0.0")


def _check_item(svc: Services, item: dict[str, Any], product: Product) -> list[str]:
    if svc.settings.validate_items == "off":
        return []
    # Validated as the catalog serves it: with the collection link the STAC API adds.
    served = {**item, "links": [*item["links"], {"rel": "collection", "href": "collection"}]}
    result = validate_stac(served, mirror=svc.settings.schema_mirror, source=product.item)
    if not result.is_valid and svc.settings.validate_items == "strict":
        raise ProductError(
            "the built item breaks the STAC schemas: " + "; ".join(result.errors[:5])
        )
    return [f"schema: {w}" for w in (*result.warnings, *result.errors)]


def _collection_doc(svc: Services, product: Product) -> dict[str, Any]:
    """Our copy of the source collection, minus the extensions it no longer satisfies
    (dropped fields, or the source's own breakage), so served collections validate."""
    doc = collection_from_source(product.collection, product.source_collection)
    if svc.settings.validate_items == "off":
        return doc
    kept = []
    for uri in doc.get("stac_extensions", []):
        try:
            if not schema_errors(doc, uri, svc.settings.schema_mirror):
                kept.append(uri)
        except LookupError:
            kept.append(uri)  # not checkable here: keep what the source declared
    doc["stac_extensions"] = kept
    return doc


def _remove_orphans(svc: Services, product: Product, item: dict[str, Any]) -> None:
    """Objects under the product's prefix that the registered item does not reference
    (left by an earlier attempt that produced other assets) are deleted."""
    keep = {svc.store.key_for_href(str(a["href"])) for a in item["assets"].values()}
    for info in list(svc.store.list(f"{product.collection}/{product.item_id}")):
        if info.key not in keep:
            svc.store.delete(info.key)


def _discard(svc: Services, product: Product) -> None:
    """A product that failed for good leaves no objects behind, unless an earlier run
    registered it (its objects then belong to that item)."""
    try:
        if catalog_item(svc.dsn, product.collection, product.item_id) is None:
            svc.store.delete_prefix(f"{product.collection}/{product.item_id}")
    except Exception:  # noqa: BLE001 - clean-up must not hide the product's own error
        log.warning("could not clean up objects of %s/%s", product.collection, product.item_id)


# Shared with the Fargate ingest task (ingest/fargate.py: builds without the database) and the
# platform that registers what it built (ingest/aws.py), so all three make the same items.
finish_item = _finish_item
check_item = _check_item
collection_doc = _collection_doc
