"""The source registry: a name (``earth-search``, ``stac:<url>``, ``urls``, ...) -> a Source."""

from __future__ import annotations

from ingest.errors import SourceError
from ingest.settings import IngestSettings
from ingest.source_names import PROVIDERS, SOURCE_NAMES
from ingest.sources.base import Product, ProductKind, SearchQuery, Source, classify, safe_id
from ingest.sources.eodag_source import EodagSource
from ingest.sources.stac_api import StacApiSource
from ingest.sources.urls import UrlsSource

__all__ = [
    "SOURCE_NAMES",
    "Product",
    "ProductKind",
    "SearchQuery",
    "Source",
    "classify",
    "get_source",
    "safe_id",
]


def get_source(name: str, settings: IngestSettings | None = None) -> Source:
    """The source registered under ``name``; ``SourceError`` naming the choices otherwise."""
    settings = settings or IngestSettings()
    if name in PROVIDERS:
        return EodagSource(name, settings)
    if name == "urls":
        return UrlsSource(timeout=settings.http_timeout_s)
    if name.startswith("stac:"):
        return StacApiSource(name[5:], timeout=settings.http_timeout_s)
    raise SourceError(f"source: unknown {name!r}; choose from {', '.join(SOURCE_NAMES)}")
