"""The task contract: how a task learns its inputs, parameters and output location.

A task process receives ``STACWORKS_*`` environment variables (see ``docs/task-contract.md``).
Locally, every input item is resolved once, before the process starts, and written as a JSON
snapshot beside the task, so the process needs neither the network nor the catalog; its asset
hrefs are handed over as paths GDAL opens (local paths, ``/vsis3/``, ``/vsicurl/``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import psycopg

from processing.errors import InvalidInput, TaskSetupError

__all__ = [
    "ENV_ALGORITHM",
    "ENV_EXECUTION_ID",
    "ENV_INPUT_ASSETS",
    "ENV_INPUT_ITEMS",
    "ENV_MAP_INDEX",
    "ENV_OUTPUT_DIR",
    "ENV_PARAMETERS",
    "ENV_STATE_NAME",
    "ENV_TASK_TOKEN",
    "OUTPUTS_FILE",
    "CatalogItems",
    "InputItem",
    "asset_paths",
    "catalog_url",
    "contract_environment",
    "item_ref",
    "resolve_items",
]

ENV_INPUT_ITEMS = "STACWORKS_INPUT_ITEMS"
ENV_INPUT_ASSETS = "STACWORKS_INPUT_ASSETS"
ENV_OUTPUT_DIR = "STACWORKS_OUTPUT_DIR"
ENV_PARAMETERS = "STACWORKS_PARAMETERS"
ENV_EXECUTION_ID = "STACWORKS_EXECUTION_ID"
ENV_STATE_NAME = "STACWORKS_STATE_NAME"
ENV_MAP_INDEX = "STACWORKS_MAP_INDEX"
ENV_ALGORITHM = "STACWORKS_ALGORITHM"
#: A random token per task run, so a restarted server can find (and stop) a task process a
#: crashed server left behind.
ENV_TASK_TOKEN = "STACWORKS_TASK_TOKEN"
OUTPUTS_FILE = "outputs.json"

_CATALOG_PATH = re.compile(r"/collections/([^/]+)/items/([^/]+)/?$")


@dataclass(frozen=True, slots=True)
class InputItem:
    """One resolved input: the reference it came from, the item, its snapshot and asset paths."""

    ref: str
    item: dict[str, Any]
    snapshot: Path
    assets: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return str(self.item.get("collection") or ""), str(self.item["id"])


class CatalogItems:
    """Reads items straight from pgstac (no HTTP to ourselves)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def get(self, collection: str, item_id: str) -> dict[str, Any] | None:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, collection)).fetchone()
        return row[0] if row and row[0] else None


def catalog_url(stac_url: str | None, collection: str, item_id: str) -> str:
    """The STAC API URL of a catalog item, or ``collection/id`` when the API URL is unknown."""
    if stac_url:
        return f"{stac_url.rstrip('/')}/collections/{collection}/items/{item_id}"
    return f"{collection}/{item_id}"


def item_ref(value: Any, *, field: str, stac_url: str | None) -> str:
    """Normalise what a client may give for an item into the string the workflow carries.

    Accepts ``{"collection": c, "id": i}``, ``"c/i"``, a STAC item URL or a file path/URL.
    """
    if isinstance(value, Mapping):
        collection, item_id = value.get("collection"), value.get("id")
        if not isinstance(collection, str) or not isinstance(item_id, str):
            raise InvalidInput(field, "an item reference needs 'collection' and 'id' strings")
        return catalog_url(stac_url, collection, item_id)
    if isinstance(value, str) and value.strip():
        value = value.strip()
        if "://" not in value and value.count("/") == 1 and not Path(value).exists():
            collection, item_id = value.split("/")
            return catalog_url(stac_url, collection, item_id)
        return value
    raise InvalidInput(field, "expected {collection, id}, 'collection/id' or an item URL")


def _catalog_key(ref: str) -> tuple[str, str] | None:
    """(collection, id) when ``ref`` is a STAC API item URL or ``collection/id``."""
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https"):
        match = _CATALOG_PATH.search(unquote(parts.path))
        return (match.group(1), match.group(2)) if match else None
    if parts.scheme == "" and re.fullmatch(r"[^/]+/[^/]+", ref) and not Path(ref).exists():
        collection, item_id = ref.split("/")
        return collection, item_id
    return None


def _fetch(ref: str, catalog: CatalogItems | None) -> tuple[dict[str, Any], Path | None]:
    """The item a reference names, and the folder relative hrefs are resolved against."""
    key = _catalog_key(ref)
    if key is not None and catalog is not None:
        found = catalog.get(*key)
        if found is None:
            raise TaskSetupError(f"input item {key[1]!r} of collection {key[0]!r} not found")
        return found, None
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https"):
        try:
            response = httpx.get(ref, timeout=30, follow_redirects=True)
            response.raise_for_status()
            return response.json(), None
        except (httpx.HTTPError, ValueError) as exc:
            raise TaskSetupError(f"cannot read input item {ref}: {type(exc).__name__}") from None
    if key is not None:
        raise TaskSetupError(f"input item {ref!r} names a catalog item but no catalog is set")
    path = Path(unquote(parts.path) if parts.scheme == "file" else ref)
    try:
        return json.loads(path.read_text(encoding="utf-8")), path.parent
    except (OSError, ValueError) as exc:
        raise TaskSetupError(f"cannot read input item {ref}: {type(exc).__name__}") from None


def _gdal_path(href: str, base: Path | None) -> str:
    parts = urlsplit(href)
    if parts.scheme == "s3":
        return f"/vsis3/{parts.netloc}{parts.path}"
    if parts.scheme in ("http", "https"):
        return f"/vsicurl/{href}"
    if parts.scheme == "file":
        return unquote(parts.path)
    if href.startswith("/vsi") or Path(href).is_absolute() or base is None:
        return href
    return str((base / href).resolve())


def asset_paths(item: Mapping[str, Any], base: Path | None = None) -> dict[str, str]:
    """Every asset's href as a path GDAL (and plain file APIs, for local ones) can open."""
    return {
        key: _gdal_path(str(asset["href"]), base)
        for key, asset in (item.get("assets") or {}).items()
        if isinstance(asset, Mapping) and asset.get("href")
    }


def resolve_items(
    refs: Sequence[str], dest: Path, *, catalog: CatalogItems | None
) -> list[InputItem]:
    """Resolve each reference and write its snapshot under ``dest`` (``00.json``, ...)."""
    dest.mkdir(parents=True, exist_ok=True)
    resolved: list[InputItem] = []
    for index, ref in enumerate(refs):
        if not isinstance(ref, str):
            raise TaskSetupError(f"{ENV_INPUT_ITEMS}[{index}] is not a string")
        item, base = _fetch(ref, catalog)
        if not isinstance(item, dict) or "id" not in item:
            raise TaskSetupError(f"input {ref} is not a STAC item")
        assets = asset_paths(item, base)
        snapshot = dest / f"{index:03d}.json"
        snapshot.write_text(json.dumps(item), encoding="utf-8")
        resolved.append(InputItem(ref, item, snapshot, assets))
    return resolved


def contract_environment(
    *,
    items: Sequence[InputItem],
    output_dir: Path,
    parameters: Any,
    execution_id: str,
    state_name: str,
    map_index: int | None,
    algorithm: str,
    token: str,
) -> dict[str, str]:
    """The ``STACWORKS_*`` variables of one task run."""
    env = {
        ENV_INPUT_ITEMS: json.dumps([item.snapshot.as_uri() for item in items]),
        ENV_INPUT_ASSETS: json.dumps([item.assets for item in items]),
        ENV_OUTPUT_DIR: str(output_dir),
        ENV_PARAMETERS: json.dumps(parameters),
        ENV_EXECUTION_ID: execution_id,
        ENV_STATE_NAME: state_name,
        ENV_ALGORITHM: algorithm,
        ENV_TASK_TOKEN: token,
    }
    if map_index is not None:
        env[ENV_MAP_INDEX] = str(map_index)
    return env
