"""What every source yields: products (one STAC-shaped item each) found by a search query."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from ingest.errors import SourceError

#: How a product is turned into our item: per-asset COG/COPC ("stac"), a SAFE product through
#: stactools-sentinel2 ("safe"), a Landsat MTL product through stactools-landsat ("mtl"), a
#: point cloud ("pointcloud") or a bare raster file described by rio-stac ("raster").
ProductKind = Literal["stac", "safe", "mtl", "pointcloud", "raster"]

_ID_BAD = re.compile(r"[^A-Za-z0-9._~+=,@:-]+")


def safe_id(value: str) -> str:
    """An id that is also a valid object-store key segment (no '/', no leading dot)."""
    out = _ID_BAD.sub("_", value).strip("._") or "item"
    return out[:200]


@dataclass(frozen=True)
class SearchQuery:
    """A search as the user asked for it; the run record keeps it verbatim."""

    collection: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None
    max_cloud: float | None = None
    limit: int | None = None
    urls: tuple[str, ...] = ()
    assets: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.bbox is not None:
            w, s, e, n = self.bbox
            if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
                raise SourceError(
                    f"bbox: {list(self.bbox)} is not west,south,east,north in degrees"
                )
        if self.max_cloud is not None and not 0 <= self.max_cloud <= 100:
            raise SourceError("max_cloud: must be between 0 and 100")
        if self.limit is not None and self.limit < 1:
            raise SourceError("limit: must be at least 1")
        if self.datetime is not None and "/" in self.datetime:
            start, end = self.datetime.split("/", 1)
            if not (start or end):
                raise SourceError("datetime: an interval needs a start or an end")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if v not in (None, ())
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchQuery:
        kw = dict(d)
        for k in ("urls", "assets", "ids"):
            kw[k] = tuple(kw.get(k) or ())
        if kw.get("bbox") is not None:
            kw["bbox"] = tuple(float(v) for v in kw["bbox"])
        return cls(**kw)

    def time_range(self) -> tuple[str | None, str | None]:
        """(start, end) as ISO strings; open ends as None ('..' in STAC)."""
        if not self.datetime:
            return None, None
        if "/" not in self.datetime:
            return self.datetime, self.datetime
        start, end = self.datetime.split("/", 1)
        return (None if start in ("", "..") else start), (None if end in ("", "..") else end)


@dataclass
class Product:
    """One thing to ingest: where it comes from and the STAC item describing it at the source.

    Serialised into the product row, so a worker on another machine needs nothing else.
    """

    source: str
    collection: str
    item_id: str
    kind: ProductKind
    item: dict[str, Any]
    source_collection: dict[str, Any] | None = None
    #: Where the source item lives (for ``derived_from``/``via`` links), if it has a URL.
    source_href: str | None = None
    #: Asset keys to ingest (all usable ones when empty).
    assets: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Product:
        return cls(**d)


class Source(Protocol):
    """A place products come from. ``search`` yields products; fetching assets is generic HTTP
    (see :mod:`ingest.download`), with ``auth_for`` supplying provider credentials."""

    name: str

    def search(self, query: SearchQuery) -> Iterator[Product]: ...

    def auth_for(self, product: Product) -> Any:
        """A ``requests`` auth object for the product's asset downloads, or None."""
        ...


def classify(item: dict[str, Any]) -> ProductKind:
    """Decide how to ingest a STAC item from its assets (media types and file names)."""
    hrefs = [
        (k, str(a.get("href", "")), str(a.get("type", "")))
        for k, a in item.get("assets", {}).items()
    ]
    for _key, href, mtype in hrefs:
        low = href.lower()
        zipped = mtype.split(";")[0].strip() in ("application/zip", "application/x-zip-compressed")
        is_s2 = "_MSIL1C_" in item.get("id", "") or "_MSIL2A_" in item.get("id", "")
        if low.endswith((".safe.zip", ".safe")) or (zipped and is_s2):
            return "safe"
    for _key, href, _ in hrefs:
        if href.endswith("_MTL.xml"):
            return "mtl"
    for _key, href, mtype in hrefs:
        if "laszip" in mtype or "vnd.las" in mtype or href.lower().endswith((".las", ".laz")):
            return "pointcloud"
    return "stac"


def self_href(item: dict[str, Any]) -> str | None:
    for rel in ("self", "canonical"):
        for link in item.get("links", []):
            if link.get("rel") == rel and str(link.get("href", "")).startswith("http"):
                return str(link["href"])
    return None
