"""The platform task ``stacworks-ingest-product``: ingest products on Fargate without the
database (``python -m ingest.fargate`` in the platform image).

A Fargate task never gets database credentials, so this is the first half of the pipeline only:
download each product (``STACWORKS_INPUT_ITEMS``: S3 snapshots of the products, written by the
platform when the run started), convert it to COG/COPC and build its STAC item with the same
code as a local worker (:func:`ingest.items.build.build`), then write, per the task contract,
to ``STACWORKS_OUTPUT_DIR``::

    outputs.json                        {"stac_items": [{"item": "<id>/item.json", ...}]}
    <id>/item.json                      the built item; converted assets' hrefs are relative
    <id>/assets/<key>.<ext>             the converted files

and upload that folder to ``STACWORKS_OUTPUT_PREFIX``. The platform (``ingest/aws.py``) then
copies the assets to their catalog keys, validates and registers the items: the database
write stays in the platform. Exit 1 when a product fails (its cause on stderr, in the task's
log), so the run records it as failed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["OUTPUTS_KEY", "build_product", "main"]

#: The key of ``outputs.json`` listing complete STAC items (platform tasks only).
OUTPUTS_KEY = "stac_items"


def _read_snapshot(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme == "s3":
        import boto3

        body = boto3.client("s3").get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
        return cast(dict[str, Any], json.loads(body["Body"].read()))
    path = Path(parts.path) if parts.scheme == "file" else Path(url)
    return cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))


def build_product(snapshot: dict[str, Any], out: Path, work: Path) -> dict[str, Any]:
    """Download, convert and describe one product into ``out/<item id>/``; return its
    ``outputs.json`` entry."""
    from ingest.convert import CogProfile
    from ingest.download import DownloadLimits, fetch
    from ingest.items.build import Context, build
    from ingest.items.files import file_fields
    from ingest.limits import InputLimits
    from ingest.pipeline import finish_item
    from ingest.settings import IngestSettings
    from ingest.sources import Product, get_source

    settings = IngestSettings()
    product = Product.from_json(snapshot["product"])
    source = get_source(product.source, settings)
    auth = source.auth_for(product)
    limits = DownloadLimits.from_settings(settings)

    def fetch_one(href: str, dest: Path) -> None:
        fetch(href, dest, auth=auth, timeout=settings.http_timeout_s, limits=limits)

    built = build(Context(product, work, fetch_one, lambda done, total: None,
                          cast(CogProfile, settings.cog_profile),
                          limits=InputLimits.from_settings(settings)))
    folder = out / product.item_id
    (folder / "assets").mkdir(parents=True, exist_ok=True)
    item = built.item
    source_assets = product.item.get("assets", {})
    for output in built.outputs:
        name = f"{output.key}.{output.ext}"
        target = folder / "assets" / name
        shutil.move(str(output.path), target)
        asset = {**output.fields, "href": f"assets/{name}", "type": output.media_type,
                 **file_fields(target)}
        asset.setdefault("roles", (source_assets.get(output.key) or {}).get("roles") or ["data"])
        item["assets"][output.key] = asset
    finish_item(item, product)
    (folder / "item.json").write_text(json.dumps(item), encoding="utf-8")
    print(f"built {product.collection}/{product.item_id}: {len(built.outputs)} asset(s)",
          flush=True)
    return {"item": f"{product.item_id}/item.json", "collection": product.collection,
            "product_id": snapshot.get("product_id"), "warnings": built.warnings[:50]}


def main() -> int:
    """Build every product of ``STACWORKS_INPUT_ITEMS``, then upload the output folder."""
    from processing.aws.task_entry import upload

    urls = json.loads(os.environ.get("STACWORKS_INPUT_ITEMS") or "[]")
    out = Path(os.environ.get("STACWORKS_OUTPUT_DIR") or "/tmp/stacworks/out")  # noqa: S108
    prefix = os.environ.get("STACWORKS_OUTPUT_PREFIX")
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory(prefix="stacworks-ingest-") as tmp:
        for index, url in enumerate(urls):
            snapshot = _read_snapshot(str(url))
            try:
                entries.append(build_product(snapshot, out, Path(tmp) / f"{index:03d}"))
            except Exception as exc:  # noqa: BLE001 - told in the log, then the exit code
                from ingest.errors import IngestError

                told = str(exc) if isinstance(exc, IngestError) else type(exc).__name__
                print(f"error: product {snapshot.get('product', {}).get('item_id')}: {told}",
                      file=sys.stderr, flush=True)
                return 1
    (out / "outputs.json").write_text(json.dumps({OUTPUTS_KEY: entries}), encoding="utf-8")
    if prefix:
        count = upload(out, prefix)
        print(f"uploaded {count} output file(s) to {prefix}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
