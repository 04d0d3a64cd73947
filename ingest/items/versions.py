"""Source items from older STAC versions brought to the current one before anything reads them.

USGS still publishes its per-scene Landsat C2 items as STAC 0.7.0 (``eo:platform``, date-only
``datetime``, extension short names): pystac's own migration does the version changes (as
``stacworks load`` does), and dates that are not RFC 3339 date-times are written as such.
"""

from __future__ import annotations

import re
from typing import Any

from catalog.errors import CatalogError
from catalog.load import migrate
from ingest.errors import ProductError

__all__ = ["to_current_stac"]

_DATE_FIELDS = ("datetime", "start_datetime", "end_datetime", "created", "updated")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


def to_current_stac(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` in STAC 1.x (unchanged when it already is), or :class:`ProductError`."""
    try:
        out = migrate(item)
    except CatalogError as e:
        raise ProductError(f"source item {item.get('id')!r}: {e}") from None
    props = out.get("properties")
    if isinstance(props, dict):
        for name in _DATE_FIELDS:
            value = props.get(name)
            if isinstance(value, str) and not _RFC3339.match(value):
                props[name] = _rfc3339(name, value, out.get("id"))
    return out


def _rfc3339(name: str, value: str, item_id: Any) -> str:
    """A date or zone-less date-time as UTC RFC 3339 (``2020-10-31`` -> ``...T00:00:00Z``)."""
    from datetime import UTC

    from pystac.utils import datetime_to_str, str_to_datetime

    try:
        when = str_to_datetime(value)
    except (ValueError, OverflowError):
        raise ProductError(f"source item {item_id!r}: properties.{name}: {value!r} is not a "
                           "date or date-time") from None
    return datetime_to_str(when if when.tzinfo else when.replace(tzinfo=UTC))
