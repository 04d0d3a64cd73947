"""Validate STAC objects against the official JSON schemas, offline by default.

A jsonschema + referencing registry, as in tests/catalog/test_schemas.py, moved here so ingest
can check every item before registering it. Returns a result, never raises for a bad item.

Schema URLs resolve from the copies bundled with this package (``stac_schemas/``: STAC core,
GeoJSON, PROJJSON and the extensions our items use), then from ``STACWORKS_INGEST_SCHEMA_MIRROR``
when set, and only then from the network: an air-gapped worker validates with no settings.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_specifications
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import Unretrievable

from ingest.validate import ValidationResult

CORE = {
    "Feature": "item-spec/json-schema/item.json",
    "Collection": "collection-spec/json-schema/collection.json",
}
#: The schemas shipped with stacworks, laid out by URL (``https://<path>`` -> ``<path>``).
BUNDLED = Path(__file__).resolve().parent / "stac_schemas"


def _local(folder: Path, uri: str) -> Path | None:
    """``uri``'s file under ``folder`` (its path after the scheme), if there, never outside."""
    rest = uri.split("://", 1)[-1].split("#", 1)[0]
    if not rest or ".." in rest.split("/"):
        return None
    path = folder / rest
    return path if path.is_file() else None


@cache
def registry(mirror: Path | None) -> Registry:
    """Schemas by URL: bundled copies first, then ``mirror/<host>/<path>``, then HTTP."""

    def retrieve(uri: str) -> Resource:
        for folder in (BUNDLED, mirror):
            path = _local(folder, uri) if folder is not None else None
            if path is not None:
                return Resource.from_contents(json.loads(path.read_text()))
        import requests

        return Resource.from_contents(requests.get(uri, timeout=30).json())

    # The JSON Schema meta-schemas (draft-07, ...) that STAC schemas $ref come with jsonschema.
    return jsonschema_specifications.REGISTRY.combine(Registry(retrieve=retrieve))  # type: ignore[call-arg]


def schema_errors(obj: dict[str, Any], uri: str, mirror: Path | None) -> list[str]:
    reg = registry(mirror)
    try:
        schema = reg.get_or_retrieve(uri).value.contents
    except (Unretrievable, OSError, ValueError):
        raise LookupError(uri) from None
    validator = jsonschema.Draft7Validator(schema, registry=reg)
    out = []
    for err in validator.iter_errors(obj):
        # anyOf/oneOf report "not valid under any": the most relevant sub-error says why.
        while err.context:
            err = best_match(err.context)
        out.append(f"{'/'.join(map(str, err.absolute_path)) or '(root)'}: {err.message[:200]}")
    return out


def validate_stac(
    obj: dict[str, Any], *, mirror: Path | None, source: dict[str, Any] | None = None
) -> ValidationResult:
    """Core schema plus every named extension.

    An extension error that the ``source`` item also has (some providers publish items that
    break their own extension schemas) is a warning: we must not add breakage, and we do not
    rewrite what the provider said. A schema that cannot be found is a warning too.
    """
    errors: list[str] = []
    warns: list[str] = []
    kind = CORE.get(str(obj.get("type")))
    if kind is None:
        return ValidationResult(False, (f"type: {obj.get('type')!r} is not Feature/Collection",))
    uris = [
        f"https://schemas.stacspec.org/v{obj.get('stac_version')}/{kind}",
        *obj.get("stac_extensions", []),
    ]
    for i, uri in enumerate(uris):
        try:
            found = schema_errors(obj, uri, mirror)
        except LookupError:
            (errors if i == 0 else warns).append(f"schema not available: {uri}")
            continue
        if not found:
            continue
        inherited = False
        if i > 0 and source is not None and uri in source.get("stac_extensions", []):
            try:
                inherited = bool(schema_errors(source, uri, mirror))
            except LookupError:
                inherited = False
        target = warns if inherited else errors
        target.extend(f"{uri.rsplit('/', 3)[-3]}: {m}" for m in found[:5])
    return ValidationResult.from_lists(errors, warns)
