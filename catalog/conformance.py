"""Conformance URIs in both STAC API versions where we conform to both (1.0 and 1.1).

stac-fastapi 7 advertises sort as ``v1.1.0`` only, fields/query as ``v1.0.0`` only and filter as
``v1.0.0-rc.2``; clients match one version (pystac-client 0.9 looks for ``v1.0.*`` and warns
"does not conform to SORT"). The fragments below behave the same in 1.0.0 and 1.1.0, so each
advertised one is listed in both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["both_versions", "widen_conformance"]

_STAC_API = re.compile(
    r"^https://api\.stacspec\.org/v1\.[01]\.0(?:-rc\.\d+)?/"
    r"(?P<cls>item-search|ogcapi-features)#(?P<ext>sort|fields|query|filter)$"
)
VERSIONS = ("v1.0.0", "v1.1.0")


def both_versions(uris: Iterable[str]) -> list[str]:
    """``uris`` plus, for each sort/fields/query/filter class, its 1.0.0 and 1.1.0 forms."""
    out: list[str] = []
    for uri in uris:
        m = _STAC_API.match(uri)
        forms = ([f"https://api.stacspec.org/{v}/{m['cls']}#{m['ext']}" for v in VERSIONS]
                 if m else [uri])
        out.extend(u for u in (uri, *forms) if u not in out)
    return out


def widen_conformance(extensions: Iterable[Any]) -> None:
    """Rewrite each extension's ``conformance_classes`` in place with :func:`both_versions`."""
    for ext in extensions:
        classes = getattr(ext, "conformance_classes", None)
        if isinstance(classes, list):
            classes[:] = both_versions(classes)
